//! What a dependency outage looks like to a client: 503 with Retry-After, nothing half written.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp, operation_name};
use serde_json::{Value, json};

#[tokio::test]
async fn an_unreachable_table_is_a_503_with_retry_after_and_a_generic_body() {
    // Nothing listens on port 9 (discard) on loopback: every connection is refused.
    let config = shared::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some("unreachable".to_owned()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9".to_owned()),
        "CURSOR_SECRET" => Some(ferrite_tests::TEST_CURSOR_SECRET.to_owned()),
        _ => None,
    })
    .expect("config");
    let mut state =
        shared::State::from_config(config, shared::clock::Clock::System).expect("state");
    state
        .auth
        .set_signer(ferrite_tests::test_keys().signing_key().expect("key"));
    let state: &'static shared::State = Box::leak(Box::new(state));
    let call = Call::new("POST", "/v1/auth/register")
        .json(&json!({"email": "down@example.com", "name": "Down", "password": PASSWORD}));
    let response = shared::http::dispatch(state, auth_register::handle, call.request()).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
    assert_eq!(body["status"], 503);
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.to_lowercase().contains("dispatch"),
        "the cause stays in the log: {text}"
    );
}

/// Throttles every `TransactWriteItems` as an overloaded table would: the request reaches the
/// endpoint emptied (so nothing is written, as with a real throttle) and comes back as
/// DynamoDB's `ThrottlingException` (the SDK retries it, then gives up).
#[derive(Debug, Clone, Default)]
pub(super) struct Throttle(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_dynamodb::config::Intercept for Throttle {
    fn name(&self) -> &'static str {
        "Throttle"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if operation_name(cfg) == "TransactWriteItems" {
            const EMPTY: &str = r#"{"TransactItems":[]}"#;
            let request = context.request_mut();
            *request.body_mut() = aws_smithy_types::body::SdkBody::from(EMPTY);
            request
                .headers_mut()
                .insert("content-length", EMPTY.len().to_string());
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut<'_>,
        _runtime: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if operation_name(cfg) == "TransactWriteItems" {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let response = context.response_mut();
            *response.status_mut() = 400.try_into().expect("status");
            response
                .headers_mut()
                .insert("x-amzn-errortype", "ThrottlingException");
            *response.body_mut() = aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
            );
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_throttled_table_is_a_503_with_retry_after_after_the_sdk_retries_and_nothing_is_half_written()
 {
    let throttle = Throttle::default();
    let app = TestApp::spawn_intercepted(throttle.clone()).await;
    let body = json!({"email": "busy@example.com", "name": "Busy", "password": PASSWORD});
    let response = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register").json(&body),
        )
        .await;
    assert_eq!(
        (response.status, response.code()),
        (503, "SERVICE_UNAVAILABLE"),
        "{}",
        response.body
    );
    assert!(response.header("retry-after").is_some());
    let attempts = throttle.0.load(std::sync::atomic::Ordering::SeqCst);
    assert!(attempts >= 2, "the SDK retried ({attempts} attempts)");
    // The transaction never happened: no user, no email claim, no event — only the attempt
    // counted against the source IP's registration limit, written before it.
    assert!(app.outbox().await.is_empty());
    let scan = app
        .client()
        .scan()
        .table_name(&app.table)
        .send()
        .await
        .expect("scan");
    let keys: Vec<&str> = scan
        .items()
        .iter()
        .filter_map(|item| item.get("pk").and_then(|pk| pk.as_s().ok()))
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["THROTTLE#register-ip#203.0.113.7"],
        "nothing half-written"
    );
}
