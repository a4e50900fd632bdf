//! End to end: real HTTP through the local gateway, `cargo lambda watch` and the functions.

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

/// A unique address per test run: the end-to-end tests share the stack's table.
fn unique_email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

async fn post(path: &str, body: &serde_json::Value, token: Option<&str>) -> reqwest::Response {
    let mut request = http().post(format!("{}{path}", api_url())).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn the_account_journey_works_over_http() {
    let email = unique_email("journey");
    let password = "violet anchor drifts north";
    let registered = post(
        "/v1/auth/register",
        &serde_json::json!({"email": email, "name": "Journey", "password": password}),
        None,
    )
    .await;
    assert_eq!(registered.status(), 201);
    let body: serde_json::Value = registered.json().await.expect("json");
    let access = body["accessToken"].as_str().expect("access").to_owned();
    let refresh = body["refreshToken"].as_str().expect("refresh").to_owned();

    let me = http()
        .get(format!("{}/v1/users/me", api_url()))
        .bearer_auth(&access)
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["etag"], "\"1\"");

    let login = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": password}),
        None,
    )
    .await;
    assert_eq!(login.status(), 200);

    let rotated = post(
        "/v1/auth/refresh",
        &serde_json::json!({"refreshToken": refresh}),
        None,
    )
    .await;
    assert_eq!(rotated.status(), 200);
    let rotated: serde_json::Value = rotated.json().await.expect("json");
    let newest = rotated["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let logout = post(
        "/v1/auth/logout",
        &serde_json::json!({"refreshToken": newest}),
        None,
    )
    .await;
    assert_eq!(logout.status(), 204);
    let after = post(
        "/v1/auth/refresh",
        &serde_json::json!({"refreshToken": newest}),
        None,
    )
    .await;
    assert_eq!(after.status(), 401);
    assert_eq!(after.headers()["content-type"], "application/problem+json");

    let wrong = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": "not it at all"}),
        None,
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let problem: serde_json::Value = wrong.json().await.expect("json");
    assert_eq!(problem["code"], "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn an_admin_reads_a_user_by_a_path_parameter_through_the_gateway() {
    // The stack's own table: the first admin is made the documented way (grant-role).
    let table = std::env::var("TABLE_NAME").expect("`make test` exports the stack's TABLE_NAME");
    let config = shared::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.clone()),
        "CURSOR_SECRET" => Some(ferrite_tests::TEST_CURSOR_SECRET.to_owned()),
        other => std::env::var(other).ok(),
    })
    .expect("config");
    let state = shared::State::from_config(config, shared::clock::Clock::System)
        .await
        .expect("state");

    let password = "violet anchor drifts north";
    let admin_email = unique_email("admin");
    let member_email = unique_email("member");
    for email in [&admin_email, &member_email] {
        let response = post(
            "/v1/auth/register",
            &serde_json::json!({"email": email, "name": "E2E", "password": password}),
            None,
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    shared::accounts::grant_role(
        &state,
        &shared::validate::Email::parse(&admin_email).expect("email"),
        shared::auth::Role::Admin,
    )
    .await
    .expect("grant");
    let login: serde_json::Value = post(
        "/v1/auth/login",
        &serde_json::json!({"email": admin_email, "password": password}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let admin = login["accessToken"].as_str().expect("token");
    let member: serde_json::Value = post(
        "/v1/auth/login",
        &serde_json::json!({"email": member_email, "password": password}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let member_id = member["user"]["id"].as_str().expect("id");

    let response = http()
        .get(format!("{}/v1/users/{member_id}", api_url()))
        .bearer_auth(admin)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let user: serde_json::Value = response.json().await.expect("json");
    assert_eq!(user["id"], member_id);
    assert_eq!(user["email"], member_email.as_str());

    let listed = http()
        .get(format!("{}/v1/users?limit=2&role=ADMIN", api_url()))
        .bearer_auth(admin)
        .send()
        .await
        .expect("request");
    assert_eq!(listed.status(), 200);

    let jwks = http()
        .get(format!("{}/.well-known/jwks.json", api_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(jwks.status(), 200);
    let keys: serde_json::Value = jwks.json().await.expect("json");
    assert_eq!(keys["keys"][0]["crv"], "Ed25519");
}
