//! Per-client limits: so many requests of one kind per client (an account, a source address)
//! in a fixed window, counted in the table with one conditional `UpdateItem` per window, and
//! told to the client in the `RateLimit-Policy` / `RateLimit` fields of the IETF draft
//! (draft-ietf-httpapi-ratelimit-headers-11) — on the answers that counted, and on the 429
//! that refused (with `Retry-After`).
//!
//! A window's counter is `THROTTLE#<policy>#<subject>` / `<windowStart>` and expires (TTL) a
//! minute after its window ends. Counting is conditional (`count < quota`), so parallel
//! requests cannot overshoot the quota however many arrive at once.

use lambda_http::{Body, Response};
use serde::Deserialize;

use crate::error::{ApiError, RateLimitFields};
use crate::store::{Key, Store, StoreError, Update};

/// So many requests per window of `window_secs`, per client; `name` is the policy's name in
/// the fields and in the counter's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub name: &'static str,
    pub quota: u64,
    pub window_secs: i64,
}

/// One client's state under a [`Policy`] after a request: what is left, and when the window
/// resets (seconds from now).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub policy: Policy,
    pub remaining: u64,
    pub reset_secs: u64,
}

impl Policy {
    pub const fn new(name: &'static str, quota: u64, window_secs: i64) -> Self {
        Self {
            name,
            quota,
            window_secs,
        }
    }

    /// The start (epoch seconds) of the window `now` falls in.
    pub fn window_start(&self, now: i64) -> i64 {
        now - now.rem_euclid(self.window_secs)
    }

    /// The counter of `subject` in the window `now` falls in.
    pub fn counter(&self, subject: &str, now: i64) -> Key {
        Key::new(
            format!("THROTTLE#{}#{subject}", self.name),
            self.window_start(now).to_string(),
        )
    }

    /// When the counter of the window `now` falls in expires (a minute after the window).
    fn expires_at(&self, now: i64) -> i64 {
        self.window_start(now) + self.window_secs + 60
    }

    /// Seconds from `now` until the window ends (at least 1).
    pub fn reset_secs(&self, now: i64) -> u64 {
        u64::try_from(self.window_start(now) + self.window_secs - now)
            .unwrap_or(1)
            .max(1)
    }

    /// One more request of `subject`, refused (the update's condition fails) once `quota` are
    /// counted in the window. Also usable inside a transaction.
    pub fn attempt(&self, subject: &str, now: i64) -> Update {
        self.count(subject, now)
            .if_below(Counter::COUNT, self.quota)
    }

    /// One more request of `subject`, counted whatever the count already is (for budgets that
    /// must not reveal, by a refusal, that they are spent).
    pub fn count(&self, subject: &str, now: i64) -> Update {
        Update::new(self.counter(subject, now))
            .add(Counter::COUNT, 1)
            .set(Counter::EXPIRES_AT, &self.expires_at(now))
    }

    /// The request counted at `counter` (see [`Self::counter`]) given back: it does not count.
    pub fn give_back(counter: Key) -> Update {
        Update::new(counter).add(Counter::COUNT, -1)
    }

    /// The state of a client whose quota is spent.
    pub fn spent(&self, now: i64) -> Quota {
        Quota {
            policy: *self,
            remaining: 0,
            reset_secs: self.reset_secs(now),
        }
    }

    /// The state after `count` requests were counted in the window `now` falls in.
    pub fn after(&self, count: u64, now: i64) -> Quota {
        Quota {
            policy: *self,
            remaining: self.quota.saturating_sub(count),
            reset_secs: self.reset_secs(now),
        }
    }
}

/// `THROTTLE#<policy>#<subject>` / `<window start>`: one window's count, written only by `ADD`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Counter {
    count: u64,
    #[serde(default)]
    expires_at: i64,
}

crate::store::attributes! { Counter in counter_attributes {
    COUNT: u64 = count,
    EXPIRES_AT: i64 = expires_at,
} }

/// Counts one request of `subject` under `policy`: the quota left after it, or a 429 (with
/// `Retry-After` and the fields) when it is spent.
pub async fn consume(
    store: &Store,
    now: i64,
    policy: Policy,
    subject: &str,
) -> Result<Quota, ApiError> {
    match store.update(policy.attempt(subject, now)).await {
        Ok(item) => {
            let counter: Counter = Store::parse(item)?;
            Ok(policy.after(counter.count, now))
        }
        Err(StoreError::ConditionFailed { .. }) => Err(refusal(&[policy.spent(now)])),
        Err(other) => Err(other.into()),
    }
}

/// Counts one request of `subject` under each of `policies` — every one, whatever the first
/// says, so every path makes the same calls — refusing none: a budget that must not reveal by
/// a refusal that it is spent (the caller decides what an exceeded budget means).
pub async fn count_all(
    store: &Store,
    now: i64,
    policies: &[Policy],
    subject: &str,
) -> Result<Counted, ApiError> {
    let mut counted = Counted {
        quotas: Vec::with_capacity(policies.len()),
        exceeded: false,
    };
    for policy in policies {
        let item = store.update(policy.count(subject, now)).await?;
        let Counter { count, .. } = Store::parse(item)?;
        counted.exceeded |= count > policy.quota;
        counted.quotas.push(policy.after(count, now));
    }
    Ok(counted)
}

/// What [`count_all`] counted: each policy's state, and whether this request went over one.
#[derive(Debug)]
pub struct Counted {
    pub quotas: Vec<Quota>,
    pub exceeded: bool,
}

impl Counted {
    /// `Ok(quotas)` within every quota, the 429 otherwise.
    pub fn allowed(self) -> Result<Vec<Quota>, ApiError> {
        if self.exceeded {
            Err(refusal(&self.quotas))
        } else {
            Ok(self.quotas)
        }
    }
}

/// The fields of `quotas`, as structured-field lists.
pub fn fields(quotas: &[Quota]) -> RateLimitFields {
    let policy = quotas
        .iter()
        .map(|q| {
            format!(
                "\"{}\";q={};w={}",
                q.policy.name, q.policy.quota, q.policy.window_secs
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let state = quotas
        .iter()
        .map(|q| format!("\"{}\";r={};t={}", q.policy.name, q.remaining, q.reset_secs))
        .collect::<Vec<_>>()
        .join(", ");
    RateLimitFields { policy, state }
}

/// The 429 for a request refused by the spent ones among `quotas`: `Retry-After` is when the
/// last of them resets.
pub fn refusal(quotas: &[Quota]) -> ApiError {
    let retry_after_secs = quotas
        .iter()
        .filter(|q| q.remaining == 0)
        .map(|q| q.reset_secs)
        .max()
        .unwrap_or(1);
    ApiError::TooManyRequests {
        retry_after_secs,
        rate_limit: Some(fields(quotas)),
    }
}

/// `response` with the fields of `quotas` (none: unchanged).
pub fn with_quotas(mut response: Response<Body>, quotas: &[Quota]) -> Response<Body> {
    if !quotas.is_empty() {
        fields(quotas).insert_into(response.headers_mut());
    }
    response
}

/// A value and the quotas its request counted against (for the answer's fields).
#[derive(Debug)]
pub struct Limited<T> {
    pub value: T,
    pub quotas: Vec<Quota>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTS: Policy = Policy::new("post-create", 30, 3600);

    #[test]
    fn windows_are_aligned_and_reset_at_their_end() {
        assert_eq!(POSTS.window_start(7_300), 7_200);
        assert_eq!(POSTS.reset_secs(7_300), 3_500);
        assert_eq!(POSTS.reset_secs(10_799), 1);
        assert_eq!(POSTS.counter("u1", 7_300).pk, "THROTTLE#post-create#u1");
        assert_eq!(POSTS.counter("u1", 7_300).sk, "7200");
    }

    #[test]
    fn the_fields_follow_the_draft_structured_lists() {
        let quotas = [
            POSTS.after(12, 7_300),
            Policy::new("burst", 1, 60).spent(7_300),
        ];
        let fields = fields(&quotas);
        assert_eq!(
            fields.policy,
            "\"post-create\";q=30;w=3600, \"burst\";q=1;w=60"
        );
        assert_eq!(
            fields.state,
            "\"post-create\";r=18;t=3500, \"burst\";r=0;t=20"
        );
    }

    #[test]
    fn a_refusal_waits_for_the_last_spent_window() {
        let quotas = [
            Policy::new("minute", 1, 60).spent(7_300),
            Policy::new("hour", 5, 3600).spent(7_300),
        ];
        match refusal(&quotas) {
            ApiError::TooManyRequests {
                retry_after_secs,
                rate_limit: Some(_),
            } => assert_eq!(retry_after_secs, 3_500),
            other => panic!("unexpected {other:?}"),
        }
    }
}
