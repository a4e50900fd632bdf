//! Webhooks: an app's admins register endpoints (`https://` URLs) for the changes their systems follow, and
//! each such change is sent to them (a `POST`), signed, as a documented public payload.
//!
//! **Endpoints.** `POST /v1/webhooks` `{url, eventTypes, description?}` registers one (at most
//! [`MAX_ENDPOINTS`]); its signing secret (`whsec_…`, 32 random bytes) is in that answer and
//! never again: the table holds it sealed with KMS ([`crate::sealing`], purpose
//! `webhook-secret`, bound to the endpoint's id), and only the worker opens it. An endpoint is
//! `enabled` or `disabled`; `PATCH` changes its URL, types or description, pauses it, or enables
//! it again; `DELETE` removes it (its delivery records expire).
//!
//! **Payloads** ([`Payload`]): `{type, timestamp, data}` per [`EventType`] — the id of what
//! changed and what kind it is, the names (never the values) of the fields an update changed,
//! the owners of a transfer, a new lease's tenant. Never the outbox event itself, which carries
//! addresses and link tokens: a receiver reads the object through the API with its own
//! credentials.
//!
//! **Deliveries** follow Standard Webhooks: `webhook-id` (the event's id, the same on every
//! attempt: receivers drop repeats by it), `webhook-timestamp` (seconds),
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`). `WebhooksRule`
//! forwards the events of [`EventType::ALL`] to the webhooks queue; the worker
//! ([`delivery`]) sends each to every enabled endpoint that asked for its type, records each
//! attempt (`…/deliveries`: status, the endpoint's HTTP status or why there was none), and
//! retries the endpoints that failed with backoff by the queue's own redelivery
//! (`ChangeMessageVisibility`), until the queue's `maxReceiveCount`: then the event goes to the
//! webhooks dead-letter queue (alarmed). An endpoint whose every delivery has failed for
//! `WEBHOOK_DISABLE_AFTER_SECONDS` is disabled and the admin who registered it told (a
//! `webhook.disabled` notification).
//!
//! | item | `pk` | `sk` | index keys | serves |
//! | --- | --- | --- | --- | --- |
//! | endpoint | `WEBHOOK#<id>` | `WEBHOOK` | `gsi1`: `WEBHOOKS` / `<id>` | one: GetItem; all (the listing, the worker's fan-out): Query `gsi1` |
//! | delivery | `WEBHOOK#<id>` | `DELIVERY#<eventId>` | – | an endpoint's deliveries, newest first: Query; one per event and endpoint, rewritten on each attempt (TTL 30 days) |
//! | endpoint count | `STATS` | `WEBHOOKS` | – | at most [`MAX_ENDPOINTS`]: `ADD` under a condition in the endpoint's transaction |

pub mod target;

#[cfg(feature = "webhook-delivery")]
pub mod delivery;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};

use crate::accounts::Principal;
use crate::error::ApiError;
#[cfg(feature = "webhook-delivery")]
use crate::events::Actor;
use crate::events::{Event, outbox_put};
use crate::ids::{UserId, WebhookId};
#[cfg(feature = "webhook-delivery")]
use crate::notices::{Notice, WebhookNotice};
use crate::sealing::Context;
use crate::state::State;
use crate::store::{
    Index, Key, KeyQuery, OnCondition as _, Page, PageRequest, SortKey, Update, expect_version,
};
#[cfg(feature = "webhook-delivery")]
use crate::store::{Store, StoreError};
use crate::validate::{Invalid, RequestValue, request_value};

pub use target::{Refusal, TestTargets};

/// The encryption-context purpose of a sealed signing secret.
pub const PURPOSE: &str = "webhook-secret";
/// The most endpoints an app has.
pub const MAX_ENDPOINTS: u64 = 20;
/// How long a delivery's record is kept.
pub const DELIVERY_RETENTION_DAYS: i64 = 30;
/// A signing secret's prefix (Standard Webhooks), before its base64 bytes.
pub const SECRET_PREFIX: &str = "whsec_";
/// The longest URL an endpoint may have.
pub const URL_MAX_LEN: usize = 2048;
/// The longest description.
pub const DESCRIPTION_MAX_CHARS: usize = 200;
const SECRET_BYTES: usize = 32;
const DELIVERY_PREFIX: &str = "DELIVERY#";

/// The changes an endpoint may follow: the public names of their payloads.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    /// A property was registered.
    #[serde(rename = "property.created")]
    PropertyCreated,
    /// A property's address or kind changed (`data.changed` names which).
    #[serde(rename = "property.updated")]
    PropertyUpdated,
    /// A property changed owner (`data.previousOwnerId`, `data.ownerId`).
    #[serde(rename = "property.transferred")]
    PropertyTransferred,
    /// A property was removed from the registry.
    #[serde(rename = "property.deleted")]
    PropertyDeleted,
    /// A lease was made (`data.tenantId`).
    #[serde(rename = "lease.created")]
    LeaseCreated,
    /// A lease's end date or rent changed (`data.changed` names which).
    #[serde(rename = "lease.renewed")]
    LeaseRenewed,
    /// A lease was ended.
    #[serde(rename = "lease.ended")]
    LeaseEnded,
    /// A post was published.
    #[serde(rename = "post.published")]
    PostPublished,
    /// A moderator hid a post.
    #[serde(rename = "post.hidden")]
    PostHidden,
    /// A moderator published a hidden post again.
    #[serde(rename = "post.unhidden")]
    PostUnhidden,
    /// A post was deleted.
    #[serde(rename = "post.deleted")]
    PostDeleted,
}

impl EventType {
    /// Every type, as `WebhooksRule` forwards them (a test compares the two).
    pub const ALL: [Self; 11] = [
        Self::PropertyCreated,
        Self::PropertyUpdated,
        Self::PropertyTransferred,
        Self::PropertyDeleted,
        Self::LeaseCreated,
        Self::LeaseRenewed,
        Self::LeaseEnded,
        Self::PostPublished,
        Self::PostHidden,
        Self::PostUnhidden,
        Self::PostDeleted,
    ];

    /// The public name (the event's own type).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PropertyCreated => "property.created",
            Self::PropertyUpdated => "property.updated",
            Self::PropertyTransferred => "property.transferred",
            Self::PropertyDeleted => "property.deleted",
            Self::LeaseCreated => "lease.created",
            Self::LeaseRenewed => "lease.renewed",
            Self::LeaseEnded => "lease.ended",
            Self::PostPublished => "post.published",
            Self::PostHidden => "post.hidden",
            Self::PostUnhidden => "post.unhidden",
            Self::PostDeleted => "post.deleted",
        }
    }

    /// The type of an event of kind `kind`, if endpoints may follow it.
    pub fn of(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == kind)
    }
}

/// The event types an endpoint follows: one or more, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventType>);

impl EventTypes {
    pub fn into_vec(self) -> Vec<EventType> {
        self.0
    }
}

impl RequestValue for EventTypes {
    type Raw = Vec<String>;
    fn from_raw(raw: Vec<String>) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid("at least one event type"));
        }
        let mut types = raw
            .iter()
            .map(|name| EventType::of(name).ok_or(Invalid("an event type of the list")))
            .collect::<Result<Vec<_>, _>>()?;
        types.sort_unstable();
        types.dedup();
        Ok(Self(types))
    }
    fn schema() -> Schema {
        ArrayBuilder::new()
            .items(<EventType as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .max_items(Some(EventType::ALL.len()))
            .description(Some("The event types to deliver (each once)."))
            .into()
    }
}

/// An endpoint's URL: absolute `https://` (or `http://`, allowed only to a test target), without
/// credentials or a fragment, at most [`URL_MAX_LEN`] characters. Where it may point is checked
/// against the deployment's rules ([`target`]) when it is registered and before each delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

impl RequestValue for WebhookUrl {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if raw.len() > URL_MAX_LEN {
            return Err(Invalid("at most 2048 characters"));
        }
        let url = url::Url::parse(raw.trim()).map_err(|_| Invalid("an absolute https:// URL"))?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return Err(Invalid("an absolute https:// URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid("a URL without credentials"));
        }
        if url.fragment().is_some() {
            return Err(Invalid("a URL without a fragment"));
        }
        Ok(Self(url))
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
            .max_length(Some(URL_MAX_LEN))
            .description(Some(
                "An https:// URL on the public Internet: no credentials, no fragment; a host \
                 that names or resolves to a loopback, private, link-local or otherwise \
                 non-public address is refused.",
            ))
            .examples(["https://hooks.example.com/ferrite"])
            .into()
    }
}

/// What an endpoint is for, in a few words (visible text, at most 200 characters).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl RequestValue for Description {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if raw.trim().is_empty() {
            return Ok(Self::default());
        }
        crate::validate::visible_line(&raw, DESCRIPTION_MAX_CHARS).map(|line| Self(line.to_owned()))
    }
    fn schema() -> Schema {
        crate::validate::text_schema(
            0,
            DESCRIPTION_MAX_CHARS,
            "What the endpoint is for (may be empty).",
        )
        .into()
    }
}

request_value!(EventTypes, WebhookUrl, Description);

/// Whether deliveries go to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointStatus {
    Enabled,
    /// Paused by an admin, or by the worker after it failed for a sustained period.
    Disabled,
}

/// An endpoint as admins see it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: WebhookId,
    #[schema(example = "https://hooks.example.com/ferrite")]
    pub url: String,
    pub event_types: Vec<EventType>,
    pub description: String,
    pub status: EndpointStatus,
    /// Since when every delivery to it has failed (absent while it answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub failing_since: Option<String>,
    /// When it was disabled (absent while enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub disabled_at: Option<String>,
    /// Who disabled it: `admin`, or `failures` (the worker, after sustained failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub disabled_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

crate::store::attributes! { WebhookView in view_attributes {
    URL: String = url,
    EVENT_TYPES: Vec<EventType> = event_types,
    DESCRIPTION: String = description,
    STATUS: EndpointStatus = status,
    FAILING_SINCE: String = failing_since,
    DISABLED_AT: String = disabled_at,
    DISABLED_BY: String = disabled_by,
    UPDATED_AT: String = updated_at,
} }

/// A new endpoint, with its signing secret: shown in this answer only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` and the base64 of 32 random bytes: the key of `webhook-signature`. Shown once.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// The stored endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    pub(crate) view: WebhookView,
    /// The admin who registered it: told when it is disabled.
    pub(crate) created_by: UserId,
    /// The signing secret, sealed (base64 of the KMS ciphertext).
    pub(crate) sealed_secret: String,
    #[serde(flatten)]
    pub(crate) health: EndpointHealth,
}

/// What the worker keeps of an endpoint's failures besides the view's `failingSince`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndpointHealth {
    /// `failingSince` in epoch seconds (what the worker compares).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) failing_since_secs: Option<i64>,
}

crate::store::attributes! { EndpointHealth in health_attributes {
    FAILING_SINCE_SECS: i64 = failing_since_secs,
} }

/// The app's endpoint count.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndpointCount {
    pk: String,
    sk: String,
    #[serde(default)]
    count: u64,
}

crate::store::attributes! { EndpointCount in count_attributes {
    COUNT: u64 = count,
} }

/// What became of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// The endpoint answered 2xx.
    Succeeded,
    /// The last attempt failed; another is due at `nextAttemptAt`.
    Retrying,
    /// Every attempt failed, or the endpoint was disabled or removed meanwhile: given up (the
    /// event waits in the webhooks dead-letter queue when attempts ran out).
    Failed,
}

/// One event's delivery to one endpoint, as of its last attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The `webhook-id` sent: the event's id, the same on every attempt.
    pub id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_attempt_at: String,
    /// The endpoint's HTTP status on the last attempt (absent when none came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub response_status: Option<u16>,
    /// Why the last attempt failed: `timeout`, `connection failed: …`, `refused: … is not a
    /// public address`, `answered 503`…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub error: Option<String>,
    /// When the next attempt is due (`retrying` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub next_attempt_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    view: DeliveryView,
    expires_at: i64,
}

/// One page of an endpoint's deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deliveries {
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One page of endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhooks {
    pub items: Vec<WebhookView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The public payload of one change (the body of a delivery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change happened (RFC 3339).
    #[schema(example = "2027-01-05T09:30:00.000Z")]
    pub timestamp: String,
    pub data: PayloadData,
}

/// What a payload says of the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayloadData {
    /// What changed: `property`, `lease` or `post`.
    pub object: String,
    /// Its id (read it with `GET /v1/<object>s/{id}`).
    pub id: String,
    /// The fields an update changed, by name (`*.updated`, `lease.renewed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub changed: Vec<String>,
    /// `property.transferred`: the owner before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub previous_owner_id: Option<String>,
    /// `property.transferred`: the owner after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub owner_id: Option<String>,
    /// `lease.created`: the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub tenant_id: Option<String>,
}

/// The payload of `event`, if endpoints may follow its type.
pub fn payload_of(event: &Event) -> Option<Payload> {
    let kind = EventType::of(&event.kind)?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let change = |field: &str| event.changes.get(field);
    let mut data = PayloadData {
        object: event.entity.kind.clone(),
        id: event.entity.id.clone(),
        changed: Vec::new(),
        previous_owner_id: None,
        owner_id: None,
        tenant_id: None,
    };
    match kind {
        EventType::PropertyUpdated | EventType::LeaseRenewed => {
            data.changed = event.changes.keys().cloned().collect();
        }
        EventType::PropertyTransferred => {
            data.previous_owner_id = change("ownerId").and_then(|c| text(&c.before));
            data.owner_id = change("ownerId").and_then(|c| text(&c.after));
        }
        EventType::LeaseCreated => {
            data.tenant_id = change("tenantId").and_then(|c| text(&c.after));
        }
        _ => {}
    }
    Some(Payload {
        kind,
        timestamp: event.occurred_at.clone(),
        data,
    })
}

/// The `webhook-signature` of `body` sent as message `id` at `timestamp` (seconds) with the
/// secret `key` (its bytes, after `whsec_`): `v1,` and the base64 of HMAC-SHA256 over
/// `id.timestamp.body`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes a key of any length")
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn endpoint_key(id: WebhookId) -> Key {
    Key::new(format!("WEBHOOK#{id}"), "WEBHOOK")
}

#[cfg(feature = "webhook-delivery")]
fn delivery_key(id: WebhookId, message: &str) -> Key {
    Key::new(
        format!("WEBHOOK#{id}"),
        format!("{DELIVERY_PREFIX}{message}"),
    )
}

fn count_key() -> Key {
    Key::new("STATS", "WEBHOOKS")
}

const ENDPOINTS_PARTITION: &str = "WEBHOOKS";

fn no_such_webhook() -> ApiError {
    ApiError::no_such("webhook")
}

impl crate::http::PathId for WebhookId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        no_such_webhook()
    }
}

/// Where `url` may be sent, by this deployment's rules: a 422 of `url` otherwise.
fn check_target(state: &State, url: &WebhookUrl) -> Result<(), ApiError> {
    target::check_url(url.url(), &state.config.webhook_test_targets)
        .map(|_| ())
        .map_err(|refusal| ApiError::Validation {
            errors: vec![crate::error::FieldError::new("url", refusal.to_string())],
        })
}

fn webhook_event(kind: &str, me: &Principal, id: WebhookId, now: String) -> Event {
    Event::new(kind, me.actor(), "webhook", &id.to_string(), now)
}

/// What `POST /webhooks` carries, parsed.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub event_types: EventTypes,
    pub description: Description,
}

/// `POST /webhooks` (admin): a new endpoint and its secret. Calls: KMS Encrypt, then one
/// TransactWriteItems (the count under its cap, the endpoint, the event).
pub async fn create(
    state: &State,
    me: &Principal,
    input: NewWebhook,
) -> Result<CreatedWebhook, ApiError> {
    check_target(state, &input.url)?;
    let store = &state.store;
    let id = WebhookId::generate();
    let key = crate::auth::crypto::random_bytes::<SECRET_BYTES>()
        .ok_or_else(|| ApiError::internal("no randomness for a webhook secret"))?;
    let sealed = state
        .require_sealer()?
        .seal(&key, Context::of_webhook(PURPOSE, &id.to_string()))
        .await?;
    let now = state.clock.timestamp();
    let view = WebhookView {
        id,
        url: input.url.as_str().to_owned(),
        event_types: input.event_types.into_vec(),
        description: input.description.0,
        status: EndpointStatus::Enabled,
        failing_since: None,
        disabled_at: None,
        disabled_by: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 1,
    };
    let item_key = endpoint_key(id);
    let item = EndpointItem {
        pk: item_key.pk,
        sk: item_key.sk,
        gsi1pk: ENDPOINTS_PARTITION.to_owned(),
        gsi1sk: id.to_string(),
        view: view.clone(),
        created_by: me.id(),
        sealed_secret: STANDARD.encode(sealed),
        health: EndpointHealth::default(),
    };
    let event = webhook_event("webhook.created", me, id, now)
        .change("url", (), &view.url)
        .change("eventTypes", (), &view.event_types);
    let writes = vec![
        Update::new(count_key())
            .add(EndpointCount::COUNT, 1)
            .if_below(EndpointCount::COUNT, MAX_ENDPOINTS)
            .into_transact(store)?,
        store.put_new_op(&item)?,
        outbox_put(store, event)?,
    ];
    store
        .transact(writes)
        .await
        .on_condition(|index| match index {
            Some(0) => ApiError::Conflict {
                code: "WEBHOOK_LIMIT",
                detail: format!("An app has at most {MAX_ENDPOINTS} webhook endpoints."),
            },
            _ => ApiError::internal("a new webhook's id was taken"),
        })?;
    Ok(CreatedWebhook {
        webhook: view,
        secret: format!("{SECRET_PREFIX}{}", STANDARD.encode(key)),
    })
}

/// `GET /webhooks` (admin): the endpoints, newest first. Calls: Query `gsi1`.
pub async fn list(state: &State, page: &PageRequest) -> Result<Webhooks, ApiError> {
    let query = KeyQuery::index(Index::Gsi1, ENDPOINTS_PARTITION).newest_first();
    let found: Page<EndpointItem> = state.store.query_page(&query, page).await?;
    Ok(Webhooks {
        items: found.items.into_iter().map(|item| item.view).collect(),
        next_cursor: found.next_cursor,
    })
}

/// What `PATCH /webhooks/{id}` carries, parsed.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<WebhookUrl>,
    pub event_types: Option<EventTypes>,
    pub description: Option<Description>,
    /// `true` enables (and forgets past failures), `false` pauses.
    pub enabled: Option<bool>,
    pub expected_version: Option<u64>,
}

/// `PATCH /webhooks/{id}` (admin). Calls: GetItem, then one TransactWriteItems (the endpoint
/// under its version, the event).
pub async fn update(
    state: &State,
    me: &Principal,
    id: WebhookId,
    change: WebhookChange,
) -> Result<WebhookView, ApiError> {
    if let Some(url) = &change.url {
        check_target(state, url)?;
    }
    let store = &state.store;
    let before: EndpointItem = store
        .get(&endpoint_key(id))
        .await?
        .ok_or_else(no_such_webhook)?;
    let before = before.view;
    let version = expect_version(change.expected_version, before.version)?;
    let now = state.clock.timestamp();
    let mut after = WebhookView {
        url: change
            .url
            .map_or_else(|| before.url.clone(), |u| u.as_str().to_owned()),
        event_types: change
            .event_types
            .map_or_else(|| before.event_types.clone(), EventTypes::into_vec),
        description: change
            .description
            .map_or_else(|| before.description.clone(), |d| d.0),
        updated_at: now.clone(),
        version: version + 1,
        ..before.clone()
    };
    let mut write = Update::new(endpoint_key(id))
        .set(WebhookView::URL, &after.url)
        .set(WebhookView::EVENT_TYPES, &after.event_types)
        .set(WebhookView::DESCRIPTION, &after.description)
        .set(WebhookView::UPDATED_AT, &now);
    match change.enabled {
        Some(true) if before.status == EndpointStatus::Disabled => {
            after.status = EndpointStatus::Enabled;
            after.failing_since = None;
            after.disabled_at = None;
            after.disabled_by = None;
            write = write
                .set(WebhookView::STATUS, &EndpointStatus::Enabled)
                .remove(WebhookView::FAILING_SINCE)
                .remove(WebhookView::DISABLED_AT)
                .remove(WebhookView::DISABLED_BY)
                .remove(EndpointHealth::FAILING_SINCE_SECS);
        }
        Some(false) if before.status == EndpointStatus::Enabled => {
            after.status = EndpointStatus::Disabled;
            after.disabled_at = Some(now.clone());
            after.disabled_by = Some("admin".to_owned());
            write = write
                .set(WebhookView::STATUS, &EndpointStatus::Disabled)
                .set(WebhookView::DISABLED_AT, &now)
                .set(WebhookView::DISABLED_BY, &String::from("admin"));
        }
        _ => {}
    }
    let event = webhook_event("webhook.updated", me, id, now)
        .change("url", &before.url, &after.url)
        .change("eventTypes", &before.event_types, &after.event_types)
        .change("description", &before.description, &after.description)
        .change("status", before.status, after.status);
    let writes = vec![
        write
            .if_exists()
            .bump_version(version)
            .into_transact(store)?,
        outbox_put(store, event)?,
    ];
    store.transact(writes).await.or_stale()?;
    Ok(after)
}

/// `DELETE /webhooks/{id}` (admin). Calls: GetItem, then one TransactWriteItems (the endpoint
/// under its version, the count, the event). Its delivery records expire by themselves.
pub async fn delete(
    state: &State,
    me: &Principal,
    id: WebhookId,
    expected_version: Option<u64>,
) -> Result<(), ApiError> {
    let store = &state.store;
    let before: EndpointItem = store
        .get(&endpoint_key(id))
        .await?
        .ok_or_else(no_such_webhook)?;
    let version = expect_version(expected_version, before.view.version)?;
    let event = webhook_event("webhook.deleted", me, id, state.clock.timestamp()).change(
        "url",
        &before.view.url,
        (),
    );
    let writes = vec![
        store.delete_versioned_op(&endpoint_key(id), version)?,
        Update::new(count_key())
            .add(EndpointCount::COUNT, -1)
            .into_transact(store)?,
        outbox_put(store, event)?,
    ];
    store.transact(writes).await.or_stale()
}

/// `GET /webhooks/{id}/deliveries` (admin): newest first. Calls: GetItem (the endpoint: 404),
/// Query.
pub async fn deliveries(
    state: &State,
    id: WebhookId,
    page: &PageRequest,
) -> Result<Deliveries, ApiError> {
    let store = &state.store;
    let endpoint: Option<EndpointItem> = store.get(&endpoint_key(id)).await?;
    endpoint.ok_or_else(no_such_webhook)?;
    let query = KeyQuery::table(endpoint_key(id).pk)
        .sort(SortKey::BeginsWith(DELIVERY_PREFIX.to_owned()))
        .newest_first();
    let found: Page<DeliveryItem> = store.query_page(&query, page).await?;
    Ok(Deliveries {
        items: found.items.into_iter().map(|item| item.view).collect(),
        next_cursor: found.next_cursor,
    })
}

#[cfg(feature = "webhook-delivery")]
/// The enabled endpoints that follow `kind` (the worker's fan-out: one Query of `gsi1`).
pub(crate) async fn subscribed(
    store: &Store,
    kind: EventType,
) -> Result<Vec<EndpointItem>, StoreError> {
    let query = KeyQuery::index(Index::Gsi1, ENDPOINTS_PARTITION);
    let all: Vec<EndpointItem> = store.query_every(&query).await?;
    Ok(all
        .into_iter()
        .filter(|e| e.view.status == EndpointStatus::Enabled && e.view.event_types.contains(&kind))
        .collect())
}

#[cfg(feature = "webhook-delivery")]
/// The delivery of message `message` to endpoint `id`, if one was attempted.
pub(crate) async fn delivery(
    store: &Store,
    id: WebhookId,
    message: &str,
) -> Result<Option<DeliveryView>, StoreError> {
    Ok(store
        .get::<DeliveryItem>(&delivery_key(id, message))
        .await?
        .map(|item| item.view))
}

#[cfg(feature = "webhook-delivery")]
/// Records an attempt (the whole delivery, rewritten).
pub(crate) async fn record_delivery(
    store: &Store,
    endpoint: WebhookId,
    view: DeliveryView,
) -> Result<(), StoreError> {
    let key = delivery_key(endpoint, &view.id);
    store
        .put(&DeliveryItem {
            pk: key.pk,
            sk: key.sk,
            view,
            expires_at: store.expires_in(DELIVERY_RETENTION_DAYS * 86_400),
        })
        .await
}

#[cfg(feature = "webhook-delivery")]
/// The endpoint answered: it is no longer failing.
pub(crate) async fn mark_answering(
    store: &Store,
    endpoint: &EndpointItem,
) -> Result<(), StoreError> {
    if endpoint.health.failing_since_secs.is_none() {
        return Ok(());
    }
    let write = Update::new(endpoint_key(endpoint.view.id))
        .remove(WebhookView::FAILING_SINCE)
        .remove(EndpointHealth::FAILING_SINCE_SECS)
        .if_exists();
    match store.update(write).await {
        Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(other) => Err(other),
    }
}

#[cfg(feature = "webhook-delivery")]
/// The endpoint failed at `now`: it is failing since then if it was not already; past
/// `disable_after_secs` of failing it is disabled (once: under `status = enabled`) and its admin
/// told. `true` when this disabled it.
pub(crate) async fn mark_failing(
    store: &Store,
    endpoint: &EndpointItem,
    now: (i64, String),
    disable_after_secs: i64,
) -> Result<bool, StoreError> {
    let id = endpoint.view.id;
    let Some(since) = endpoint.health.failing_since_secs else {
        let write = Update::new(endpoint_key(id))
            .set_if_absent(WebhookView::FAILING_SINCE, &now.1)
            .set_if_absent(EndpointHealth::FAILING_SINCE_SECS, &now.0)
            .if_exists();
        return match store.update(write).await {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(other) => Err(other),
        };
    };
    if now.0.saturating_sub(since) < disable_after_secs {
        return Ok(false);
    }
    let failing_since = endpoint.view.failing_since.clone().unwrap_or_default();
    let event = Event::new(
        "webhook.disabled",
        Actor::system("worker-webhooks"),
        "webhook",
        &id.to_string(),
        now.1.clone(),
    )
    .change("status", EndpointStatus::Enabled, EndpointStatus::Disabled)
    .notify(
        endpoint.created_by,
        Notice::WebhookDisabled(WebhookNotice {
            webhook_id: id,
            url: endpoint.view.url.clone(),
            failing_since,
        }),
    );
    let writes = vec![
        Update::new(endpoint_key(id))
            .set(WebhookView::STATUS, &EndpointStatus::Disabled)
            .set(WebhookView::DISABLED_AT, &now.1)
            .set(WebhookView::DISABLED_BY, &String::from("failures"))
            .set(WebhookView::UPDATED_AT, &now.1)
            .if_equals(WebhookView::STATUS, &EndpointStatus::Enabled)
            .next_version()
            .into_transact(store)?,
        outbox_put(store, event)?,
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_reads_back_from_its_public_name() {
        for kind in EventType::ALL {
            assert_eq!(EventType::of(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("json"),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(EventType::of("user.registered"), None);
    }

    #[test]
    fn event_types_are_one_or_more_known_names_each_once() {
        let parsed = EventTypes::from_raw(vec![
            "post.hidden".into(),
            "property.created".into(),
            "post.hidden".into(),
        ])
        .expect("valid");
        assert_eq!(
            parsed.into_vec(),
            vec![EventType::PropertyCreated, EventType::PostHidden]
        );
        assert!(EventTypes::from_raw(vec![]).is_err());
        assert!(EventTypes::from_raw(vec!["user.registered".into()]).is_err());
    }

    #[test]
    fn urls_with_credentials_fragments_or_other_schemes_are_invalid() {
        for bad in [
            "ftp://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "https://hooks.example.com/x#frag",
            "hooks.example.com/x",
            "javascript:alert(1)",
        ] {
            assert!(WebhookUrl::from_raw(bad.into()).is_err(), "{bad}");
        }
        assert!(WebhookUrl::from_raw("https://hooks.example.com/in?x=1".into()).is_ok());
    }

    #[test]
    fn a_payload_names_what_changed_never_its_values() {
        let event = Event::new(
            "property.updated",
            Actor::system("test"),
            "property",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "2027-01-05T09:30:00.000Z".into(),
        )
        .change("address", "1 Old Street", "2 New Street")
        .email(
            "property-updated",
            "owner@example.com",
            &[("token", "secret")],
        );
        let payload = payload_of(&event).expect("a webhook type");
        let json = serde_json::to_string(&payload).expect("json");
        assert_eq!(payload.data.changed, vec!["address".to_owned()]);
        for leaked in ["Street", "owner@example.com", "secret", "actor"] {
            assert!(!json.contains(leaked), "{leaked} in {json}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_id_timestamp_and_body() {
        // Standard Webhooks' own example: its secret, message id, timestamp and payload.
        let key = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
