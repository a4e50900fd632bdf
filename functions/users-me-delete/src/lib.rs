//! `DELETE /v1/users/me` `{password?}` → 204: the account, its email claim and its sessions are
//! removed (the user's content: see docs/api.md). Needs the password or a sign-in of this session
//! in the last 10 minutes (401 `REAUTHENTICATION_REQUIRED`); 401 `MFA_REQUIRED` with a second
//! factor in force and none recent (send `code`).

use lambda_http::{Body, Request, Response};
use shared::validate::{GivenPassword, OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteMe {
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
    let body: DeleteMe = shared::http::json_body(&req)?;
    accounts::mfa::step_up(state, &me, body.code.as_ref(), body.recovery_code.as_ref()).await?;
    let password = body.password.as_ref().map(GivenPassword::expose);
    accounts::delete_own_account(state, &me, password).await?;
    Ok(shared::http::no_content())
}
