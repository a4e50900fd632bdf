//! `POST /v1/auth/logout` `{refreshToken}` → 204: ends that session (idempotent).

use lambda_http::{Body, Request, Response};
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Logout {
    #[garde(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: String,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Logout = shared::http::json_body(&req)?;
    shared::accounts::logout(state, &body.refresh_token).await?;
    Ok(shared::http::no_content())
}
