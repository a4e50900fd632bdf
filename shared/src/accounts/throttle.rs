//! Budgets: sign-in failures per account and per source IP (counted before the password is
//! checked, given back when it was right), and emails per account and per address.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use crate::auth::password::{self, Check};
use crate::error::ApiError;
use crate::state::State;
use crate::store::{Key, Store, StoreError, Update};
use crate::validate::Email;

use super::items::Counter;
use super::{EMAIL_LIMITS, LOGIN_MAX_FAILURES_PER_ACCOUNT, LOGIN_WINDOW_SECS, Principal, field};

pub(super) fn window_start(now: i64, window: i64) -> i64 {
    now - now.rem_euclid(window)
}

pub(super) fn counter_key(scope: &str, subject: &str, window_start: i64) -> Key {
    Key::new(
        format!("THROTTLE#{scope}#{subject}"),
        window_start.to_string(),
    )
}

/// 429 until the throttle window starting at `window` ends.
pub(super) fn throttled(window: i64, now: i64) -> ApiError {
    throttled_until(window + LOGIN_WINDOW_SECS, now)
}

/// 429 until `end` (epoch seconds).
pub(super) fn throttled_until(end: i64, now: i64) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: u64::try_from(end - now).unwrap_or(1).max(1),
    }
}

/// One more attempt in the throttle window starting at `window`, refused (the transaction or
/// the update fails its condition) when `limit` attempts are already counted. An attempt is
/// counted *before* the password is checked and given back when it was right, so parallel
/// guesses cannot all be checked against the same count: at most `limit` failures per window,
/// however many arrive at once. The counter expires (TTL) a minute after the window ends.
pub(super) fn attempt(counter: Key, window: i64, limit: u64) -> Update {
    attempt_in(counter, window, LOGIN_WINDOW_SECS, limit)
}

/// [`attempt`] in a window of `window_secs`.
pub(super) fn attempt_in(counter: Key, window: i64, window_secs: i64, limit: u64) -> Update {
    let expires = window + window_secs + 60;
    Update::new(counter)
        .add("count", 1)
        .set("expiresAt", AttributeValue::N(expires.to_string()))
        .if_below("count", limit)
}

/// Gives back an attempt that turned out right (see [`attempt`]).
pub(super) fn give_back(store: &Store, counter: Key) -> Result<TransactWriteItem, StoreError> {
    Update::new(counter).add("count", -1).into_transact(store)
}

/// A counted attempt refused because the budget is spent: 429.
pub(super) fn spent(error: StoreError, window: i64, now: i64) -> ApiError {
    match error {
        StoreError::ConditionFailed { .. } => throttled(window, now),
        other => other.into(),
    }
}

/// Checks the signed-in user's password (password change, account deletion). A wrong one is a
/// 422 on `field`. Attempts count against the same per-account budget as sign-in, so a stolen
/// access token does not make these routes an unthrottled password oracle: past the limit the
/// answer is 429 with `Retry-After`, even for the right password. Returns the writes that give
/// the attempt back.
pub(super) async fn confirm_password(
    state: &State,
    me: &Principal,
    field_name: &str,
    text: &str,
) -> Result<GiveBack, ApiError> {
    let store = &state.store;
    let now = state.clock.unix_seconds();
    let window = window_start(now, LOGIN_WINDOW_SECS);
    let subject =
        Email::parse(&me.user.email).map_or_else(|_| me.user.email.clone(), |e| e.to_string());
    let counter = counter_key("login-account", &subject, window);
    store
        .update(attempt(
            counter.clone(),
            window,
            LOGIN_MAX_FAILURES_PER_ACCOUNT,
        ))
        .await
        .map_err(|e| spent(e, window, now))?;
    if password::verify(text, &me.user.password_hash) == Check::Mismatch {
        return Err(field(field_name, "is incorrect"));
    }
    Ok(GiveBack {
        op: give_back(store, counter.clone())?,
        update: Update::new(counter).add("count", -1),
    })
}

/// A right password's attempt to give back: in the caller's transaction (`op`), or on its own
/// (`update`) when that transaction is refused.
pub(super) struct GiveBack {
    pub(super) op: TransactWriteItem,
    pub(super) update: Update,
}

/// Counts one more email for `subject` in each window; `Err(retry_after)` past a limit.
pub(super) async fn email_allowance(
    state: &State,
    scope: &str,
    subject: &str,
) -> Result<Result<(), u64>, ApiError> {
    email_budget(state, scope, subject, &EMAIL_LIMITS).await
}

/// Counts one email of `scope` to `subject` in each of `limits`' windows (seconds, most
/// allowed): `Err(seconds until allowed again)` past any of them.
pub(super) async fn email_budget(
    state: &State,
    scope: &str,
    subject: &str,
    limits: &[(i64, u64)],
) -> Result<Result<(), u64>, ApiError> {
    let now = state.clock.unix_seconds();
    // Every window is counted, whatever the first one says: the same calls on every path.
    let mut wait = None;
    for &(window, max) in limits {
        let start = window_start(now, window);
        let item = state
            .store
            .update(
                Update::new(counter_key(scope, subject, start))
                    .add("count", 1)
                    .set(
                        "expiresAt",
                        AttributeValue::N((start + window + 60).to_string()),
                    ),
            )
            .await?;
        let counter: Counter = Store::parse(item)?;
        if counter.count > max {
            let until = u64::try_from(start + window - now).unwrap_or(1).max(1);
            wait = Some(wait.map_or(until, |w: u64| w.max(until)));
        }
    }
    Ok(wait.map_or(Ok(()), Err))
}
