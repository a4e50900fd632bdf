//! The purge worker: for each account deletion event (`user.deleted`,
//! `user.deleted_by_admin`), deletes the account's posts with their feed and tag entries, a
//! few per transaction, each with its `post.deleted` event — then its inbox (notifications,
//! 25 per batch, and the read mark), and the records of its live connections. Deleting an account is therefore
//! one transaction whatever the account wrote; its posts are hidden from every read from that
//! moment (`shared::posts`), and gone from the table once this worker has run.
//!
//! A purge that does not finish before the invocation's deadline (less a margin) reports its
//! record as failed: SQS delivers it again after the queue's visibility timeout and the purge
//! resumes where it stopped (deletes are conditional on the version read, so nothing is
//! deleted twice). The queue's `maxReceiveCount` bounds how many such rounds one purge gets.

use std::time::SystemTime;

use aws_lambda_events::event::sqs::SqsEvent;
use shared::State;
use shared::ids::UserId;
use shared::notifications;
use shared::posts::{ACCOUNT_DELETED_EVENTS, purge_author};
use shared::worker::{self, RecordError};

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
        if !purge.done {
            return Err(RecordError::Unfinished(format!(
                "{} posts deleted before the deadline; the rest on the next delivery",
                purge.deleted
            )));
        }
        tracing::info!(eventId = %event.id, userId = %author, posts = purge.deleted, "posts of the deleted account purged");
        let inbox = notifications::purge(&state.store, author, until)
            .await
            .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
        if !inbox.done {
            return Err(RecordError::Unfinished(format!(
                "{} notifications deleted before the deadline; the rest on the next delivery",
                inbox.deleted
            )));
        }
        tracing::info!(eventId = %event.id, userId = %author, notifications = inbox.deleted, "inbox of the deleted account purged");
        let connections = shared::live::forget_all(&state.store, author)
            .await
            .map_err(|e| RecordError::Transient(shared::error::cause_chain(&e)))?;
        if connections > 0 {
            tracing::info!(eventId = %event.id, userId = %author, connections, "live connections of the deleted account forgotten");
        }
        Ok(())
    })
    .await
}
