//! What the virtual users share: their accounts and the run's state (the clock, budgets, the
//! directory of registry accounts), and the account steps every workload needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use infra::traffic::{self, Client, PASSWORD, Rng};
use serde_json::json;

/// A signed-in account of a virtual user.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) access: String,
    pub(crate) refresh: String,
    pub(crate) password: String,
    pub(crate) posts: Vec<String>,
    pub(crate) reset_done: bool,
    /// The properties this account owns, as far as it knows (refreshed from the API).
    pub(crate) properties: Vec<String>,
    /// The leases it made of its units and has not ended.
    pub(crate) leases: Vec<String>,
    /// Whether it takes part in the registry (half do): the others can delete their accounts
    /// (one that owns a property or holds a lease cannot, 409).
    pub(crate) registry: bool,
}

/// Shared by the virtual users: the clock, the wrong-password budget (failed sign-ins are also
/// throttled per source address, and all of this traffic comes from 127.0.0.1).
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) run: String,
    pub(crate) deadline: Instant,
    pub(crate) mixed_until: Instant,
    /// The run stops sending once this many requests were answered (`make load`'s bound).
    pub(crate) max_requests: u64,
    pub(crate) wrong_passwords: AtomicU64,
    pub(crate) accounts: AtomicU64,
    pub(crate) mail_delays: std::sync::Mutex<Vec<Duration>>,
    /// The run's accounts that take part in the registry (id -> address), deleted ones
    /// included: whom to lease and transfer to, and where the mails to accounts go.
    pub(crate) directory: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    pub(crate) file_numbers: AtomicU64,
}

pub(crate) const MAX_WRONG_PASSWORDS: u64 = 60;
pub(crate) const NEW_PASSWORDS: [&str; 2] = [
    "quiet lanterns over the harbour",
    "seven copper kettles singing",
];

impl Shared {
    /// Whether to send more: before `until`, and under the request bound.
    pub(crate) fn sending_until(&self, until: Instant) -> bool {
        Instant::now() < until && self.client.tally.total() < self.max_requests
    }

    pub(crate) async fn register(&self, rng: &mut Rng) -> Result<Option<Account>> {
        let n = self.accounts.fetch_add(1, Ordering::Relaxed);
        let email = format!("soak-{}-{n}@example.com", self.run);
        let name = format!("Soak {}", traffic::words(rng, 1)[0]);
        Ok(self
            .client
            .register(&email, &name)
            .await?
            .map(|(id, access, refresh)| {
                let registry = rng.chance(50);
                if let (true, Ok(mut directory)) = (registry, self.directory.lock()) {
                    directory.insert(id.clone(), email.clone());
                }
                Account {
                    id,
                    email,
                    access,
                    refresh,
                    password: PASSWORD.to_owned(),
                    posts: Vec::new(),
                    reset_done: false,
                    properties: Vec::new(),
                    leases: Vec::new(),
                    registry,
                }
            }))
    }

    pub(crate) async fn sign_in(&self, account: &mut Account) -> Result<()> {
        let answer = self
            .client
            .post(
                "login",
                "/v1/auth/login",
                None,
                &json!({"email": account.email, "password": account.password}),
            )
            .await?;
        if answer.status == 200 {
            account.access = answer.str("/accessToken").unwrap_or_default();
            account.refresh = answer.str("/refreshToken").unwrap_or_default();
        }
        Ok(())
    }

    /// The mail to `to` whose subject starts with `subject`, waited for up to `bound`.
    pub(crate) async fn mail(
        &self,
        to: &str,
        subject: &str,
        bound: Duration,
    ) -> Result<Option<String>> {
        let started = Instant::now();
        while started.elapsed() < bound {
            if let Some((_, body)) = self
                .client
                .mail_to(to)
                .await?
                .into_iter()
                .find(|(s, _)| s.starts_with(subject))
            {
                if let Ok(mut delays) = self.mail_delays.lock() {
                    delays.push(started.elapsed());
                }
                return Ok(Some(body));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(None)
    }
}
