//! The purge worker: for each account deletion event (`user.deleted`,
//! `user.deleted_by_admin`), deletes the account's posts with their feed and tag entries, a
//! few per transaction, each with its `post.deleted` event. Deleting an account is therefore
//! one transaction whatever the account wrote; its posts are hidden from every read from that
//! moment (`shared::posts`), and gone from the table once this worker has run.
//!
//! A purge that does not finish before the invocation's deadline (less a margin) reports its
//! record as failed: SQS delivers it again after the queue's visibility timeout and the purge
//! resumes where it stopped (deletes are conditional on the version read, so nothing is
//! deleted twice). The queue's `maxReceiveCount` bounds how many such rounds one purge gets.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use shared::State;
use shared::ids::UserId;
use shared::posts::{ACCOUNT_DELETED_EVENTS, purge_author};
use shared::worker::{self, RecordError};

/// Left of the invocation when the purge stops: room for the transaction in flight and the
/// batch response (a quarter of the invocation when that is less, e.g. a short local timeout).
pub const MARGIN: Duration = Duration::from_secs(10);

/// Work budget when the invocation carries no usable deadline (a local runtime that sends none
/// or zero; Lambda always sends one).
pub const NO_DEADLINE_BUDGET: Duration = Duration::from_secs(60);

/// The instant the purge stops, from the invocation's deadline (epoch milliseconds).
pub fn deadline(deadline_ms: u64) -> SystemTime {
    let now = SystemTime::now();
    let end = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    let Ok(left) = end.duration_since(now) else {
        return now + NO_DEADLINE_BUDGET;
    };
    end.checked_sub(MARGIN.min(left / 4)).unwrap_or(now)
}

pub async fn handle(state: &State, event: SqsEvent, until: SystemTime) -> worker::BatchOutcome {
    worker::process(event, |message| async move {
        let event = worker::event_of(&message)?;
        if !ACCOUNT_DELETED_EVENTS.contains(&event.kind.as_str()) {
            // The pipe's filter lets only deletions through; anything else is not ours.
            return Err(RecordError::Malformed(format!(
                "{} is not an account deletion",
                event.kind
            )));
        }
        let author = UserId::parse(&event.entity.id)
            .map_err(|_| RecordError::Malformed("the deleted account's id is not a user id".into()))?;
        let purge = Box::pin(purge_author(state, author, &event.actor, until))
            .await
            .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
        if purge.done {
            tracing::info!(eventId = %event.id, userId = %author, posts = purge.deleted, "posts of the deleted account purged");
            Ok(())
        } else {
            Err(RecordError::Unfinished(format!(
                "{} posts deleted before the deadline; the rest on the next delivery",
                purge.deleted
            )))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(at: SystemTime) -> u64 {
        u64::try_from(
            at.duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_millis(),
        )
        .expect("fits")
    }

    #[test]
    fn a_purge_stops_ten_seconds_before_a_long_deadline_and_early_in_a_short_one() {
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
}
