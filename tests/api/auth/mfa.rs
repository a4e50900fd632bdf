//! Second factors: setting up an authenticator app, signing in with a code or a recovery code,
//! replays, clock skew, budgets, concurrency, recent authentication, and removing it.

use base64::Engine as _;
use ferrite_tests::mfa::{challenge, code_at, confirm, enrol, later, login, step_clock, verify};
use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::{Value, json};

use super::me;

async fn disable(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(
        users_me_mfa_totp_delete::handle,
        Call::new("DELETE", "/v1/users/me/mfa/totp")
            .json(body)
            .bearer(token),
    )
    .await
}

#[tokio::test]
async fn an_authenticator_app_is_set_up_confirmed_and_then_asked_for_at_every_sign_in() {
    let start = step_clock(5);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, id) = app.user("totp@example.com", None).await;

    let begun = app
        .call(
            users_me_mfa_totp::handle,
            Call::new("POST", "/v1/users/me/mfa/totp")
                .json(&json!({}))
                .bearer(&token),
        )
        .await;
    assert_eq!(begun.status, 201, "{}", begun.body);
    let secret = begun.body["secret"].as_str().expect("secret").to_owned();
    let uri = begun.body["otpauthUri"].as_str().expect("uri");
    assert!(
        uri.starts_with("otpauth://totp/Ferrite:totp%40example.com?secret="),
        "{uri}"
    );
    assert!(
        uri.contains(&secret) && uri.contains("issuer=Ferrite"),
        "{uri}"
    );
    // Pending: the password alone still signs in, and the account says no factor is on.
    assert_eq!(login(&app, "totp@example.com").await.status, 200);
    assert_eq!(me(&app, &token).await.body["mfa"], json!([]));

    // The table holds the secret only sealed by KMS.
    let stored: shared::accounts::mfa::TotpItem = app
        .state
        .store
        .get(&shared::accounts::mfa::TotpItem::key(
            shared::ids::UserId::parse(&id).expect("an id"),
        ))
        .await
        .expect("read")
        .expect("the factor's item");
    assert!(!stored.sealed.contains(&secret));
    let sealed = base64::engine::general_purpose::STANDARD
        .decode(&stored.sealed)
        .expect("base64");
    assert!(
        sealed.len() > 52,
        "more than the secret and the key: a KMS ciphertext"
    );

    let wrong = confirm(&app, &token, "000000").await;
    assert_eq!(
        (wrong.status, wrong.body["errors"][0]["field"].as_str()),
        (422, Some("code"))
    );
    let confirmed = confirm(&app, &token, &code_at(&secret, start.now())).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    let codes: Vec<&str> = confirmed.body["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 19 && c.matches('-').count() == 3),
        "{codes:?}"
    );
    assert_eq!(
        codes
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        10
    );
    assert_eq!(me(&app, &token).await.body["mfa"], json!(["totp"]));
    assert!(app.last_event("user.mfa_enabled").await.is_some());
    let again = confirm(&app, &token, &code_at(&secret, start.now())).await;
    assert_eq!((again.status, again.code()), (409, "MFA_ALREADY_ENABLED"));

    // Signing in now asks for the second factor.
    let pending = challenge(&app, "totp@example.com").await;
    // The code the enrolment used is spent: no replay within its window.
    let replayed = verify(&app, &pending, "code", &code_at(&secret, start.now())).await;
    assert_eq!(replayed.status, 422, "{}", replayed.body);
    // The next step's code (one step of clock skew ahead is accepted).
    let signed_in = verify(
        &app,
        &pending,
        "code",
        &code_at(&secret, later(start, 30).now()),
    )
    .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.amr(), json!(["pwd", "otp"]));
    let access = signed_in.body["accessToken"].as_str().expect("token");
    assert_eq!(me(&app, access).await.status, 200);
    // A challenge signs in once.
    let spent = verify(
        &app,
        &pending,
        "code",
        &code_at(&secret, later(start, 60).now()),
    )
    .await;
    assert_eq!((spent.status, spent.code()), (401, "INVALID_CHALLENGE"));
    assert_eq!(verify(&app, "made-up", "code", "123456").await.status, 401);
}

#[tokio::test]
async fn codes_two_steps_away_are_refused_and_one_step_either_side_is_accepted() {
    let start = step_clock(8);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("skew@example.com", None).await;
    let (secret, _) = enrol(&app, &token).await;
    // The app is at start + 90 s (three steps on); codes of +60 (one behind) and +120 (one
    // ahead) work, +30 and +150 do not.
    let now = app.at(later(start, 90));
    for (offset, works) in [(30, false), (150, false), (60, true), (120, true)] {
        let pending = challenge(&now, "skew@example.com").await;
        let answer = verify(
            &now,
            &pending,
            "code",
            &code_at(&secret, later(start, offset).now()),
        )
        .await;
        assert_eq!(
            answer.status == 200,
            works,
            "a code of start + {offset} s: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let start = step_clock(5);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("recover@example.com", None).await;
    let (_, codes) = enrol(&app, &token).await;
    let first = challenge(&app, "recover@example.com").await;
    // Written as a person types it: upper case, spaces instead of dashes.
    let typed = codes[3].to_uppercase().replace('-', " ");
    let signed_in = verify(&app, &first, "recoveryCode", &typed).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let second = challenge(&app, "recover@example.com").await;
    let reused = verify(&app, &second, "recoveryCode", &codes[3]).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(
        verify(&app, &second, "recoveryCode", &codes[4])
            .await
            .status,
        200
    );
    let both = app
        .call(
            auth_mfa_verify::handle,
            Call::new("POST", "/v1/auth/mfa/verify")
                .json(&json!({"challenge": "x", "code": "123456", "recoveryCode": codes[5]})),
        )
        .await;
    assert_eq!(both.status, 422, "exactly one of code and recoveryCode");
}

#[tokio::test]
async fn the_same_code_sent_twice_at_once_signs_in_once() {
    let start = step_clock(5);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("twice@example.com", None).await;
    let (secret, _) = enrol(&app, &token).await;
    let code = code_at(&secret, later(start, 30).now());
    let mut calls = Vec::new();
    for _ in 0..2 {
        let pending = challenge(&app, "twice@example.com").await;
        calls.push(
            Call::new("POST", "/v1/auth/mfa/verify")
                .json(&json!({"challenge": pending, "code": code})),
        );
    }
    let statuses = app.statuses_at_once(auth_mfa_verify::handle, calls).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 401, 422].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn wrong_codes_are_budgeted_per_account_like_wrong_passwords() {
    let start = step_clock(5);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("budget@example.com", None).await;
    let (secret, _) = enrol(&app, &token).await;
    let pending = challenge(&app, "budget@example.com").await;
    for _ in 0..5 {
        assert_eq!(verify(&app, &pending, "code", "000000").await.status, 422);
    }
    let refused = verify(
        &app,
        &pending,
        "code",
        &code_at(&secret, later(start, 30).now()),
    )
    .await;
    assert_eq!((refused.status, refused.code()), (429, "RATE_LIMITED"));
    assert!(refused.header("retry-after").is_some());
}

#[tokio::test]
async fn removing_the_app_needs_a_recent_sign_in_or_the_password_and_a_second_factor() {
    // Signed in twelve minutes ago (its token still valid for three).
    let start = step_clock(12);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("remove@example.com", None).await;
    let (secret, codes) = enrol(&app, &token).await;
    let now = app.at(later(start, 11 * 60));
    let code = code_at(&secret, later(start, 11 * 60).now());
    let stale = disable(&now, &token, &json!({"code": code})).await;
    assert_eq!(
        (stale.status, stale.code()),
        (401, "REAUTHENTICATION_REQUIRED")
    );
    let wrong_password = disable(
        &now,
        &token,
        &json!({"code": code, "password": "not it at all"}),
    )
    .await;
    assert_eq!(wrong_password.status, 422, "{}", wrong_password.body);
    let wrong_code = disable(
        &now,
        &token,
        &json!({"code": "000000", "password": PASSWORD}),
    )
    .await;
    assert_eq!(wrong_code.status, 422, "{}", wrong_code.body);
    assert_eq!(me(&now, &token).await.body["mfa"], json!(["totp"]));
    let removed = disable(
        &now,
        &token,
        &json!({"recoveryCode": codes[0], "password": PASSWORD}),
    )
    .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(me(&now, &token).await.body["mfa"], json!([]));
    assert!(now.last_event("user.mfa_disabled").await.is_some());
    // The password alone signs in again.
    assert_eq!(login(&now, "remove@example.com").await.status, 200);
}

#[tokio::test]
async fn setting_up_an_app_needs_a_recent_sign_in_or_the_password() {
    let start = step_clock(12);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("setup@example.com", None).await;
    let now = app.at(later(start, 11 * 60));
    let begin = |body: Value| {
        let (now, token) = (&now, token.clone());
        async move {
            now.call(
                users_me_mfa_totp::handle,
                Call::new("POST", "/v1/users/me/mfa/totp")
                    .json(&body)
                    .bearer(&token),
            )
            .await
        }
    };
    let stale = begin(json!({})).await;
    assert_eq!(
        (stale.status, stale.code()),
        (401, "REAUTHENTICATION_REQUIRED")
    );
    assert_eq!(begin(json!({"password": PASSWORD})).await.status, 201);
}

/// `DELETE /v1/users/me` as `token`, in `app`'s world.
async fn delete(app: TestApp, token: String, body: Value) -> TestResponse {
    app.call(
        users_me_delete::handle,
        Call::new("DELETE", "/v1/users/me")
            .json(&body)
            .bearer(&token),
    )
    .await
}

#[tokio::test]
async fn with_a_factor_on_what_matters_needs_one_from_the_last_ten_minutes_and_refreshing_does_not_renew_it()
 {
    let start = step_clock(14);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("stepup@example.com", None).await;
    let (secret, _) = enrol(&app, &token).await;
    let pending = challenge(&app, "stepup@example.com").await;
    let signed_in = verify(
        &app,
        &pending,
        "code",
        &code_at(&secret, later(start, 30).now()),
    )
    .await;
    let (access, refresh_token) = super::tokens(&signed_in);
    // Deleting the account with a wrong password: 422 once the step-up is satisfied (the
    // password is checked after it), 401 MFA_REQUIRED when it is not. Nothing is deleted.
    let wrong = json!({"password": "not the password at all"});
    let five = app.at(later(start, 5 * 60));
    assert_eq!(
        delete(five, access.clone(), wrong.clone()).await.status,
        422,
        "second factor 4.5 minutes ago"
    );

    // Eleven minutes on, a refresh gives a new access token of the same session: not a new
    // second factor.
    let eleven = app.at(later(start, 11 * 60));
    let refreshed = eleven
        .call(
            auth_refresh::handle,
            Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let (fresh, _) = super::tokens(&refreshed);
    let refused = delete(app.at(later(start, 11 * 60)), fresh.clone(), wrong.clone()).await;
    assert_eq!(
        (refused.status, refused.code()),
        (401, "MFA_REQUIRED"),
        "{}",
        refused.body
    );
    assert!(refused.body.get("challenge").is_none());
    // A code in the request grants it, and the session has a recent second factor again.
    let with_code = json!({
        "password": "not the password at all",
        "code": code_at(&secret, later(start, 11 * 60).now()),
    });
    assert_eq!(
        delete(app.at(later(start, 11 * 60)), fresh.clone(), with_code)
            .await
            .status,
        422
    );
    assert_eq!(
        delete(app.at(later(start, 12 * 60)), fresh, wrong)
            .await
            .status,
        422
    );
}
