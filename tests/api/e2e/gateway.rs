//! The gateway in front of the functions: routes, CORS, the body limit.

use ferrite_tests::{api_url, http};

#[tokio::test]
async fn health_answers_ok_through_the_whole_stack() {
    let response = http()
        .get(format!("{}/v1/health", api_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    // The function echoes the gateway's request id.
    assert_eq!(headers["x-request-id"], headers["apigw-requestid"]);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], shared::VERSION);
}

#[tokio::test]
async fn an_unknown_route_is_api_gateways_404() {
    for (method, path) in [
        ("GET", "/v1/nope"),
        ("POST", "/v1/health"),
        ("GET", "/v1/health/extra"),
    ] {
        let response = http()
            .request(
                method.parse().expect("method"),
                format!("{}{path}", api_url()),
            )
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{method} {path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body, serde_json::json!({"message": "Not Found"}));
    }
}

#[tokio::test]
async fn a_cors_preflight_from_an_allowed_origin_is_answered_by_the_gateway() {
    let response = http()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/health", api_url()))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 204);
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .expect("ascii")
            .contains("GET")
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .expect("ascii")
            .contains("authorization")
    );
    assert_eq!(headers["access-control-max-age"], "600");

    // An origin outside the template's allow-list gets no CORS headers.
    let response = http()
        .request(reqwest::Method::OPTIONS, format!("{}/v1/health", api_url()))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("request");
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );

    // A simple request from an allowed origin carries the CORS response headers.
    let response = http()
        .get(format!("{}/v1/health", api_url()))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .expect("ascii")
            .contains("x-request-id")
    );
}

#[tokio::test]
async fn a_body_over_api_gateways_10_mb_limit_is_413() {
    let body = vec![b'x'; 10 * 1024 * 1024 + 1];
    let response = http()
        .post(format!("{}/v1/health", api_url()))
        .body(body)
        .send()
        .await
        .expect("request");
    // POST /v1/health has no route: API Gateway answers 404 before reading the body.
    assert_eq!(response.status(), 404);

    let response = http()
        .get(format!("{}/v1/health", api_url()))
        .body(vec![b'x'; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
}
