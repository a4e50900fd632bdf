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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
pub use lambda_runtime::Error;
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;

use crate::error::cause_chain;
use crate::events::{Event, OutboxItem};
use crate::store::StreamImage;

/// Left of the invocation when resumable work stops (the purge, the rent run): room for the
/// write in flight and the batch response (a quarter of the invocation when that is less, e.g.
/// a short local timeout).
pub const MARGIN: Duration = Duration::from_secs(10);

/// Work budget when the invocation carries no usable deadline (a local runtime that sends none
/// or zero; Lambda always sends one).
pub const NO_DEADLINE_BUDGET: Duration = Duration::from_secs(60);

/// The instant resumable work stops, from the invocation's deadline (epoch milliseconds).
pub fn deadline(deadline_ms: u64) -> SystemTime {
    let now = SystemTime::now();
    let end = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let Ok(left) = end.duration_since(now) else {
        return now + NO_DEADLINE_BUDGET;
    };
    end.checked_sub(MARGIN.min(left / 4)).unwrap_or(now)
}

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
    new_image: StreamImage,
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
    let item: OutboxItem =
        record.dynamodb.new_image.parse().map_err(|e| {
            RecordError::Malformed(format!("not an outbox item: {}", cause_chain(&e)))
        })?;
    Ok(item.event)
}

/// What a batch came to: the response for SQS (the records to deliver again) and how many
/// records failed for good reason (an unfinished record is not a failure).
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub response: SqsBatchResponse,
    pub records: usize,
    pub failed: usize,
}

impl std::ops::Deref for BatchOutcome {
    type Target = SqsBatchResponse;

    fn deref(&self) -> &SqsBatchResponse {
        &self.response
    }
}

impl BatchOutcome {
    /// The invocation's answer: the batch response, or an error when every record of a
    /// non-empty batch failed — so that Lambda's `Errors` metric (and its alarm) sees a worker
    /// that is failing everything; SQS then delivers the whole batch again, as the response
    /// would have asked.
    pub fn into_result(self) -> Result<SqsBatchResponse, WholeBatchFailed> {
        if self.records > 0 && self.failed == self.records {
            return Err(WholeBatchFailed(self.records));
        }
        Ok(self.response)
    }
}

/// Every record of a batch failed.
#[derive(Debug, thiserror::Error)]
#[error("every record of the batch failed ({0} records): they will be delivered again")]
pub struct WholeBatchFailed(pub usize);

/// Runs `handle` on every record of the batch (all of them, even after a failure) and reports
/// the ids of the failed ones. Each failure is logged once with its message id and cause.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> BatchOutcome
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut outcome = BatchOutcome::default();
    for message in event.records {
        outcome.records += 1;
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(error) = handle(message).await {
            if let RecordError::Unfinished(progress) = &error {
                tracing::info!(messageId = %id, %progress, "record unfinished: it resumes on redelivery");
            } else {
                outcome.failed += 1;
                tracing::error!(messageId = %id, error = %cause_chain(&error), "record failed");
                metrics::counter!(crate::telemetry::metric::RECORD_FAILED).increment(1);
                crate::telemetry::count_failure();
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            outcome.response.batch_item_failures.push(failure);
        }
    }
    outcome
}

/// Runs an SQS worker: `worker` is built once per cold start and lives for the whole process;
/// every invocation calls `handle(worker, batch, deadline)`, `deadline` being the invocation's
/// end in epoch milliseconds. The answer is the batch response — a failed record is reported
/// in it, so SQS redelivers only the failed records — except when every record failed: then
/// the invocation fails ([`BatchOutcome::into_result`]).
pub async fn serve<W, F, Fut>(worker: W, handle: F) -> Result<(), Error>
where
    W: 'static,
    F: Fn(&'static W, SqsEvent, u64) -> Fut,
    Fut: Future<Output = BatchOutcome>,
{
    let worker: &'static W = Box::leak(Box::new(worker));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        // Boxed: a worker's future (SDK calls several deep) would otherwise be laid out inside
        // the runtime's, past the compiler's layout depth limit.
        crate::telemetry::invocation_started(&event.context.request_id);
        let response = Box::pin(handle(worker, event.payload, event.context.deadline));
        async move {
            let outcome = response.await;
            crate::telemetry::flush_metrics();
            outcome.into_result().map_err(Error::from)
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[&str]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .map(|id| {
                let mut message = SqsMessage::default();
                message.message_id = Some((*id).to_owned());
                message
            })
            .collect();
        event
    }

    async fn outcome(ids: &[&str], fail: &[&str], unfinished: &[&str]) -> BatchOutcome {
        process(batch(ids), |message| {
            let id = message.message_id.unwrap_or_default();
            let result = if fail.contains(&id.as_str()) {
                Err(RecordError::Transient("down".into()))
            } else if unfinished.contains(&id.as_str()) {
                Err(RecordError::Unfinished("half".into()))
            } else {
                Ok(())
            };
            async move { result }
        })
        .await
    }

    fn ms(at: SystemTime) -> u64 {
        u64::try_from(
            at.duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_millis(),
        )
        .expect("fits")
    }

    #[test]
    fn work_stops_ten_seconds_before_a_long_deadline_and_early_in_a_short_one() {
        let now = SystemTime::now();
        let long = now + Duration::from_secs(300);
        let stop = deadline(ms(long));
        assert!(stop <= long - MARGIN + Duration::from_millis(1) && stop > now);
        let short = now + Duration::from_secs(4);
        let stop = deadline(ms(short));
        assert!(stop > now + Duration::from_secs(2) && stop < short);
        // No usable deadline (none, zero, past): a bounded budget from now.
        for unusable in [0, ms(now - Duration::from_secs(1))] {
            let stop = deadline(unusable);
            assert!(stop > now && stop <= SystemTime::now() + NO_DEADLINE_BUDGET);
        }
    }

    #[tokio::test]
    async fn a_batch_fails_the_invocation_only_when_every_record_failed() {
        let some = outcome(&["a", "b"], &["a"], &[]).await;
        assert_eq!(some.batch_item_failures.len(), 1);
        assert_eq!(
            some.into_result()
                .expect("a partial failure is an answer")
                .batch_item_failures[0]
                .item_identifier,
            "a"
        );
        let all = outcome(&["a", "b"], &["a", "b"], &[]).await;
        assert!(matches!(all.into_result(), Err(WholeBatchFailed(2))));
        // Unfinished work is not failing: it is reported for redelivery, the invocation succeeds.
        let resumable = outcome(&["a"], &[], &["a"]).await;
        assert_eq!(
            resumable
                .into_result()
                .expect("an answer")
                .batch_item_failures
                .len(),
            1
        );
        assert!(outcome(&[], &[], &[]).await.into_result().is_ok());
    }
}
