//! `shared`: the common layer of every Ferrite function.
//!
//! - [`config`] — settings from the environment, validated once per cold start;
//! - [`error`] — [`ApiError`], answered as RFC 9457 problem+json;
//! - [`http`] — body parsing (413/415/400/422), parameters, response builders, the [`http::serve`] loop;
//! - [`validate`] — domain newtypes (`Email`, `Password`, …) and `garde` integration;
//! - [`store`] — the single DynamoDB table: key layout, conditional writes, optimistic locking, cursors;
//! - [`telemetry`] — JSON logs following Lambda's log controls;
//! - [`ids`], [`clock`] — time-ordered ids and injectable time.
//!
//! A function's `main.rs` is wiring only:
//!
//! ```no_run
//! # async fn handle(_: &shared::State, _: lambda_http::Request)
//! #     -> Result<lambda_http::Response<lambda_http::Body>, shared::ApiError> { unimplemented!() }
//! # async fn run() -> Result<(), lambda_http::Error> {
//! shared::http::serve(shared::State::from_env().await?, handle).await
//! # }
//! ```

pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod store;
pub mod telemetry;
pub mod validate;

pub use error::ApiError;
pub use lambda_http;

use clock::Clock;
use config::{Config, ConfigError};
use store::{CursorCodec, Store};

/// The version every function reports (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a handler needs, built once per cold start and borrowed by every request.
#[derive(Debug, Clone)]
pub struct State {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
}

impl State {
    /// Reads and validates the environment, starts logging, and builds the AWS clients.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        telemetry::init(config.log_level, config.log_format);
        Ok(Self::from_config(config, Clock::System).await)
    }

    /// Builds the state for `config` (tests use this with their own table and clock).
    pub async fn from_config(config: Config, clock: Clock) -> Self {
        let sdk = store::sdk_config(&config).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let store = Store::new(
            client,
            config.table_name.clone(),
            CursorCodec::new(config.cursor_secret.clone()),
            clock,
        );
        Self {
            config,
            store,
            clock,
        }
    }
}
