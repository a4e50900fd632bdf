//! `GET /v1/health` — liveness and the deployed version. Touches no AWS service, so it answers
//! even when DynamoDB is unreachable; it is what a load balancer or an uptime probe calls. It
//! has no state at all: no configuration beyond log settings, no AWS client to build.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::ApiError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub version: &'static str,
}

// Every handler has the same async signature, whether or not it awaits anything.
#[allow(clippy::unused_async)]
pub async fn handle(_state: &(), _req: Request) -> Result<Response<Body>, ApiError> {
    shared::http::json(
        StatusCode::OK,
        &Health {
            status: "ok",
            version: shared::VERSION,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = include_str!("../../../tests/fixtures/apigw-v2-get-health.json");

    #[tokio::test]
    async fn health_answers_ok_with_the_version_for_a_real_api_gateway_event() {
        let req =
            lambda_http::request::from_str(EVENT).expect("fixture is a valid HTTP API v2 event");
        let response = shared::http::dispatch(&(), handle, req).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        // The fixture's requestContext.requestId is echoed back.
        assert_eq!(response.headers()["x-request-id"], "JKJaXmPLvHcESHA=");
        let Body::Text(body) = response.body() else {
            panic!("text body expected")
        };
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"status": "ok", "version": shared::VERSION})
        );
    }
}
