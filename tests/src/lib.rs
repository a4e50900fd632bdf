//! Test harness: everything a test needs to run against the local stack.
//!
//! Tests talk to the real local endpoint (the moto server `make test` starts), never to an
//! in-memory fake. Each test gets its own table, created from template.yaml with a unique name,
//! so tests run in parallel without seeing each other's data.

//!
//! - [`app`]: [`TestApp`], a test's own world, and the state of each function's role;
//! - [`call`]: [`Call`] and [`TestResponse`], a handler run in-process as API Gateway would;
//! - [`users`]: accounts as tests need them ([`TestApp::user`], [`TestApp::admin`]);
//! - [`workers`]: the workers run on a test's outbox;
//! - [`live`]: the WebSocket API in-process, and clients of it;
//! - [`documents`]: the test bucket, browsers' uploads, S3's events and the documents worker;
//! - [`outbox`]: SQS and stream events built from outbox events, and the mail that was sent;
//! - [`call_log`]: the DynamoDB operations a request made;
//! - [`world`]: template.yaml read once — the table, the routes, the roles.

pub mod app;
pub mod call;
pub mod call_log;
pub mod documents;
pub mod live;
pub mod mfa;
pub mod oidc;
pub mod outbox;
pub mod users;
pub mod webhooks;
pub mod workers;
pub mod world;

pub use app::TestApp;
pub use call::{Call, TestResponse};
pub use call_log::{CallLog, operation_name};
pub use outbox::{sent_emails, sqs_event, stream_record};
pub use users::{PASSWORD, grant, racing_registrations, sign_in_as};
pub use workers::{email_worker, purge, rent_tick, rent_tick_with, schedule, unhurried};
pub use world::test_keys;

use std::future::Future;

use crate::world::{placeholder_ctx, template};

/// The base URL of the whole local API (`make test` runs the suite under
/// `ferrite-local exec --api`, which starts the endpoint, the functions and the gateway once
/// and exports `FERRITE_API_URL`), or a panic that says how to get one.
pub fn api_url() -> String {
    match std::env::var("FERRITE_API_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim_end_matches('/').to_owned(),
        _ => panic!(
            "\n\nNo local API: the end-to-end tests drive the whole stack over HTTP.\n\
             Run them with `make test`, or against `make dev` with\n\
             `FERRITE_API_URL=http://127.0.0.1:3000 AWS_ENDPOINT_URL=http://127.0.0.1:4566 cargo nextest run`.\n\n"
        ),
    }
}

/// The WebSocket URL of the local API (`FERRITE_WEBSOCKET_URL`, which `ferrite-local exec --api`
/// exports), or a panic that says how to get one.
pub fn websocket_url() -> String {
    match std::env::var("FERRITE_WEBSOCKET_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim_end_matches('/').to_owned(),
        _ => panic!(
            "\n\nNo local WebSocket API: run the end-to-end tests with `make test`, or against \
             `make dev` with FERRITE_WEBSOCKET_URL=ws://127.0.0.1:3001/v1.\n\n"
        ),
    }
}

/// How long the local stack may take to settle a message sent to `queue` (a logical id of
/// template.yaml): derived from the queue's redrive policy and its worker's timeout
/// ([`infra::pumps::delivery_bound`]), never guessed.
pub fn delivery_bound(queue: &str) -> std::time::Duration {
    infra::pumps::delivery_bound(template(), &placeholder_ctx(), queue)
        .unwrap_or_else(|e| panic!("no delivery bound for {queue}: {e:#}"))
}

/// Every function of template.yaml: its logical id, binary and environment (the template's,
/// with every resource resolved to a placeholder and the stack's parameters).
pub fn functions() -> Vec<infra::routes::Function> {
    infra::routes::functions(template(), &placeholder_ctx()).expect("functions")
}

/// The `Timeout` template.yaml gives the function `function` (a logical id).
pub fn function_timeout(function: &str) -> std::time::Duration {
    let functions = infra::routes::functions(template(), &placeholder_ctx()).expect("functions");
    let seconds = functions
        .iter()
        .find(|f| f.logical_id == function)
        .unwrap_or_else(|| panic!("{function} is not a function of template.yaml"))
        .timeout_secs;
    std::time::Duration::from_secs(seconds)
}

/// `GET url` (with `bearer`, if any) as JSON; `None` when it cannot be had (yet): for the
/// checks that [`eventually`] polls.
pub async fn get_json(url: &str, bearer: Option<&str>) -> Option<serde_json::Value> {
    let mut request = http().get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.ok()?.json().await.ok()
}

/// Polls `check` every 100 ms until it answers, failing the test past `bound` (which a test
/// derives from configuration: [`delivery_bound`], [`function_timeout`]). Returns the value and
/// how long it took.
pub async fn eventually<T, F, Fut>(
    what: &str,
    bound: std::time::Duration,
    check: F,
) -> (T, std::time::Duration)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return (value, started.elapsed());
        }
        assert!(
            started.elapsed() < bound,
            "{what} did not happen within {bound:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An HTTP client for the end-to-end tests.
pub fn http() -> reqwest::Client {
    infra::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The key every test's cursors are signed with.
pub const TEST_CURSOR_SECRET: &str = "test-cursor-secret-0123456789abcdef";

/// The local AWS endpoint, or a panic that says how to get one.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "\n\nNo local AWS endpoint: these tests run against the moto server.\n\
             Run them with `make test` (it starts one on a free port), or start one with\n\
             `make dev` and run `source .local/env && cargo nextest run --workspace`.\n\n"
        ),
    }
}

/// A clock that stands still at the moment it is made. The throttles and budgets count in fixed
/// windows (a minute, 15 minutes, an hour): a test that spends one and checks it is spent uses
/// this clock, or running across a window's edge would give it a fresh budget half-way through.
pub fn standing_clock() -> shared::clock::Clock {
    shared::clock::Clock::Fixed(std::time::SystemTime::now())
}
