//! `POST /v1/properties/{id}/transfer` `{newOwnerId, note?, version?}` (or `If-Match`) → 201
//! with the history entry: the property's new owner (the owner or an admin). 412 when the
//! property changed since the version given; 422 when the new owner is the current one or not
//! an active account.

use lambda_http::{Body, Request, Response};
use shared::ids::UserId;
use shared::properties::Note;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransferProperty {
    pub new_owner_id: UserId,
    /// Up to 1,000 characters, for the history.
    #[serde(default)]
    pub note: Option<Note>,
    /// The version the caller saw (or `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: TransferProperty = shared::http::json_body(&req)?;
    let expected = shared::http::if_match_version(&req)?.or(body.version);
    let entry =
        shared::properties::transfer(state, &me, id, body.new_owner_id, body.note, expected)
            .await?;
    shared::http::created(&format!("/v1/properties/{id}/ownership-history"), &entry)
}
