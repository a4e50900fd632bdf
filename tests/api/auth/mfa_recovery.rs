//! When a factor is lost or exposed: recovery codes made anew, an admin's reset of a user's
//! authenticator app, a reset link that keeps the factor — and the step-up each guarded route
//! asks for.

use ferrite_tests::mfa::{challenge, code_at, enrol, later, login, step_clock, verify};
use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::clock::Clock;

use super::me;

/// Asserts `answer` is a 401 with `code` (what a guard answers: no tokens, no change).
fn refused(answer: &TestResponse, code: &str) {
    assert_eq!(
        (answer.status, answer.code()),
        (401, code),
        "{}",
        answer.body
    );
}

/// `POST /v1/users/me/mfa/recovery-codes` as `token` at `at`.
async fn regenerate(app: &TestApp, at: Clock, token: &str, body: &Value) -> TestResponse {
    app.at(at)
        .call(
            users_me_mfa_recovery_codes::handle,
            Call::new("POST", "/v1/users/me/mfa/recovery-codes")
                .json(body)
                .bearer(token),
        )
        .await
}

/// `DELETE /v1/users/{id}/mfa` as `token` at `at`.
async fn reset(app: &TestApp, at: Clock, token: &str, id: &str, body: &Value) -> TestResponse {
    app.at(at)
        .call(
            users_mfa_delete::handle,
            Call::new("DELETE", "/v1/users/{id}/mfa")
                .param("id", id)
                .json(body)
                .bearer(token),
        )
        .await
}

fn codes(answer: &TestResponse) -> Vec<String> {
    answer.body["recoveryCodes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("a code").to_owned())
        .collect()
}

/// What the newest event of `kind` asks the email worker to tell: (template, `change`).
async fn told(app: &TestApp, kind: &str) -> Option<(String, String, String)> {
    let event = app.last_event(kind).await.expect("the event");
    event
        .email
        .map(|e| (e.template, e.vars["change"].clone(), format!("{:?}", e.to)))
}

#[tokio::test]
async fn new_recovery_codes_void_the_old_ones_and_need_a_recent_sign_in_and_second_factor() {
    let start = step_clock(14);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("codes@example.com", None).await;
    app.confirm_address().await;
    let (secret, old) = enrol(&app, &token).await;
    let eleven = later(start, 11 * 60);

    // The sign-in and the second factor of this session are 11 minutes old.
    let stale = regenerate(&app, eleven, &token, &json!({})).await;
    refused(&stale, "REAUTHENTICATION_REQUIRED");
    let no_factor = regenerate(&app, eleven, &token, &json!({"password": PASSWORD})).await;
    refused(&no_factor, "MFA_REQUIRED");
    let wrong = regenerate(
        &app,
        eleven,
        &token,
        &json!({"password": PASSWORD, "code": "000000"}),
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let made = regenerate(
        &app,
        eleven,
        &token,
        &json!({"password": PASSWORD, "code": code_at(&secret, eleven.now())}),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let new = codes(&made);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|code| !old.contains(code)));
    let (template, change, _) = told(&app, "user.mfa_recovery_codes_regenerated")
        .await
        .expect("an email");
    assert_eq!(
        (template.as_str(), change.as_str()),
        (shared::accounts::MFA_CHANGED_TEMPLATE, "recovery-codes")
    );

    // The old codes no longer sign in; the new ones do.
    let pending = challenge(&app, "codes@example.com").await;
    let refused = verify(&app, &pending, "recoveryCode", &old[0]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        verify(&app, &pending, "recoveryCode", &new[0]).await.status,
        200
    );

    // One of the codes may be the step-up itself: it goes with the set it replaces.
    let twelve = later(start, 12 * 60);
    let again = regenerate(
        &app,
        twelve,
        &token,
        &json!({"password": PASSWORD, "recoveryCode": new[1]}),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let pending = challenge(&app, "codes@example.com").await;
    assert_eq!(
        verify(&app, &pending, "recoveryCode", &new[2]).await.status,
        422
    );
    assert_eq!(
        verify(&app, &pending, "recoveryCode", &codes(&again)[0])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_admin_removes_a_users_lost_authenticator_after_their_own_step_up_and_the_user_is_told()
{
    let start = step_clock(14);
    let app = TestApp::spawn_with_clock(start).await;
    let (user_token, user_id) = app.user("lost@example.com", None).await;
    app.confirm_address().await;
    enrol(&app, &user_token).await;
    let (admin, admin_id) = app.admin("root@example.com").await;
    let (admin_secret, _) = enrol(&app, &admin).await;
    let eleven = later(start, 11 * 60);

    // Only an admin; the admin's own sign-in and second factor must be recent.
    let own = reset(&app, start, &user_token, &user_id, &json!({})).await;
    assert_eq!(own.status, 403, "{}", own.body);
    let stale = reset(&app, eleven, &admin, &user_id, &json!({})).await;
    refused(&stale, "REAUTHENTICATION_REQUIRED");
    let with_password = json!({"password": PASSWORD});
    let no_factor = reset(&app, eleven, &admin, &user_id, &with_password).await;
    refused(&no_factor, "MFA_REQUIRED");
    let with_code = json!({"password": PASSWORD, "code": code_at(&admin_secret, eleven.now())});
    let done = reset(&app, eleven, &admin, &user_id, &with_code).await;
    assert_eq!(done.status, 204, "{}", done.body);

    // The password alone signs the user in again; the account shows no factor.
    assert_eq!(login(&app, "lost@example.com").await.status, 200);
    assert_eq!(me(&app, &user_token).await.body["mfa"], json!([]));
    // Audited with the admin as the actor, and the user is told.
    let event = app.last_event("user.mfa_reset").await.expect("an event");
    assert_eq!(event.actor.id, Some(admin_id));
    assert_eq!(event.entity.id, user_id);
    let (template, change, to) = told(&app, "user.mfa_reset").await.expect("an email");
    assert_eq!(
        (template.as_str(), change.as_str()),
        (shared::accounts::MFA_CHANGED_TEMPLATE, "reset")
    );
    assert!(to.contains("lost@example.com"), "{to}");

    // Nothing left to remove; no such user. (The admin's second factor is recent now.)
    let twelve = later(start, 12 * 60);
    let again = reset(&app, twelve, &admin, &user_id, &with_password).await;
    assert_eq!((again.status, again.code()), (409, "MFA_NOT_ENROLLED"));
    let nobody = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let nobody = reset(&app, twelve, &admin, nobody, &with_password).await;
    assert_eq!(nobody.status, 404, "{}", nobody.body);
    // The user can set up an app again.
    enrol(&app, &user_token).await;
}

#[tokio::test]
async fn an_unconfirmed_address_is_not_told_of_a_factor_change() {
    let app = TestApp::spawn().await;
    let (token, _) = app.user("unconfirmed-mfa@example.com", None).await;
    enrol(&app, &token).await;
    let event = app.last_event("user.mfa_enabled").await.expect("an event");
    assert!(event.email.is_none(), "{:?}", event.email);
}

#[tokio::test]
async fn a_password_reset_by_email_link_keeps_the_second_factor() {
    let app = TestApp::spawn().await;
    let (token, _) = app.user("keeps@example.com", None).await;
    enrol(&app, &token).await;
    let signed_in = app
        .reset_password_by_link("keeps@example.com", "quiet lanterns over the harbour")
        .await;
    refused(&signed_in, "MFA_REQUIRED");
}

#[tokio::test]
async fn with_a_factor_on_a_transfer_an_email_change_and_a_password_change_each_ask_for_it() {
    let start = step_clock(14);
    let app = TestApp::spawn_with_clock(start).await;
    let (token, _) = app.user("guarded@example.com", None).await;
    let (_, heir) = app.user("heir@example.com", None).await;
    let (secret, _) = enrol(&app, &token).await;
    let property = app
        .call(
            properties_create::handle,
            Call::new("POST", "/v1/properties").bearer(&token).json(&json!({
                "fileNumber": "STEP-UP-1",
                "address": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
                "kind": "land"
            })),
        )
        .await;
    assert_eq!(property.status, 201, "{}", property.body);
    let property = property.body["id"].as_str().expect("id").to_owned();
    let eleven = app.at(later(start, 11 * 60));
    let transfer = |body: Value| {
        let (app, token, property) = (&eleven, &token, &property);
        async move {
            app.call(
                properties_transfer::handle,
                Call::new("POST", "/v1/properties/{id}/transfer")
                    .param("id", property)
                    .bearer(token)
                    .json(&body),
            )
            .await
        }
    };
    let change_email = |app: TestApp| {
        let token = token.clone();
        async move {
            app.call(
                users_me_email::handle,
                Call::new("POST", "/v1/users/me/email")
                    .bearer(&token)
                    .json(&json!({"newEmail": "moved@example.com", "password": PASSWORD})),
            )
            .await
        }
    };
    let email_change = change_email(app.at(later(start, 11 * 60))).await;
    let password_change = eleven
        .call(
            users_me_password::handle,
            Call::new("PUT", "/v1/users/me/password")
                .bearer(&token)
                .json(&json!({"currentPassword": PASSWORD, "newPassword": "quiet lanterns over the harbour"})),
        )
        .await;
    let bare_transfer = transfer(json!({"newOwnerId": heir})).await;
    for answer in [&email_change, &password_change, &bare_transfer] {
        refused(answer, "MFA_REQUIRED");
    }
    let granted = transfer(json!({
        "newOwnerId": heir,
        "code": code_at(&secret, later(start, 11 * 60).now()),
    }))
    .await;
    assert_eq!(granted.status, 201, "{}", granted.body);
    // The code in that request is the session's second factor for the next 10 minutes.
    let moved = change_email(app.at(later(start, 12 * 60))).await;
    assert_eq!(moved.status, 202, "{}", moved.body);
}
