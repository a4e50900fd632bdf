//! `POST /v1/webhooks` `{url, eventTypes, description?}` (admin) → 201 with `Location`, `ETag`
//! and the endpoint with its signing `secret` — shown in this answer only (the table keeps it
//! sealed with KMS). 422 for a URL that is not `https://` to a public host; 409
//! `WEBHOOK_LIMIT` past 20 endpoints.

use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::webhooks::{self, Description, EventTypes, NewWebhook, WebhookUrl};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWebhook {
    pub url: WebhookUrl,
    pub event_types: EventTypes,
    #[serde(default)]
    pub description: Option<Description>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let body: CreateWebhook = shared::http::json_body(&req)?;
    let input = NewWebhook {
        url: body.url,
        event_types: body.event_types,
        description: body.description.unwrap_or_default(),
    };
    let created = webhooks::create(state, &me, input).await?;
    Ok(shared::http::with_etag(
        shared::http::created(&format!("/v1/webhooks/{}", created.webhook.id), &created)?,
        created.webhook.version,
    ))
}
