//! [`TestApp`]: a test's own world, and the state of each function's role in it.

use std::collections::HashMap;
use std::sync::Mutex;

use infra::iam::{self, Principal};
use infra::provision::{self};
use shared::State;
use shared::clock::Clock;
use shared::config::Config;

use crate::TEST_CURSOR_SECRET;
use crate::call::Call;
use crate::call_log::CallLog;
use crate::endpoint;
use crate::world::expand;
use crate::world::expanded_template;
use crate::world::register_roles;
use crate::world::routes;
use crate::world::table_spec;
use crate::world::test_keys;

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
    /// The ARN of the key that seals second factors (`MfaKey`) on the endpoint.
    mfa_key: Option<String>,
    /// Records the KMS calls of the functions' sealers too (a counting app's log).
    kms_log: Option<CallLog>,
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
        let mut app = Self::spawn_intercepted_with(log.clone(), settings).await;
        app.kms_log = Some(log.clone());
        (app, log)
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
            "DOCUMENTS_BUCKET_NAME" => Some(crate::world::documents_bucket_name()),
            other => settings
                .iter()
                .find(|(k, _)| *k == other)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| match other {
                    // The local endpoint's stand-in issuers (`/_ferrite/oidc/<provider>`).
                    "OIDC_GOOGLE_ISSUER" => Some(crate::oidc::issuer(&endpoint, "google")),
                    "OIDC_APPLE_ISSUER" => Some(crate::oidc::issuer(&endpoint, "apple")),
                    "OIDC_GENERIC_ISSUER" => Some(crate::oidc::issuer(&endpoint, "oidc")),
                    "OIDC_GOOGLE_CLIENT_IDS"
                    | "OIDC_APPLE_CLIENT_IDS"
                    | "OIDC_GENERIC_CLIENT_IDS" => Some(crate::oidc::CLIENT_ID.to_owned()),
                    _ => None,
                }),
        })
        .expect("test configuration is valid");
        let mut state = State::from_config(config, clock)
            .expect("test state")
            .with_oidc();
        let keys = test_keys();
        state
            .auth
            .set_signer(keys.signing_key().expect("signing key"));
        state.auth.set_verifier(
            shared::auth::keys::VerifyingKeys::parse(&keys.public_keys().expect("public keys"))
                .expect("verifying keys"),
        );
        let roles = register_roles(&endpoint, &client, &table, &[], &[], expanded_template()).await;
        Self {
            state: Box::leak(Box::new(state)),
            table,
            roles: Mutex::new(roles),
            as_role: Mutex::default(),
            mfa_key: Some(crate::world::key_arn(&endpoint, "MfaKey").await),
            kms_log: None,
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
            &[],
            expanded_template(),
        )
        .await;
        *self.roles.lock().expect("lock") = roles;
    }

    /// Resolves the roles again with the test's own copies of the template's queues `queues`
    /// (`<table>-<LogicalId>`) instead of the running stack's: a test that drives a queue
    /// itself, where the stack's workers would take its messages. Before the functions' states
    /// are first asked for.
    pub async fn with_own_queues(&self, queues: &[&str]) {
        let roles = register_roles(
            &endpoint(),
            self.client(),
            &self.table,
            &[],
            queues,
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
            &[],
            &expand(template),
        )
        .await;
        *self.roles.lock().expect("lock") = roles;
    }

    /// The template's roles as registered with the endpoint's IAM for this app's table.
    pub fn principals(&self) -> Vec<Principal> {
        self.roles.lock().expect("lock").clone()
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
        state.set_oidc(base.oidc_shared());
        // The store's own client keeps the test's interceptors, if any.
        let store_config = base
            .store
            .client()
            .config()
            .to_builder()
            .credentials_provider(credentials)
            .build();
        // Only the functions the template gives the cursor key (CURSOR_SECRET_ID) can issue and
        // read cursors, as in AWS.
        let cursors = match (
            &base.config.cursor_secret,
            crate::world::reads_cursor_key(function),
        ) {
            (Some(key), true) => shared::store::CursorCodec::new(key.clone()),
            _ => shared::store::CursorCodec::unkeyed(),
        };
        state.store = shared::store::Store::new(
            aws_sdk_dynamodb::Client::from_conf(store_config),
            base.store.table(),
            cursors,
            base.store.clock(),
        );
        // Only the functions the template gives the second factors' key (MFA_KEY_ARN) seal
        // and open them, signing as their role (the local IAM holds them to their kms: actions).
        if crate::world::seals_factors(function) {
            let key = self
                .mfa_key
                .clone()
                .expect("the test world has the key that seals second factors");
            let sealer = match &self.kms_log {
                Some(log) => shared::sealing::Sealer::with_client(
                    aws_sdk_kms::Client::from_conf(
                        aws_sdk_kms::config::Builder::from(state.sdk_config())
                            .interceptor(log.clone())
                            .build(),
                    ),
                    key,
                ),
                None => shared::sealing::Sealer::on_first_use(state.sdk_config().clone(), key),
            };
            state.set_sealer(Some(sealer));
        }
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
        state.set_oidc(base.oidc_shared());
        state.store = shared::store::Store::new(
            base.store.client().clone(),
            base.store.table(),
            base.config.cursor_secret.clone().map_or_else(
                shared::store::CursorCodec::unkeyed,
                shared::store::CursorCodec::new,
            ),
            clock,
        );
        Self {
            state: Box::leak(Box::new(state)),
            table: self.table.clone(),
            roles: Mutex::new(self.roles.lock().expect("lock").clone()),
            as_role: Mutex::default(),
            mfa_key: self.mfa_key.clone(),
            kms_log: self.kms_log.clone(),
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
