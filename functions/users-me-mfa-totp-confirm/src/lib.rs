//! `POST /v1/users/me/mfa/totp/confirm` `{code}` → 200 `{recoveryCodes}`: the authenticator app
//! is in force from now on; its ten recovery codes are shown this once. 422 for a wrong code,
//! 409 `MFA_NOT_ENROLLED` before enrolment, 429 past the account's budget of attempts.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::mfa;
use shared::validate::OtpCode;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotp {
    pub code: OtpCode,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ConfirmTotp = shared::http::json_body(&req)?;
    let codes = mfa::confirm_totp(state, &me, body.code.expose()).await?;
    shared::http::json(StatusCode::OK, &codes)
}
