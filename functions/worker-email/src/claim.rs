//! The claim that makes a send happen at most once per email of an event: `EMAIL#<eventId>`, put before
//! the send, marked `sent` after it, released when SES refuses.

use serde::{Deserialize, Serialize};
use shared::events::Event;
use shared::store::{Key, StoreError, Update};
use shared::worker::RecordError;

/// Claims live 30 days: far longer than any redelivery.
pub(crate) const CLAIM_TTL_SECS: i64 = 30 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClaimState {
    Sending,
    Sent,
    /// The email's link was void by the time it was to be sent (a password set since): nothing
    /// was sent, nothing will be.
    Voided,
    /// SES refused it for good (see `permanent_rejection`): nothing was sent, nothing will be.
    Rejected,
}

impl ClaimState {
    /// The `Email` metric's outcome of a claim in this state (its stored, serde, name).
    fn name(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Voided => "voided",
            Self::Rejected => "rejected",
        }
    }
}

/// `EMAIL#<eventId>` / `EMAIL`: the claim that makes sending idempotent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Claim {
    pk: String,
    sk: String,
    state: ClaimState,
    template: String,
    expires_at: i64,
    /// SES's id of the sent message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
}

shared::store::attributes! { Claim in claim_attributes {
    STATE: ClaimState = state,
    MESSAGE_ID: String = message_id,
} }

/// The claim of the event's `n`th email (see [`Key::email_send`]).
pub(crate) fn claim_key(event: &Event, n: usize) -> Key {
    Key::email_send(event.id, n)
}

pub(crate) fn transient(error: &StoreError) -> RecordError {
    RecordError::Transient(shared::error::cause_chain(error))
}

/// Claims the event's email (at most once): false when an earlier delivery claimed it.
pub(crate) async fn claim(
    store: &shared::store::Store,
    key: &Key,
    event: &Event,
    template: &str,
) -> Result<bool, RecordError> {
    let claim = Claim {
        pk: key.pk.clone(),
        sk: key.sk.clone(),
        state: ClaimState::Sending,
        template: template.to_owned(),
        expires_at: store.expires_in(CLAIM_TTL_SECS),
        message_id: None,
    };
    match store.put_new(&claim).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => {
            let existing: Option<Claim> = store.get(key).await.map_err(|e| transient(&e))?;
            if let Some(ClaimState::Sent | ClaimState::Voided | ClaimState::Rejected) =
                existing.map(|c| c.state)
            {
                tracing::info!(eventId = %event.id, "duplicate delivery: email already handled");
            } else {
                tracing::warn!(eventId = %event.id, "claim left by an interrupted attempt: not sending again (at most once)");
                metrics::counter!(shared::telemetry::metric::EMAIL, "outcome" => "interrupted")
                    .increment(1);
            }
            Ok(false)
        }
        Err(other) => Err(transient(&other)),
    }
}

/// Marks a claim done without sending: the email will never go out, and says why.
pub(crate) async fn void(store: &shared::store::Store, key: &Key, event: &Event, why: &str) {
    settle(store, key, event, ClaimState::Voided).await;
    tracing::info!(eventId = %event.id, reason = why, "email not sent");
}

/// Marks a claim settled after SES refused the email for good (`reason`: SES's code): it is not
/// sent again on redelivery, and the record succeeds instead of ending in the dead-letter queue.
pub(crate) async fn reject(
    store: &shared::store::Store,
    key: &Key,
    event: &Event,
    template: &str,
    reason: &str,
) {
    settle(store, key, event, ClaimState::Rejected).await;
    tracing::warn!(eventId = %event.id, template, reason, "SES rejected the email for good: not retried");
}

/// Marks the claim `state` — an email that will never be sent — and counts it as the `Email`
/// metric's outcome of that name.
async fn settle(store: &shared::store::Store, key: &Key, event: &Event, state: ClaimState) {
    let name = state.name();
    let marked = store
        .update(Update::new(key.clone()).set(Claim::STATE, &state))
        .await;
    if let Err(error) = marked {
        tracing::warn!(eventId = %event.id, error = %shared::error::cause_chain(&error), state = name, "claim not marked");
    }
    metrics::counter!(shared::telemetry::metric::EMAIL, "outcome" => name).increment(1);
}

/// Marks the claim `sent`, with SES's message id. The email is out: failing to mark it would
/// only make a redelivery skip it anyway, so a failure is logged, not returned.
pub(crate) async fn mark_sent(
    store: &shared::store::Store,
    key: Key,
    event: &Event,
    message_id: &str,
) {
    let update = Update::new(key)
        .set(Claim::STATE, &ClaimState::Sent)
        .set(Claim::MESSAGE_ID, &message_id.to_owned());
    if let Err(error) = store.update(update).await {
        tracing::warn!(eventId = %event.id, error = %shared::error::cause_chain(&error), "email sent, claim not marked");
    }
}

/// Gives up a claim, so that SQS's retry can send.
pub(crate) async fn release(store: &shared::store::Store, key: &Key, event: &Event) {
    let deleted = match store.delete_op(key, false) {
        Ok(op) => store.transact(vec![op]).await,
        Err(error) => Err(error),
    };
    if let Err(error) = deleted {
        tracing::error!(eventId = %event.id, error = %shared::error::cause_chain(&error), "claim not released");
    }
}
