//! `DELETE /v1/users/me/mfa/totp` `{password?, code | recoveryCode}` → 204: the authenticator
//! app is removed and the password alone signs in again. Needs a recent sign-in or the
//! password, and a current code or a recovery code.

use lambda_http::{Body, Request, Response};
use shared::accounts::mfa::{self, SecondFactor};
use shared::validate::{GivenPassword, OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DisableTotp {
    /// The current password: needed unless this session signed in within the last 10 minutes.
    pub password: Option<GivenPassword>,
    /// A current code of the app (or give `recoveryCode`).
    pub code: Option<OtpCode>,
    /// One of the recovery codes (or give `code`).
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: DisableTotp = shared::http::json_body(&req)?;
    let factor = SecondFactor::from_request(body.code.as_ref(), body.recovery_code.as_ref())?;
    let password = body.password.as_ref().map(GivenPassword::expose);
    mfa::disable_totp(state, &me, password, &factor).await?;
    Ok(shared::http::no_content())
}
