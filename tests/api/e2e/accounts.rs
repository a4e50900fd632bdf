//! Accounts over HTTP: the whole journey, admin reads, and what reaches the logs.

use ferrite_tests::{api_url, eventually, http};

use super::{post, put, reset_token_by_email, stack_state, unique_email};

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
    let state = stack_state();

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
    ferrite_tests::grant(&state, &admin_email, shared::auth::Role::Admin).await;
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

#[tokio::test]
async fn no_password_token_hash_or_secret_reaches_the_logs_of_a_full_auth_journey() {
    let log_path =
        std::env::var("FERRITE_FUNCTIONS_LOG").expect("`make test` exports the functions log");
    let email = unique_email("secrecy");
    let (first, second, third) = (
        "violet anchor drifts north",
        "quiet lanterns over the harbour",
        "seven copper kettles singing",
    );
    let mut secrets: Vec<String> = vec![first.into(), second.into(), third.into()];
    let json =
        |r: reqwest::Response| async move { r.json::<serde_json::Value>().await.expect("json") };
    let registered = json(
        post(
            "/v1/auth/register",
            &serde_json::json!({"email": email, "name": "Secrecy", "password": first}),
            None,
        )
        .await,
    )
    .await;
    let access = registered["accessToken"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = registered["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let me = http()
        .get(format!("{}/v1/users/me", api_url()))
        .bearer_auth(&access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let rotated = json(
        post(
            "/v1/auth/refresh",
            &serde_json::json!({"refreshToken": refresh}),
            None,
        )
        .await,
    )
    .await;
    let wrong = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": "not my password at all"}),
        None,
    )
    .await;
    assert_eq!(wrong.status(), 401);
    secrets.push("not my password at all".into());
    let changed = put(
        "/v1/users/me/password",
        &serde_json::json!({"currentPassword": first, "newPassword": second}),
        rotated["accessToken"].as_str().expect("access"),
    )
    .await;
    assert_eq!(changed.status(), 204);
    let reset_token = reset_token_by_email(&email).await;
    let reset = post(
        "/v1/auth/password/reset",
        &serde_json::json!({"token": reset_token, "newPassword": third}),
        None,
    )
    .await;
    assert_eq!(reset.status(), 204);
    let login = json(
        post(
            "/v1/auth/login",
            &serde_json::json!({"email": email, "password": third}),
            None,
        )
        .await,
    )
    .await;
    let last_refresh = login["refreshToken"].as_str().expect("refresh").to_owned();
    let logout = post(
        "/v1/auth/logout",
        &serde_json::json!({"refreshToken": last_refresh}),
        None,
    )
    .await;
    assert_eq!(logout.status(), 204);
    let logout_request = logout.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();

    for token in [&access, &refresh, &last_refresh, &reset_token] {
        secrets.push(token.clone());
        secrets.push(shared::accounts::token_hash(token));
    }
    for token in [
        &rotated["accessToken"],
        &rotated["refreshToken"],
        &login["accessToken"],
    ] {
        secrets.push(token.as_str().expect("token").to_owned());
    }
    // A JWT's signature alone is enough to replay it.
    secrets.push(access.rsplit('.').next().expect("signature").to_owned());
    // The stack's cursor key, as the paginating functions read it from Secrets Manager.
    let cursor_secret = std::env::var("CURSOR_KEY_SECRET_ARN")
        .expect("`make test` exports the stack's generated secrets");
    let sdk = infra::local_sdk_config(&ferrite_tests::endpoint()).await;
    let cursor_key = aws_sdk_secretsmanager::Client::new(&sdk)
        .get_secret_value()
        .secret_id(cursor_secret)
        .send()
        .await
        .expect("the stack's cursor key");
    secrets.push(cursor_key.secret_string().expect("a string").to_owned());
    // The last request's own log line ends the journey (Lambda writes an invocation's logs
    // within the invocation, so the function's timeout bounds the wait).
    let (log, _) = eventually(
        "the logout's log line",
        ferrite_tests::function_timeout("AuthLogoutFunction"),
        || async {
            let log = std::fs::read_to_string(&log_path).expect("the functions log");
            log.contains(&logout_request).then_some(log)
        },
    )
    .await;
    assert!(
        log.contains("request handled"),
        "the log is the functions' log"
    );
    let lower = log.to_lowercase();
    for needle in ["$argon2", "authorization", "bearer "] {
        assert!(!lower.contains(needle), "the log contains {needle:?}");
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "the log contains a secret ({} characters, starting {:?})",
            secret.len(),
            secret.chars().take(4).collect::<String>()
        );
    }
}
