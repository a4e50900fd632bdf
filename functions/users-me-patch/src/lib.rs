//! `PATCH /v1/users/me` `{name?, version?}` → 200 with the user. Only profile fields: `roles`,
//! `email`, `status` and anything else are rejected (400 `UNKNOWN_FIELD`), never ignored.
//! `If-Match` or `version` → 412 when stale.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::DisplayName;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[garde(inner(custom(shared::validate::display_name)))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// The version read; or send it as `If-Match`. Stale → 412.
    #[garde(skip)]
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ProfilePatch = shared::http::json_body(&req)?;
    let expected = shared::http::if_match_version(&req)?.or(body.version);
    let name = body
        .name
        .as_deref()
        .map(DisplayName::parse)
        .transpose()
        .map_err(|e| e.at("name"))?;
    let view = accounts::update_profile(state, &me, name, expected).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &view)?,
        view.version,
    ))
}
