//! `PATCH /v1/users/me` `{name?, version?}` → 200 with the user. Only profile fields: `roles`,
//! `email`, `status` and anything else are rejected (400 `UNKNOWN_FIELD`), never ignored.
//! `If-Match` or `version` → 412 when stale.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::DisplayName;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub name: Option<DisplayName>,
    /// The version read; or send it as `If-Match`. Stale → 412.
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ProfilePatch = shared::http::json_body(&req)?;
    let expected = shared::http::if_match_version(&req)?.or(body.version);
    let view = accounts::update_profile(state, &me, body.name, expected).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &view)?,
        view.version,
    ))
}
