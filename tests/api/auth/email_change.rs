//! Changing one's email address: `POST /v1/users/me/email` asks (with the password), the link
//! sent to the new address confirms (`POST /v1/auth/email/change/confirm`); only then do the
//! address and its uniqueness claim move — in one transaction, ending the other sessions.

use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse, sign_in_as};
use serde_json::json;
use shared::events::{LinkPurpose, Recipient};

use super::{login, me};

async fn ask(app: &TestApp, token: &str, new_email: &str, password: &str) -> TestResponse {
    app.call(
        users_me_email::handle,
        Call::new("POST", "/v1/users/me/email")
            .bearer(token)
            .json(&json!({"newEmail": new_email, "password": password})),
    )
    .await
}

async fn confirm(app: &TestApp, token: &str) -> TestResponse {
    app.call(
        auth_email_change_confirm::handle,
        Call::new("POST", "/v1/auth/email/change/confirm").json(&json!({ "token": token })),
    )
    .await
}

/// The status of a sign-in with the test password.
async fn signs_in(app: &TestApp, email: &str) -> u16 {
    login(app, email, PASSWORD).await.status
}

#[tokio::test]
async fn an_address_changes_only_when_the_new_one_confirms_and_then_other_sessions_end() {
    let app = TestApp::spawn().await;
    let (asking, _) = app.user("before@example.com", None).await;
    let other = sign_in_as(&app, "before@example.com", PASSWORD, None).await;

    let asked = ask(&app, &asking, "After@Example.com", PASSWORD).await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    assert_eq!(
        asked.header("ratelimit-policy"),
        Some("\"change-email-minute\";q=1;w=60, \"change-email\";q=5;w=3600")
    );
    let state = asked.header("ratelimit").expect("RateLimit");
    assert!(
        state.starts_with("\"change-email-minute\";r=0;t=")
            && state.contains("\"change-email\";r=4;t="),
        "{state}"
    );

    // The link goes to the new address, a notice to the current one; nothing has moved yet.
    let event = app
        .last_event("user.email_change_requested")
        .await
        .expect("the request's event");
    let emails: Vec<_> = event.emails().collect();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[0].template, "confirm-email-change");
    assert_eq!(emails[0].to, Recipient::Address("after@example.com".into()));
    assert_eq!(
        emails[0].link.map(|l| l.purpose),
        Some(LinkPurpose::ChangeEmail)
    );
    assert_eq!(emails[1].template, "email-change-requested");
    assert_eq!(
        emails[1].to,
        Recipient::Address("before@example.com".into())
    );
    assert_eq!(me(&app, &asking).await.body["email"], "before@example.com");
    assert_eq!(signs_in(&app, "before@example.com").await, 200);
    assert_eq!(signs_in(&app, "after@example.com").await, 401);

    let token = app.link_token("user.email_change_requested").await;
    let other_after_request = sign_in_as(&app, "before@example.com", PASSWORD, None).await;
    let confirmed = confirm(&app, &token).await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);

    // The asking session carries on, on the new (verified) address; every other one ended.
    let mine = me(&app, &asking).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["email"], "after@example.com");
    assert_eq!(mine.body["emailVerified"], true);
    assert_eq!(me(&app, &other).await.status, 401);
    assert_eq!(me(&app, &other_after_request).await.status, 401);
    assert_eq!(signs_in(&app, "after@example.com").await, 200);
    assert_eq!(signs_in(&app, "before@example.com").await, 401);

    // The link works once; the old address is told, and is free for someone else.
    assert_eq!(confirm(&app, &token).await.code(), "INVALID_TOKEN");
    let changed = app
        .last_event("user.email_changed")
        .await
        .expect("the change's event");
    let told = changed.email.expect("a notice");
    assert_eq!(told.template, "email-changed");
    assert_eq!(told.to, Recipient::Address("before@example.com".into()));
    let newcomer = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": "before@example.com", "name": "New", "password": PASSWORD})),
        )
        .await;
    assert_eq!(newcomer.status, 201, "{}", newcomer.body);
}

#[tokio::test]
async fn a_change_is_refused_without_the_password_to_a_taken_or_the_same_address_and_past_its_budget()
 {
    // Two failures allowed: one wrong password, and every refused or accepted request with the
    // right one must give its attempt back, or sign-in below is refused. The clock stands
    // still ([`ferrite_tests::standing_clock`]).
    let app = TestApp::spawn_with(
        ferrite_tests::standing_clock(),
        &[("LOGIN_FAILURES_PER_ACCOUNT", "2")],
    )
    .await;
    let (token, _) = app.user("stays@example.com", None).await;
    app.user("taken@example.com", None).await;

    let wrong = ask(&app, &token, "new@example.com", "not the password").await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert_eq!(wrong.body["errors"][0]["field"], "password");
    let same = ask(&app, &token, "Stays@Example.com", PASSWORD).await;
    assert_eq!(same.status, 422, "{}", same.body);
    assert_eq!(same.body["errors"][0]["field"], "newEmail");
    let malformed = ask(&app, &token, "not an address", PASSWORD).await;
    assert_eq!(malformed.status, 422, "{}", malformed.body);
    let occupied = ask(&app, &token, "taken@example.com", PASSWORD).await;
    assert_eq!(occupied.code(), "EMAIL_TAKEN");
    assert!(
        app.last_event("user.email_change_requested")
            .await
            .is_none()
    );

    // One link email a minute: the second request is 429, told when to come back.
    assert_eq!(
        ask(&app, &token, "first@example.com", PASSWORD)
            .await
            .status,
        202
    );
    let again = ask(&app, &token, "second@example.com", PASSWORD).await;
    assert_eq!(again.status, 429, "{}", again.body);
    let wait: u64 = again
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(
        again
            .header("ratelimit")
            .is_some_and(|v| v.contains("\"change-email-minute\";r=0")),
        "{:?}",
        again.headers
    );
    // Only the wrong password counted as a failure: sign-in still works.
    assert_eq!(signs_in(&app, "stays@example.com").await, 200);
}

#[tokio::test]
async fn a_newer_request_a_password_reset_or_an_address_taken_meanwhile_voids_a_pending_change() {
    let app = TestApp::spawn_with(
        shared::clock::Clock::System,
        &[("LINK_EMAILS_PER_ACCOUNT_PER_HOUR", "100")],
    )
    .await;
    let (token, _) = app.user("pending@example.com", None).await;

    // A newer request: the older link is dead, the newer one works.
    assert_eq!(
        ask(&app, &token, "one@example.com", PASSWORD).await.status,
        202
    );
    let older = app.link_token("user.email_change_requested").await;
    let later = app.at(shared::clock::Clock::Fixed(
        std::time::SystemTime::now() + std::time::Duration::from_secs(61),
    ));
    assert_eq!(
        ask(&later, &token, "two@example.com", PASSWORD)
            .await
            .status,
        202
    );
    let newer = later.link_token("user.email_change_requested").await;
    assert_eq!(confirm(&app, &older).await.code(), "INVALID_TOKEN");

    // Someone registers the new address first: the confirmation is refused, nothing moves.
    let squatter = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": "two@example.com", "name": "Squat", "password": PASSWORD})),
        )
        .await;
    assert_eq!(squatter.status, 201, "{}", squatter.body);
    assert_eq!(confirm(&app, &newer).await.code(), "EMAIL_TAKEN");
    assert_eq!(me(&app, &token).await.body["email"], "pending@example.com");

    // A password reset ends a pending change with every other link.
    let much_later = app.at(shared::clock::Clock::Fixed(
        std::time::SystemTime::now() + std::time::Duration::from_secs(122),
    ));
    assert_eq!(
        ask(&much_later, &token, "three@example.com", PASSWORD)
            .await
            .status,
        202
    );
    let pending = much_later.link_token("user.email_change_requested").await;
    let forgot = much_later
        .call(
            auth_password_forgot::handle,
            Call::new("POST", "/v1/auth/password/forgot")
                .json(&json!({"email": "pending@example.com"})),
        )
        .await;
    assert_eq!(forgot.status, 202);
    let reset = much_later.link_token("user.password_reset_requested").await;
    let done = much_later
        .call(
            auth_password_reset::handle,
            Call::new("POST", "/v1/auth/password/reset")
                .json(&json!({"token": reset, "newPassword": "quiet lanterns over the harbour"})),
        )
        .await;
    assert_eq!(done.status, 204, "{}", done.body);
    assert_eq!(confirm(&much_later, &pending).await.code(), "INVALID_TOKEN");
}
