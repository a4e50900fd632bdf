//! `PATCH /v1/properties/{id}` `{address?, kind?, version?}` (or `If-Match`) → the property (the
//! owner or an admin); 412 when stale. The file number does not change.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::{self, NewAddress, PropertyChange, PropertyKind};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchProperty {
    /// The whole new address (checked as at registration).
    #[serde(default)]
    pub address: Option<NewAddress>,
    #[serde(default)]
    pub kind: Option<PropertyKind>,
    /// The version the caller saw (or `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: PatchProperty = shared::http::json_body(&req)?;
    let change = PropertyChange {
        address: body.address,
        kind: body.kind,
        expected_version: shared::http::if_match_version(&req)?.or(body.version),
    };
    let property = properties::update(state, &me, id, change).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &property)?,
        property.version,
    ))
}
