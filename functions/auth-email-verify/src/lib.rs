//! `POST /v1/auth/email/verify` `{token}` → 204: the address is verified.

use lambda_http::{Body, Request, Response};
use shared::validate::Token;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The token from the verification email's link.
    pub token: Token,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Verify = shared::http::json_body(&req)?;
    shared::accounts::verify_email(state, body.token.expose()).await?;
    Ok(shared::http::no_content())
}
