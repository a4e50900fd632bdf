//! The webhook worker's half: for each event `WebhooksRule` forwards, one signed POST to every
//! enabled endpoint that follows its type — to the addresses its host resolved to and that were
//! checked, nothing else — and the retries of those that failed.
//!
//! **Resolve once, check, connect to what was checked.** A delivery looks the host up once
//! ([`tokio::net::lookup_host`]), refuses it if *any* address is not public ([`super::target`]),
//! and hands hyper a resolver that answers with exactly those addresses: no second lookup that
//! a DNS rebinding could answer differently. An address written in the URL is checked as it is.
//! TLS is verified against Mozilla's roots for the URL's host name; redirects are not followed
//! (a 3xx is a failed attempt); an attempt has [`ATTEMPT_TIMEOUT`] in all.
//!
//! **Retries through the queue.** Each attempt is recorded per endpoint (a redelivery skips the
//! endpoints that answered already). When one failed, the worker hides the message for the next
//! step of `WEBHOOK_RETRY_SECONDS` (`ChangeMessageVisibility`) and reports it, so SQS delivers it
//! again then; at the queue's `maxReceiveCount` (`WEBHOOK_ATTEMPTS`, the same template
//! parameter) the deliveries left are recorded `failed` and SQS moves the event to the
//! dead-letter queue at its next receive. A failing endpoint is not the worker failing: these
//! records are reported without counting as failures (the dead-letter queue's alarm tells).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use super::target::{self, Target, TestTargets};
use super::{
    DeliveryStatus, DeliveryView, EndpointItem, PURPOSE, Payload, delivery, mark_answering,
    mark_failing, payload_of, record_delivery, signature, subscribed,
};
use crate::config::ConfigError;
use crate::error::cause_chain;
use crate::sealing::Context;
use crate::state::State;
use crate::worker::{self, RecordError};

/// The most one attempt takes: the lookup, the connection, TLS, the request and the answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Retry steps when `WEBHOOK_RETRY_SECONDS` is not set: 5 s, 1 min, 5 min, 30 min, 2 h, 6 h, 10 h
/// (about 19 hours in all).
pub const DEFAULT_RETRY_SECONDS: &str = "5,60,300,1800,7200,21600,36000";
/// A step is a visibility timeout: at most 12 hours from the receive, less the invocation.
const MAX_STEP_SECS: u32 = 42_000;
const USER_AGENT: &str = "Ferrite-Webhooks/1";

/// The worker's settings (from its environment).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The wait after each failed attempt but the last (`WEBHOOK_RETRY_SECONDS`).
    pub retry_seconds: Vec<u32>,
    /// Attempts in all: the queue's `maxReceiveCount` (`WEBHOOK_ATTEMPTS`), one more than the
    /// steps.
    pub attempts: u32,
    /// How long an endpoint fails every delivery before it is disabled
    /// (`WEBHOOK_DISABLE_AFTER_SECONDS`).
    pub disable_after_secs: i64,
    /// The webhooks queue (`WEBHOOKS_QUEUE_URL`): where retries are scheduled.
    pub queue_url: String,
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let retry = get("WEBHOOK_RETRY_SECONDS").unwrap_or_else(|| DEFAULT_RETRY_SECONDS.into());
        let retry_seconds = retry
            .split(',')
            .map(|step| {
                step.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s <= MAX_STEP_SECS)
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ConfigError {
                var: "WEBHOOK_RETRY_SECONDS",
                problem: format!(
                    "must be seconds (each at most {MAX_STEP_SECS}) separated by commas"
                ),
            })?;
        let attempts = match get("WEBHOOK_ATTEMPTS") {
            None => u32::try_from(retry_seconds.len() + 1).unwrap_or(u32::MAX),
            Some(raw) => raw.trim().parse::<u32>().ok().ok_or_else(|| ConfigError {
                var: "WEBHOOK_ATTEMPTS",
                problem: "must be a number".into(),
            })?,
        };
        if usize::try_from(attempts).ok() != Some(retry_seconds.len() + 1) {
            return Err(ConfigError {
                var: "WEBHOOK_ATTEMPTS",
                problem: "must be one more than the steps of WEBHOOK_RETRY_SECONDS (the queue's maxReceiveCount)".into(),
            });
        }
        let disable_after_secs = match get("WEBHOOK_DISABLE_AFTER_SECONDS") {
            None => 3 * 86_400,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| ConfigError {
                    var: "WEBHOOK_DISABLE_AFTER_SECONDS",
                    problem: "must be a number of seconds".into(),
                })?,
        };
        let queue_url = get("WEBHOOKS_QUEUE_URL").ok_or_else(|| ConfigError {
            var: "WEBHOOKS_QUEUE_URL",
            problem: "is not set (retries are scheduled on it)".into(),
        })?;
        Ok(Self {
            retry_seconds,
            attempts,
            disable_after_secs,
            queue_url,
        })
    }
}

impl Settings {
    /// The wait after attempt `attempt` (1 the first) failed: its step of the schedule.
    pub fn wait_after(&self, attempt: u32) -> u32 {
        let step = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.retry_seconds.get(step).copied().unwrap_or(0)
    }
}

/// Answers hyper's lookup with the addresses that were resolved and checked, whatever the name.
#[derive(Debug, Clone)]
struct Checked(Arc<Vec<SocketAddr>>);

impl tower_service::Service<Name> for Checked {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(self.0.as_ref().clone().into_iter()))
    }
}

/// Why an attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The endpoint's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: String,
}

/// Sends deliveries over the public web (Mozilla's roots), built once per instance.
pub struct Sender {
    tls: rustls::ClientConfig,
    tests: TestTargets,
    /// Only test targets (a local stack: see [`target`]).
    local_only: bool,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("tests", &self.tests)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// No I/O: the root store is compiled in. `local_only` for a local stack (an AWS endpoint
    /// override): nothing but `tests` is reached, and no name is looked up.
    pub fn new(tests: TestTargets, local_only: bool) -> Self {
        Self {
            tls: crate::aws::public_web_tls(),
            tests,
            local_only,
        }
    }

    /// The addresses a delivery to `url` may connect to: resolved once and checked.
    pub async fn resolve(&self, url: &url::Url) -> Result<Vec<SocketAddr>, Failure> {
        let refused = |refusal: target::Refusal| Failure {
            status: None,
            error: refusal.to_string(),
        };
        let (host, port) = target::check_url(url, &self.tests).map_err(refused)?;
        if self.local_only {
            return match host {
                Target::Address(ip) if self.tests.allows(SocketAddr::new(ip, port)) => {
                    Ok(vec![SocketAddr::new(ip, port)])
                }
                _ => Err(refused(target::Refusal::LocalOnly)),
            };
        }
        let addrs = match host {
            Target::Address(ip) => vec![SocketAddr::new(ip, port)],
            Target::Name(name) => tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|e| Failure {
                    status: None,
                    error: format!("the host does not resolve: {e}"),
                })?
                .collect(),
        };
        target::check_addresses(url, &addrs, &self.tests).map_err(refused)?;
        Ok(addrs)
    }

    /// POSTs `body` to `url` with `headers`: `Ok` on a 2xx answer.
    pub async fn post(
        &self,
        url: &url::Url,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> Result<u16, Failure> {
        let attempt = async {
            let addrs = self.resolve(url).await?;
            let mut tcp = HttpConnector::new_with_resolver(Checked(Arc::new(addrs)));
            tcp.enforce_http(false);
            tcp.set_connect_timeout(Some(ATTEMPT_TIMEOUT));
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(self.tls.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp);
            let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(https);
            let mut request = http::Request::post(url.as_str())
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::USER_AGENT, USER_AGENT);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let request = request
                .body(Full::new(bytes::Bytes::from(body)))
                .map_err(|e| Failure {
                    status: None,
                    error: format!("cannot build the request: {e}"),
                })?;
            let answer = client.request(request).await.map_err(|e| Failure {
                status: None,
                error: format!("connection failed: {}", cause_chain(&e)),
            })?;
            let status = answer.status();
            if status.is_success() {
                Ok(status.as_u16())
            } else if status.is_redirection() {
                Err(Failure {
                    status: Some(status.as_u16()),
                    error: format!("answered {status} (redirects are not followed)"),
                })
            } else {
                Err(Failure {
                    status: Some(status.as_u16()),
                    error: format!("answered {status}"),
                })
            }
        };
        tokio::time::timeout(ATTEMPT_TIMEOUT, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(Failure {
                    status: None,
                    error: "timeout".into(),
                })
            })
    }
}

/// Opened signing keys, by endpoint and sealed secret (a new secret is opened anew).
type Secrets = Mutex<HashMap<(super::WebhookId, String), Arc<Vec<u8>>>>;

type LazySqs = LazyLock<aws_sdk_sqs::Client, Box<dyn FnOnce() -> aws_sdk_sqs::Client + Send>>;

/// The worker: its state (with the sealer that opens secrets), settings, sender, queue client
/// (built on first use) and the secrets it opened (each endpoint's, for the instance's life).
pub struct Worker {
    pub state: State,
    pub settings: Settings,
    pub sender: Sender,
    sqs: LazySqs,
    secrets: Secrets,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// `state` must have a sealer ([`State::with_sealer`]); settings from `lookup`.
    pub fn new(state: State, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings::from_lookup(&lookup)?;
        if state.sealer().is_none() {
            return Err(ConfigError {
                var: "MFA_KEY_ARN",
                problem: "is not set (the worker opens the endpoints' sealed secrets)".into(),
            });
        }
        let sdk = state.sdk_config().clone();
        // An AWS endpoint override is a local stack: its deliveries stay on this machine.
        let local_only = state.config.endpoint_url.is_some();
        let sender = Sender::new(state.config.webhook_test_targets.clone(), local_only);
        Ok(Self {
            state,
            settings,
            sender,
            sqs: LazyLock::new(Box::new(move || aws_sdk_sqs::Client::new(&sdk))),
            secrets: Mutex::new(HashMap::new()),
        })
    }

    /// The signing key of `endpoint` (KMS Decrypt on the instance's first delivery to it).
    async fn key(&self, endpoint: &EndpointItem) -> Result<Arc<Vec<u8>>, RecordError> {
        let cache_key = (endpoint.view.id, endpoint.sealed_secret.clone());
        if let Some(key) = self
            .secrets
            .lock()
            .ok()
            .and_then(|c| c.get(&cache_key).cloned())
        {
            return Ok(key);
        }
        let ciphertext = STANDARD
            .decode(&endpoint.sealed_secret)
            .map_err(|_| RecordError::Malformed("a sealed webhook secret is not base64".into()))?;
        let sealer = self
            .state
            .sealer()
            .ok_or_else(|| RecordError::Transient("no sealer".into()))?;
        let id = endpoint.view.id.to_string();
        let key = Arc::new(
            sealer
                .open(&ciphertext, Context::of_webhook(PURPOSE, &id))
                .await
                .map_err(|e| RecordError::Transient(cause_chain(&e)))?,
        );
        if let Ok(mut cache) = self.secrets.lock() {
            cache.insert(cache_key, key.clone());
        }
        Ok(key)
    }
}

/// What became of one endpoint's delivery in this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Answered (now or before), or nothing more to try (it was disabled).
    Done,
    /// Failed: try again.
    Again,
}

fn transient(error: impl std::error::Error + 'static) -> RecordError {
    RecordError::Transient(cause_chain(&error))
}

/// The attempt number SQS gives this receive of the message (1 the first time).
fn attempt_of(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// Delivers one record (an outbox event) to its endpoints; see the module for what a failure
/// does.
pub async fn deliver(worker: &Worker, message: &SqsMessage) -> Result<(), RecordError> {
    let event = worker::event_of(message)?;
    let Some(payload) = payload_of(&event) else {
        tracing::info!(eventId = %event.id, eventType = %event.kind, "not a webhook event type: nothing to deliver");
        return Ok(());
    };
    let store = &worker.state.store;
    let endpoints = subscribed(store, payload.kind).await.map_err(transient)?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let body = serde_json::to_vec(&payload).map_err(transient)?;
    let attempt = attempt_of(message);
    let last = attempt >= worker.settings.attempts;
    let message_id = event.id.to_string();
    let sent = futures_util::future::join_all(endpoints.iter().map(|endpoint| {
        deliver_to(
            worker,
            endpoint,
            &message_id,
            &payload,
            &body,
            attempt,
            last,
        )
    }))
    .await;
    let mut again = 0usize;
    for result in sent {
        if result? == Sent::Again {
            again += 1;
        }
    }
    if again == 0 {
        return Ok(());
    }
    let receipt = message.receipt_handle.clone().unwrap_or_default();
    let wait = if last {
        0
    } else {
        worker.settings.wait_after(attempt)
    };
    worker
        .sqs
        .change_message_visibility()
        .queue_url(&worker.settings.queue_url)
        .receipt_handle(receipt)
        .visibility_timeout(i32::try_from(wait).unwrap_or(i32::MAX))
        .send()
        .await
        .map_err(|e| RecordError::Transient(cause_chain(&e)))?;
    if last {
        tracing::warn!(
            eventId = %event.id,
            endpoints = again,
            attempts = attempt,
            "webhook deliveries given up: the event goes to the dead-letter queue"
        );
        metrics::counter!(crate::telemetry::metric::WEBHOOK_GIVEN_UP).increment(1);
        return Err(RecordError::Unfinished(format!(
            "{again} endpoint(s) failed all {attempt} attempts: to the dead-letter queue"
        )));
    }
    Err(RecordError::Unfinished(format!(
        "{again} endpoint(s) failed attempt {attempt}: the next in {wait} s"
    )))
}

async fn deliver_to(
    worker: &Worker,
    endpoint: &EndpointItem,
    message_id: &str,
    payload: &Payload,
    body: &[u8],
    attempt: u32,
    last: bool,
) -> Result<Sent, RecordError> {
    let store = &worker.state.store;
    let id = endpoint.view.id;
    let previous = delivery(store, id, message_id).await.map_err(transient)?;
    if previous
        .as_ref()
        .is_some_and(|p| p.status == DeliveryStatus::Succeeded)
    {
        return Ok(Sent::Done);
    }
    let key = worker.key(endpoint).await?;
    let clock = worker.state.clock;
    let timestamp = clock.unix_seconds();
    let headers = [
        ("webhook-id", message_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature(&key, message_id, timestamp, body),
        ),
    ];
    let url = url::Url::parse(&endpoint.view.url).map_err(transient)?;
    let outcome = worker.sender.post(&url, &headers, body.to_vec()).await;
    let now = clock.timestamp();
    let mut view = DeliveryView {
        id: message_id.to_owned(),
        event_type: payload.kind,
        status: DeliveryStatus::Succeeded,
        attempts: previous.map_or(0, |p| p.attempts) + 1,
        last_attempt_at: now.clone(),
        response_status: None,
        error: None,
        next_attempt_at: None,
    };
    let sent = match outcome {
        Ok(status) => {
            view.response_status = Some(status);
            mark_answering(store, endpoint).await.map_err(transient)?;
            Sent::Done
        }
        Err(failure) => {
            view.response_status = failure.status;
            view.error = Some(failure.error);
            let disabled = mark_failing(
                store,
                endpoint,
                (timestamp, now.clone()),
                worker.settings.disable_after_secs,
            )
            .await
            .map_err(transient)?;
            if disabled {
                tracing::warn!(webhookId = %id, "webhook endpoint disabled after sustained failures");
                metrics::counter!(crate::telemetry::metric::WEBHOOK_DISABLED).increment(1);
            }
            if disabled {
                // Nothing more goes to it: this delivery is over.
                view.status = DeliveryStatus::Failed;
                Sent::Done
            } else if last {
                // Given up: the event goes to the dead-letter queue.
                view.status = DeliveryStatus::Failed;
                Sent::Again
            } else {
                view.status = DeliveryStatus::Retrying;
                let wait = worker.settings.wait_after(attempt);
                view.next_attempt_at = Some(crate::clock::rfc3339(
                    clock.now() + Duration::from_secs(u64::from(wait)),
                ));
                Sent::Again
            }
        }
    };
    let status = view.status;
    record_delivery(store, id, view).await.map_err(transient)?;
    tracing::info!(webhookId = %id, messageId = %message_id, eventType = %payload.kind.as_str(), ?status, attempt, "webhook delivery attempted");
    metrics::counter!(crate::telemetry::metric::WEBHOOK_DELIVERY, "outcome" => match status {
        DeliveryStatus::Succeeded => "succeeded",
        DeliveryStatus::Retrying => "retrying",
        DeliveryStatus::Failed => "failed",
    })
    .increment(1);
    Ok(sent)
}
