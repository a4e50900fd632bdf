//! Documents of a property or of a lease — deeds, floor plans, inspection reports, signed
//! contracts. Files never pass through a function (API Gateway takes 10 MB, Lambda 6 MB): a
//! function records the document (`pending`) and signs a POST policy for exactly one key,
//! type and size; the browser uploads to the private bucket (`incoming/<documentId>`); the
//! bucket's notification brings the documents worker, which checks the object (its size, its
//! first bytes against the declared type) and marks the document `ready` — moving the object
//! to `documents/<documentId>` — or `rejected`, removing it. Only a `ready` document is ever
//! handed out, by a link valid for a minute (`Content-Disposition: attachment`).
//!
//! Documents belong to the property (a lease's carry its property's id too): a transfer
//! rewrites nothing, the new owner sees them at once. Who may do what:
//!
//! | | add | read | delete |
//! | --- | --- | --- | --- |
//! | a property's | its owner, admins | its owner, admins | its owner, admins |
//! | a lease's | the property's owner, admins, the tenant while the lease runs | the same, and the tenant after it ended | as adding |
//!
//! Anyone else is told the document does not exist (404). A property's documents and its
//! leases' count against its quota — `DOCUMENTS_PER_PROPERTY` (409 `DOCUMENT_QUOTA`) and
//! `DOCUMENT_BYTES_PER_PROPERTY` (413 `DOCUMENT_BYTES_QUOTA`), pending uploads by their declared
//! size — kept on the property item in each change's transaction.
//!
//! Items: `DOC#<documentId>` / `DOC`, listed through `gsi1` (`DOCS#PROPERTY#<propertyId>` or
//! `DOCS#LEASE#<leaseId>` / `<documentId>`: newest first).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::accounts::Principal;
use crate::auth::Role;
use crate::aws::presign::{self, BucketAddress, PostPolicy, PresignedPost};
use crate::config::DocumentsConfig;
use crate::error::{ApiError, FieldError};
use crate::events::{Actor, Event, outbox_put};
use crate::ids::{DocumentId, LeaseId, PropertyId, UserId};
use crate::state::State;
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::notices::{DocumentNotice, Notice};
use crate::store::{Index, Key, KeyQuery, Page, PageRequest, Store, StoreError, Update};
use crate::validate::{Invalid, RequestValue, line_schema, request_value, visible_line};

use super::leases::{
    LeaseItem, LeaseStatus, LeaseView, lease_key, property_leases_partition, visible_lease,
};
use super::{PropertyItem, load, property_key};

/// How long a browser may take to start its upload.
pub const UPLOAD_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long a download link works.
pub const DOWNLOAD_WINDOW: Duration = Duration::from_secs(60);
/// Where uploads land, before the worker checks them.
pub const INCOMING_PREFIX: &str = "incoming/";
/// Where checked documents are kept.
pub const STORED_PREFIX: &str = "documents/";
/// The longest name a document may have.
pub const NAME_MAX_CHARS: usize = 200;
/// The most bytes one POST upload may make (S3's ceiling: 5 GB).
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Who the worker acts as in events.
const WORKER: &str = "documents-worker";

/// What a document may be: the types browsers show and nothing that runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DocumentType {
    #[serde(rename = "application/pdf")]
    Pdf,
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
}

impl DocumentType {
    const ALL: [Self; 4] = [Self::Pdf, Self::Jpeg, Self::Png, Self::Webp];

    /// The media type, as S3 stores it and serves it.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }

    /// Whether a file starting with `head` is of this type (its magic bytes).
    pub fn matches(self, head: &[u8]) -> bool {
        match self {
            Self::Pdf => head.starts_with(b"%PDF-"),
            Self::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            Self::Png => head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Self::Webp => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        }
    }

    /// How many first bytes [`Self::matches`] needs.
    pub const HEAD_BYTES: u64 = 16;
}

/// A media type as a request gives it (any case): one of [`DocumentType`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedType(DocumentType);

impl RequestValue for RequestedType {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        let wanted = raw.trim().to_ascii_lowercase();
        DocumentType::ALL
            .into_iter()
            .find(|t| t.mime() == wanted)
            .map(Self)
            .ok_or(Invalid(
                "must be application/pdf, image/jpeg, image/png or image/webp",
            ))
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(DocumentType::ALL.map(DocumentType::mime)))
            .description(Some(
                "The file's media type; the upload must be of it (its first bytes are checked).",
            ))
            .into()
    }
}

/// A document's name as people see it (and its download's file name): one visible line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentName(String);

impl RequestValue for DocumentName {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_line(&raw, NAME_MAX_CHARS).map(|n| Self(n.to_owned()))
    }
    fn schema() -> Schema {
        line_schema(
            NAME_MAX_CHARS,
            "The document's name, and the file name it downloads as (`deed.pdf`).",
        )
        .examples(["Title deed.pdf"])
        .into()
    }
}

/// A declared size in bytes: 1 to 5 GiB here, at most `DOCUMENT_MAX_BYTES` when checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentSize(u64);

impl RequestValue for DocumentSize {
    type Raw = u64;
    fn from_raw(raw: u64) -> Result<Self, Invalid> {
        if (1..=MAX_UPLOAD_BYTES).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(Invalid("must be from 1 to 5368709120 bytes"))
        }
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_UPLOAD_BYTES))
            .description(Some(
                "The file's size in bytes: the upload may be no larger (the deployment's \
                 `MaxDocumentBytes`, 25 MiB unless configured).",
            ))
            .examples([482_113])
            .into()
    }
}

request_value!(RequestedType, DocumentName, DocumentSize);

/// `POST …/documents`: what is about to be uploaded.
#[derive(Debug, Clone, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDocument {
    pub name: DocumentName,
    pub content_type: RequestedType,
    pub size: DocumentSize,
}

/// Where a document is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    /// Recorded; the upload has not been checked yet.
    Pending,
    /// Uploaded and checked: it can be downloaded.
    Ready,
    /// The upload was not what was declared (`rejectedReason`); the file is gone.
    Rejected,
}

/// A document, as stored and as shown (without its keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentView {
    pub id: DocumentId,
    #[schema(example = "Title deed.pdf")]
    pub name: String,
    pub content_type: DocumentType,
    /// In bytes: as declared while pending, as stored once ready.
    pub size: u64,
    pub status: DocumentStatus,
    pub property_id: PropertyId,
    /// Set for a lease's document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_id: Option<LeaseId>,
    pub uploaded_by: UserId,
    /// Why the upload was refused (a rejected document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A document as stored: its keys and the document.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DocumentItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    #[serde(flatten)]
    document: DocumentView,
}

crate::store::attributes! { DocumentView in document_attributes {
    SIZE: u64 = size,
    STATUS: DocumentStatus = status,
    REJECTED_REASON: String = rejected_reason,
    UPDATED_AT: String = updated_at,
} }

/// The document stored at `id`, if any.
async fn stored(state: &State, id: DocumentId) -> Result<Option<DocumentView>, ApiError> {
    let item: Option<DocumentItem> = state.store.get(&document_key(id)).await?;
    Ok(item.map(|i| i.document))
}

/// `201` of `POST …/documents`: the document and how to upload it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewDocumentAnswer {
    pub document: DocumentView,
    /// POST a `multipart/form-data` form to `upload.url`: every field of `upload.fields`, then
    /// the file as the last field, named `file`. S3 answers 204; the document becomes `ready`
    /// (or `rejected`) within seconds.
    pub upload: PresignedPost,
}

/// A link that downloads a ready document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Download {
    /// GET it (no Authorization header): the file, as an attachment.
    pub url: String,
    /// When the link stops working (RFC 3339): about a minute.
    pub expires_at: String,
}

/// `GET /documents/{id}`: the document and, when ready, a download link.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDetail {
    pub document: DocumentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<Download>,
}

pub fn document_key(id: DocumentId) -> Key {
    Key::new(format!("DOC#{id}"), "DOC")
}

fn property_documents(id: PropertyId) -> String {
    format!("DOCS#PROPERTY#{id}")
}

fn lease_documents(id: LeaseId) -> String {
    format!("DOCS#LEASE#{id}")
}

/// The key an upload of document `id` lands at.
pub fn upload_key(id: DocumentId) -> String {
    format!("{INCOMING_PREFIX}{id}")
}

/// The key a ready document is kept at.
pub fn stored_key(id: DocumentId) -> String {
    format!("{STORED_PREFIX}{id}")
}

/// The document an object key is the upload of (`incoming/<id>`), if it is one.
pub fn upload_of(key: &str) -> Option<DocumentId> {
    key.strip_prefix(INCOMING_PREFIX)?.parse().ok()
}

fn configured(state: &State) -> Result<&DocumentsConfig, ApiError> {
    state
        .config
        .documents
        .as_ref()
        .ok_or_else(|| ApiError::internal("DOCUMENTS_BUCKET_NAME is not set"))
}

fn address(state: &State) -> BucketAddress {
    BucketAddress::new(&state.config.region, state.config.endpoint_url.as_deref())
}

fn no_such_document() -> ApiError {
    ApiError::no_such("document")
}

impl crate::http::PathId for DocumentId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        no_such_document()
    }
}

/// Whether a lease has ended (ended by hand, or past its agreed end date: dates compared as
/// text against the clock's UTC timestamp, as a renewal compares them).
fn ended(state: &State, lease: &LeaseView) -> bool {
    let now = state.clock.timestamp();
    let today = now.get(..10).unwrap_or_default();
    lease.status == LeaseStatus::Ended || lease.end_date.as_deref().is_some_and(|end| end < today)
}

fn is_manager(me: &Principal, property: &PropertyItem) -> bool {
    me.id() == property.owner_id || me.has_role(Role::Admin)
}

/// `POST /properties/{id}/documents` (its owner, admins). Calls: GetItem (property),
/// TransactWriteItems (document, the property's counts, event).
pub async fn add_to_property(
    state: &State,
    me: &Principal,
    id: PropertyId,
    input: NewDocument,
) -> Result<NewDocumentAnswer, ApiError> {
    let property = load(&state.store, id).await?;
    if !is_manager(me, &property) {
        return Err(ApiError::Forbidden {
            detail: "Only the property's owner or an admin may add its documents.".into(),
        });
    }
    add(state, me, id, None, input).await
}

/// `POST /leases/{id}/documents` (the property's owner, admins, the tenant while the lease
/// runs; anyone else: 404). Calls: GetItem (lease), GetItem (property) unless the caller is the
/// tenant or an admin, TransactWriteItems.
pub async fn add_to_lease(
    state: &State,
    me: &Principal,
    id: LeaseId,
    input: NewDocument,
) -> Result<NewDocumentAnswer, ApiError> {
    let lease = visible_lease(state, me, id).await?;
    if lease.tenant_id == me.id() && !me.has_role(Role::Admin) && ended(state, &lease) {
        return Err(ApiError::Forbidden {
            detail: "The lease has ended: its tenant may read its documents, not add any.".into(),
        });
    }
    add(state, me, lease.property_id, Some(id), input).await
}

async fn add(
    state: &State,
    me: &Principal,
    property_id: PropertyId,
    lease_id: Option<LeaseId>,
    input: NewDocument,
) -> Result<NewDocumentAnswer, ApiError> {
    let config = configured(state)?;
    let size = input.size.0;
    if size > config.max_bytes {
        return Err(ApiError::Validation {
            errors: vec![FieldError::new(
                "size",
                format!("must be at most {} bytes", config.max_bytes),
            )],
        });
    }
    let store = &state.store;
    let id = DocumentId::generate();
    let now = state.clock.timestamp();
    let key = document_key(id);
    let document = DocumentView {
        id,
        name: input.name.0,
        content_type: input.content_type.0,
        size,
        status: DocumentStatus::Pending,
        property_id,
        lease_id,
        uploaded_by: me.id(),
        rejected_reason: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let item = DocumentItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: lease_id.map_or_else(|| property_documents(property_id), lease_documents),
        gsi1sk: id.to_string(),
        document: document.clone(),
    };
    let event = Event::new(
        "document.added",
        me.actor(),
        "document",
        &id.to_string(),
        now,
    )
    .change("name", (), &document.name)
    .change("contentType", (), document.content_type)
    .change("size", (), document.size)
    .change("propertyId", (), property_id)
    .change("leaseId", (), lease_id);
    let room = config
        .bytes_per_property
        .saturating_sub(size)
        .saturating_add(1);
    let writes = vec![
        store.put_new_op(&item)?,
        Update::new(property_key(property_id))
            .add(PropertyItem::DOCUMENT_COUNT, 1)
            .add(PropertyItem::DOCUMENT_BYTES, signed(size))
            .if_exists()
            .if_below(PropertyItem::DOCUMENT_COUNT, config.per_property)
            .if_below(PropertyItem::DOCUMENT_BYTES, room)
            .into_transact(store)?,
        outbox_put(store, event)?,
    ];
    match store.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { index: Some(1) }) => {
            return Err(quota_refusal(state, config, property_id, size).await);
        }
        Err(error) => return Err(error.into()),
    }
    let upload = presign::presigned_post(
        state.sdk_config(),
        &address(state),
        &PostPolicy {
            bucket: &config.bucket,
            key: &upload_key(id),
            content_type: document.content_type.mime(),
            max_bytes: size,
            valid_for: UPLOAD_WINDOW,
        },
        state.clock.now(),
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(NewDocumentAnswer { document, upload })
}

/// Why a property's counts refused a document: the property is gone (404), or which quota.
async fn quota_refusal(
    state: &State,
    config: &DocumentsConfig,
    id: PropertyId,
    size: u64,
) -> ApiError {
    let property = match load(&state.store, id).await {
        Ok(property) => property,
        Err(error) => return error,
    };
    if property.document_count >= config.per_property {
        return ApiError::Conflict {
            code: "DOCUMENT_QUOTA",
            detail: format!(
                "The property has {} documents, its most: delete one first.",
                config.per_property
            ),
        };
    }
    let left = config
        .bytes_per_property
        .saturating_sub(property.document_bytes);
    ApiError::StorageQuota {
        code: "DOCUMENT_BYTES_QUOTA",
        detail: format!(
            "The property's documents may take {} bytes; {left} are left, and this one is {size}.",
            config.bytes_per_property
        ),
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `GET /properties/{id}/documents` (its owner, admins): its own documents (not its leases'),
/// newest first. Calls: GetItem (property), Query (`gsi1`).
pub async fn of_property(
    state: &State,
    me: &Principal,
    id: PropertyId,
    page: &PageRequest,
) -> Result<Page<DocumentView>, ApiError> {
    let property = load(&state.store, id).await?;
    if !is_manager(me, &property) {
        return Err(ApiError::Forbidden {
            detail: "Only the property's owner or an admin may read its documents.".into(),
        });
    }
    listed(state, property_documents(id), page).await
}

/// `GET /leases/{id}/documents` (the property's owner, admins, the tenant — after the lease
/// ended too; anyone else: 404): its documents, newest first. Calls: GetItem (lease; and the
/// property for its owner), Query (`gsi1`).
pub async fn of_lease(
    state: &State,
    me: &Principal,
    id: LeaseId,
    page: &PageRequest,
) -> Result<Page<DocumentView>, ApiError> {
    visible_lease(state, me, id).await?;
    listed(state, lease_documents(id), page).await
}

async fn listed(
    state: &State,
    partition: String,
    page: &PageRequest,
) -> Result<Page<DocumentView>, ApiError> {
    let query = KeyQuery::index(Index::Gsi1, partition).newest_first();
    let found: Page<DocumentItem> = state.store.query_page(&query, page).await?;
    Ok(Page {
        items: found.items.into_iter().map(|i| i.document).collect(),
        next_cursor: found.next_cursor,
    })
}

/// What `me` may do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Read it only: a lease's tenant after the lease ended.
    Read,
    /// Read and delete it: the property's owner, admins, a running lease's tenant.
    Manage,
}

/// A document `me` may read, and whether they may change it: the property's owner, admins; a
/// lease's tenant too (reading only once the lease ended). Anyone else: 404. Calls: GetItem
/// (document), GetItem (property) unless `me` is an admin, and for a lease's document GetItem
/// (lease) when `me` does not own the property.
async fn access(
    state: &State,
    me: &Principal,
    id: DocumentId,
) -> Result<(DocumentView, Access), ApiError> {
    let document = stored(state, id).await?.ok_or_else(no_such_document)?;
    if me.has_role(Role::Admin) {
        return Ok((document, Access::Manage));
    }
    let owner = match load(&state.store, document.property_id).await {
        Ok(property) => property.owner_id == me.id(),
        Err(ApiError::NotFound { .. }) => false,
        Err(error) => return Err(error),
    };
    if owner {
        return Ok((document, Access::Manage));
    }
    if let Some(lease) = document.lease_id {
        let lease: Option<LeaseItem> = state.store.get(&lease_key(lease)).await?;
        if let Some(lease) = lease.filter(|l| l.lease.tenant_id == me.id()) {
            let access = if ended(state, &lease.lease) {
                Access::Read
            } else {
                Access::Manage
            };
            return Ok((document, access));
        }
    }
    Err(no_such_document())
}

/// `DELETE /documents/{id}` (who may add it; a tenant only while the lease runs): the document
/// goes with its event, its share of the property's quota given back; the documents worker
/// removes its file on the event (`DocumentsRule`). Two deletions at once: one 204, one 404.
/// Calls: as [`access`], then TransactWriteItems (document, the property's counts, event).
pub async fn delete(state: &State, me: &Principal, id: DocumentId) -> Result<(), ApiError> {
    let (document, access) = access(state, me, id).await?;
    if access != Access::Manage {
        return Err(ApiError::Forbidden {
            detail: "The lease has ended: its tenant may read its documents, not delete them."
                .into(),
        });
    }
    let store = &state.store;
    let event = Event::new(
        DELETED,
        me.actor(),
        "document",
        &id.to_string(),
        state.clock.timestamp(),
    )
    .change("name", &document.name, ())
    .change("status", document.status, ())
    .change("size", document.size, ())
    .change("propertyId", document.property_id, ())
    .change("leaseId", document.lease_id, ());
    let delete = store.delete_op(&document_key(id), true)?;
    if with_counts(state, &document, delete, -1, -signed(document.size), event).await? {
        Ok(())
    } else {
        Err(no_such_document())
    }
}

/// A change of `document` (`write`, conditioned on what it needs) in one transaction with its
/// property's counts moved by `count` and `bytes` and its `event` — without the counts when the
/// property was deleted meanwhile (nothing to count against). `false` when `write`'s own
/// condition failed.
async fn with_counts(
    state: &State,
    document: &DocumentView,
    write: TransactWriteItem,
    count: i64,
    bytes: i64,
    event: Event,
) -> Result<bool, ApiError> {
    let store = &state.store;
    let counts = Update::new(property_key(document.property_id))
        .add(PropertyItem::DOCUMENT_COUNT, count)
        .add(PropertyItem::DOCUMENT_BYTES, bytes)
        .if_exists()
        .into_transact(store)?;
    let writes = vec![write.clone(), counts, outbox_put(store, event.clone())?];
    match store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(false),
        Err(StoreError::ConditionFailed { index: Some(1) }) => {
            match store.transact(vec![write, outbox_put(store, event)?]).await {
                Ok(()) => Ok(true),
                Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(false),
                Err(error) => Err(error.into()),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// The event of a deleted document: the documents worker removes its files on it.
pub const DELETED: &str = "document.deleted";

/// The files of a deleted document (the event's entity), for the worker to remove: the checked
/// file and any upload still waiting.
pub fn files_of_deleted(event: &Event) -> Option<[String; 2]> {
    if event.kind != DELETED || event.entity.kind != "document" {
        return None;
    }
    let id: DocumentId = event.entity.id.parse().ok()?;
    Some([stored_key(id), upload_key(id)])
}

/// `GET /documents/{id}`: the document, and a download link valid for a minute when it is
/// ready. Calls: as [`access`]; the link is signed locally (no S3 call).
pub async fn get(
    state: &State,
    me: &Principal,
    id: DocumentId,
) -> Result<DocumentDetail, ApiError> {
    let (document, _) = access(state, me, id).await?;
    let download = if document.status == DocumentStatus::Ready {
        let config = configured(state)?;
        let now = state.clock.now();
        let url = presign::presigned_get(
            state.sdk_config(),
            &address(state),
            &presign::GetLink {
                bucket: &config.bucket,
                key: &stored_key(id),
                disposition: &attachment(&document.name),
                content_type: document.content_type.mime(),
                valid_for: DOWNLOAD_WINDOW,
            },
            now,
        )
        .await
        .map_err(ApiError::internal)?;
        Some(Download {
            url,
            expires_at: crate::clock::rfc3339(now + DOWNLOAD_WINDOW),
        })
    } else {
        None
    };
    Ok(DocumentDetail { document, download })
}

/// `Content-Disposition` of a download (RFC 6266): `attachment`, an ASCII `filename` for old
/// clients (anything else, quotes and backslashes as `_`) and the name itself as `filename*`
/// (RFC 8187, UTF-8, percent-encoded).
pub fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

// ---- the documents worker ----------------------------------------------------------------

/// What the worker found at an upload's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upload {
    /// No object (removed already: a repeated event, or the lifecycle rule after a day).
    Missing,
    /// The object: its size, the `Content-Type` it was stored with, its first bytes.
    Found {
        size: u64,
        content_type: Option<String>,
        head: Vec<u8>,
    },
}

/// The worker's verdict on an upload of `document`: its stored size, or why it is refused.
pub fn judge(document: &DocumentView, upload: &Upload) -> Result<u64, &'static str> {
    let Upload::Found {
        size,
        content_type,
        head,
    } = upload
    else {
        return Err("the upload was not found");
    };
    if *size == 0 || *size > document.size {
        return Err("the file is larger than declared");
    }
    if content_type.as_deref() != Some(document.content_type.mime()) {
        return Err("the file was stored with another content type than declared");
    }
    if !document.content_type.matches(head) {
        return Err("the file's content is not of its declared type");
    }
    Ok(*size)
}

/// The document of an upload, if it still waits for its check (otherwise the event is a
/// repeat, or the document was deleted: the upload only needs removing).
pub async fn pending_upload(
    state: &State,
    id: DocumentId,
) -> Result<Option<DocumentView>, ApiError> {
    Ok(stored(state, id)
        .await?
        .filter(|d| d.status == DocumentStatus::Pending))
}

/// Marks `document` ready at `size` bytes (the property's byte count corrected to it), with
/// its event — which tells the property's owner and a lease's tenant, but not who uploaded it:
/// `true`, or `false` when it is no longer pending (decided or deleted meanwhile: the caller
/// removes what it stored). Calls: BatchGetItem (the property, the lease), TransactWriteItems.
pub async fn mark_ready(
    state: &State,
    document: &DocumentView,
    size: u64,
) -> Result<bool, ApiError> {
    let now = state.clock.timestamp();
    let notice = Notice::DocumentAdded(DocumentNotice {
        document_id: document.id,
        name: document.name.clone(),
        property_id: document.property_id,
        lease_id: document.lease_id,
    });
    let mut event = Event::new(
        "document.ready",
        Actor::system(WORKER),
        "document",
        &document.id.to_string(),
        now.clone(),
    )
    .change("status", DocumentStatus::Pending, DocumentStatus::Ready)
    .change("size", document.size, size);
    for user in audience(state, document).await? {
        if user != document.uploaded_by {
            event = event.notify(user, notice.clone());
        }
    }
    let update = Update::new(document_key(document.id))
        .set(DocumentView::STATUS, &DocumentStatus::Ready)
        .set(DocumentView::SIZE, &size)
        .set(DocumentView::UPDATED_AT, &now)
        .if_equals(DocumentView::STATUS, &DocumentStatus::Pending);
    let correction = signed(size) - signed(document.size);
    let update = update.into_transact(&state.store)?;
    with_counts(state, document, update, 0, correction, event).await
}

/// Who is told of `document`: its property's owner, and its lease's tenant (as they are now:
/// a transfer meanwhile tells the new owner). Calls: BatchGetItem.
async fn audience(state: &State, document: &DocumentView) -> Result<Vec<UserId>, ApiError> {
    let mut keys = vec![property_key(document.property_id)];
    keys.extend(document.lease_id.map(lease_key));
    let mut found = state.store.batch_get(&keys).await?.into_iter();
    let mut users = Vec::new();
    if let Some(property) = found.next().flatten() {
        users.push(Store::parse::<PropertyItem>(property)?.owner_id);
    }
    if let Some(lease) = found.next().flatten() {
        users.push(Store::parse::<LeaseItem>(lease)?.lease.tenant_id);
    }
    Ok(users)
}

/// Marks `document` rejected for `reason` (its count and bytes given back to the property),
/// with its event: `true`, or `false` when it is no longer pending.
pub async fn mark_rejected(
    state: &State,
    document: &DocumentView,
    reason: &str,
) -> Result<bool, ApiError> {
    let now = state.clock.timestamp();
    let event = Event::new(
        "document.rejected",
        Actor::system(WORKER),
        "document",
        &document.id.to_string(),
        now.clone(),
    )
    .change("status", DocumentStatus::Pending, DocumentStatus::Rejected)
    .change("rejectedReason", (), reason);
    let update = Update::new(document_key(document.id))
        .set(DocumentView::STATUS, &DocumentStatus::Rejected)
        .set(DocumentView::REJECTED_REASON, &reason.to_owned())
        .set(DocumentView::UPDATED_AT, &now)
        .if_equals(DocumentView::STATUS, &DocumentStatus::Pending);
    let update = update.into_transact(&state.store)?;
    with_counts(state, document, update, -1, -signed(document.size), event).await
}

/// The event of a deleted property: the documents worker purges its documents.
pub const PROPERTY_DELETED: &str = "property.deleted";
/// Documents a purge deletes per read.
const PURGE_BATCH: u16 = 10;

/// What one run of a property's purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    pub deleted: usize,
    /// Nothing left; otherwise the run stopped at its deadline.
    pub done: bool,
}

/// The documents of a deleted property and of its leases, deleted a few at a time until
/// `until`, each with its `document.deleted` event (on which the worker removes its file).
/// Resumable: a run that stops at its deadline leaves the rest to the next, which reads what is
/// still there; a document deleted meanwhile (a user's deletion, a stale index entry) is passed
/// over. Calls: Query (the property's leases, `gsi2`), then per partition Query (`gsi1`) and a
/// TransactWriteItems per document.
pub async fn purge_property(
    state: &State,
    property: PropertyId,
    until: std::time::SystemTime,
) -> Result<Purge, ApiError> {
    let store = &state.store;
    let leases: Vec<LeaseItem> = store
        .query_every(&KeyQuery::index(
            Index::Gsi2,
            property_leases_partition(property),
        ))
        .await?;
    let partitions = std::iter::once(property_documents(property))
        .chain(leases.iter().map(|l| lease_documents(l.lease.id)));
    let mut deleted = 0;
    for partition in partitions {
        loop {
            let page: Vec<DocumentItem> = store
                .query_head(
                    &KeyQuery::index(Index::Gsi1, partition.clone()),
                    PURGE_BATCH,
                )
                .await?;
            if page.is_empty() {
                break;
            }
            let mut progressed = false;
            for document in page.iter().map(|i| &i.document) {
                if std::time::SystemTime::now() >= until {
                    return Ok(Purge {
                        deleted,
                        done: false,
                    });
                }
                let event = Event::new(
                    DELETED,
                    Actor::system(WORKER),
                    "document",
                    &document.id.to_string(),
                    state.clock.timestamp(),
                )
                .change("name", &document.name, ())
                .change("status", document.status, ())
                .change("propertyId", document.property_id, ())
                .change("reason", (), "property deleted");
                let writes = vec![
                    store.delete_op(&document_key(document.id), true)?,
                    outbox_put(store, event)?,
                ];
                match store.transact(writes).await {
                    Ok(()) => {
                        deleted += 1;
                        progressed = true;
                    }
                    // Gone already: the index has not caught up yet.
                    Err(StoreError::ConditionFailed { index: Some(0) }) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            if !progressed {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(Purge {
        deleted,
        done: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_told_by_their_first_bytes() {
        assert!(DocumentType::Pdf.matches(b"%PDF-1.7\n"));
        assert!(!DocumentType::Pdf.matches(b"<html><body>"));
        assert!(DocumentType::Png.matches(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]));
        assert!(!DocumentType::Pdf.matches(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]));
        assert!(DocumentType::Jpeg.matches(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(DocumentType::Webp.matches(b"RIFF\x10\0\0\0WEBPVP8 "));
        assert!(!DocumentType::Webp.matches(b"RIFF\x10\0\0\0WAVEfmt "));
    }

    #[test]
    fn a_download_names_the_file_for_old_and_new_clients() {
        assert_eq!(
            attachment("Title deed.pdf"),
            "attachment; filename=\"Title deed.pdf\"; filename*=UTF-8''Title%20deed.pdf"
        );
        assert_eq!(
            attachment("Bail \"signé\".pdf"),
            "attachment; filename=\"Bail _sign__.pdf\"; filename*=UTF-8''Bail%20%22sign%C3%A9%22.pdf"
        );
    }

    #[test]
    fn upload_keys_carry_the_document_id_only() {
        let id = DocumentId::generate();
        assert_eq!(upload_of(&upload_key(id)), Some(id));
        assert_eq!(upload_of(&stored_key(id)), None);
        assert_eq!(upload_of("incoming/../etc"), None);
    }
}
