//! The contract of an SQS-triggered worker: process every record of the batch, report only
//! the failed ones (`ReportBatchItemFailures`), so SQS redelivers exactly those and, after
//! `maxReceiveCount`, moves them to the dead-letter queue. Workers are idempotent by event id.
//!
//! Each message body is a DynamoDB stream record of an outbox item, as EventBridge Pipes
//! forwards it (and the local stream pump imitates): `{"eventID", "eventName": "INSERT",
//! "dynamodb": {"NewImage": {…}}}`.
//!
//! A worker's `main.rs` is wiring only: build the worker once per cold start, then [`serve`]:
//!
//! ```ignore
//! let worker = AuditWorker::new(shared::State::from_env()?, |k| std::env::var(k).ok())?;
//! shared::worker::serve(worker, |worker, batch, _deadline| handle(worker, batch)).await
//! ```

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
pub use lambda_runtime::Error;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;

use crate::error::cause_chain;
use crate::events::{Event, OutboxItem};

/// Why one record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The message is not an outbox stream record: retrying cannot help (it ends in the DLQ).
    #[error("malformed record: {0}")]
    Malformed(String),
    /// A dependency failed; SQS will deliver the record again.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Work that takes more than one invocation stopped at the deadline: SQS delivers the record
    /// again and the work resumes (not an error; logged at info).
    #[error("unfinished: {0}")]
    Unfinished(String),
}

#[derive(Deserialize)]
struct StreamRecord {
    #[serde(rename = "eventName")]
    event_name: String,
    dynamodb: StreamChange,
}

#[derive(Deserialize)]
struct StreamChange {
    #[serde(rename = "NewImage")]
    new_image: serde_dynamo::Item,
}

/// The event carried by one SQS message.
pub fn event_of(message: &SqsMessage) -> Result<Event, RecordError> {
    let body = message
        .body
        .as_deref()
        .ok_or_else(|| RecordError::Malformed("empty body".into()))?;
    let record: StreamRecord = serde_json::from_str(body)
        .map_err(|e| RecordError::Malformed(format!("not a stream record: {e}")))?;
    if record.event_name != "INSERT" {
        return Err(RecordError::Malformed(format!(
            "unexpected {} record",
            record.event_name
        )));
    }
    let item: OutboxItem = serde_dynamo::from_item(record.dynamodb.new_image)
        .map_err(|e| RecordError::Malformed(format!("not an outbox item: {e}")))?;
    Ok(item.event)
}

/// Runs `handle` on every record of the batch (all of them, even after a failure) and reports
/// the ids of the failed ones. Each failure is logged once with its message id and cause.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(error) = handle(message).await {
            if let RecordError::Unfinished(progress) = &error {
                tracing::info!(messageId = %id, %progress, "record unfinished: it resumes on redelivery");
            } else {
                tracing::error!(messageId = %id, error = %cause_chain(&error), "record failed");
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Runs an SQS worker: `worker` is built once per cold start and lives for the whole process;
/// every invocation calls `handle(worker, batch, deadline)`, `deadline` being the invocation's
/// end in epoch milliseconds. The answer is always the batch response — a failed record is
/// reported in it, never as an invocation error, so SQS redelivers only the failed records.
pub async fn serve<W, F, Fut>(worker: W, handle: F) -> Result<(), Error>
where
    W: 'static,
    F: Fn(&'static W, SqsEvent, u64) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let worker: &'static W = Box::leak(Box::new(worker));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        // Boxed: a worker's future (SDK calls several deep) would otherwise be laid out inside
        // the runtime's, past the compiler's layout depth limit.
        let response = Box::pin(handle(worker, event.payload, event.context.deadline));
        async move { Ok::<_, std::convert::Infallible>(response.await) }
    }))
    .await
}
