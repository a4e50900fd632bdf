//! End to end: real HTTP through the local gateway, `cargo lambda watch` and the functions.

use ferrite_tests::{api_url, delivery_bound, eventually, http};

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

/// Asks for a password reset of `email` and returns the token of the link it is mailed.
async fn reset_token_by_email(email: &str) -> String {
    assert_eq!(
        post(
            "/v1/auth/password/forgot",
            &serde_json::json!({"email": email}),
            None
        )
        .await
        .status(),
        202
    );
    let (reset_mail, _) = eventually("the reset email", delivery_bound("EmailQueue"), || async {
        ferrite_tests::sent_emails(email)
            .await
            .into_iter()
            .find(|(subject, _)| subject.contains("Reset"))
    })
    .await;
    token_in(&reset_mail.1)
}

fn token_in(html: &str) -> String {
    let start = html.find("token=").expect("a link with a token") + "token=".len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%'))
        .collect()
}

async fn admin_token(state: &shared::State) -> String {
    let email = unique_email("auditor");
    let password = "violet anchor drifts north";
    post(
        "/v1/auth/register",
        &serde_json::json!({"email": email, "name": "Auditor", "password": password}),
        None,
    )
    .await;
    shared::accounts::grant_role(
        state,
        &shared::validate::Email::parse(&email).expect("email"),
        shared::auth::Role::Admin,
    )
    .await
    .expect("grant");
    let login: serde_json::Value = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": password}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    login["accessToken"].as_str().expect("token").to_owned()
}

fn stack_state() -> shared::State {
    let table = std::env::var("TABLE_NAME").expect("`make test` exports the stack's TABLE_NAME");
    let config = shared::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.clone()),
        "CURSOR_SECRET" => Some(ferrite_tests::TEST_CURSOR_SECRET.to_owned()),
        other => std::env::var(other).ok(),
    })
    .expect("config");
    shared::State::from_config(config, shared::clock::Clock::System).expect("state")
}

#[tokio::test]
async fn registering_reaches_the_audit_trail_and_the_mailbox_through_the_pumps() {
    let state = stack_state();
    let admin = admin_token(&state).await;
    let email = unique_email("events");
    let password = "violet anchor drifts north";
    let registered: serde_json::Value = post(
        "/v1/auth/register",
        &serde_json::json!({"email": email, "name": "Evie", "password": password}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let id = registered["user"]["id"].as_str().expect("id").to_owned();

    let (entry, audit_delay) =
        eventually("the audit entry", delivery_bound("AuditQueue"), || async {
            user_history(&admin, &id).await?.first().cloned()
        })
        .await;
    assert_eq!(entry["type"], "user.registered");
    eprintln!(
        "API response -> audit entry visible: {} ms",
        audit_delay.as_millis()
    );

    let (welcome, mail_delay) = eventually(
        "the welcome email",
        delivery_bound("EmailQueue"),
        || async { ferrite_tests::sent_emails(&email).await.into_iter().next() },
    )
    .await;
    eprintln!(
        "API response -> email accepted by SES: {} ms",
        mail_delay.as_millis()
    );
    let verify = post(
        "/v1/auth/email/verify",
        &serde_json::json!({"token": token_in(&welcome.1)}),
        None,
    )
    .await;
    assert_eq!(verify.status(), 204);

    // Forgot -> reset email -> reset with its token -> "password changed" email.
    let reset_token = reset_token_by_email(&email).await;
    let new_password = "quiet lanterns over the harbour";
    let reset = post(
        "/v1/auth/password/reset",
        &serde_json::json!({"token": reset_token, "newPassword": new_password}),
        None,
    )
    .await;
    assert_eq!(reset.status(), 204);
    eventually(
        "the password-changed email",
        delivery_bound("EmailQueue"),
        || async {
            ferrite_tests::sent_emails(&email)
                .await
                .into_iter()
                .find(|(subject, _)| subject.contains("was changed"))
        },
    )
    .await;
    let login = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": new_password}),
        None,
    )
    .await;
    assert_eq!(login.status(), 200);
}

async fn put(path: &str, body: &serde_json::Value, token: &str) -> reqwest::Response {
    http()
        .put(format!("{}{path}", api_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
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
    secrets.push(
        std::env::var("FERRITE_PARAM_CURSOR_SECRET").expect("`make test` exports the parameters"),
    );
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

#[tokio::test]
async fn every_email_message_is_either_sent_once_or_dead_lettered_nothing_is_lost() {
    let queue = std::env::var("EMAIL_QUEUE_URL").expect("`make test` exports the queue URLs");
    let dead_letters =
        std::env::var("EMAIL_DEAD_LETTER_QUEUE_URL").expect("`make test` exports the queue URLs");
    let sdk = infra::local_sdk_config(&ferrite_tests::endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let event = |n: usize, template: &str| {
        shared::events::Event::new(
            "user.registered",
            shared::events::Actor::system("test"),
            "user",
            &format!("count-{run}-{n}"),
            "2026-11-24T05:44:53.000Z".into(),
        )
        .email(
            template,
            &format!("count-{n}-{run}@example.com"),
            &[("name", "Ada"), ("verifyToken", "t")],
        )
    };
    // Three deliverable messages, two that can never be sent (no such template).
    let messages: Vec<(usize, bool)> =
        vec![(0, true), (1, false), (2, true), (3, false), (4, true)];
    for (n, good) in &messages {
        let template = if *good { "welcome" } else { "no-such-template" };
        sqs.send_message()
            .queue_url(&queue)
            .message_body(ferrite_tests::stream_record(&event(*n, template)))
            .send()
            .await
            .expect("send");
    }
    let (delivered, _) = eventually(
        "the deliverable emails",
        delivery_bound("EmailQueue"),
        || async {
            let mut counts = Vec::new();
            for (n, good) in &messages {
                if *good {
                    counts.push(
                        ferrite_tests::sent_emails(&format!("count-{n}-{run}@example.com"))
                            .await
                            .len(),
                    );
                }
            }
            counts.iter().all(|c| *c > 0).then_some(counts)
        },
    )
    .await;
    let dead = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let (sqs, messages, run, dead_letters, dead) = (&sqs, &messages, &run, &dead_letters, &dead);
    eventually(
        "the undeliverable messages in the DLQ",
        delivery_bound("EmailQueue"),
        || async move {
            let received = sqs
                .receive_message()
                .queue_url(dead_letters)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .ok()?;
            let mut dead = dead.lock().expect("lock");
            for message in received.messages() {
                for (n, good) in messages {
                    if !good
                        && message
                            .body()
                            .is_some_and(|b| b.contains(&format!("count-{n}-{run}@")))
                    {
                        dead.insert(*n);
                    }
                }
            }
            (dead.len() == 2).then_some(())
        },
    )
    .await;
    assert_eq!(
        delivered,
        [1, 1, 1],
        "each deliverable email sent exactly once"
    );
    let dead: Vec<usize> = dead.lock().expect("lock").iter().copied().collect();
    assert_eq!(dead, [1, 3]);
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    let queue = std::env::var("AUDIT_QUEUE_URL").expect("`make test` exports the queue URLs");
    let dead_letters =
        std::env::var("AUDIT_DEAD_LETTER_QUEUE_URL").expect("`make test` exports the queue URLs");
    let sdk = infra::local_sdk_config(&ferrite_tests::endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let marker = format!("poison-{}", ulid::Ulid::new());
    sqs.send_message()
        .queue_url(&queue)
        .message_body(format!("{{\"not\":\"{marker}\"}}"))
        .send()
        .await
        .expect("send");
    // Bounded by the queue's maxReceiveCount receives, each at most the worker's timeout.
    let (found, delay) = eventually(
        "the poison message in the DLQ",
        delivery_bound("AuditQueue"),
        || async {
            let received = sqs
                .receive_message()
                .queue_url(&dead_letters)
                .max_number_of_messages(10)
                .send()
                .await
                .ok()?;
            received
                .messages()
                .iter()
                .find(|m| m.body().is_some_and(|b| b.contains(&marker)))
                .cloned()
        },
    )
    .await;
    assert!(found.body().is_some_and(|b| b.contains(&marker)));
    eprintln!(
        "poison message dead-lettered after {} ms",
        delay.as_millis()
    );
}

#[tokio::test]
async fn the_post_journey_works_over_http_and_every_change_reaches_the_audit_trail() {
    let state = stack_state();
    let moderator = admin_token(&state).await; // an admin moderates too
    let email = unique_email("writer");
    let password = "violet anchor drifts north";
    let registered: serde_json::Value = post(
        "/v1/auth/register",
        &serde_json::json!({"email": email, "name": "Writer", "password": password}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let author = registered["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let tag = format!("e2e{}", &ulid::Ulid::new().to_string().to_lowercase()[..10]);

    let created = http()
        .post(format!("{}/v1/posts", api_url()))
        .bearer_auth(&author)
        .header("idempotency-key", format!("create-{tag}"))
        .json(&serde_json::json!({"title": "Hello, serverless", "body": "Rust on Lambda.", "tags": [tag]}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let post: serde_json::Value = created.json().await.expect("json");
    let id = post["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/v1/posts/{id}"));

    let patch = |token: String, body: serde_json::Value| {
        let id = id.clone();
        async move {
            http()
                .patch(format!("{}/v1/posts/{id}", api_url()))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(
        patch(author.clone(), serde_json::json!({"status": "published"})).await,
        200
    );
    let feed: serde_json::Value = http()
        .get(format!("{}/v1/posts?tag={tag}", api_url()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(feed["items"][0]["id"], id.as_str());
    assert_eq!(
        patch(
            author.clone(),
            serde_json::json!({"title": "Hello again", "version": 2})
        )
        .await,
        200
    );
    assert_eq!(
        patch(
            author.clone(),
            serde_json::json!({"title": "Stale", "version": 2})
        )
        .await,
        412
    );
    assert_eq!(
        patch(moderator.clone(), serde_json::json!({"status": "hidden"})).await,
        200
    );
    let anonymous = http()
        .get(format!("{}/v1/posts/{id}", api_url()))
        .send()
        .await
        .expect("request");
    assert_eq!(
        anonymous.status(),
        404,
        "hidden posts do not exist for the public"
    );
    let deleted = http()
        .delete(format!("{}/v1/posts/{id}", api_url()))
        .bearer_auth(&author)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);

    let (kinds, _) = eventually(
        "the post's audit trail",
        delivery_bound("AuditQueue"),
        || async {
            let page: serde_json::Value = http()
                .get(format!(
                    "{}/v1/audit?entityType=post&entityId={id}",
                    api_url()
                ))
                .bearer_auth(&moderator)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let kinds: Vec<String> = page["items"]
                .as_array()?
                .iter()
                .filter_map(|e| e["type"].as_str().map(str::to_owned))
                .collect();
            (kinds.len() >= 5).then_some(kinds)
        },
    )
    .await;
    assert_eq!(
        kinds,
        [
            "post.deleted",
            "post.hidden",
            "post.updated",
            "post.published",
            "post.created"
        ]
    );
}

/// A user's audit history (`GET /v1/audit?entityType=user&entityId=…`), newest first; None
/// when the API could not answer.
async fn user_history(admin: &str, user: &str) -> Option<Vec<serde_json::Value>> {
    let page: serde_json::Value = http()
        .get(format!(
            "{}/v1/audit?entityType=user&entityId={user}",
            api_url()
        ))
        .bearer_auth(admin)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    page["items"].as_array().cloned()
}

/// Audit entries of one type between two instants (`GET /v1/audit?from&to`, month by month).
async fn audit_between(
    admin: &str,
    from: std::time::SystemTime,
    to: std::time::SystemTime,
    kind: &str,
) -> Vec<serde_json::Value> {
    let (from, to) = (shared::clock::rfc3339(from), shared::clock::rfc3339(to));
    // The API answers one calendar month per query.
    let mut ranges = vec![(from.clone(), to.clone())];
    if from[..7] != to[..7] {
        ranges = vec![
            (from.clone(), format!("{}-31T23:59:59.999Z", &from[..7])),
            (format!("{}-01T00:00:00.000Z", &to[..7]), to.clone()),
        ];
    }
    let mut entries = Vec::new();
    for (from, to) in ranges {
        let mut cursor: Option<String> = None;
        loop {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("from", &from)
                .append_pair("to", &to)
                .append_pair("limit", "100");
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            let page: serde_json::Value = http()
                .get(format!("{}/v1/audit?{}", api_url(), query.finish()))
                .bearer_auth(admin)
                .send()
                .await
                .expect("audit")
                .json()
                .await
                .expect("json");
            entries.extend(
                page["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter(|e| e["type"] == kind)
                    .cloned(),
            );
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    entries
}

#[tokio::test]
async fn refused_writes_reach_neither_the_audit_trail_nor_the_mailbox() {
    let state = stack_state();
    let admin = admin_token(&state).await;
    let started = std::time::SystemTime::now();
    let password = "violet anchor drifts north";
    let register = |email: String| async move {
        post(
            "/v1/auth/register",
            &serde_json::json!({"email": email, "name": "Refused", "password": password}),
            None,
        )
        .await
    };
    let first = unique_email("refused");
    let registered: serde_json::Value = register(first.clone()).await.json().await.expect("json");
    let token = registered["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let id = registered["user"]["id"].as_str().expect("id").to_owned();
    // The same address again, in another case, right after: refused.
    assert_eq!(register(first.to_uppercase()).await.status(), 409);
    // Ten registrations of one new address at once: exactly one is accepted.
    let second = unique_email("raced");
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        racers.spawn(register(second.clone()));
    }
    let mut statuses = Vec::new();
    let mut winner = None;
    while let Some(response) = racers.join_next().await {
        let response = response.expect("task");
        statuses.push(response.status().as_u16());
        if response.status() == 201 {
            let body: serde_json::Value = response.json().await.expect("json");
            winner = Some((
                body["user"]["id"].as_str().expect("id").to_owned(),
                body["accessToken"].as_str().expect("token").to_owned(),
            ));
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let (second_id, second_token) = winner.expect("one registration won");
    // A stale version: refused.
    let outdated = http()
        .patch(format!("{}/v1/users/me", api_url()))
        .bearer_auth(&token)
        .header("if-match", "\"0\"")
        .json(&serde_json::json!({"name": "Stale"}))
        .send()
        .await
        .expect("request");
    assert_eq!(outdated.status(), 412);

    // An accepted change after every refused one, for each address: once its mail and its
    // audit entry are through, everything written before it is through too.
    for bearer in [&token, &second_token] {
        let resend = http()
            .post(format!("{}/v1/auth/email/verify/resend", api_url()))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("request");
        assert_eq!(resend.status(), 202);
    }
    for (email, user) in [(&first, &id), (&second, &second_id)] {
        eventually(
            "the resent verification mail",
            delivery_bound("EmailQueue"),
            || async {
                ferrite_tests::sent_emails(email)
                    .await
                    .into_iter()
                    .find(|(subject, _)| subject == "Confirm your email address")
            },
        )
        .await;
        eventually(
            "the resend's audit entry",
            delivery_bound("AuditQueue"),
            || async {
                user_history(&admin, user)
                    .await?
                    .into_iter()
                    .find(|e| e["type"] == "user.verification_requested")
            },
        )
        .await;
        let welcomes = ferrite_tests::sent_emails(email)
            .await
            .into_iter()
            .filter(|(subject, _)| subject.starts_with("Welcome"))
            .count();
        assert_eq!(
            welcomes, 1,
            "one welcome mail for {email}, none for a refused registration"
        );
    }
    let registrations = audit_between(
        &admin,
        started,
        std::time::SystemTime::now(),
        "user.registered",
    )
    .await;
    for (email, user) in [(&first, &id), (&second, &second_id)] {
        let audited: Vec<&str> = registrations
            .iter()
            .filter(|e| e["changes"]["email"]["after"] == **email)
            .filter_map(|e| e["entity"]["id"].as_str())
            .collect();
        assert_eq!(
            audited,
            [user.as_str()],
            "one registration audited for {email}"
        );
    }
    let history = user_history(&admin, &id).await.expect("the audit API");
    assert!(
        history.iter().all(|e| e["type"] != "user.profile_updated"),
        "the refused update left no trace: {history:?}"
    );
}

#[tokio::test]
async fn a_deleted_accounts_posts_are_purged_through_the_pipeline() {
    let state = stack_state();
    let email = unique_email("leaving");
    let password = "violet anchor drifts north";
    let registered: serde_json::Value = post(
        "/v1/auth/register",
        &serde_json::json!({"email": email, "name": "Leaving", "password": password}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let author = registered["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let id = registered["user"]["id"].as_str().expect("id").to_owned();
    for n in 0..12 {
        let created = post(
            "/v1/posts",
            &serde_json::json!({"title": format!("going {n}"), "body": "b", "tags": ["leaving"], "status": "published"}),
            Some(&author),
        )
        .await;
        assert_eq!(created.status(), 201);
    }
    let deleted = http()
        .delete(format!("{}/v1/users/me", api_url()))
        .bearer_auth(&author)
        .json(&serde_json::json!({"password": password}))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);

    // The stream carries the deletion to the purge queue; its worker deletes every post.
    let remaining = || async {
        state
            .store
            .query_page::<serde_json::Value>(
                &shared::store::KeyQuery::index(shared::store::Index::Gsi1, format!("AUTHOR#{id}")),
                &shared::store::PageRequest::first(100),
            )
            .await
            .expect("query")
            .items
            .len()
    };
    let ((), took) = eventually("the purge", delivery_bound("PurgeQueue"), || async {
        (remaining().await == 0).then_some(())
    })
    .await;
    eprintln!(
        "account deleted -> 12 posts purged: {} ms",
        took.as_millis()
    );
}
