//! `shared`: the common layer of every Ferrite function.
//!
//! Its modules form a one-way stack (each uses only the layers below its own; the stack is
//! written down once and checked in `tests/api/architecture.rs`), top layer first:
//!
//! - [`audit`] — the audit trail; [`live`] — WebSocket connections and the pushes on them; `worker` (feature `worker`) — the SQS worker contract and `worker::serve`;
//! - [`posts`] — posts, feeds, the purge of a deleted author's posts; [`properties`] — the
//!   property registry (properties, units, leases, owners, transfers, history);
//! - [`accounts`] — the principal (`authenticate`, `require_role`), registration, sessions and
//!   refresh rotation, recovery, one's own account, admin;
//! - [`events`] — the event envelope written to the outbox with every change; [`limits`] —
//!   per-client limits in fixed windows, told in the `RateLimit` fields;
//! - [`http`] — body parsing (413/415/400/422), parameters, responses, the [`http::serve`] loop;
//!   [`state`] — [`State`], built once per cold start;
//! - [`store`] — the single DynamoDB table: key layout, conditional writes, optimistic locking,
//!   cursors; [`auth`] — access tokens (EdDSA JWT), keys, passwords (argon2id), roles;
//! - [`validate`] — domain newtypes (`Email`, `Password`, …), each read and checked as a request is deserialised; [`aws`] —
//!   the SDK configuration, built for a cold start; [`telemetry`] — JSON logs and EMF metrics;
//! - [`secrets`] — keys kept in Secrets Manager, read on a function's first request, never at init;
//! - [`error`] — [`ApiError`], answered as RFC 9457 problem+json; [`ids`], [`clock`] —
//!   time-ordered ids and injectable time; [`config`] — settings from the environment.
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
pub mod live;
pub mod notices;
pub mod notifications;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod posts;
pub mod properties;
#[cfg(feature = "sealing")]
pub mod sealing;
pub mod secrets;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod validate;
#[cfg(feature = "webhooks")]
pub mod webhooks;
#[cfg(feature = "worker")]
pub mod worker;

pub use error::ApiError;
pub use state::{AuthConfig, State};

/// The version every function reports (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
