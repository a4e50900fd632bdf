//! The notifications worker: for each SQS record (an outbox event that asks for notifications,
//! forwarded by `NotificationsRule`), writes each of its notices to its account's inbox — once
//! (a redelivered event finds them written), and only while the account exists. Failed records
//! are reported, the others are not.

use aws_lambda_events::event::sqs::SqsEvent;
use shared::State;
use shared::config::ConfigError;
use shared::notifications::{self, Recorded};
use shared::worker::{self, RecordError};

/// The worker's state: the shared state and how long notifications are kept.
#[derive(Debug)]
pub struct NotificationsWorker {
    pub state: State,
    pub retention_days: i64,
}

impl NotificationsWorker {
    /// `NOTIFICATION_RETENTION_DAYS` (default 90, 1 to 365).
    pub fn new(state: State, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let retention_days = match lookup("NOTIFICATION_RETENTION_DAYS").filter(|v| !v.is_empty()) {
            None => notifications::DEFAULT_RETENTION_DAYS,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| ConfigError {
                    var: "NOTIFICATION_RETENTION_DAYS",
                    problem: "must be a number of days from 1 to 365".into(),
                })?,
        };
        Ok(Self {
            state,
            retention_days,
        })
    }
}

pub async fn handle(worker: &NotificationsWorker, event: SqsEvent) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let event = worker::event_of(&message)?;
        for intent in event.notifications() {
            let recorded =
                notifications::record(&worker.state.store, &event, intent, worker.retention_days)
                    .await
                    .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
            let kind = intent.notice.kind();
            match recorded {
                Recorded::New => {
                    tracing::info!(eventId = %event.id, notificationType = %kind, "notification written");
                    metrics::counter!(shared::telemetry::metric::NOTIFICATION).increment(1);
                }
                Recorded::Already => {
                    tracing::info!(eventId = %event.id, notificationType = %kind, "duplicate delivery: notification already written");
                }
                Recorded::NoAccount => {
                    tracing::info!(eventId = %event.id, notificationType = %kind, "the account is gone: no notification");
                }
            }
        }
        Ok(())
    })
    .await
}
