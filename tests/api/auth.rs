//! Accounts and authentication: every endpoint's handler in-process against the local
//! endpoint, each test in its own table.

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::auth::Role;
use shared::validate::Email;

use crate::support::PASSWORD;
const NEW_PASSWORD: &str = "quiet lanterns over the harbour";

async fn register(app: &TestApp, email: &str) -> TestResponse {
    app.call(
        auth_register::handle,
        Call::new("POST", "/v1/auth/register")
            .json(&json!({"email": email, "name": "Ada Lovelace", "password": PASSWORD})),
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.call(
        auth_login::handle,
        Call::new("POST", "/v1/auth/login").json(&json!({"email": email, "password": password})),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> TestResponse {
    app.call(
        users_me_get::handle,
        Call::new("GET", "/v1/users/me").bearer(token),
    )
    .await
}

async fn refresh(app: &TestApp, token: &str) -> TestResponse {
    app.call(
        auth_refresh::handle,
        Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": token})),
    )
    .await
}

fn tokens(response: &TestResponse) -> (String, String) {
    (
        response.body["accessToken"]
            .as_str()
            .expect("access token")
            .to_owned(),
        response.body["refreshToken"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
}

/// An admin: registered, then promoted the documented way (`ferrite-admin grant-role`).
async fn admin(app: &TestApp, email: &str) -> String {
    register(app, email).await;
    shared::accounts::grant_role(app.state, &Email::parse(email).expect("email"), Role::Admin)
        .await
        .expect("grant admin");
    tokens(&login(app, email, PASSWORD).await).0
}

#[tokio::test]
async fn registering_creates_the_account_signs_it_in_and_writes_its_event_atomically() {
    let app = TestApp::spawn().await;
    let response = register(&app, "  Ada@Example.COM ").await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert_eq!(response.body["user"]["email"], "ada@example.com");
    assert_eq!(response.body["user"]["roles"], json!(["USER"]));
    assert_eq!(response.body["user"]["emailVerified"], false);
    assert_eq!(response.body["tokenType"], "Bearer");
    assert_eq!(response.body["expiresIn"], 900);
    assert!(response.body["user"].get("passwordHash").is_none());
    let id = response.body["user"]["id"].as_str().expect("id");
    assert_eq!(
        response.header("location"),
        Some(format!("/v1/users/{id}").as_str())
    );

    let (access, _) = tokens(&response);
    assert_eq!(me(&app, &access).await.status, 200);

    let event = app
        .last_event("user.registered")
        .await
        .expect("outbox event");
    assert_eq!(event.entity.id, id);
    assert_eq!(event.changes["email"].after, "ada@example.com");
    let email = event.email.expect("welcome email");
    assert_eq!(
        (email.template.as_str(), email.to.as_str()),
        ("welcome", "ada@example.com")
    );
    // The verification link is minted by the email worker: no live token on the pipeline, and
    // none of the registrant's own words in a mail to an unproved address.
    let link = email.link.expect("a verification link");
    assert_eq!(link.purpose, shared::events::LinkPurpose::VerifyEmail);
    assert_eq!(link.user_id.to_string(), id);
    assert!(email.vars.is_empty(), "{:?}", email.vars);
    let outbox = serde_json::to_string(&app.outbox().await).expect("json");
    assert!(!outbox.to_lowercase().contains("token\":\""), "{outbox}");
    let serialized = serde_json::to_string(&event.changes).expect("json");
    assert!(
        !serialized.contains("argon2") && !serialized.contains(PASSWORD),
        "no secrets in changes"
    );
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_and_writes_nothing() {
    let app = TestApp::spawn().await;
    assert_eq!(register(&app, "grace@example.com").await.status, 201);
    let events_before = app.outbox().await.len();
    let again = register(&app, "GRACE@example.com").await;
    assert_eq!((again.status, again.code()), (409, "EMAIL_TAKEN"));
    assert_eq!(
        app.outbox().await.len(),
        events_before,
        "no event for a failed registration"
    );
}

#[tokio::test]
async fn concurrent_registrations_with_one_email_create_exactly_one_account() {
    let app = TestApp::spawn().await;
    let statuses = crate::support::racing_registrations(&app, "race@example.com", 50).await;
    let mut expected = vec![409; 50];
    expected[0] = 201;
    assert_eq!(statuses, expected);
    let registered = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "user.registered")
        .count();
    assert_eq!(registered, 1);
}

#[tokio::test]
async fn invalid_registrations_are_rejected_with_field_errors() {
    let app = TestApp::spawn().await;
    let call = |body: Value| Call::new("POST", "/v1/auth/register").json(&body);
    let weak = app
        .call(
            auth_register::handle,
            call(json!({"email": "w@example.com", "name": "W", "password": "password123"})),
        )
        .await;
    assert_eq!(
        (weak.status, weak.body["errors"][0]["field"].as_str()),
        (422, Some("password"))
    );
    let own_name = app
        .call(
            auth_register::handle,
            call(json!({"email": "ada.lovelace@example.com", "name": "Ada Lovelace", "password": "adalovelace1815"})),
        )
        .await;
    assert_eq!(own_name.status, 422);
    let all_bad = app
        .call(
            auth_register::handle,
            call(json!({"email": "nope", "name": "", "password": "short"})),
        )
        .await;
    assert_eq!(all_bad.status, 422);
    let fields: Vec<&str> = all_bad.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "name", "password"]);
    let roles = app
        .call(
            auth_register::handle,
            call(json!({"email": "m@example.com", "name": "M", "password": PASSWORD, "roles": ["ADMIN"]})),
        )
        .await;
    assert_eq!((roles.status, roles.code()), (400, "UNKNOWN_FIELD"));
    let not_json = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .header("content-type", "text/plain")
                .raw_body("hi"),
        )
        .await;
    assert_eq!(not_json.status, 415);
}

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
    let app = TestApp::spawn().await;
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
    let app = TestApp::spawn().await;
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
    let app = TestApp::spawn().await;
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

#[tokio::test]
async fn users_cannot_call_admin_routes() {
    let app = TestApp::spawn().await;
    let (access, _) = tokens(&register(&app, "user@example.com").await);
    let id = me(&app, &access).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let list = app
        .call(
            users_list::handle,
            Call::new("GET", "/v1/users").bearer(&access),
        )
        .await;
    let get = app
        .call(
            users_get::handle,
            Call::new("GET", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&access),
        )
        .await;
    let patch = app
        .call(
            users_patch::handle,
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&access)
                .json(&json!({"roles": ["ADMIN"]})),
        )
        .await;
    let delete = app
        .call(
            users_delete::handle,
            Call::new("DELETE", "/v1/users/{id}")
                .param("id", &id)
                .bearer(&access),
        )
        .await;
    assert_eq!(
        [list.status, get.status, patch.status, delete.status],
        [403; 4]
    );
    let anonymous = app
        .call(users_list::handle, Call::new("GET", "/v1/users"))
        .await;
    assert_eq!(
        (anonymous.status, anonymous.header("www-authenticate")),
        (401, Some("Bearer"))
    );
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let (access, _) = tokens(&login(app, email, PASSWORD).await);
    me(app, &access).await.body["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn patch_user(app: &TestApp, token: &str, id: &str, body: &Value) -> TestResponse {
    app.call(
        users_patch::handle,
        Call::new("PATCH", "/v1/users/{id}")
            .param("id", id)
            .bearer(token)
            .json(body),
    )
    .await
}

#[tokio::test]
async fn admins_list_users_page_by_page_and_by_role() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    for i in 0..5 {
        register(&app, &format!("member{i}@example.com")).await;
    }
    let list = |call: Call| app.call(users_list::handle, call.bearer(&root));
    let page = list(Call::new("GET", "/v1/users").query("limit", "4")).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        page.body["items"][0]["email"], "member4@example.com",
        "newest first"
    );
    let cursor = page.body["nextCursor"].as_str().expect("more").to_owned();
    let rest = list(
        Call::new("GET", "/v1/users")
            .query("limit", "4")
            .query("cursor", &cursor),
    )
    .await;
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(rest.body["nextCursor"], Value::Null);
    let tampered = list(Call::new("GET", "/v1/users").query("cursor", &format!("x{cursor}"))).await;
    assert_eq!((tampered.status, tampered.code()), (400, "INVALID_CURSOR"));
    let admins = list(Call::new("GET", "/v1/users").query("role", "ADMIN")).await;
    assert_eq!(admins.body["items"].as_array().map(Vec::len), Some(1));
    let bad = list(Call::new("GET", "/v1/users").query("role", "ROOT")).await;
    assert_eq!((bad.status, bad.code()), (400, "INVALID_PARAMETER"));
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_until_another_admin_exists() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    let root_id = user_id(&app, "root@example.com").await;
    let demote = patch_user(&app, &root, &root_id, &json!({"roles": ["USER"]})).await;
    assert_eq!((demote.status, demote.code()), (409, "LAST_ADMIN"));
    let disable = patch_user(&app, &root, &root_id, &json!({"status": "disabled"})).await;
    assert_eq!((disable.status, disable.code()), (409, "LAST_ADMIN"));

    register(&app, "deputy@example.com").await;
    let deputy_id = user_id(&app, "deputy@example.com").await;
    let promote = patch_user(
        &app,
        &root,
        &deputy_id,
        &json!({"roles": ["USER", "ADMIN"]}),
    )
    .await;
    assert_eq!(promote.status, 200);
    let event = app.last_event("user.roles_changed").await.expect("event");
    assert_eq!(event.changes["roles"].after, json!(["USER", "ADMIN"]));
    let demote = patch_user(&app, &root, &root_id, &json!({"roles": ["USER"]})).await;
    assert_eq!(
        (demote.status, demote.body["roles"].clone()),
        (200, json!(["USER"]))
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_reveals_it_only_to_the_right_password() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    let (member, _) = tokens(&register(&app, "member@example.com").await);
    let member_id = user_id(&app, "member@example.com").await;
    let disabled = patch_user(&app, &root, &member_id, &json!({"status": "disabled"})).await;
    assert_eq!(
        (disabled.status, disabled.body["status"].as_str()),
        (200, Some("disabled"))
    );
    assert_eq!(me(&app, &member).await.status, 401);
    assert_eq!(
        login(&app, "member@example.com", "wrong password x")
            .await
            .status,
        401
    );
    assert_eq!(
        login(&app, "member@example.com", PASSWORD).await.status,
        403
    );
    let listed = app
        .call(
            users_list::handle,
            Call::new("GET", "/v1/users")
                .query("status", "disabled")
                .bearer(&root),
        )
        .await;
    assert_eq!(listed.body["items"][0]["id"], member_id.as_str());
    let stale = patch_user(
        &app,
        &root,
        &member_id,
        &json!({"status": "active", "version": 1}),
    )
    .await;
    assert_eq!(stale.status, 412);
    let enabled = patch_user(
        &app,
        &root,
        &member_id,
        &json!({"status": "active", "version": 2}),
    )
    .await;
    assert_eq!(enabled.status, 200);
    assert_eq!(
        login(&app, "member@example.com", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn admins_read_and_delete_users_by_id() {
    let app = TestApp::spawn().await;
    let root = admin(&app, "root@example.com").await;
    register(&app, "gone@example.com").await;
    let id = user_id(&app, "gone@example.com").await;
    let get = |id: &str| {
        app.call(
            users_get::handle,
            Call::new("GET", "/v1/users/{id}")
                .param("id", id)
                .bearer(&root),
        )
    };
    let found = get(&id).await;
    assert_eq!(
        (found.status, found.body["email"].as_str()),
        (200, Some("gone@example.com"))
    );
    assert_eq!(found.header("etag"), Some("\"1\""));
    assert_eq!(get("not-an-id").await.status, 404);
    assert_eq!(
        get(&shared::ids::UserId::generate().to_string())
            .await
            .status,
        404
    );
    let delete = |id: &str| {
        app.call(
            users_delete::handle,
            Call::new("DELETE", "/v1/users/{id}")
                .param("id", id)
                .bearer(&root),
        )
    };
    assert_eq!(delete(&id).await.status, 204);
    assert_eq!(delete(&id).await.status, 404);
    assert_eq!(login(&app, "gone@example.com", PASSWORD).await.status, 401);
    assert_eq!(
        app.last_event("user.deleted_by_admin")
            .await
            .expect("event")
            .entity
            .id,
        id
    );
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

#[tokio::test]
async fn oversized_and_mistyped_bodies_are_rejected_before_any_work() {
    let app = TestApp::spawn().await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(70 * 1024)});
    let response = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login").json(&huge),
        )
        .await;
    assert_eq!(
        (response.status, response.code()),
        (413, "PAYLOAD_TOO_LARGE")
    );
    let form = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .raw_body("email=a&password=b"),
        )
        .await;
    assert_eq!(form.status, 415);
    let broken = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .header("content-type", "application/json")
                .raw_body("{\"email\":"),
        )
        .await;
    assert_eq!((broken.status, broken.code()), (400, "MALFORMED_JSON"));
}
