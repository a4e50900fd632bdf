//! The rent worker: each message is a tick of the template's `RentSchedule` (EventBridge
//! Scheduler sends its `Input` to the rent queue, with the *scheduled* time filled in), and each
//! tick charges the rent due on that date — and on the days since the last run, if runs were
//! missed — exactly once per lease and month (`shared::properties::rent`).
//!
//! A run that does not finish before the invocation's deadline (less a margin) reports its
//! record as failed: SQS delivers it again after the queue's visibility timeout and the run
//! resumes where it stopped. A tick delivered twice, or two ticks at once, charge nothing twice.

use std::time::SystemTime;

use aws_lambda_events::event::sqs::SqsEvent;
use serde::Deserialize;
use shared::State;
use shared::properties::rent;
use shared::worker::{self, RecordError};

/// What the schedule sends (its `Input` in the template).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tick {
    /// Which schedule: `rent`.
    pub schedule: String,
    /// The schedule's scheduled time (`<aws.scheduler.scheduled-time>`), RFC 3339 in UTC.
    pub scheduled_time: String,
}

pub async fn handle(state: &State, event: SqsEvent, until: SystemTime) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let body = message.body.as_deref().unwrap_or_default();
        let tick: Tick = serde_json::from_str(body)
            .map_err(|e| RecordError::Malformed(format!("not a schedule tick: {e}")))?;
        if tick.schedule != "rent" {
            return Err(RecordError::Malformed(format!(
                "a tick of the {} schedule",
                tick.schedule
            )));
        }
        if rent::Day::parse(&tick.scheduled_time).is_none() {
            return Err(RecordError::Malformed(
                "the scheduled time is not an RFC 3339 time in UTC".into(),
            ));
        }
        let outcome = Box::pin(rent::run(state, &tick.scheduled_time, until))
            .await
            .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
        if outcome.done {
            tracing::info!(
                scheduledTime = %tick.scheduled_time,
                charged = outcome.charged,
                already = outcome.already,
                days = outcome.days,
                "rent run done"
            );
            Ok(())
        } else {
            Err(RecordError::Unfinished(format!(
                "{} periods charged before the deadline; the rest on the next delivery",
                outcome.charged
            )))
        }
    })
    .await
}
