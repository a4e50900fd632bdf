//! The webhook worker: for each SQS record (an outbox event of a type endpoints may follow,
//! forwarded by `WebhooksRule`), one signed delivery to every enabled endpoint that follows it
//! (`shared::webhooks::delivery`). Endpoints that failed are tried again when SQS delivers the
//! record again, after the backoff the worker set; the others are not sent twice.

use aws_lambda_events::event::sqs::SqsEvent;
use shared::webhooks::delivery::{self, Worker};
use shared::worker;

pub use shared::webhooks::delivery::Worker as WebhooksWorker;

pub async fn handle(worker: &Worker, event: SqsEvent) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        delivery::deliver(worker, &message).await
    })
    .await
}
