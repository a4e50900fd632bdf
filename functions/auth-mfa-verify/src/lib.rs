//! `POST /v1/auth/mfa/verify` `{challenge, code | recoveryCode}` → 200 with a token pair (as
//! `POST /auth/login`, `amr` `["pwd","otp"]`): the second step of a sign-in that answered 401
//! `MFA_REQUIRED`. 401 `INVALID_CHALLENGE` for an unknown, expired or used challenge; 422 for a
//! wrong code; 429 past the account's budget.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::mfa::{self, SecondFactor};
use shared::validate::{OtpCode, RecoveryCode, Token};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifySignIn {
    /// The `challenge` of the sign-in's `MFA_REQUIRED` answer.
    pub challenge: Token,
    /// A current code of the app (or give `recoveryCode`).
    pub code: Option<OtpCode>,
    /// One of the recovery codes (or give `code`).
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: VerifySignIn = shared::http::json_body(&req)?;
    let factor = SecondFactor::from_request(body.code.as_ref(), body.recovery_code.as_ref())?;
    let client = accounts::Client::of(&req);
    let session = mfa::verify_sign_in(state, body.challenge.expose(), &factor, &client).await?;
    shared::http::json(StatusCode::OK, &session)
}
