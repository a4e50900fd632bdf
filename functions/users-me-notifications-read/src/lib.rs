//! `POST /v1/users/me/notifications/read` `{upTo}` or `{ids}` → 200 `{unreadCount}`.
//! `upTo`: every notification up to and including that one is read (the mark only moves
//! forward: an older `upTo` changes nothing). `ids`: those notifications (1–100) are read. An
//! id that is not one of the caller's notifications is a 422 naming it, and nothing is marked.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::ids::NotificationId;
use shared::notifications::{self, MarkRead, NotificationIds};
use shared::{ApiError, State, accounts};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema};

/// One of the two (the schema says so: `oneOf`).
#[derive(Debug, eserde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MarkReadRequest {
    /// Every notification up to and including this one (typically the newest shown).
    #[serde(default)]
    pub up_to: Option<NotificationId>,
    /// These notifications (1–100, no repeats).
    #[serde(default)]
    pub ids: Option<NotificationIds>,
}

impl utoipa::PartialSchema for MarkReadRequest {
    fn schema() -> RefOr<Schema> {
        let only = |field: &str, schema: RefOr<Schema>, description: &str| {
            ObjectBuilder::new()
                .property(field, schema)
                .required(field)
                .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
                .description(Some(description))
        };
        OneOfBuilder::new()
            .item(only(
                "upTo",
                <NotificationId as utoipa::PartialSchema>::schema(),
                "Every notification up to and including this one (typically the newest shown).",
            ))
            .item(only(
                "ids",
                <NotificationIds as utoipa::PartialSchema>::schema(),
                "These notifications (1-100, no repeats).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for MarkReadRequest {}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: MarkReadRequest = shared::http::json_body(&req)?;
    let what = MarkRead::of(body.up_to, body.ids)?;
    let unread = notifications::mark_read(state, &me, what).await?;
    shared::http::json(StatusCode::OK, &unread)
}
