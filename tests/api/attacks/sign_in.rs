//! Sign-in budgets and sessions: parallel guesses, the session cap, ends that reach every session.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::{login, many_sessions, me_status, pair, refresh_status};

#[tokio::test]
async fn parallel_wrong_passwords_spend_the_failure_budget_exactly_once_each() {
    let app = TestApp::spawn_with_clock(ferrite_tests::standing_clock()).await;
    app.user("target@example.com", None).await;
    // Fifteen guesses at once, each handled as its own request (the handlers interleave at
    // every DynamoDB call, as parallel Lambda instances would).
    let guesses = (0..15)
        .map(|n| {
            Call::new("POST", "/v1/auth/login").json(
                &json!({"email": "target@example.com", "password": format!("wrong guess {n}")}),
            )
        })
        .collect();
    let statuses = app.statuses_at_once(auth_login::handle, guesses).await;
    let mut expected = vec![401; 5];
    expected.extend([429; 10]);
    assert_eq!(
        statuses, expected,
        "five guesses checked, the rest throttled"
    );
    // The right password is throttled too now.
    let right = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "target@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(right.status, 429);
}

#[tokio::test]
async fn parallel_wrong_current_passwords_spend_the_same_budget() {
    let app = TestApp::spawn_with_clock(ferrite_tests::standing_clock()).await;
    let (token, _) = app.user("held@example.com", None).await;
    let guesses = (0..12)
        .map(|n| {
            Call::new("PUT", "/v1/users/me/password").bearer(&token).json(
                &json!({"currentPassword": format!("wrong guess {n}"), "newPassword": "quiet lanterns over the harbour"}),
            )
        })
        .collect();
    let statuses = app
        .statuses_at_once(users_me_password::handle, guesses)
        .await;
    let mut expected = vec![422; 5];
    expected.extend([429; 7]);
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn a_right_password_gives_its_attempt_back() {
    let app = TestApp::spawn().await;
    app.user("regular@example.com", None).await;
    // Far more sign-ins than the budget: none is a failure, so none is throttled.
    for _ in 0..8 {
        let login = app
            .call(
                auth_login::handle,
                Call::new("POST", "/v1/auth/login")
                    .json(&json!({"email": "regular@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(login.status, 200, "{:?}", login.body);
    }
}

#[tokio::test]
async fn sign_ins_past_the_cap_end_the_oldest_sessions() {
    let app = TestApp::spawn().await;
    app.user("busy@example.com", None).await;
    let mut pairs = Vec::new();
    for _ in 0..shared::accounts::MAX_SESSIONS + 3 {
        pairs.push(pair(&login(&app, "busy@example.com", PASSWORD).await));
    }
    // The registration's session and the first three sign-ins' are gone; the newest ten live.
    let live = pairs.len() - shared::accounts::MAX_SESSIONS;
    for (n, (access, refresh)) in pairs.iter().enumerate() {
        let expected = if n < live { 401 } else { 200 };
        assert_eq!(me_status(&app, access).await, expected, "session {n}");
        if n < live {
            assert_eq!(refresh_status(&app, refresh).await, 401, "session {n}");
        }
    }
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_however_many_there_are() {
    let app = TestApp::spawn().await;
    let (current, id) = app.user("many@example.com", None).await;
    let others: Vec<(String, String)> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(pair(&login(&app, "many@example.com", PASSWORD).await));
        }
        v
    };
    // Far more than one transaction could delete one by one.
    let old = many_sessions(&app, &id, 120).await;
    assert_eq!(me_status(&app, &old[119]).await, 200);
    let changed = app
        .call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password").bearer(&current).json(
                &json!({"currentPassword": PASSWORD, "newPassword": "quiet lanterns over the harbour"}),
            ),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    assert_eq!(
        me_status(&app, &current).await,
        200,
        "the session that changed it lives"
    );
    for access in old.iter().chain(others.iter().map(|(a, _)| a)) {
        assert_eq!(me_status(&app, access).await, 401);
    }
    for (_, refresh) in &others {
        assert_eq!(refresh_status(&app, refresh).await, 401);
    }
}

#[tokio::test]
async fn a_reset_and_a_disabled_account_end_every_session_however_many_there_are() {
    let app = TestApp::spawn().await;
    let (_admin, _) = app.admin("root@example.com").await;
    let (current, id) = app.user("reset-many@example.com", None).await;
    let old = many_sessions(&app, &id, 90).await;
    app.call(
        auth_password_forgot::handle,
        Call::new("POST", "/v1/auth/password/forgot")
            .json(&json!({"email": "reset-many@example.com"})),
    )
    .await;
    let token = app.link_token("user.password_reset_requested").await;
    let reset = app
        .call(
            auth_password_reset::handle,
            Call::new("POST", "/v1/auth/password/reset")
                .json(&json!({"token": token, "newPassword": "quiet lanterns over the harbour"})),
        )
        .await;
    assert_eq!(reset.status, 204, "{:?}", reset.body);
    for access in old.iter().chain([&current]) {
        assert_eq!(me_status(&app, access).await, 401);
    }

    let (victim, victim_id) = app.user("disabled-many@example.com", None).await;
    let sessions = many_sessions(&app, &victim_id, 90).await;
    let admin = ferrite_tests::sign_in_as(&app, "root@example.com", PASSWORD, None).await;
    let disabled = app
        .call(
            users_patch::handle,
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &victim_id)
                .bearer(&admin)
                .json(&json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    for access in sessions.iter().chain([&victim]) {
        assert_eq!(me_status(&app, access).await, 401);
    }
}
