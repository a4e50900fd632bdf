//! `shared`: the common layer of every Ferrite function.
//!
//! - [`config`] — settings from the environment, validated once per cold start;
//! - [`error`] — [`ApiError`], answered as RFC 9457 problem+json;
//! - [`http`] — body parsing (413/415/400/422), parameters, response builders, the [`http::serve`] loop;
//! - [`validate`] — domain newtypes (`Email`, `Password`, …) and `garde` integration;
//! - [`aws`] — the SDK configuration, built for a cold start (no provider chain, Amazon roots);
//! - [`store`] — the single DynamoDB table: key layout, conditional writes, optimistic locking, cursors;
//! - [`telemetry`] — JSON logs following Lambda's log controls;
//! - [`auth`] — access tokens (EdDSA JWT), passwords (argon2id), roles, `authenticate`;
//! - [`accounts`] — registration, sessions, refresh rotation, profile and admin operations;
//! - [`limits`] — per-client limits in fixed windows, told in the `RateLimit` fields;
//! - [`events`] — the event envelope written to the outbox with every change;
//! - [`ids`], [`clock`] — time-ordered ids and injectable time.
//!
//! A function's `main.rs` is wiring only:
//!
//! ```no_run
//! # async fn handle(_: &shared::State, _: lambda_http::Request)
//! #     -> Result<lambda_http::Response<lambda_http::Body>, shared::ApiError> { unimplemented!() }
//! # async fn run() -> Result<(), lambda_http::Error> {
//! shared::http::serve(shared::State::from_env()?, handle).await
//! # }
//! ```

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
pub mod limits;
pub mod posts;
pub mod properties;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod validate;
#[cfg(feature = "worker")]
pub mod worker;

pub use error::ApiError;
pub use state::{AuthConfig, InitError, State};

/// The version every function reports (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
