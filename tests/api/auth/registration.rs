//! Registration: the account, its claim and its event in one transaction; races and bad input.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};

use super::{me, register, tokens};

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
        (
            email.template.as_str(),
            email.address().expect("an address")
        ),
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
    let statuses = ferrite_tests::racing_registrations(&app, "race@example.com", 50).await;
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
