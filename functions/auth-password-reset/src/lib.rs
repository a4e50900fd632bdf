//! `POST /v1/auth/password/reset` `{token, newPassword}` → 204: the link's token is spent and
//! every session of the user ends. 400 `INVALID_TOKEN` for an unknown, used or expired link.

use lambda_http::{Body, Request, Response};
use shared::validate::{Password, Token};
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Reset {
    /// The token from the reset email's link.
    pub token: Token,
    pub new_password: Password,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Reset = shared::http::json_body(&req)?;
    shared::accounts::reset_password(state, body.token.expose(), &body.new_password).await?;
    Ok(shared::http::no_content())
}
