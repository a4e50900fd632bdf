//! Accounts as tests need them: registered in-process as the template's functions, promoted the
//! documented way (`ferrite-admin grant-role`), signed in so the token carries the role.

use serde_json::json;
use shared::State;
use shared::auth::Role;
use shared::validate::Email;

use crate::{Call, TestApp, TestResponse};

/// The password of every account the helpers create.
pub const PASSWORD: &str = "violet anchor drifts north";

/// Gives the account of `email` `role` the documented way (`grant_role`, what
/// `ferrite-admin grant-role` runs), as an operator with access to the table.
pub async fn grant(state: &State, email: &str, role: Role) {
    shared::accounts::grant_role(state, &Email::parse(email).expect("email"), role)
        .await
        .expect("grant the role");
}

impl TestApp {
    /// Registers `email`, grants it `role` (if any), and signs in again so the token carries
    /// the role: `(access token, user id)`.
    pub async fn user(&self, email: &str, role: Option<Role>) -> (String, String) {
        let registered = self
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
        (sign_in_as(self, email, PASSWORD, role).await, id)
    }

    /// `DELETE /v1/users/me` with the [`PASSWORD`] every test account has: the answer.
    pub async fn leave(&self, token: &str) -> TestResponse {
        self.call(
            users_me_delete::handle,
            Call::new("DELETE", "/v1/users/me")
                .bearer(token)
                .json(&json!({"password": PASSWORD})),
        )
        .await
    }

    /// Confirms the address of the account registered last, by its emailed link.
    pub async fn confirm_address(&self) {
        let token = self.link_token("user.registered").await;
        let verified = self
            .call(
                auth_email_verify::handle,
                Call::new("POST", "/v1/auth/email/verify").json(&json!({"token": token})),
            )
            .await;
        assert_eq!(verified.status, 204, "{}", verified.body);
    }

    /// Sets `new_password` on the account of `email` the way its owner would without it: a
    /// reset link asked for and opened (asserting each step), then a sign-in with it — its
    /// answer.
    pub async fn reset_password_by_link(&self, email: &str, new_password: &str) -> TestResponse {
        let forgot = self
            .call(
                auth_password_forgot::handle,
                Call::new("POST", "/v1/auth/password/forgot").json(&json!({"email": email})),
            )
            .await;
        assert_eq!(forgot.status, 202, "{}", forgot.body);
        let link = self.link_token("user.password_reset_requested").await;
        let reset = self
            .call(
                auth_password_reset::handle,
                Call::new("POST", "/v1/auth/password/reset")
                    .json(&json!({"token": link, "newPassword": new_password})),
            )
            .await;
        assert_eq!(reset.status, 204, "{}", reset.body);
        self.call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": email, "password": new_password})),
        )
        .await
    }

    /// An admin: [`user`](Self::user) with [`Role::Admin`].
    pub async fn admin(&self, email: &str) -> (String, String) {
        self.user(email, Some(Role::Admin)).await
    }

    /// [`grant`] in this test's world.
    pub async fn grant(&self, email: &str, role: Role) {
        grant(self.state, email, role).await;
    }
}

/// Grants `email` `role`, if any, and signs in: the access token, which carries the role.
pub async fn sign_in_as(app: &TestApp, email: &str, password: &str, role: Option<Role>) -> String {
    if let Some(role) = role {
        app.grant(email, role).await;
    }
    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": email, "password": password})),
        )
        .await;
    login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// `count` registrations of `email` at once, each as the template's register function: their
/// statuses, sorted.
pub async fn racing_registrations(app: &TestApp, email: &str, count: usize) -> Vec<u16> {
    // Each from its own address: the race, not the per-IP registration limit, is under test.
    let racers = (0..count)
        .map(|n| {
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": "Racer", "password": PASSWORD}))
                .from_ip(&format!("198.51.{}.{}", n / 250, n % 250 + 1))
        })
        .collect();
    app.statuses_at_once(auth_register::handle, racers).await
}
