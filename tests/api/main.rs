#![allow(clippy::too_many_lines)] // a journey reads best as one test, top to bottom
//! One integration-test binary (faster to build and link than one per file).
//!
//! - `store`, `fixtures`: the shared crate against the local AWS endpoint (`AWS_ENDPOINT_URL`);
//! - `gateway`: the local API gateway in front of a stand-in Invoke API;
//! - `e2e`: the whole stack over HTTP (`FERRITE_API_URL`);
//! - `security`: forged tokens, the authorization matrix, hostile input, outages.

mod architecture;
mod attacks;
mod auth;
mod calls;
mod e2e;
mod events;
mod fixtures;
mod gateway;
mod iam;
mod posts;
mod security;
mod store;
mod support;
