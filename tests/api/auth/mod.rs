//! Accounts and authentication: every endpoint's handler in-process against the local
//! endpoint, each test in its own table.

mod admin;
mod devices;
mod email_change;
mod identities;
mod keys_on_first_use;
mod mailed_sign_in;
mod mfa;
mod mfa_recovery;
mod own_account;
mod providers;
mod registration;
mod rotation;
mod sessions;

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::auth::Role;
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
    app.grant(email, Role::Admin).await;
    tokens(&login(app, email, PASSWORD).await).0
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
