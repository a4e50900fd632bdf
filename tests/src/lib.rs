//! Test harness: everything a test needs to run against the local stack.
//!
//! Tests talk to the real local endpoint (the moto server `make test` starts), never to an
//! in-memory fake. Each test gets its own table, created from template.yaml with a unique name,
//! so tests run in parallel without seeing each other's data.

use std::sync::OnceLock;

use infra::provision::{self, TableSpec};
use infra::template::{Context, Template};
use shared::State;
use shared::clock::Clock;
use shared::config::Config;

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

/// An HTTP client for the end-to-end tests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
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

/// One signing key set per test process (in-process handler tests sign and verify with it).
pub fn test_keys() -> &'static shared::auth::keys::KeySet {
    static KEYS: OnceLock<shared::auth::keys::KeySet> = OnceLock::new();
    KEYS.get_or_init(|| shared::auth::keys::KeySet::generate().expect("keys"))
}

fn table_spec() -> &'static TableSpec {
    static SPEC: OnceLock<TableSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let template = Template::load(&infra::template_path()).expect("template.yaml parses");
        let ctx = Context::local("test", infra::LOCAL_REGION);
        let mut specs = provision::table_specs(&template, &ctx).expect("table properties evaluate");
        assert_eq!(specs.len(), 1, "template.yaml declares one table");
        specs.remove(0)
    })
}

/// A test's own world: a fresh table with the template's layout and a `State` pointing at it.
#[derive(Debug)]
pub struct TestApp {
    pub state: State,
    pub table: String,
}

impl TestApp {
    /// Creates a uniquely named table on the local endpoint, laid out as template.yaml says.
    pub async fn spawn() -> Self {
        Self::spawn_with_clock(Clock::System).await
    }

    pub async fn spawn_with_clock(clock: Clock) -> Self {
        let endpoint = endpoint();
        let table = format!("test-{}", ulid::Ulid::new().to_string().to_lowercase());
        let sdk = infra::local_sdk_config(&endpoint).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        if let Err(error) = provision::create_table(&client, table_spec(), &table).await {
            panic!(
                "could not create a table on the local endpoint {endpoint}: {error:#}\n\
                 Is the moto server running? `make test` starts one."
            );
        }
        let config = Config::from_lookup(|name| match name {
            "TABLE_NAME" => Some(table.clone()),
            "AWS_REGION" => Some(infra::LOCAL_REGION.to_owned()),
            "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
            "CURSOR_SECRET" => Some(TEST_CURSOR_SECRET.to_owned()),
            "AWS_LAMBDA_LOG_FORMAT" => Some("Text".to_owned()),
            _ => None,
        })
        .expect("test configuration is valid");
        let mut state = State::from_config(config, clock).await.expect("test state");
        let keys = test_keys();
        state
            .auth
            .set_signer(keys.signing_key().expect("signing key"));
        state.auth.set_verifier(
            shared::auth::keys::VerifyingKeys::parse(&keys.public_keys().expect("public keys"))
                .expect("verifying keys"),
        );
        Self { state, table }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        self.state.store.client()
    }
}
