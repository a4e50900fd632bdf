//! Sign-in, refresh rotation, logout, tokens and the JWKS.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};
use shared::auth::Role;

use super::{login, me, refresh, register, tokens};

#[tokio::test]
async fn login_answers_unknown_emails_and_wrong_passwords_identically() {
    let app = TestApp::spawn().await;
    register(&app, "alan@example.com").await;
    let ok = login(&app, "ALAN@example.com", PASSWORD).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["user"]["email"], "alan@example.com");

    let wrong = login(&app, "alan@example.com", "not the password at all").await;
    let unknown = login(&app, "nobody@example.com", "not the password at all").await;
    assert_eq!((wrong.status, wrong.code()), (401, "INVALID_CREDENTIALS"));
    assert_eq!(wrong.status, unknown.status);
    let strip = |mut body: Value| {
        body["requestId"] = Value::Null;
        body
    };
    assert_eq!(strip(wrong.body.clone()), strip(unknown.body.clone()));
    assert_eq!(
        wrong.header("www-authenticate"),
        unknown.header("www-authenticate")
    );
    assert!(app.last_event("user.logged_in").await.is_some());
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_even_for_the_right_password() {
    let app = TestApp::spawn_with_clock(ferrite_tests::standing_clock()).await;
    register(&app, "throttle@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            login(&app, "throttle@example.com", "wrong password here")
                .await
                .status,
            401
        );
    }
    let blocked = login(&app, "throttle@example.com", PASSWORD).await;
    assert_eq!((blocked.status, blocked.code()), (429, "RATE_LIMITED"));
    let retry_after: u64 = blocked
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after));
    // Another account from another address is not affected.
    register(&app, "other@example.com").await;
    let other = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "other@example.com", "password": PASSWORD}))
                .from_ip("198.51.100.9"),
        )
        .await;
    assert_eq!(other.status, 200);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let (_, first) = tokens(&register(&app, "rot@example.com").await);
    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status, 200);
    let (access, second) = tokens(&rotated);
    assert_ne!(first, second);
    assert_eq!(me(&app, &access).await.status, 200);

    // The spent token comes back: reuse detected, the family is revoked.
    let reused = refresh(&app, &first).await;
    assert_eq!(
        (reused.status, reused.code()),
        (401, "INVALID_REFRESH_TOKEN")
    );
    assert_eq!(
        refresh(&app, &second).await.status,
        401,
        "the newest token of the family is revoked too"
    );
    assert_eq!(
        me(&app, &access).await.status,
        401,
        "and so are its access tokens"
    );
    assert!(app.last_event("session.revoked").await.is_some());
    assert_eq!(refresh(&app, "made-up-token").await.status, 401);
}

#[tokio::test]
async fn logout_ends_the_session_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let (access, refresh_token) = tokens(&register(&app, "bye@example.com").await);
    let logout = || {
        app.call(
            auth_logout::handle,
            Call::new("POST", "/v1/auth/logout").json(&json!({"refreshToken": refresh_token})),
        )
    };
    assert_eq!(logout().await.status, 204);
    assert_eq!(logout().await.status, 204);
    assert_eq!(refresh(&app, &refresh_token).await.status, 401);
    assert_eq!(me(&app, &access).await.status, 401);
}

#[tokio::test]
async fn the_jwks_publishes_the_verification_keys_with_caching() {
    let app = TestApp::spawn().await;
    let response = app
        .call(
            |state, req| jwks::handle(state.auth.verifier().expect("keys"), req),
            Call::new("GET", "/.well-known/jwks.json"),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body["keys"][0]["kty"], "OKP");
    assert_eq!(response.body["keys"][0]["alg"], "EdDSA");
    assert!(
        response
            .header("cache-control")
            .is_some_and(|c| c.contains("max-age"))
    );
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused_by_authenticated_routes() {
    let app = TestApp::spawn().await;
    let (access, _) = tokens(&register(&app, "jwt@example.com").await);
    let (head, rest) = access.split_once('.').expect("jwt");
    let (payload, _) = rest.split_once('.').expect("jwt");
    let stranger = shared::auth::keys::KeySet::generate()
        .expect("keys")
        .signing_key()
        .expect("key");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("b64"),
    )
    .expect("claims");
    let foreign = shared::auth::jwt::mint(
        &stranger,
        &app.state.auth.tokens,
        claims["sub"].as_str().expect("sub"),
        &[Role::Admin],
        claims["sid"].as_str().expect("sid"),
        app.state.clock.unix_seconds(),
    )
    .expect("mint");
    for token in [
        format!("{head}.{payload}."),
        format!("eyJhbGciOiJub25lIn0.{payload}."),
        foreign,
        "garbage".to_owned(),
    ] {
        let response = me(&app, &token).await;
        assert_eq!(response.status, 401, "{token}");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }
}

#[tokio::test]
async fn within_the_grace_window_a_concurrent_retry_fails_without_revoking_the_session() {
    let app = TestApp::spawn_with(
        shared::clock::Clock::System,
        &[("REFRESH_REUSE_GRACE_SECONDS", "30")],
    )
    .await;
    let (_, first) = tokens(&register(&app, "grace@example.com").await);
    let (_, second) = tokens(&refresh(&app, &first).await);
    // The client retried with the token it had already exchanged, a moment later.
    let retry = refresh(&app, &first).await;
    assert_eq!((retry.status, retry.code()), (401, "INVALID_REFRESH_TOKEN"));
    assert_eq!(
        refresh(&app, &second).await.status,
        200,
        "the session survives a retry within the grace window"
    );
}
