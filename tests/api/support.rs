//! Helpers shared by the test modules.

use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::auth::Role;
use shared::validate::Email;

/// The password of every account the helpers create.
pub const PASSWORD: &str = "violet anchor drifts north";

/// Registers `email`, grants it `role` the documented way (`grant_role`), and signs in again so
/// the token carries the role: `(access token, user id)`.
pub async fn user(app: &TestApp, email: &str, role: Option<Role>) -> (String, String) {
    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": "Poster", "password": PASSWORD})),
        )
        .await;
    let id = registered.body["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    if let Some(role) = role {
        shared::accounts::grant_role(app.state, &Email::parse(email).expect("email"), role)
            .await
            .expect("grant");
    }
    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": email, "password": PASSWORD})),
        )
        .await;
    (
        login.body["accessToken"]
            .as_str()
            .expect("token")
            .to_owned(),
        id,
    )
}
