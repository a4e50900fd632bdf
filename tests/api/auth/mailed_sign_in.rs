//! Signing in by mailed link: the same answer for every address, single use, only the newest
//! link, expiry, a password set voids it, one factor of two with MFA, and the first proof of an
//! unconfirmed address clearing what a stranger may have set.

use ferrite_tests::mfa::{challenge, code_at, enrol, later, step_clock, verify};
use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::json;
use shared::clock::Clock;

use super::{me, tokens};

/// `POST /v1/auth/magic-link` for `email` at `at`.
async fn ask(app: &TestApp, at: Clock, email: &str) -> TestResponse {
    app.at(at)
        .call(
            auth_magic_link::handle,
            Call::new("POST", "/v1/auth/magic-link").json(&json!({ "email": email })),
        )
        .await
}

/// The token of the newest sign-in link, as the email worker mints it.
async fn mailed(app: &TestApp) -> String {
    app.link_token("user.sign_in_link_requested").await
}

/// `POST /v1/auth/magic-link/verify` with `token` at `at`.
async fn open(app: &TestApp, at: Clock, token: &str) -> TestResponse {
    app.at(at)
        .call(
            auth_magic_link_verify::handle,
            Call::new("POST", "/v1/auth/magic-link/verify").json(&json!({ "token": token })),
        )
        .await
}

fn invalid(answer: &TestResponse) {
    assert_eq!(
        (answer.status, answer.code()),
        (400, "INVALID_TOKEN"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_mailed_link_signs_in_once_and_only_the_newest_link_works() {
    // Tokens are checked against the real time: the story starts minutes ago.
    let start = step_clock(10);
    let app = TestApp::spawn_with_clock(start).await;
    app.user("link@example.com", None).await;
    app.confirm_address().await;

    let asked = ask(&app, start, "link@example.com").await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let older = mailed(&app).await;
    // A minute on (one such email a minute), a second link: the first is void.
    let minute = later(start, 61);
    assert_eq!(ask(&app, minute, "link@example.com").await.status, 202);
    let newer = mailed(&app).await;
    assert_ne!(older, newer);
    invalid(&open(&app, minute, &older).await);

    let signed_in = open(&app, minute, &newer).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.amr(), json!(["email"]));
    assert_eq!(signed_in.body["user"]["email"], "link@example.com");
    let (access, _) = tokens(&signed_in);
    assert_eq!(me(&app.at(minute), &access).await.status, 200);
    let event = app.last_event("user.logged_in").await.expect("an event");
    assert_eq!(event.changes["amr"].after, json!(["email"]));
    // Once.
    invalid(&open(&app, minute, &newer).await);
}

#[tokio::test]
async fn a_link_expires_after_fifteen_minutes_and_a_password_set_voids_it() {
    let start = step_clock(14);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("expiry@example.com", None).await;
    app.confirm_address().await;
    ask(&app, start, "expiry@example.com").await;
    let link = mailed(&app).await;
    invalid(&open(&app, later(start, 15 * 60 + 1), &link).await);

    let minute = later(start, 61);
    ask(&app, minute, "expiry@example.com").await;
    let link = mailed(&app).await;
    let changed = app
        .at(minute)
        .call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password")
                .bearer(&token)
                .json(&json!({"currentPassword": PASSWORD, "newPassword": "quiet lanterns over the harbour"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    invalid(&open(&app, minute, &link).await);
}

#[tokio::test]
async fn an_address_without_an_account_gets_the_same_answer_and_no_email() {
    let app = TestApp::spawn().await;
    app.user("known@example.com", None).await;
    let now = app.state.clock;
    let known = ask(&app, now, "known@example.com").await;
    let unknown = ask(&app, now, "ghost@example.com").await;
    assert_eq!((known.status, unknown.status), (202, 202));
    assert_eq!(known.body, unknown.body);
    let links = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "user.sign_in_link_requested")
        .count();
    assert_eq!(links, 1, "only the account's address is mailed");
    invalid(&open(&app, now, "made-up-token").await);
}

#[tokio::test]
async fn with_a_second_factor_a_link_is_one_factor_and_the_code_is_the_other() {
    let start = step_clock(10);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("both@example.com", None).await;
    app.confirm_address().await;
    let (secret, _) = enrol(&app, &token).await;
    ask(&app, start, "both@example.com").await;
    let link = mailed(&app).await;
    let first = open(&app, start, &link).await;
    assert_eq!(
        (first.status, first.code()),
        (401, "MFA_REQUIRED"),
        "{}",
        first.body
    );
    assert!(first.body.get("accessToken").is_none());
    // The link is spent by the first step.
    invalid(&open(&app, start, &link).await);
    let pending = first.body["challenge"].as_str().expect("a challenge");
    let code = code_at(&secret, later(start, 30).now());
    let signed_in = verify(&app, pending, "code", &code).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.amr(), json!(["email", "otp"]));
    // The password's challenge still says `pwd`.
    let pending = challenge(&app, "both@example.com").await;
    let code = code_at(&secret, later(start, 60).now());
    let with_password = verify(&app.at(later(start, 60)), &pending, "code", &code).await;
    assert_eq!(with_password.amr(), json!(["pwd", "otp"]));
}

#[tokio::test]
async fn the_first_link_to_an_unconfirmed_address_confirms_it_and_clears_what_a_stranger_set() {
    let start = step_clock(10);
    let app = TestApp::spawn_with_clock(start).await;
    // Someone registers the victim's address, never confirms it, and sets up a factor.
    let (squatter, _) = app.user("victim@example.com", None).await;
    enrol(&app, &squatter).await;
    // The owner of the mailbox asks for a link and opens it.
    ask(&app, start, "victim@example.com").await;
    let link = mailed(&app).await;
    let signed_in = open(&app, start, &link).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.body["user"]["emailVerified"], true);
    assert_eq!(signed_in.body["user"]["mfa"], json!([]));
    // The squatter's session is over, their password signs in no more.
    assert_eq!(me(&app, &squatter).await.status, 401);
    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "victim@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 401, "{}", login.body);
    let event = app.last_event("user.email_verified").await.expect("event");
    assert_eq!(event.changes["passwordCleared"].after, true);
    assert_eq!(event.changes["factorsRemoved"].after, true);
    // The owner's own session works, and without a password what asks for one takes the
    // recent sign-in instead; a password can be set through the reset flow.
    let (access, _) = tokens(&signed_in);
    assert_eq!(me(&app, &access).await.status, 200);
    let change = |at: Clock| {
        let access = access.clone();
        let app = app.at(at);
        async move {
            app.call(
                users_me_email::handle,
                Call::new("POST", "/v1/users/me/email")
                    .bearer(&access)
                    .json(&json!({"newEmail": "victim-moved@example.com"})),
            )
            .await
        }
    };
    let stale = change(later(start, 11 * 60)).await;
    assert_eq!(
        (stale.status, stale.code()),
        (401, "REAUTHENTICATION_REQUIRED")
    );
    let asked = change(start).await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    // A second on (the claim voided every link asked for until then).
    let login = app
        .at(later(start, 1))
        .reset_password_by_link("victim@example.com", "quiet lanterns over the harbour")
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
}

#[tokio::test]
async fn the_same_link_opened_twice_at_once_signs_in_once() {
    let app = TestApp::spawn().await;
    app.user("race@example.com", None).await;
    app.confirm_address().await;
    ask(&app, app.state.clock, "race@example.com").await;
    let link = mailed(&app).await;
    let call = || Call::new("POST", "/v1/auth/magic-link/verify").json(&json!({ "token": link }));
    let statuses = app
        .statuses_at_once(auth_magic_link_verify::handle, vec![call(), call()])
        .await;
    assert_eq!(statuses, [200, 400]);
}

#[tokio::test]
async fn disabling_an_account_voids_its_links_and_a_later_one_is_refused() {
    let start = step_clock(10);
    let app = TestApp::spawn_with_clock(start).await;
    let (_, id) = app.user("off@example.com", None).await;
    app.confirm_address().await;
    ask(&app, start, "off@example.com").await;
    let before = mailed(&app).await;
    let (admin, _) = app.admin("boss@example.com").await;
    let user = app
        .call(
            users_get::handle,
            Call::new("GET", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&admin),
        )
        .await;
    let disabled = app
        .call(
            users_patch::handle,
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&admin)
                .json(&json!({"status": "disabled", "version": user.body["version"]})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let minute = later(start, 61);
    invalid(&open(&app, minute, &before).await);
    ask(&app, minute, "off@example.com").await;
    let after = mailed(&app).await;
    let refused = open(&app, minute, &after).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
}
