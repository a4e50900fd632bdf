//! Security: forged tokens on every authenticated route, the authorization matrix as data,
//! hostile input, and what a dependency outage looks like to a client.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferrite_tests::{Call, TestApp, TestResponse, operation_name};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::auth::jwt::{self, TokenSettings};

use crate::support::{PASSWORD, user};

/// Runs `call` through the handler that serves `route` in template.yaml: the routing table of
/// these tests, as data.
async fn invoke(app: &TestApp, call: Call) -> TestResponse {
    let route = format!("{} {}", call.method(), call.route());
    match route.as_str() {
        "GET /v1/health" => app.call(|_, req| health::handle(&(), req), call).await,
        "GET /v1/openapi.json" | "GET /v1/docs" | "GET /v1/docs/redoc.standalone.js" => {
            app.call(|_, req| api_docs::handle(&(), req), call).await
        }
        "GET /.well-known/jwks.json" => {
            app.call(
                |state, req| jwks::handle(state.auth.verifier().expect("keys"), req),
                call,
            )
            .await
        }
        "GET /v1/users/me" => app.call(users_me_get::handle, call).await,
        "PATCH /v1/users/me" => app.call(users_me_patch::handle, call).await,
        "DELETE /v1/users/me" => app.call(users_me_delete::handle, call).await,
        "PUT /v1/users/me/password" => app.call(users_me_password::handle, call).await,
        "GET /v1/users/me/posts" => app.call(users_me_posts::handle, call).await,
        "GET /v1/users" => app.call(users_list::handle, call).await,
        "GET /v1/users/{id}" => app.call(users_get::handle, call).await,
        "PATCH /v1/users/{id}" => app.call(users_patch::handle, call).await,
        "DELETE /v1/users/{id}" => app.call(users_delete::handle, call).await,
        "GET /v1/users/{id}/posts" => app.call(users_posts::handle, call).await,
        "GET /v1/audit" => app.call(audit_list::handle, call).await,
        "POST /v1/posts" => app.call(posts_create::handle, call).await,
        "GET /v1/posts" => app.call(posts_list::handle, call).await,
        "GET /v1/posts/{id}" => app.call(posts_get::handle, call).await,
        "PATCH /v1/posts/{id}" => app.call(posts_patch::handle, call).await,
        "DELETE /v1/posts/{id}" => app.call(posts_delete::handle, call).await,
        "POST /v1/auth/register" => app.call(auth_register::handle, call).await,
        "POST /v1/auth/login" => app.call(auth_login::handle, call).await,
        "POST /v1/auth/refresh" => app.call(auth_refresh::handle, call).await,
        "POST /v1/auth/logout" => app.call(auth_logout::handle, call).await,
        "POST /v1/auth/password/forgot" => app.call(auth_password_forgot::handle, call).await,
        "POST /v1/auth/password/reset" => app.call(auth_password_reset::handle, call).await,
        "POST /v1/auth/email/verify" => app.call(auth_email_verify::handle, call).await,
        "POST /v1/auth/email/verify/resend" => {
            app.call(auth_email_verify_resend::handle, call).await
        }
        other => panic!("no handler for {other} in the test routing table"),
    }
}

async fn create_post(app: &TestApp, token: &str, status: &str) -> String {
    let response = invoke(
        app,
        Call::new("POST", "/v1/posts")
            .bearer(token)
            .json(&json!({"title": "Mine", "body": "text", "status": status})),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.body);
    response.body["id"].as_str().expect("id").to_owned()
}

/// Who asks.
const WHO: [&str; 5] = ["anonymous", "owner", "other user", "moderator", "admin"];

#[tokio::test]
async fn the_authorization_matrix_holds_for_every_route_and_every_kind_of_caller() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = user(&app, "owner@example.com", None).await;
    let (other, _) = user(&app, "other@example.com", None).await;
    let (moderator, _) = user(&app, "mod@example.com", Some(Role::Moderator)).await;
    let (admin, _) = user(&app, "admin@example.com", Some(Role::Admin)).await;
    let tokens = [
        None,
        Some(&owner),
        Some(&other),
        Some(&moderator),
        Some(&admin),
    ];
    let draft = create_post(&app, &owner, "draft").await;
    let published = create_post(&app, &owner, "published").await;

    // (request, expected status for [anonymous, owner, other user, moderator, admin]);
    // `0` = not tried here (it would change what the next rows see; dedicated tests cover it).
    let rows: Vec<(Call, [u16; 5])> = vec![
        (Call::new("GET", "/v1/health"), [200; 5]),
        (Call::new("GET", "/.well-known/jwks.json"), [200; 5]),
        (Call::new("GET", "/v1/openapi.json"), [200; 5]),
        (Call::new("GET", "/v1/docs"), [200; 5]),
        (Call::new("GET", "/v1/docs/redoc.standalone.js"), [200; 5]),
        (Call::new("GET", "/v1/users/me"), [401, 200, 200, 200, 200]),
        (
            Call::new("PATCH", "/v1/users/me").json(&json!({"name": "Renamed"})),
            [401, 200, 200, 200, 200],
        ),
        (
            Call::new("GET", "/v1/users/me/posts"),
            [401, 200, 200, 200, 200],
        ),
        (Call::new("GET", "/v1/users"), [401, 403, 403, 403, 200]),
        (
            Call::new("GET", "/v1/users/{id}").param("id", &owner_id),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &owner_id)
                .json(&json!({"roles": ["USER"]})),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("GET", "/v1/audit")
                .query("entityType", "user")
                .query("entityId", &owner_id),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("GET", "/v1/users/{id}/posts").param("id", &owner_id),
            [200; 5],
        ),
        (Call::new("GET", "/v1/posts"), [200; 5]),
        (
            Call::new("GET", "/v1/posts/{id}").param("id", &published),
            [200; 5],
        ),
        (
            Call::new("GET", "/v1/posts/{id}").param("id", &draft),
            [404, 200, 404, 200, 200],
        ),
        (
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &draft)
                .json(&json!({"title": "Edited"})),
            [401, 200, 404, 403, 403],
        ),
        (
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &published)
                .json(&json!({"title": "Edited"})),
            [401, 200, 403, 403, 403],
        ),
        (
            Call::new("POST", "/v1/posts").json(&json!({"title": "T", "body": "B"})),
            [401, 201, 201, 201, 201],
        ),
        (
            Call::new("DELETE", "/v1/posts/{id}").param("id", &draft),
            [401, 0, 404, 0, 0],
        ),
        (
            Call::new("DELETE", "/v1/posts/{id}").param("id", &published),
            [401, 0, 403, 0, 0],
        ),
        (
            Call::new("DELETE", "/v1/users/{id}").param("id", &owner_id),
            [401, 403, 403, 403, 0],
        ),
        // The account routes that need the password refuse a wrong one (a field error), whoever asks.
        (
            Call::new("DELETE", "/v1/users/me").json(&json!({"password": "not the password"})),
            [401, 422, 422, 422, 422],
        ),
        (
            Call::new("PUT", "/v1/users/me/password").json(
                &json!({"currentPassword": "not the password", "newPassword": "quiet lanterns over the harbour"}),
            ),
            [401, 422, 422, 422, 422],
        ),
        (
            Call::new("POST", "/v1/auth/email/verify/resend"),
            [401, 202, 202, 202, 202],
        ),
        // Public routes: a bearer token neither helps nor hurts.
        (
            Call::new("POST", "/v1/auth/register").json(
                &json!({"email": "newcomer@example.com", "name": "New", "password": PASSWORD}),
            ),
            [201, 409, 409, 409, 409],
        ),
        (
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "stranger@example.com", "password": "not the password"})),
            [401; 5],
        ),
        (
            Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": "forged"})),
            [401; 5],
        ),
        (
            Call::new("POST", "/v1/auth/logout").json(&json!({"refreshToken": "forged"})),
            [204; 5],
        ),
        (
            Call::new("POST", "/v1/auth/password/forgot")
                .json(&json!({"email": "nobody@example.com"})),
            [202; 5],
        ),
        (
            Call::new("POST", "/v1/auth/password/reset")
                .json(&json!({"token": "forged", "newPassword": "quiet lanterns over the harbour"})),
            [400; 5],
        ),
        (
            Call::new("POST", "/v1/auth/email/verify").json(&json!({"token": "forged"})),
            [400; 5],
        ),
    ];

    // Every route of the API is in the matrix.
    let covered: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|(call, _)| (call.method().to_owned(), call.route().to_owned()))
        .collect();
    let every: std::collections::BTreeSet<(String, String)> =
        api_spec::operations().into_iter().collect();
    assert_eq!(
        every.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from the matrix"
    );

    let mut wrong = Vec::new();
    for (call, expected) in rows {
        for ((who, token), want) in WHO.iter().zip(tokens).zip(expected) {
            if want == 0 {
                continue;
            }
            let call = match token {
                Some(token) => call.clone().bearer(token),
                None => call.clone(),
            };
            let response = invoke(&app, call.clone()).await;
            if response.header("x-content-type-options") != Some("nosniff")
                || response.header("cache-control").is_none()
                || response.header("x-request-id").is_none()
            {
                wrong.push(format!(
                    "{} {} as {who}: security headers missing",
                    call.method(),
                    call.route()
                ));
            }
            if response.status != want {
                wrong.push(format!(
                    "{} {} as {who}: {} (expected {want}) {}",
                    call.method(),
                    call.route(),
                    response.status,
                    response.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        .try_into()
        .expect("seconds fit")
}

/// Signs `header.claims` with HMAC-SHA256 under `secret`, by hand.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use hmac::Mac as _;
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

#[tokio::test]
async fn forged_expired_misdirected_and_revoked_tokens_get_401_on_every_authenticated_route() {
    let app = TestApp::spawn().await;
    let (victim, victim_id) = user(&app, "victim@example.com", None).await;
    let post = create_post(&app, &victim, "draft").await;
    let keys = ferrite_tests::test_keys();
    let key = keys.signing_key().expect("key");
    let settings = app.state.auth.tokens.clone();
    let claims_of = |token: &str| -> Value {
        let payload = token.split('.').nth(1).expect("payload");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
    };
    let claims = claims_of(&victim);
    let sid = claims["sid"].as_str().expect("sid").to_owned();
    let mint = |settings: &TokenSettings, at: i64| {
        jwt::mint(&key, settings, &victim_id, &[Role::Admin], &sid, at).expect("mint")
    };
    let public_x = key
        .public_entry()
        .split_once('=')
        .map(|(_, x)| x.to_owned())
        .expect("x");
    let (head, rest) = victim.split_once('.').expect("jwt");
    let signature = rest.split_once('.').expect("jwt").1;
    let mut admin_claims = claims.clone();
    admin_claims["roles"] = json!(["ADMIN"]);

    let stranger = shared::auth::keys::KeySet::generate()
        .expect("keys")
        .signing_key()
        .expect("key");
    let mut forged = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(admin_claims.to_string().as_bytes())
            ),
        ),
        (
            "HS256 keyed with the public key",
            hs256(
                &json!({"alg": "HS256", "typ": "JWT", "kid": key.kid()}),
                &admin_claims,
                public_x.as_bytes(),
            ),
        ),
        (
            "RS256 header",
            format!(
                "{}.{}.{signature}",
                b64(format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, key.kid()).as_bytes()),
                b64(claims.to_string().as_bytes())
            ),
        ),
        ("expired", mint(&settings, now() - 3600)),
        (
            "not valid yet (nbf in the future)",
            mint(&settings, now() + 3600),
        ),
        (
            "another issuer",
            mint(
                &TokenSettings {
                    issuer: "someone-else".into(),
                    audience: settings.audience.clone(),
                },
                now(),
            ),
        ),
        (
            "another audience",
            mint(
                &TokenSettings {
                    issuer: settings.issuer.clone(),
                    audience: "another-api".into(),
                },
                now(),
            ),
        ),
        (
            "unknown kid",
            jwt::mint(
                &stranger,
                &settings,
                &victim_id,
                &[Role::Admin],
                &sid,
                now(),
            )
            .expect("mint"),
        ),
        (
            "payload tampered to ADMIN",
            format!(
                "{head}.{}.{signature}",
                b64(admin_claims.to_string().as_bytes())
            ),
        ),
        ("not a JWT", "definitely-not-a-token".to_owned()),
    ];

    // A deleted user's and a disabled user's tokens, still unexpired.
    let (deleted, _) = user(&app, "deleted@example.com", None).await;
    let gone = invoke(
        &app,
        Call::new("DELETE", "/v1/users/me")
            .bearer(&deleted)
            .json(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    forged.push(("a deleted user's token", deleted));
    let (disabled, disabled_id) = user(&app, "disabled@example.com", None).await;
    let (admin, _) = user(&app, "admin@example.com", Some(Role::Admin)).await;
    let disable = invoke(
        &app,
        Call::new("PATCH", "/v1/users/{id}")
            .param("id", &disabled_id)
            .bearer(&admin)
            .json(&json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(disable.status, 200, "{}", disable.body);
    forged.push(("a disabled user's token", disabled));

    let routes = [
        Call::new("GET", "/v1/users/me"),
        Call::new("PATCH", "/v1/users/me").json(&json!({"name": "Mallory"})),
        Call::new("DELETE", "/v1/users/me").json(&json!({"password": PASSWORD})),
        Call::new("PUT", "/v1/users/me/password")
            .json(&json!({"currentPassword": PASSWORD, "newPassword": "x y z w v u t"})),
        Call::new("GET", "/v1/users/me/posts"),
        Call::new("POST", "/v1/auth/email/verify/resend"),
        Call::new("GET", "/v1/users"),
        Call::new("GET", "/v1/users/{id}").param("id", &victim_id),
        Call::new("PATCH", "/v1/users/{id}")
            .param("id", &victim_id)
            .json(&json!({"roles": ["ADMIN"]})),
        Call::new("DELETE", "/v1/users/{id}").param("id", &victim_id),
        Call::new("GET", "/v1/audit").query("actorId", &victim_id),
        Call::new("POST", "/v1/posts").json(&json!({"title": "T", "body": "B"})),
        Call::new("PATCH", "/v1/posts/{id}")
            .param("id", &post)
            .json(&json!({"title": "Owned"})),
        Call::new("DELETE", "/v1/posts/{id}").param("id", &post),
        // Optional authentication: a bad token is an error, not anonymity.
        Call::new("GET", "/v1/posts/{id}").param("id", &post),
    ];
    let mut wrong = Vec::new();
    for (what, token) in &forged {
        for route in &routes {
            let response = invoke(&app, route.clone().bearer(token)).await;
            let challenge = response.header("www-authenticate").unwrap_or_default();
            if response.status != 401 || !challenge.starts_with("Bearer") {
                wrong.push(format!(
                    "{what}: {} {} -> {} {challenge:?}",
                    route.method(),
                    route.route(),
                    response.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // And nothing was changed by any of them.
    let me = invoke(&app, Call::new("GET", "/v1/users/me").bearer(&victim)).await;
    assert_eq!(me.body["roles"], json!(["USER"]));
    let still = invoke(
        &app,
        Call::new("GET", "/v1/posts/{id}")
            .param("id", &post)
            .bearer(&victim),
    )
    .await;
    assert_eq!((still.status, &still.body["title"]), (200, &json!("Mine")));
}

#[tokio::test]
async fn hostile_input_gets_a_4xx_never_a_5xx_and_never_a_role() {
    let app = TestApp::spawn().await;
    let (token, _) = user(&app, "input@example.com", None).await;
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let mut cases: Vec<(&str, Call)> = vec![
        (
            "mass assignment at registration",
            Call::new("POST", "/v1/auth/register").json(&json!({
                "email": "mass@example.com", "name": "M", "password": PASSWORD, "roles": ["ADMIN"]
            })),
        ),
        (
            "mass assignment on the profile",
            Call::new("PATCH", "/v1/users/me")
                .bearer(&token)
                .json(&json!({"roles": ["ADMIN"], "status": "active"})),
        ),
        (
            "mass assignment on a post",
            Call::new("POST", "/v1/posts").bearer(&token).json(
                &json!({"title": "T", "body": "B", "authorId": "01J00000000000000000000000"}),
            ),
        ),
        (
            "5,000 levels of nesting",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "application/json")
                .raw_body(&format!(r#"{{"title":{deep},"body":"b"}}"#)),
        ),
        (
            "a JSON array body",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "application/json")
                .raw_body(r#"["title","body"]"#),
        ),
        (
            "text/plain body",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "text/plain")
                .raw_body(r#"{"title":"T","body":"B"}"#),
        ),
        (
            "JSON in another charset",
            Call::new("POST", "/v1/posts")
                .bearer(&token)
                .header("content-type", "application/json; charset=latin1")
                .raw_body(r#"{"title":"T","body":"B"}"#),
        ),
        (
            "a 16 KiB tag filter",
            Call::new("GET", "/v1/posts").query("tag", &"t".repeat(16 * 1024)),
        ),
        (
            "a 16 KiB cursor",
            Call::new("GET", "/v1/posts").query("cursor", &"A".repeat(16 * 1024)),
        ),
        (
            "a negative limit",
            Call::new("GET", "/v1/posts").query("limit", "-1"),
        ),
        (
            "a limit beyond u64",
            Call::new("GET", "/v1/posts").query("limit", "99999999999999999999999"),
        ),
        (
            "a non-ULID post id",
            Call::new("GET", "/v1/posts/{id}").param("id", "../../etc/passwd"),
        ),
        (
            "a non-ULID user id",
            Call::new("GET", "/v1/users/{id}/posts").param("id", "USER#x"),
        ),
    ];
    for (what, email, name) in [
        ("an email with a NUL", "a\u{0}b@example.com", "Null"),
        (
            "an email with a newline",
            "a@example.com\nbcc: b@example.com",
            "Inject",
        ),
        (
            "an email with an RTL override",
            "\u{202e}moc.elpmaxe@a",
            "Rtl",
        ),
        (
            "a 400-character email",
            &format!("{}@example.com", "a".repeat(388)),
            "Long",
        ),
        (
            "a name with control characters",
            "ctl@example.com",
            "A\u{7}\u{1b}[31mB",
        ),
        ("a name of only spaces", "spaces@example.com", "    "),
        ("a 500-character name", "long@example.com", &"n".repeat(500)),
        (
            "a name of zero-width joiners",
            "zwj@example.com",
            "\u{200d}\u{200d}",
        ),
    ] {
        cases.push((
            what,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": name, "password": PASSWORD})),
        ));
    }
    let mut wrong = Vec::new();
    for (what, call) in cases {
        let route = call.route().to_owned();
        let response = if route == "/v1/auth/register" {
            app.call(auth_register::handle, call).await
        } else {
            invoke(&app, call).await
        };
        let problem = response.header("content-type") == Some("application/problem+json");
        if !(400..500).contains(&response.status) || !problem {
            wrong.push(format!("{what}: {} {}", response.status, response.body));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // Unicode that is legitimate is accepted and kept exactly.
    let ok = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register").json(&json!({
                "email": "zoë@example.com", "name": "Zoë Ñúñez 山田", "password": PASSWORD
            })),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["user"]["name"], "Zoë Ñúñez 山田");
    let me = invoke(&app, Call::new("GET", "/v1/users/me").bearer(&token)).await;
    assert_eq!(me.body["roles"], json!(["USER"]), "no role was assigned");
}

/// Registers, then presents the refresh token 20 times at once: (the one winner's body, the
/// winner's access token from registration).
async fn refresh_race(app: &TestApp) -> Value {
    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": "race@example.com", "name": "Race", "password": PASSWORD})),
        )
        .await;
    let refresh_token = registered.body["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (state, token) = (app.state_of("AuthRefreshFunction"), refresh_token.clone());
        tasks.spawn(async move {
            let call = Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": token}));
            let response =
                shared::http::dispatch(state, auth_refresh::handle, call.request()).await;
            let status = response.status().as_u16();
            let body: Value = serde_json::from_slice(response.body().as_ref()).expect("json");
            (status, body)
        });
    }
    let mut responses = Vec::new();
    while let Some(done) = tasks.join_next().await {
        responses.push(done.expect("task"));
    }
    let statuses: Vec<u16> = responses.iter().map(|(status, _)| *status).collect();
    assert!(
        responses.iter().all(|(status, body)| *status == 200
            || (*status == 401 && body["code"] == "INVALID_REFRESH_TOKEN")),
        "{responses:?}"
    );
    let mut winners = responses.into_iter().filter(|(status, _)| *status == 200);
    let winner = winners.next().expect("one refresh wins").1;
    assert!(winners.next().is_none(), "exactly one winner: {statuses:?}");
    winner
}

async fn refresh_with(app: &TestApp, body: &Value) -> TestResponse {
    app.call(
        auth_refresh::handle,
        Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": body["refreshToken"]})),
    )
    .await
}

#[tokio::test]
async fn twenty_concurrent_refreshes_mint_one_token_and_within_the_grace_window_keep_the_family() {
    let app = TestApp::spawn_with(
        shared::clock::Clock::System,
        &[("REFRESH_REUSE_GRACE_SECONDS", "30")],
    )
    .await;
    let winner = refresh_race(&app).await;
    // Losers that arrived after the rotation are inside the grace window: no revocation.
    assert_eq!(refresh_with(&app, &winner).await.status, 200);
}

#[tokio::test]
async fn twenty_concurrent_refreshes_without_grace_mint_one_token_and_never_leave_half_a_session() {
    let app = TestApp::spawn().await;
    let winner = refresh_race(&app).await;
    let next = refresh_with(&app, &winner).await;
    let access = winner["accessToken"].as_str().expect("access");
    let me = invoke(&app, Call::new("GET", "/v1/users/me").bearer(access)).await;
    // A loser that read the token after the winner rotated it is a reuse (no grace configured):
    // the whole session is revoked. Either way the session is whole: both tokens work, or none.
    match next.status {
        200 => assert_eq!(me.status, 200, "the session lives"),
        401 => assert_eq!(me.status, 401, "reuse revoked the session and its access"),
        other => panic!("unexpected {other}: {}", next.body),
    }
}

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
struct Throttle(std::sync::Arc<std::sync::atomic::AtomicUsize>);

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

#[tokio::test]
async fn a_stolen_access_token_cannot_guess_the_password_faster_than_the_sign_in_form() {
    let app = TestApp::spawn().await;
    let (token, _) = user(&app, "guessed@example.com", None).await;
    let change = |current: &str| {
        Call::new("PUT", "/v1/users/me/password")
            .bearer(&token)
            .json(&json!({"currentPassword": current, "newPassword": "quiet lanterns over the harbour"}))
    };
    let mut statuses = Vec::new();
    for guess in 0..5 {
        statuses.push(
            invoke(&app, change(&format!("guess number {guess}")))
                .await
                .status,
        );
    }
    assert_eq!(statuses, [422; 5]);
    // The budget is spent: even the right password waits, here and at the sign-in form.
    let right = invoke(&app, change(PASSWORD)).await;
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(right.header("retry-after").is_some());
    let delete = invoke(
        &app,
        Call::new("DELETE", "/v1/users/me")
            .bearer(&token)
            .json(&json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(delete.status, 429);
    let login = invoke(
        &app,
        Call::new("POST", "/v1/auth/login")
            .json(&json!({"email": "guessed@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(login.status, 429);
}
