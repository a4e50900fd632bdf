//! Budgets of the accounts: sign-in failures per account and per source IP (counted before the
//! password is checked, given back when it was right), and link emails per account and per
//! address — each a [`Policy`] of [`crate::limits`].

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::auth::password::{self, Check};
use crate::config::Limits;
use crate::error::ApiError;
use crate::limits::{self, Counted, Policy};
use crate::state::State;
use crate::store::{Key, Store, StoreError, Update};
use crate::validate::Email;

use super::{LOGIN_WINDOW_SECS, Principal, field};

/// The sign-in failure budgets (per account, per source address; 15-minute windows).
pub(super) fn login_policies(limits: &Limits) -> [Policy; 2] {
    [
        Policy::new(
            "login-account",
            limits.login_failures_per_account,
            LOGIN_WINDOW_SECS,
        ),
        Policy::new("login-ip", limits.login_failures_per_ip, LOGIN_WINDOW_SECS),
    ]
}

/// Gives back an attempt that turned out right (see [`Policy::attempt`]): an attempt is
/// counted *before* the password is checked and given back when it was right, so parallel
/// guesses cannot all be checked against the same count.
pub(super) fn give_back(store: &Store, counter: Key) -> Result<TransactWriteItem, StoreError> {
    Policy::give_back(counter).into_transact(store)
}

/// A counted attempt refused because a budget is spent: 429 naming the spent budgets (the one
/// the transaction's failed condition points at, or all of `policies` when it does not say).
pub(super) fn spent(error: StoreError, policies: &[Policy], now: i64) -> ApiError {
    match error {
        StoreError::ConditionFailed { index } => {
            let quotas: Vec<_> = policies
                .iter()
                .enumerate()
                .filter(|(i, _)| index.is_none_or(|at| at == *i))
                .map(|(_, p)| p.spent(now))
                .collect();
            limits::refusal(&quotas)
        }
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
    let subject =
        Email::parse(&me.user.email).map_or_else(|_| me.user.email.clone(), |e| e.to_string());
    let [policy, _] = login_policies(&state.config.limits);
    let counter = policy.counter(&subject, now);
    store
        .update(policy.attempt(&subject, now))
        .await
        .map_err(|e| spent(e, &[policy], now))?;
    if password::verify_stored(text, me.user.password_hash.as_deref()) == Check::Mismatch {
        return Err(field(field_name, "is incorrect"));
    }
    Ok(GiveBack {
        op: give_back(store, counter.clone())?,
        update: Policy::give_back(counter),
    })
}

/// Recent authentication: `password` (checked and counted as [`confirm_password`] does; a wrong
/// one is a 422 on `field_name`), or a sign-in of this session within
/// [`RECENT_AUTH_SECS`](super::RECENT_AUTH_SECS) — so an account without a password (it
/// signs in by mailed link) is never locked out of what asks for one. 401
/// `REAUTHENTICATION_REQUIRED` otherwise. The password's give-back, if one was given.
pub(super) async fn reauthenticate(
    state: &State,
    me: &Principal,
    field_name: &str,
    password: Option<&str>,
) -> Result<Option<GiveBack>, ApiError> {
    if let Some(password) = password {
        return confirm_password(state, me, field_name, password)
            .await
            .map(Some);
    }
    let now = state.clock.unix_seconds();
    if me
        .authenticated_at
        .is_some_and(|at| now - at <= super::RECENT_AUTH_SECS)
    {
        return Ok(None);
    }
    Err(ApiError::Unauthorized {
        code: "REAUTHENTICATION_REQUIRED",
        detail: format!(
            "This needs a recent sign-in: give your password, or sign in again (a sign-in counts \
             for {} minutes).",
            super::RECENT_AUTH_SECS / 60
        ),
    })
}

/// A right password's attempt to give back: in the caller's transaction (`op`), or on its own
/// (`update`) when that transaction is refused.
pub(super) struct GiveBack {
    pub(super) op: TransactWriteItem,
    pub(super) update: Update,
}

/// `writes` in one transaction with the right password's give-back, when one was given; if the
/// transaction is refused or fails, the attempt is given back on its own all the same (a refused
/// request leaves nothing behind). The transaction's own outcome.
pub(super) async fn transact_giving_back(
    store: &Store,
    give_back: Option<GiveBack>,
    mut writes: Vec<TransactWriteItem>,
) -> Result<Result<(), StoreError>, ApiError> {
    let (op, update) = give_back.map(|g| (g.op, g.update)).unzip();
    writes.extend(op);
    let done = store.transact(writes).await;
    if let (Err(_), Some(update)) = (&done, update) {
        store.update(update).await?;
    }
    Ok(done)
}

/// Emails with a link the account's owner asks for (verification, password reset, email
/// change): one a minute, `LINK_EMAILS_PER_ACCOUNT_PER_HOUR` an hour, per kind and address.
#[derive(Debug, Clone, Copy)]
pub(super) enum LinkMail {
    Verify,
    Reset,
    Change,
    SignIn,
}

impl LinkMail {
    pub(super) fn policies(self, limits: &Limits) -> [Policy; 2] {
        let (minute, hour) = match self {
            Self::Verify => ("verify-email-minute", "verify-email"),
            Self::Reset => ("reset-email-minute", "reset-email"),
            Self::Change => ("change-email-minute", "change-email"),
            Self::SignIn => ("sign-in-email-minute", "sign-in-email"),
        };
        [
            Policy::new(minute, 1, 60),
            Policy::new(hour, limits.link_emails_per_account_per_hour, 3600),
        ]
    }
}

/// Counts one link email of `kind` to `subject` in each of its windows.
pub(super) async fn link_mail_budget(
    state: &State,
    kind: LinkMail,
    subject: &str,
) -> Result<Counted, ApiError> {
    limits::count_all(
        &state.store,
        state.clock.unix_seconds(),
        &kind.policies(&state.config.limits),
        subject,
    )
    .await
}
