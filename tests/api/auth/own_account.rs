//! A user's own account: password change and reset, verification, profile, deletion.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};

use super::{NEW_PASSWORD, login, me, refresh, register, tokens};

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_only() {
    let app = TestApp::spawn().await;
    let (here, _) = tokens(&register(&app, "pw@example.com").await);
    let (elsewhere, elsewhere_refresh) = tokens(&login(&app, "pw@example.com", PASSWORD).await);
    let change = |current: &str| {
        app.call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password")
                .bearer(&here)
                .json(&json!({"currentPassword": current, "newPassword": NEW_PASSWORD})),
        )
    };
    let wrong = change("not my password").await;
    assert_eq!(
        (wrong.status, wrong.body["errors"][0]["field"].as_str()),
        (422, Some("currentPassword"))
    );
    assert_eq!(change(PASSWORD).await.status, 204);

    assert_eq!(me(&app, &here).await.status, 200, "this session continues");
    assert_eq!(me(&app, &elsewhere).await.status, 401);
    assert_eq!(refresh(&app, &elsewhere_refresh).await.status, 401);
    assert_eq!(login(&app, "pw@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        login(&app, "pw@example.com", NEW_PASSWORD).await.status,
        200
    );
    let event = app
        .last_event("user.password_changed")
        .await
        .expect("event");
    assert_eq!(event.email.expect("notice").template, "password-changed");
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let app =
        TestApp::spawn_with_clock(shared::clock::Clock::Fixed(std::time::SystemTime::now())).await;
    let (access, _) = tokens(&register(&app, "reset@example.com").await);
    let forgot = |email: &str| {
        app.call(
            auth_password_forgot::handle,
            Call::new("POST", "/v1/auth/password/forgot").json(&json!({"email": email})),
        )
    };
    let unknown = forgot("ghost@example.com").await;
    let known = forgot("reset@example.com").await;
    assert_eq!((unknown.status, known.status), (202, 202));
    assert_eq!(unknown.body, known.body);
    let token = app.link_token("user.password_reset_requested").await;
    assert_eq!(
        app.outbox()
            .await
            .iter()
            .filter(|e| e.kind == "user.password_reset_requested")
            .count(),
        1
    );

    let reset = |token: &str| {
        app.call(
            auth_password_reset::handle,
            Call::new("POST", "/v1/auth/password/reset")
                .json(&json!({"token": token, "newPassword": NEW_PASSWORD})),
        )
    };
    assert_eq!(reset(&token).await.status, 204);
    let again = reset(&token).await;
    assert_eq!((again.status, again.code()), (400, "INVALID_TOKEN"));
    assert_eq!(me(&app, &access).await.status, 401, "sessions ended");
    assert_eq!(
        login(&app, "reset@example.com", NEW_PASSWORD).await.status,
        200
    );

    // More requests within the minute send nothing more (and still answer 202).
    assert_eq!(forgot("reset@example.com").await.status, 202);
    assert_eq!(forgot("reset@example.com").await.status, 202);
    assert_eq!(
        app.outbox()
            .await
            .iter()
            .filter(|e| e.kind == "user.password_reset_requested")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_verification_link_verifies_the_address_and_resending_is_rate_limited() {
    let app = TestApp::spawn_with_clock(ferrite_tests::standing_clock()).await;
    let (access, _) = tokens(&register(&app, "verify@example.com").await);
    let resend = || {
        app.call(
            auth_email_verify_resend::handle,
            Call::new("POST", "/v1/auth/email/verify/resend").bearer(&access),
        )
    };
    assert_eq!(resend().await.status, 202);
    let limited = resend().await;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());

    let token = app.link_token("user.registered").await;
    let verify = |token: &str| {
        app.call(
            auth_email_verify::handle,
            Call::new("POST", "/v1/auth/email/verify").json(&json!({"token": token})),
        )
    };
    assert_eq!(verify(&token).await.status, 204);
    assert_eq!(me(&app, &access).await.body["emailVerified"], true);
    assert_eq!(verify(&token).await.status, 400, "single use");
    assert_eq!(verify("forged").await.status, 400);
    assert_eq!(resend().await.code(), "ALREADY_VERIFIED");
}

#[tokio::test]
async fn the_profile_accepts_profile_fields_only_and_honours_if_match() {
    let app = TestApp::spawn().await;
    let (access, _) = tokens(&register(&app, "profile@example.com").await);
    let current = me(&app, &access).await;
    assert_eq!(current.header("etag"), Some("\"1\""));
    let patch = |body: Value, if_match: Option<&str>| {
        let mut call = Call::new("PATCH", "/v1/users/me")
            .bearer(&access)
            .json(&body);
        if let Some(tag) = if_match {
            call = call.header("if-match", tag);
        }
        app.call(users_me_patch::handle, call)
    };
    for field in ["roles", "email", "status"] {
        let response = patch(json!({ field: "x" }), None).await;
        assert_eq!(
            (response.status, response.code()),
            (400, "UNKNOWN_FIELD"),
            "{field}"
        );
    }
    let renamed = patch(json!({"name": "Countess Ada"}), Some("\"1\"")).await;
    assert_eq!(renamed.status, 200);
    assert_eq!(
        (
            renamed.body["name"].as_str(),
            renamed.body["version"].as_u64()
        ),
        (Some("Countess Ada"), Some(2))
    );
    assert_eq!(renamed.header("etag"), Some("\"2\""));
    let stale = patch(json!({"name": "Someone Else"}), Some("\"1\"")).await;
    assert_eq!((stale.status, stale.code()), (412, "PRECONDITION_FAILED"));
    let event = app.last_event("user.profile_updated").await.expect("event");
    assert_eq!(event.changes["name"].before, "Ada Lovelace");
}

#[tokio::test]
async fn deleting_ones_account_needs_the_password_and_frees_the_address() {
    let app = TestApp::spawn().await;
    let (access, _) = tokens(&register(&app, "leaving@example.com").await);
    let delete = |password: &str| {
        app.call(
            users_me_delete::handle,
            Call::new("DELETE", "/v1/users/me")
                .bearer(&access)
                .json(&json!({"password": password})),
        )
    };
    assert_eq!(delete("wrong password!").await.status, 422);
    assert_eq!(delete(PASSWORD).await.status, 204);
    assert_eq!(me(&app, &access).await.status, 401);
    assert_eq!(
        login(&app, "leaving@example.com", PASSWORD).await.status,
        401
    );
    assert_eq!(
        register(&app, "leaving@example.com").await.status,
        201,
        "the address is free again"
    );
    assert!(app.last_event("user.deleted").await.is_some());
}
