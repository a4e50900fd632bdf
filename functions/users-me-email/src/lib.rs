//! `POST /v1/users/me/email` `{newEmail, password?}` → 202: a confirmation link goes to the new
//! address and a notice to the current one; the address changes only when the link is opened
//! (`POST /v1/auth/email/change/confirm`). Needs the password or a sign-in of this session in
//! the last 10 minutes (401 `REAUTHENTICATION_REQUIRED`). 422 for a wrong password or the current address,
//! 409 `EMAIL_TAKEN` (in `conflict` mode), 429 past the password or link-email budgets
//! (`RateLimit` fields on the 202 and the 429); 401 `MFA_REQUIRED` with a second factor in force
//! and none recent (send `code`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::{Email, GivenPassword, OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangeEmail {
    /// The address to move the account to.
    pub new_email: Email,
    /// The current password: needed unless this session signed in within the last 10 minutes
    /// (an account that signs in by mailed link has none).
    pub password: Option<GivenPassword>,
    /// With a second factor in force and none given in this session within 10 minutes: a
    /// current code of the authenticator app (or give `recoveryCode`).
    #[serde(default)]
    pub code: Option<OtpCode>,
    /// One of the recovery codes, in place of `code`.
    #[serde(default)]
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ChangeEmail = shared::http::json_body(&req)?;
    accounts::mfa::step_up(state, &me, body.code.as_ref(), body.recovery_code.as_ref()).await?;
    let quotas = accounts::request_email_change(
        state,
        &me,
        &body.new_email,
        body.password.as_ref().map(GivenPassword::expose),
    )
    .await?;
    let response = shared::http::json(
        StatusCode::ACCEPTED,
        &std::collections::BTreeMap::from([(
            "message",
            "A confirmation link is on its way to the new address.",
        )]),
    )?;
    Ok(shared::limits::with_quotas(response, &quotas))
}
