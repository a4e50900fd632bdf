//! `POST /v1/auth/email/change/confirm` `{token}` → 204: the account now uses the address the
//! link was sent to (verified), its other sessions are ended and the old address is told.
//! 400 `INVALID_TOKEN` for a link that is unknown, used, expired or superseded; 409
//! `EMAIL_TAKEN` if the address got an account meanwhile.

use lambda_http::{Body, Request, Response};
use shared::validate::Token;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmailChange {
    /// The token from the confirmation email's link.
    pub token: Token,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: ConfirmEmailChange = shared::http::json_body(&req)?;
    shared::accounts::confirm_email_change(state, body.token.expose()).await?;
    Ok(shared::http::no_content())
}
