//! `POST /v1/auth/refresh` `{refreshToken}` → 200 with a new pair; the old token is spent.
//! Presenting a spent token again revokes its session (reuse detection) → 401.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::Token;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Refresh {
    pub refresh_token: Token,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Refresh = shared::http::json_body(&req)?;
    let client = shared::accounts::Client::of(&req);
    let session = shared::accounts::refresh(state, body.refresh_token.expose(), &client).await?;
    shared::http::json(StatusCode::OK, &session)
}
