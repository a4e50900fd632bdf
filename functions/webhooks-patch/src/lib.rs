//! `PATCH /v1/webhooks/{id}` `{url?, eventTypes?, description?, enabled?, version?}` (or
//! `If-Match`) (admin) → the endpoint; 412 when stale. `enabled: true` enables a disabled
//! endpoint again and forgets its failures; `false` pauses it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::webhooks::{self, Description, EventTypes, WebhookChange, WebhookUrl};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchWebhook {
    #[serde(default)]
    pub url: Option<WebhookUrl>,
    #[serde(default)]
    pub event_types: Option<EventTypes>,
    #[serde(default)]
    pub description: Option<Description>,
    /// `true`: deliver again (a disabled endpoint's failures are forgotten); `false`: pause.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The version the caller saw (or `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id = shared::http::path_id(&req, "id")?;
    let body: PatchWebhook = shared::http::json_body(&req)?;
    let change = WebhookChange {
        url: body.url,
        event_types: body.event_types,
        description: body.description,
        enabled: body.enabled,
        expected_version: shared::http::if_match_version(&req)?.or(body.version),
    };
    let webhook = webhooks::update(state, &me, id, change).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &webhook)?,
        webhook.version,
    ))
}
