//! `POST /v1/auth/logout` `{refreshToken}` → 204: ends that session (idempotent).

use lambda_http::{Body, Request, Response};
use shared::validate::Token;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Logout {
    pub refresh_token: Token,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Logout = shared::http::json_body(&req)?;
    shared::accounts::logout(state, body.refresh_token.expose()).await?;
    Ok(shared::http::no_content())
}
