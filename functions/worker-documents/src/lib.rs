//! The documents worker: each message is an S3 event notification of the documents' bucket —
//! an upload landed under `incoming/` —, S3's test event (sent once when the notification is
//! configured), or an outbox record (`DocumentsRule`): a deleted document, whose files it
//! removes, or a deleted property, whose documents (and its leases') it purges — a few at a
//! time until the invocation's deadline, the rest on the record's next delivery. For each
//! upload (`shared::properties::documents`):
//!
//! 1. the document it belongs to, if it still waits for its check (GetItem); otherwise the
//!    event is a repeat, or the document was deleted meanwhile: the upload is removed;
//! 2. its size, stored content type and first bytes: one ranged `GetObject`;
//! 3. the verdict: the declared type's magic bytes, the declared content type, no larger than
//!    declared. Accepted: the object is copied to `documents/<id>`, the document marked
//!    `ready` (conditioned on pending: a lost race removes the copy); refused: marked
//!    `rejected`, the property's quota given back. Either way the upload is then removed.
//!
//! Every step may be repeated: a redelivered event finds the document decided and only removes
//! the upload (a no-op when it is gone). A failure reports the record, which SQS delivers again
//! (five times, then the dead-letter queue; the lifecycle rule removes a day-old upload).

use std::time::SystemTime;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_s3::error::ProvideErrorMetadata as _;
use serde::Deserialize;
use shared::State;
use shared::events::Event;
use shared::ids::PropertyId;
use shared::properties::documents::{self, DocumentType, Upload};
use shared::worker::{self, RecordError};

/// The worker's state: the application's, and the bucket it reads.
#[derive(Debug)]
pub struct DocumentsWorker {
    pub state: State,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

impl DocumentsWorker {
    /// Reads the bucket from the configuration; the S3 client connects on first use. Locally
    /// (an endpoint override) the bucket is addressed by path, as the local endpoint serves it.
    pub fn new(state: State) -> Result<Self, shared::config::ConfigError> {
        let bucket = state
            .config
            .documents
            .as_ref()
            .map(|d| d.bucket.clone())
            .ok_or_else(|| shared::config::ConfigError {
                var: "DOCUMENTS_BUCKET_NAME",
                problem: "is not set (the documents worker reads its bucket)".into(),
            })?;
        let config = aws_sdk_s3::config::Builder::from(state.sdk_config())
            .force_path_style(state.config.endpoint_url.is_some())
            .build();
        Ok(Self {
            s3: aws_sdk_s3::Client::from_conf(config),
            state,
            bucket,
        })
    }
}

/// An S3 event notification (only what the worker reads).
#[derive(Debug, Deserialize)]
struct Notification {
    /// `s3:TestEvent` for the configuration's test message (which has no records).
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Debug, Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ObjectEntity {
    key: String,
}

/// A key as an event carries it: URL-encoded, a space as `+` (S3, "Event message structure").
fn decoded(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub async fn handle(
    worker: &DocumentsWorker,
    event: SqsEvent,
    until: SystemTime,
) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(body)
            .map_err(|e| RecordError::Malformed(format!("not JSON: {e}")))?;
        if value.get("dynamodb").is_some() {
            // An outbox record from DocumentsRule: a deleted document's files go; a deleted
            // property's documents are purged (each with its own `document.deleted`).
            let event = worker::event_of(&message)?;
            if event.kind == documents::PROPERTY_DELETED {
                return purge(worker, &event, until).await;
            }
            let files = documents::files_of_deleted(&event).ok_or_else(|| {
                RecordError::Malformed(format!("an outbox event of type {}", event.kind))
            })?;
            for key in &files {
                remove(worker, key).await?;
            }
            return Ok(());
        }
        let notification: Notification = serde_json::from_value(value)
            .map_err(|e| RecordError::Malformed(format!("not an S3 event notification: {e}")))?;
        if notification.event.as_deref() == Some("s3:TestEvent") {
            return Ok(());
        }
        for record in &notification.records {
            if record.s3.bucket.name != worker.bucket {
                return Err(RecordError::Malformed(format!(
                    "an event of bucket {}, not {}",
                    record.s3.bucket.name, worker.bucket
                )));
            }
            if !record.event_name.starts_with("ObjectCreated:") {
                continue;
            }
            check(worker, &decoded(&record.s3.object.key)).await?;
        }
        Ok(())
    })
    .await
}

/// A deleted property's documents, until `until`: an unfinished purge resumes on the record's
/// next delivery.
async fn purge(
    worker: &DocumentsWorker,
    event: &Event,
    until: SystemTime,
) -> Result<(), RecordError> {
    let property: PropertyId = event
        .entity
        .id
        .parse()
        .map_err(|_| RecordError::Malformed("the deleted property's id is not one".into()))?;
    let purge = Box::pin(documents::purge_property(&worker.state, property, until))
        .await
        .map_err(|e| transient("purging a deleted property's documents", e))?;
    if purge.done {
        tracing::info!(propertyId = %property, documents = purge.deleted, "documents of the deleted property purged");
        Ok(())
    } else {
        Err(RecordError::Unfinished(format!(
            "{} documents deleted before the deadline; the rest on the next delivery",
            purge.deleted
        )))
    }
}

fn transient(what: &str, error: impl std::error::Error + 'static) -> RecordError {
    RecordError::Transient(format!("{what}: {}", shared::error::cause_chain(&error)))
}

/// Checks one upload and settles its document (see the module's steps).
async fn check(worker: &DocumentsWorker, key: &str) -> Result<(), RecordError> {
    let Some(id) = documents::upload_of(key) else {
        tracing::warn!(%key, "an object that is not an upload: left alone");
        return Ok(());
    };
    let state = &worker.state;
    let pending = documents::pending_upload(state, id)
        .await
        .map_err(|e| transient("reading the document", e))?;
    let Some(document) = pending else {
        return remove(worker, key).await;
    };
    let upload = inspect(worker, key).await?;
    match documents::judge(&document, &upload) {
        Ok(size) => {
            let stored = documents::stored_key(id);
            worker
                .s3
                .copy_object()
                .bucket(&worker.bucket)
                .copy_source(format!("{}/{key}", worker.bucket))
                .key(&stored)
                .send()
                .await
                .map_err(|e| transient("copying the upload", e))?;
            let won = documents::mark_ready(state, &document, size)
                .await
                .map_err(|e| transient("marking the document ready", e))?;
            if won {
                tracing::info!(documentId = %id, size, "document ready");
            } else {
                remove(worker, &stored).await?;
            }
        }
        Err(reason) => {
            let won = documents::mark_rejected(state, &document, reason)
                .await
                .map_err(|e| transient("marking the document rejected", e))?;
            if won {
                tracing::info!(documentId = %id, reason, "document rejected");
            }
        }
    }
    remove(worker, key).await
}

/// The upload's size, stored type and first bytes: one ranged `GetObject` (S3 answers the range
/// with `Content-Range: bytes 0-15/<size>`; an empty object cannot satisfy a range).
async fn inspect(worker: &DocumentsWorker, key: &str) -> Result<Upload, RecordError> {
    let range = format!("bytes=0-{}", DocumentType::HEAD_BYTES - 1);
    let answer = worker
        .s3
        .get_object()
        .bucket(&worker.bucket)
        .key(key)
        .range(range)
        .send()
        .await;
    let object = match answer {
        Ok(object) => object,
        Err(error) => {
            return match error.code() {
                Some("NoSuchKey") => Ok(Upload::Missing),
                Some("InvalidRange") => Ok(Upload::Found {
                    size: 0,
                    content_type: None,
                    head: Vec::new(),
                }),
                _ => Err(transient("reading the upload", error)),
            };
        }
    };
    let size = object
        .content_range()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|total| total.parse::<u64>().ok())
        .or_else(|| object.content_length().and_then(|n| u64::try_from(n).ok()))
        .unwrap_or(0);
    let content_type = object.content_type().map(str::to_owned);
    let head = object
        .body
        .collect()
        .await
        .map_err(|e| transient("reading the upload's first bytes", e))?
        .into_bytes()
        .to_vec();
    Ok(Upload::Found {
        size,
        content_type,
        head,
    })
}

/// Removes an object (S3 answers a missing key with success too).
async fn remove(worker: &DocumentsWorker, key: &str) -> Result<(), RecordError> {
    worker
        .s3
        .delete_object()
        .bucket(&worker.bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| transient("removing an object", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_url_decoded() {
        assert_eq!(decoded("incoming%2F01J"), "incoming/01J");
        assert_eq!(decoded("red+flower.jpg"), "red flower.jpg");
    }
}
