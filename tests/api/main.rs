#![allow(clippy::too_many_lines)] // a journey reads best as one test, top to bottom
//! One integration-test binary (faster to build and link than one per file); the helpers live in
//! the `ferrite_tests` library (`tests/src`). Every module, by what it exercises:
//!
//! - `architecture`: the workspace's shape — function crates alone, `shared`'s one-way stack;
//! - `store`, `fixtures`: the shared crate against the local AWS endpoint, real event shapes;
//! - `auth`: accounts in-process — registration, sessions, one's own account and its email change,
//!   the admin routes;
//! - `posts`: posts in-process — visibility, feeds, concurrency, idempotency;
//! - `properties`: the property registry — unique file numbers, transfers, the history, owners;
//! - `users_profile`, `limits`: public profiles, the per-client limits and their `RateLimit`
//!   fields;
//! - `events`: the workers in-process on real SQS events;
//! - `cold_start`: every function binary asks for its first event before any AWS call;
//! - `calls`: the DynamoDB operations each endpoint makes (the call-count table of docs/architecture.md);
//! - `iam`: every function held to its policy in template.yaml;
//! - `gateway`: the local API gateway in front of a stand-in Invoke API;
//! - `security`: the authorization matrix, forged tokens, hostile input, outages;
//! - `attacks`: the findings of the independent attack run, each as the test that catches it;
//! - `e2e`: the whole stack over HTTP (`FERRITE_API_URL`) — gateway, accounts, posts, pipeline.

mod architecture;
mod attacks;
mod auth;
mod calls;
mod cold_start;
mod e2e;
mod events;
mod fixtures;
mod gateway;
mod health_ready;
mod iam;
mod keys;
mod limits;
mod live;
mod notifications;
mod operations;
mod posts;
mod properties;
mod security;
mod store;
mod users_profile;
mod webhooks;
