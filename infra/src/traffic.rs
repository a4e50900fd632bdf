//! Traffic against a running local stack, for `make seed` and `make soak`: a small client of the
//! HTTP API and of the endpoint's control API, a deterministic random source and latency
//! summaries. Load tools, not tests: they report what happened and check invariants at the end.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value as Json, json};

/// The password every generated account uses (strong enough for the API's rules).
pub const PASSWORD: &str = "violet anchor drifts north";

/// An answer of the API.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Json,
    pub elapsed: Duration,
}

impl Answer {
    pub fn str(&self, pointer: &str) -> Option<String> {
        self.body.pointer(pointer)?.as_str().map(str::to_owned)
    }
}

/// Counts of answers by operation and status, and latencies by operation.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<TallyInner>>);

#[derive(Debug, Default)]
struct TallyInner {
    statuses: BTreeMap<(String, u16), u64>,
    latencies: BTreeMap<String, Vec<Duration>>,
}

impl Tally {
    pub fn record(&self, operation: &str, answer: &Answer) {
        if let Ok(mut inner) = self.0.lock() {
            *inner
                .statuses
                .entry((operation.to_owned(), answer.status))
                .or_default() += 1;
            inner
                .latencies
                .entry(operation.to_owned())
                .or_default()
                .push(answer.elapsed);
        }
    }

    /// `(operation, status) -> count`.
    pub fn statuses(&self) -> BTreeMap<(String, u16), u64> {
        self.0
            .lock()
            .map(|i| i.statuses.clone())
            .unwrap_or_default()
    }

    pub fn latencies(&self, operation: &str) -> Vec<Duration> {
        self.0
            .lock()
            .map(|i| i.latencies.get(operation).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Answers with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.statuses()
            .iter()
            .filter(|((_, status), _)| *status >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total(&self) -> u64 {
        self.statuses().values().sum()
    }
}

/// A client of the API at `base` and of the local endpoint at `endpoint`.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    endpoint: String,
    http: reqwest::Client,
    pub tally: Tally,
}

impl Client {
    pub fn new(base: &str, endpoint: &str) -> Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            http: crate::http_client()
                .connect_timeout(crate::LOCAL_CONNECT_TIMEOUT)
                // Longer than the gateway's own limit (a function's timeout plus
                // INVOKE_ALLOWANCE), so the gateway's 503 arrives rather than a client timeout.
                .timeout(Duration::from_secs(30) + crate::INVOKE_ALLOWANCE * 2)
                .build()?,
            tally: Tally::default(),
        })
    }

    /// The same client, connecting from loopback address `127.0.0.<2 + n % 250>`: one of many
    /// clients, as far as per-IP limits are concerned (Linux routes all of 127/8 to loopback).
    /// Where that address cannot be bound, the client connects as before.
    #[must_use]
    pub fn as_client_number(&self, n: u64) -> Self {
        let last = u8::try_from(2 + n % 250).unwrap_or(2);
        let address = std::net::IpAddr::from([127, 0, 0, last]);
        let bindable = std::net::TcpListener::bind((address, 0)).is_ok();
        let http = crate::http_client()
            .connect_timeout(crate::LOCAL_CONNECT_TIMEOUT)
            .timeout(Duration::from_secs(30) + crate::INVOKE_ALLOWANCE * 2)
            .local_address(bindable.then_some(address))
            .build()
            .unwrap_or_else(|_| self.http.clone());
        Self {
            http,
            ..self.clone()
        }
    }

    /// Sends one request, records it under `operation`.
    pub async fn call(
        &self,
        operation: &str,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Json>,
    ) -> Result<Answer> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .with_context(|| format!("{operation}: {path}"))?;
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await?;
        let answer = Answer {
            status,
            etag,
            body: serde_json::from_slice(&bytes).unwrap_or(Json::Null),
            elapsed: started.elapsed(),
        };
        self.tally.record(operation, &answer);
        Ok(answer)
    }

    pub async fn post(
        &self,
        operation: &str,
        path: &str,
        token: Option<&str>,
        body: &Json,
    ) -> Result<Answer> {
        self.call(
            operation,
            reqwest::Method::POST,
            path,
            token,
            &[],
            Some(body),
        )
        .await
    }

    pub async fn get(&self, operation: &str, path: &str, token: Option<&str>) -> Result<Answer> {
        self.call(operation, reqwest::Method::GET, path, token, &[], None)
            .await
    }

    /// Registers `email`: `(user id, access token, refresh token)` on 201.
    pub async fn register(
        &self,
        email: &str,
        name: &str,
    ) -> Result<Option<(String, String, String)>> {
        let answer = self
            .post(
                "register",
                "/v1/auth/register",
                None,
                &json!({"email": email, "name": name, "password": PASSWORD}),
            )
            .await?;
        if answer.status != 201 {
            return Ok(None);
        }
        Ok(Some((
            answer.str("/user/id").unwrap_or_default(),
            answer.str("/accessToken").unwrap_or_default(),
            answer.str("/refreshToken").unwrap_or_default(),
        )))
    }

    /// Registers `email` with [`PASSWORD`] and makes it an admin the documented way
    /// (`ferrite-admin grant-role`, the binary beside the running tool): for tools run against
    /// a local stack (`TABLE_NAME` and `AWS_ENDPOINT_URL` set).
    pub async fn register_admin(&self, email: &str, name: &str) -> Result<()> {
        self.register(email, name)
            .await?
            .context("registering the admin's account")?;
        let status =
            std::process::Command::new(std::env::current_exe()?.with_file_name("ferrite-admin"))
                .args(["grant-role", "--email", email, "--role", "ADMIN"])
                .status()
                .context("running ferrite-admin")?;
        if !status.success() {
            bail!("ferrite-admin grant-role failed");
        }
        Ok(())
    }

    /// Mail the local SES accepted for `to`: `(subject, body)`.
    pub async fn mail_to(&self, to: &str) -> Result<Vec<(String, String)>> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("to", to)
            .finish();
        let data: Json = self
            .http
            .get(format!("{}/_ferrite/ses/messages?{query}", self.endpoint))
            .send()
            .await?
            .json()
            .await?;
        Ok(data["messages"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|m| {
                        (
                            m["subject"].as_str().unwrap_or_default().to_owned(),
                            m["body"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every mail the local SES accepted: recipient -> count.
    pub async fn mail_counts(&self) -> Result<BTreeMap<String, u64>> {
        let data: Json = self
            .http
            .get(format!("{}/_ferrite/ses/messages", self.endpoint))
            .send()
            .await?
            .json()
            .await?;
        let mut counts = BTreeMap::new();
        for message in data["messages"].as_array().into_iter().flatten() {
            for to in message["to"].as_array().into_iter().flatten() {
                *counts
                    .entry(to.as_str().unwrap_or_default().to_owned())
                    .or_default() += 1;
            }
        }
        Ok(counts)
    }

    /// A GET of the local endpoint's control API (`/_ferrite/…`), as JSON.
    async fn control(&self, path: &str) -> Result<Json> {
        Ok(self
            .http
            .get(format!("{}/_ferrite/{path}", self.endpoint))
            .send()
            .await?
            .json()
            .await?)
    }

    /// The endpoint's `/_ferrite/status` (moto version, patches, resident memory).
    pub async fn endpoint_status(&self) -> Result<Json> {
        self.control("status").await
    }

    /// Where the local endpoint's time went, per operation, since it started
    /// (`/_ferrite/timings`: count, ms handled inside its lock, ms waited for it).
    pub async fn endpoint_timings(&self) -> Result<Json> {
        self.control("timings").await
    }

    /// Items and stream records per table of the endpoint.
    pub async fn tables(&self) -> Result<Json> {
        self.control("dynamodb/tables").await
    }

    /// Items in `table`.
    pub async fn item_count(&self, table: &str) -> Result<u64> {
        let tables = self.tables().await?;
        tables["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == table)
            .and_then(|t| t["items"].as_u64())
            .with_context(|| format!("no table {table} on the endpoint"))
    }

    /// The endpoint's resident memory, in MiB.
    pub async fn endpoint_rss_mib(&self) -> Result<f64> {
        let status = self.endpoint_status().await?;
        let bytes = status["rssBytes"].as_f64().unwrap_or_default();
        Ok(bytes / 1_048_576.0)
    }
}

/// What a browser's form sends with the presigned POST `upload` (`{url, fields}`): the
/// `Content-Type` (`multipart/form-data` with its boundary) and the body — every field of
/// `upload.fields`, then `file` last, typed as the form's `Content-Type` field says.
pub fn browser_form(upload: &Json, file_name: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("----ferrite{}", ulid::Ulid::new());
    let mut body = Vec::new();
    for (name, value) in upload["fields"].as_object().into_iter().flatten() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n",
                value.as_str().unwrap_or_default()
            )
            .as_bytes(),
        );
    }
    let file_type = upload["fields"]["Content-Type"]
        .as_str()
        .unwrap_or("application/octet-stream");
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {file_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The token of the first link of a mail (`…?token=…`).
pub fn link_token(body: &str) -> Option<String> {
    let start = body.find("token=")? + "token=".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// A small deterministic random source (xorshift64*): the same seed, the same traffic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index into `weights` drawn in proportion to them.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut pick = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// Words for generated titles, bodies and tags.
pub const WORDS: &[&str] = &[
    "rust",
    "lambda",
    "serverless",
    "dynamodb",
    "async",
    "tokio",
    "latency",
    "cache",
    "stream",
    "queue",
    "event",
    "outbox",
    "audit",
    "schema",
    "cursor",
    "index",
    "shard",
    "partition",
    "token",
    "session",
    "argon",
    "jwt",
    "gateway",
    "route",
    "cold",
    "warm",
    "binary",
    "memory",
    "profile",
    "benchmark",
    "design",
    "testing",
    "fuzzing",
    "security",
    "iam",
    "policy",
    "deploy",
    "release",
    "rollback",
    "metrics",
    "tracing",
    "logs",
    "alarms",
    "budget",
    "capacity",
    "cost",
    "registry",
    "property",
    "lease",
    "unit",
    "garden",
    "harbour",
    "lantern",
    "copper",
    "violet",
    "anchor",
    "kettle",
    "north",
    "river",
    "meadow",
];

/// `count` words drawn from [`WORDS`], the first ones more often (a Zipf-like tail).
pub fn words(rng: &mut Rng, count: usize) -> Vec<&'static str> {
    let weights: Vec<u64> = (0..WORDS.len()).map(|i| 1000 / (i as u64 + 1)).collect();
    (0..count).map(|_| WORDS[rng.weighted(&weights)]).collect()
}

/// p-th percentile (0–100) of `samples` (nearest rank).
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round();
    sorted[(rank as usize).min(sorted.len() - 1)]
}

/// `p50 … p99 … max` of `samples`, in milliseconds.
pub fn summary(samples: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "n={} p50={:.1} ms p90={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 90.0)),
        ms(percentile(samples, 99.0)),
        ms(samples.iter().max().copied().unwrap_or_default()),
    )
}

/// Fails unless `answer` has `status`.
pub fn expect(answer: &Answer, status: u16, what: &str) -> Result<()> {
    if answer.status != status {
        bail!(
            "{what}: {} (expected {status}) {}",
            answer.status,
            answer.body
        );
    }
    Ok(())
}
