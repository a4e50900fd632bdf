//! `POST /v1/auth/magic-link/verify` `{token}` → 200 with a token pair (as `POST /auth/login`,
//! `amr` `["email"]`); with a second factor in force, 401 `MFA_REQUIRED` and a challenge for
//! `POST /auth/mfa/verify`. 400 `INVALID_TOKEN` for an unknown, expired, used or superseded
//! link; 403 for a disabled account. An unconfirmed address is confirmed by it, and what was
//! set on the account without proof of the mailbox (password, factor, sessions) is cleared.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::Token;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySignInLink {
    /// The token from the sign-in email's link.
    pub token: Token,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: VerifySignInLink = shared::http::json_body(&req)?;
    let client = accounts::Client::of(&req);
    let session =
        accounts::mailed_sign_in::sign_in_with_link(state, body.token.expose(), &client).await?;
    shared::http::json(StatusCode::OK, &session)
}
