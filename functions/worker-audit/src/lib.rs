//! The audit worker: for each SQS record (an outbox event from the table's stream), writes the
//! audit entry — by entity, indexed by actor and by time — with a conditional put, so a
//! redelivered event changes nothing. Failed records are reported, the others are not.

use aws_lambda_events::event::sqs::SqsEvent;
use shared::config::ConfigError;
use shared::worker::{self, RecordError};
use shared::{State, audit};

/// The worker's state: the shared state and the retention of audit entries.
#[derive(Debug)]
pub struct AuditWorker {
    pub state: State,
    pub retention_days: i64,
}

impl AuditWorker {
    /// `AUDIT_RETENTION_DAYS` (default 365).
    pub fn new(state: State, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let retention_days = match lookup("AUDIT_RETENTION_DAYS").filter(|v| !v.is_empty()) {
            None => audit::DEFAULT_RETENTION_DAYS,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| ConfigError {
                    var: "AUDIT_RETENTION_DAYS",
                    problem: "must be a number of days from 1 to 3650".into(),
                })?,
        };
        Ok(Self {
            state,
            retention_days,
        })
    }
}

pub async fn handle(worker: &AuditWorker, event: SqsEvent) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let event = worker::event_of(&message)?;
        let recorded = audit::record(&worker.state.store, &event, worker.retention_days)
            .await
            .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
        if recorded {
            tracing::info!(eventId = %event.id, eventType = %event.kind, "audit entry written");
            metrics::counter!(shared::telemetry::metric::AUDIT_ENTRY).increment(1);
        } else {
            tracing::info!(eventId = %event.id, "duplicate delivery: audit entry already written");
        }
        Ok(())
    })
    .await
}
