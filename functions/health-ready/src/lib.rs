//! `GET /v1/health/ready` — readiness: 200 when the table answers (one eventually consistent
//! GetItem of a key that holds nothing, projected to its key: half a read unit, no data), 503
//! problem+json with `Retry-After` when it does not (the cause logged once). Public: it tells
//! nothing but that. Liveness (`GET /v1/health`) stays free of AWS calls.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::{ApiError, State};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    pub version: &'static str,
}

/// How long a client should wait before asking again when the table does not answer.
pub const RETRY_AFTER_SECS: u64 = 5;

pub async fn handle(state: &State, _req: Request) -> Result<Response<Body>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|error| ApiError::Unavailable {
            retry_after_secs: RETRY_AFTER_SECS,
            cause: Box::new(error),
        })?;
    shared::http::json(
        StatusCode::OK,
        &Readiness {
            status: "ready",
            version: shared::VERSION,
        },
    )
}
