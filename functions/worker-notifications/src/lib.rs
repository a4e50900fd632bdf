//! The notifications worker: for each SQS record (an outbox event that asks for notifications,
//! forwarded by `NotificationsRule`), writes each of its notices to its account's inbox — once
//! (a redelivered event finds them written), and only while the account exists — and pushes
//! each to the account's open WebSocket connections (`shared::live`). Failed records are
//! reported, the others are not.

use aws_lambda_events::event::sqs::SqsEvent;
use shared::State;
use shared::config::ConfigError;
use shared::live::{self, Push, Pusher};
use shared::notifications::{self, Recorded};
use shared::worker::{self, RecordError};

/// The worker's state: the shared state, how long notifications are kept, and the
/// `@connections` client of the WebSocket API's stage.
#[derive(Debug)]
pub struct NotificationsWorker {
    pub state: State,
    pub retention_days: i64,
    pub pusher: Pusher,
}

impl NotificationsWorker {
    /// `NOTIFICATION_RETENTION_DAYS` (default 90, 1 to 365); `WEBSOCKET_API_ENDPOINT` (the
    /// API's `wss://` endpoint) and `WEBSOCKET_STAGE` (its stage's name).
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
        let endpoint = lookup("WEBSOCKET_API_ENDPOINT").unwrap_or_default();
        let stage_name = lookup("WEBSOCKET_STAGE").unwrap_or_default();
        let callback = live::callback_url(&endpoint, &stage_name).ok_or_else(|| ConfigError {
            var: "WEBSOCKET_API_ENDPOINT",
            problem: "must be the WebSocket API's wss:// endpoint, with WEBSOCKET_STAGE its stage"
                .into(),
        })?;
        let pusher = Pusher::new(state.sdk_config(), &callback);
        Ok(Self {
            state,
            retention_days,
            pusher,
        })
    }
}

pub async fn handle(worker: &NotificationsWorker, event: SqsEvent) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let event = worker::event_of(&message)?;
        for intent in event.notifications() {
            let store = &worker.state.store;
            let recorded = notifications::record(store, &event, intent, worker.retention_days)
                .await
                .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
            let kind = intent.notice.kind();
            match recorded {
                Recorded::New => {
                    tracing::info!(eventId = %event.id, notificationType = %kind, "notification written");
                    metrics::counter!(shared::telemetry::metric::NOTIFICATION).increment(1);
                }
                Recorded::Already => {
                    // Pushed again: the earlier delivery may have failed before or while
                    // pushing (clients tell repeats by the notification's id).
                    tracing::info!(eventId = %event.id, notificationType = %kind, "duplicate delivery: notification already written");
                }
                Recorded::NoAccount => {
                    tracing::info!(eventId = %event.id, notificationType = %kind, "the account is gone: no notification");
                    continue;
                }
            }
            let message = Push::Notification {
                notification: notifications::view_of(&event, intent),
            };
            let pushed = live::push(store, &worker.pusher, intent.to_user, &message)
                .await
                .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
            for (outcome, count) in [
                ("sent", pushed.sent),
                ("gone", pushed.gone),
                ("closed", pushed.closed),
            ] {
                if count > 0 {
                    metrics::counter!(shared::telemetry::metric::NOTIFICATION_PUSH, "outcome" => outcome)
                        .increment(u64::try_from(count).unwrap_or(u64::MAX));
                }
            }
            if pushed != live::Pushed::default() {
                tracing::info!(
                    eventId = %event.id,
                    sent = pushed.sent,
                    gone = pushed.gone,
                    closed = pushed.closed,
                    "notification pushed"
                );
            }
        }
        Ok(())
    })
    .await
}
