//! Test harness: everything a test needs to run against the local stack.
//!
//! Tests talk to the real local endpoint (the moto server `make test` starts), never to an
//! in-memory fake. Each test gets its own table, created from template.yaml with a unique name,
//! so tests run in parallel without seeing each other's data.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use infra::iam::{self, Principal};
use infra::provision::{self, TableSpec};
use infra::routes::Route;
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

/// How long the local stack may take to settle a message sent to `queue` (a logical id of
/// template.yaml): derived from the queue's redrive policy and its worker's timeout
/// ([`infra::pumps::delivery_bound`]), never guessed.
pub fn delivery_bound(queue: &str) -> std::time::Duration {
    infra::pumps::delivery_bound(template(), &placeholder_ctx(), queue)
        .unwrap_or_else(|e| panic!("no delivery bound for {queue}: {e:#}"))
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
        let ctx = Context::local("test", infra::LOCAL_REGION);
        let mut specs =
            provision::table_specs(template(), &ctx).expect("table properties evaluate");
        assert_eq!(specs.len(), 1, "template.yaml declares one table");
        specs.remove(0)
    })
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| Template::load(&infra::template_path()).expect("template.yaml parses"))
}

/// The template as `sam deploy` expands it: the functions' roles and their policies.
fn expanded_template() -> &'static Template {
    static EXPANDED: OnceLock<Template> = OnceLock::new();
    EXPANDED.get_or_init(|| expand(&infra::template_path()))
}

fn expand(template: &std::path::Path) -> Template {
    iam::expanded(&infra::workspace_root(), template).unwrap_or_else(|e| {
        panic!(
            "the SAM translator expands {} (`make setup` installs it): {e:#}",
            template.display()
        )
    })
}

/// A context where every resource resolves (to its logical id unless a test says otherwise).
fn placeholder_ctx() -> Context {
    let mut ctx = Context::local("test", infra::LOCAL_REGION);
    for resource in template().resources() {
        ctx.refs.insert(
            resource.logical_id.to_owned(),
            resource.logical_id.to_owned(),
        );
    }
    for (name, definition) in template().parameters() {
        if definition.get("Default").is_none() {
            let from_stack = std::env::var(format!(
                "FERRITE_PARAM_{}",
                infra::stack::screaming_snake(name)
            ));
            ctx.parameters.insert(
                name.to_owned(),
                from_stack.unwrap_or_else(|_| "x".repeat(32)),
            );
        }
    }
    ctx
}

/// The HTTP API's routes: which function answers a call.
fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        infra::routes::routes(template(), &placeholder_ctx()).expect("routes of template.yaml")
    })
}

/// The roles of template.yaml with their policies resolved against `table` (and the stack's
/// queues), registered with the endpoint's IAM under keys of this table's own.
async fn register_roles(
    endpoint: &str,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    parameters: &[(&str, &str)],
    expanded: &Template,
) -> Vec<Principal> {
    let mut ctx = placeholder_ctx();
    for (name, value) in parameters {
        ctx.parameters
            .insert((*name).to_owned(), (*value).to_owned());
    }
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe the test table")
        .table
        .expect("a table");
    ctx.refs.insert("Table".to_owned(), table.to_owned());
    ctx.attributes.insert(
        "Table.Arn".to_owned(),
        described.table_arn.expect("table ARN"),
    );
    ctx.attributes.insert(
        "Table.StreamArn".to_owned(),
        described.latest_stream_arn.expect("stream ARN"),
    );
    for queue in template().resources_of("AWS::SQS::Queue") {
        let name = std::env::var(format!(
            "{}_URL",
            infra::stack::screaming_snake(queue.logical_id)
        ))
        .ok()
        .and_then(|url| url.rsplit('/').next().map(str::to_owned))
        .unwrap_or_else(|| format!("{table}-{}", queue.logical_id));
        ctx.attributes.insert(
            format!("{}.Arn", queue.logical_id),
            format!("arn:aws:sqs:{}:{}:{name}", ctx.region, ctx.account_id),
        );
        ctx.attributes
            .insert(format!("{}.QueueName", queue.logical_id), name);
    }
    let principals = iam::principals(&infra::workspace_root(), expanded, &ctx, table)
        .expect("the template's roles resolve");
    iam::register(endpoint, &principals)
        .await
        .expect("the local endpoint takes the roles");
    principals
}

/// A test's own world: a fresh table with the template's layout, the template's roles resolved
/// for it and registered with the endpoint's IAM, and a `State` pointing at it.
///
/// [`TestApp::call`] runs a handler as the function the template routes the call to, signing
/// with that function's role, so a handler that needs a permission its function lacks fails here
/// as it would in AWS. `state` itself signs as the operator (unrestricted): for what a test does
/// around the calls (set-up, `ferrite-admin`'s operations, reading the table).
#[derive(Debug)]
pub struct TestApp {
    /// Leaked: handlers borrow the state for `'static`, as they do in a Lambda process.
    pub state: &'static State,
    pub table: String,
    roles: Mutex<Vec<Principal>>,
    as_role: Mutex<HashMap<String, &'static State>>,
}

impl TestApp {
    /// Creates a uniquely named table on the local endpoint, laid out as template.yaml says.
    pub async fn spawn() -> Self {
        Self::spawn_with_clock(Clock::System).await
    }

    /// Like [`spawn`](Self::spawn), with every DynamoDB operation recorded in `calls`.
    pub async fn spawn_counting() -> (Self, CallLog) {
        Self::spawn_counting_with(&[]).await
    }

    /// [`spawn_counting`](Self::spawn_counting) with `settings` (as [`spawn_with`](Self::spawn_with)).
    pub async fn spawn_counting_with(settings: &[(&str, &str)]) -> (Self, CallLog) {
        let log = CallLog::default();
        (
            Self::spawn_intercepted_with(log.clone(), settings).await,
            log,
        )
    }

    /// Like [`spawn`](Self::spawn), with `interceptor` on the DynamoDB client (to watch or to
    /// alter what the SDK sends and receives).
    pub async fn spawn_intercepted(
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
    ) -> Self {
        Self::spawn_intercepted_with(interceptor, &[]).await
    }

    async fn spawn_intercepted_with(
        interceptor: impl aws_sdk_dynamodb::config::Intercept + 'static,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut app = Self::spawn_with(Clock::System, settings).await;
        let sdk = infra::local_sdk_config(&endpoint()).await;
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(interceptor)
            .build();
        let mut state = app.state.clone();
        app.as_role = Mutex::default();
        state.store = shared::store::Store::new(
            aws_sdk_dynamodb::Client::from_conf(config),
            app.table.clone(),
            shared::store::CursorCodec::new(shared::config::Secret::new(
                TEST_CURSOR_SECRET.as_bytes().to_vec(),
            )),
            Clock::System,
        );
        app.state = Box::leak(Box::new(state));
        app
    }

    pub async fn spawn_with_clock(clock: Clock) -> Self {
        Self::spawn_with(clock, &[]).await
    }

    /// A test world whose configuration adds `settings` (environment variable, value).
    pub async fn spawn_with(clock: Clock, settings: &[(&str, &str)]) -> Self {
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
            other => settings
                .iter()
                .find(|(k, _)| *k == other)
                .map(|(_, v)| (*v).to_owned()),
        })
        .expect("test configuration is valid");
        let mut state = State::from_config(config, clock).expect("test state");
        let keys = test_keys();
        state
            .auth
            .set_signer(keys.signing_key().expect("signing key"));
        state.auth.set_verifier(
            shared::auth::keys::VerifyingKeys::parse(&keys.public_keys().expect("public keys"))
                .expect("verifying keys"),
        );
        let roles = register_roles(&endpoint, &client, &table, &[], expanded_template()).await;
        Self {
            state: Box::leak(Box::new(state)),
            table,
            roles: Mutex::new(roles),
            as_role: Mutex::default(),
        }
    }

    /// Resolves the roles again with template parameters overridden (e.g. `EmailSender`, which
    /// the email worker's policy names), as a stack deployed with those values would have them.
    pub async fn with_parameters(&self, parameters: &[(&str, &str)]) {
        let roles = register_roles(
            &endpoint(),
            self.client(),
            &self.table,
            parameters,
            expanded_template(),
        )
        .await;
        *self.roles.lock().expect("lock") = roles;
    }

    /// Resolves the roles from another template (a changed copy of template.yaml), as a stack
    /// deployed from it would have them.
    pub async fn with_template(&self, template: &std::path::Path) {
        let roles = register_roles(
            &endpoint(),
            self.client(),
            &self.table,
            &[],
            &expand(template),
        )
        .await;
        *self.roles.lock().expect("lock") = roles;
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        self.state.store.client()
    }

    /// The state of the template's function `function` (its logical id): this app's state,
    /// with its AWS clients signing as the function's role.
    pub fn state_of(&self, function: &str) -> &'static State {
        if let Some(state) = self.as_role.lock().expect("lock").get(function) {
            return state;
        }
        let key = iam::for_user(&self.roles.lock().expect("lock"), function)
            .unwrap_or_else(|| panic!("{function} is not a function of template.yaml"))
            .access_key_id
            .clone();
        let credentials =
            aws_credential_types::Credentials::new(key, iam::LOCAL_SECRET, None, None, "test-role");
        let base = self.state;
        let sdk = base
            .sdk_config()
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials.clone()),
            )
            .build();
        let mut state =
            State::from_sdk(base.config.clone(), sdk, base.clock).expect("the role's state");
        state.auth = base.auth.clone();
        // The store's own client keeps the test's interceptors, if any.
        let store_config = base
            .store
            .client()
            .config()
            .to_builder()
            .credentials_provider(credentials)
            .build();
        state.store = shared::store::Store::new(
            aws_sdk_dynamodb::Client::from_conf(store_config),
            base.store.table(),
            shared::store::CursorCodec::new(base.config.cursor_secret.clone()),
            base.store.clock(),
        );
        let state: &'static State = Box::leak(Box::new(state));
        self.as_role
            .lock()
            .expect("lock")
            .insert(function.to_owned(), state);
        state
    }

    /// The same world (table, roles, interceptors) seen by a clock that says `clock`: requests
    /// made through it happen at that instant (a post published three years ago).
    #[must_use]
    pub fn at(&self, clock: Clock) -> Self {
        let base = self.state;
        let mut state = State::from_sdk(base.config.clone(), base.sdk_config().clone(), clock)
            .expect("the state at another instant");
        state.auth = base.auth.clone();
        state.store = shared::store::Store::new(
            base.store.client().clone(),
            base.store.table(),
            shared::store::CursorCodec::new(base.config.cursor_secret.clone()),
            clock,
        );
        Self {
            state: Box::leak(Box::new(state)),
            table: self.table.clone(),
            roles: Mutex::new(self.roles.lock().expect("lock").clone()),
            as_role: Mutex::default(),
        }
    }

    /// The state of the function the template routes `call` to.
    pub fn state_for(&self, call: &Call) -> &'static State {
        let route = routes()
            .iter()
            .find(|r| r.method.as_deref() == Some(call.method()) && r.path == call.route())
            .unwrap_or_else(|| {
                panic!(
                    "template.yaml has no route {} {}",
                    call.method(),
                    call.route()
                )
            });
        self.state_of(&route.function)
    }
}

/// A response of an in-process call.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `code` of a problem+json body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

/// Builds the API Gateway HTTP API (payload v2) event of a request, as the gateway would.
#[derive(Debug, Clone)]
pub struct Call {
    method: String,
    path: String,
    route: String,
    path_parameters: serde_json::Map<String, serde_json::Value>,
    query: Vec<(String, String)>,
    headers: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
    source_ip: String,
}

impl Call {
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The template's path of the route (`/v1/users/{id}`).
    pub fn route(&self) -> &str {
        &self.route
    }

    /// `route` is the template's path (`/v1/users/{id}`); parameters fill it.
    pub fn new(method: &str, route: &str) -> Self {
        Self {
            method: method.to_owned(),
            path: route.to_owned(),
            route: route.to_owned(),
            path_parameters: serde_json::Map::new(),
            query: Vec::new(),
            headers: serde_json::Map::new(),
            body: None,
            source_ip: "203.0.113.7".to_owned(),
        }
    }

    #[must_use]
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.path = self.path.replace(&format!("{{{name}}}"), value);
        self.path_parameters.insert(name.to_owned(), value.into());
        self
    }

    #[must_use]
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    #[must_use]
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", "application/json")
    }

    #[must_use]
    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    #[must_use]
    pub fn from_ip(mut self, ip: &str) -> Self {
        ip.clone_into(&mut self.source_ip);
        self
    }

    /// The payload v2 event as `lambda_http` hands it to a handler.
    pub fn request(&self) -> lambda_http::Request {
        let route_key = format!("{} {}", self.method, self.route);
        let raw_query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        // API Gateway joins the values of a repeated parameter with commas.
        let mut query = serde_json::Map::new();
        for (k, v) in &self.query {
            let joined = match query.get(k).and_then(serde_json::Value::as_str) {
                Some(before) => format!("{before},{v}"),
                None => v.clone(),
            };
            query.insert(k.clone(), joined.into());
        }
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": raw_query.join("&"),
            "headers": self.headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "test", "domainName": "test.local",
                "domainPrefix": "test", "stage": "$default", "routeKey": route_key,
                "requestId": ulid::Ulid::new().to_string(),
                "time": "24/Nov/2026:05:44:53 +0000", "timeEpoch": 1_795_499_093_000_u64,
                "http": { "method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                          "sourceIp": self.source_ip, "userAgent": "ferrite-tests" }
            },
            "isBase64Encoded": false
        });
        if !self.path_parameters.is_empty() {
            event["pathParameters"] = self.path_parameters.clone().into();
        }
        if !query.is_empty() {
            event["queryStringParameters"] = query.into();
        }
        if let Some(body) = &self.body {
            event["body"] = body.clone().into();
        }
        lambda_http::request::from_str(&event.to_string()).expect("a valid payload v2 event")
    }
}

impl TestApp {
    /// Runs `handler` in-process on `call`, exactly as the Lambda loop would, as the function
    /// the template routes the call to (signing with that function's role).
    pub async fn call<F, Fut>(&self, handler: F, call: Call) -> TestResponse
    where
        F: Fn(&'static State, lambda_http::Request) -> Fut,
        Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, shared::ApiError>>,
    {
        let state = self.state_for(&call);
        let response = shared::http::dispatch(state, handler, call.request()).await;
        let (parts, body) = response.into_parts();
        let bytes: &[u8] = body.as_ref();
        let json = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else if json {
            serde_json::from_slice(bytes).expect("a JSON body, as its content type says")
        } else {
            // HTML or a script (the docs): kept as text.
            serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())
        };
        TestResponse {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// Runs `handler` on every one of `calls` at once, each as its own request handled by the
    /// function the template routes it to (the handlers interleave at every DynamoDB call, as
    /// parallel Lambda instances would): their statuses, sorted.
    pub async fn statuses_at_once<F, Fut>(&self, handler: F, calls: Vec<Call>) -> Vec<u16>
    where
        F: Fn(&'static State, lambda_http::Request) -> Fut + Copy + Send + 'static,
        Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, shared::ApiError>>
            + Send,
    {
        let mut tasks = tokio::task::JoinSet::new();
        for call in calls {
            let state = self.state_for(&call);
            tasks.spawn(async move {
                shared::http::dispatch(state, handler, call.request())
                    .await
                    .status()
                    .as_u16()
            });
        }
        let mut statuses = Vec::new();
        while let Some(status) = tasks.join_next().await {
            statuses.push(status.expect("task"));
        }
        statuses.sort_unstable();
        statuses
    }

    /// Every outbox event in this test's table, oldest first.
    pub async fn outbox(&self) -> Vec<shared::events::Event> {
        let items = self
            .client()
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S("OUTBOX#".into()),
            )
            .send()
            .await
            .expect("scan")
            .items
            .unwrap_or_default();
        let mut events: Vec<shared::events::Event> = items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, shared::events::OutboxItem>(item)
                    .expect("outbox item")
                    .event
            })
            .collect();
        events.sort_by_key(|e| e.id.to_string());
        events
    }

    /// The token of the link the newest event of `kind` asks its email to carry, minted as the
    /// email worker mints it when it sends (the token is nowhere on the pipeline).
    pub async fn link_token(&self, kind: &str) -> String {
        let event = self
            .last_event(kind)
            .await
            .unwrap_or_else(|| panic!("no {kind} event"));
        let link = event
            .email
            .and_then(|email| email.link)
            .unwrap_or_else(|| panic!("the {kind} email asks for no link"));
        shared::accounts::mint_link(self.state_of("WorkerEmailFunction"), &link)
            .await
            .expect("the email worker mints the link")
            .unwrap_or_else(|| panic!("the {kind} link was void"))
    }

    /// The newest outbox event of `kind`.
    pub async fn last_event(&self, kind: &str) -> Option<shared::events::Event> {
        self.outbox()
            .await
            .into_iter()
            .rev()
            .find(|e| e.kind == kind)
    }
}

/// An SQS event, in the shape of the committed fixture, whose records carry `bodies`.
pub fn sqs_event(bodies: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    let fixture =
        std::fs::read_to_string(infra::workspace_root().join("tests/fixtures/sqs-event.json"))
            .expect("fixture");
    let mut event: serde_json::Value = serde_json::from_str(&fixture).expect("json");
    let template = event["Records"][0].clone();
    event["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record["messageId"] = format!("message-{i}").into();
            record["body"] = body.clone().into();
            record
        })
        .collect::<Vec<_>>()
        .into();
    serde_json::from_value(event).expect("an SQS event")
}

/// The DynamoDB stream record (as EventBridge Pipes forwards it) of an outbox event.
pub fn stream_record(event: &shared::events::Event) -> String {
    let key = shared::events::OutboxItem::key(event.id);
    let item = shared::events::OutboxItem {
        pk: key.pk,
        sk: key.sk,
        event: event.clone(),
        expires_at: 0,
    };
    let image: serde_dynamo::Item = serde_dynamo::to_item(&item).expect("image");
    serde_json::json!({
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": { "NewImage": image, "StreamViewType": "NEW_AND_OLD_IMAGES" },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2026-11-24T00:00:00.000"
    })
    .to_string()
}

/// Emails the local SES has accepted for `to`: `(subject, html body)`.
pub async fn sent_emails(to: &str) -> Vec<(String, String)> {
    let data: serde_json::Value = http()
        .get(format!(
            "{}/_ferrite/ses/messages?{}",
            endpoint(),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("to", to)
                .finish()
        ))
        .send()
        .await
        .expect("the local endpoint's mailbox")
        .json()
        .await
        .expect("json");
    data["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|m| {
                    (
                        m["subject"].as_str().unwrap_or_default().to_owned(),
                        m["body"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The name of the operation an SDK interceptor is looking at (`TransactWriteItems`, …).
pub fn operation_name(cfg: &aws_sdk_dynamodb::config::ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
        .map_or_else(|| "unknown operation".to_owned(), |m| m.name().to_owned())
}

/// Records the name of every DynamoDB operation a client sends (an SDK interceptor).
#[derive(Debug, Clone, Default)]
pub struct CallLog(std::sync::Arc<Mutex<Vec<String>>>);

impl CallLog {
    /// The operations since the last call, in order; clears the log.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("lock"))
    }
}

impl aws_sdk_dynamodb::config::Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_serialization(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<
            '_,
        >,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.lock().expect("lock").push(operation_name(cfg));
        Ok(())
    }
}
