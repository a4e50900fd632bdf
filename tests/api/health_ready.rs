//! `GET /v1/health/ready`: ready when the table answers, 503 problem+json when it cannot, and
//! nothing of the table in either answer.

use ferrite_tests::{Call, TestApp};

#[tokio::test]
async fn readiness_is_200_when_the_table_answers_and_503_with_retry_after_when_it_cannot() {
    let app = TestApp::spawn().await;
    let ready = app
        .call(health_ready::handle, Call::new("GET", "/v1/health/ready"))
        .await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["version"], shared::VERSION);

    // Nothing listens on port 9 (discard) on loopback: every connection is refused.
    let config = shared::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some("unreachable".to_owned()),
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:9".to_owned()),
        _ => None,
    })
    .expect("config");
    let state: &'static shared::State = Box::leak(Box::new(
        shared::State::from_config(config, shared::clock::Clock::System).expect("state"),
    ));
    let call = Call::new("GET", "/v1/health/ready");
    let down = shared::http::dispatch(state, health_ready::handle, call.request()).await;
    assert_eq!(down.status(), 503);
    assert_eq!(down.headers()["content-type"], "application/problem+json");
    assert_eq!(
        down.headers()["retry-after"],
        health_ready::RETRY_AFTER_SECS.to_string().as_str()
    );
    let body = String::from_utf8_lossy(down.body().as_ref()).into_owned();
    assert!(
        !body.contains("127.0.0.1") && !body.contains("unreachable"),
        "{body}"
    );
}

#[tokio::test]
async fn a_table_the_function_may_not_read_is_not_ready() {
    // The template's policy is exactly GetItem: without it the probe is refused, and that is
    // a 503, not a 200.
    let app = TestApp::spawn().await;
    app.with_template(&crate::iam::template_without(
        "HealthReadyFunction",
        "dynamodb:GetItem",
    ))
    .await;
    let refused = app
        .call(health_ready::handle, Call::new("GET", "/v1/health/ready"))
        .await;
    assert_eq!(refused.status, 503, "{}", refused.body);
}
