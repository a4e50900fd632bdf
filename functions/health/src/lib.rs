//! `GET /v1/health` — liveness and the deployed version. Touches no AWS service, so it answers
//! even when DynamoDB is unreachable; it is what a load balancer or an uptime probe calls.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::{ApiError, State};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

// Every handler has the same async signature, whether or not it awaits anything.
#[allow(clippy::unused_async)]
pub async fn handle(_state: &State, _req: Request) -> Result<Response<Body>, ApiError> {
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
    use shared::clock::Clock;
    use shared::config::Config;

    const EVENT: &str = include_str!("../../../tests/fixtures/apigw-v2-get-health.json");

    async fn state() -> &'static State {
        let config = Config::from_lookup(|name| {
            match name {
                "TABLE_NAME" => Some("health-test"),
                "AWS_REGION" => Some("us-east-1"),
                "CURSOR_SECRET" => Some("0123456789abcdef0123456789abcdef"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .expect("config");
        Box::leak(Box::new(
            State::from_config(config, Clock::System)
                .await
                .expect("state"),
        ))
    }

    #[tokio::test]
    async fn health_answers_ok_with_the_version_for_a_real_api_gateway_event() {
        let req =
            lambda_http::request::from_str(EVENT).expect("fixture is a valid HTTP API v2 event");
        let response = shared::http::dispatch(state().await, handle, req).await;

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
