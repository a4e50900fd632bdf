//! The findings of the independent attack run (issue "Attacked from outside"), each as the test
//! that would have caught it.

mod accounts;
mod feeds;
mod links;
mod requests;
mod sign_in;

use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::auth::Role;

async fn login(app: &TestApp, email: &str, password: &str) -> ferrite_tests::TestResponse {
    app.call(
        auth_login::handle,
        Call::new("POST", "/v1/auth/login").json(&json!({"email": email, "password": password})),
    )
    .await
}

/// `(access, refresh)` of a response with a token pair.
fn pair(response: &ferrite_tests::TestResponse) -> (String, String) {
    let token = |name: &str| {
        response.body[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {:?}", response.body))
            .to_owned()
    };
    (token("accessToken"), token("refreshToken"))
}

async fn me_status(app: &TestApp, access: &str) -> u16 {
    app.call(
        users_me_get::handle,
        Call::new("GET", "/v1/users/me").bearer(access),
    )
    .await
    .status
}

async fn refresh_status(app: &TestApp, refresh: &str) -> u16 {
    app.call(
        auth_refresh::handle,
        Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": refresh})),
    )
    .await
    .status
}

/// `count` more sessions of `user` written straight into the table, as an account that signed
/// in that often before sessions were capped would have: their access tokens.
async fn many_sessions(app: &TestApp, user: &str, count: usize) -> Vec<String> {
    let id = shared::ids::UserId::parse(user).expect("user id");
    let mut tokens = Vec::new();
    for _ in 0..count {
        let session_id = shared::ids::new_id();
        let key = shared::accounts::items::SessionItem::key(id, &session_id);
        app.state
            .store
            .put_new(&shared::accounts::items::SessionItem {
                pk: key.pk,
                sk: key.sk,
                session_id: session_id.clone(),
                user_id: id,
                created_at: app.state.clock.timestamp(),
                expires_at: app.state.store.expires_in(3600),
                epoch: 0,
                last_refreshed_at: None,
                user_agent: None,
                network: None,
                authenticated_at: None,
                second_factor_at: None,
                amr: Vec::new(),
            })
            .await
            .expect("session");
        tokens.push(
            shared::auth::jwt::mint(
                app.state.auth.signer().await.expect("signer"),
                &app.state.auth.tokens,
                user,
                &[Role::User],
                &session_id,
                app.state.clock.unix_seconds(),
            )
            .expect("token"),
        );
    }
    tokens
}

async fn forgot(app: &TestApp, email: &str) {
    let answer = app
        .call(
            auth_password_forgot::handle,
            Call::new("POST", "/v1/auth/password/forgot").json(&json!({"email": email})),
        )
        .await;
    assert_eq!(answer.status, 202);
}

async fn reset_with(app: &TestApp, token: &str, password: &str) -> u16 {
    app.call(
        auth_password_reset::handle,
        Call::new("POST", "/v1/auth/password/reset")
            .json(&json!({"token": token, "newPassword": password})),
    )
    .await
    .status
}

/// Publishes a post tagged `tags` as `access`.
async fn publish(app: &TestApp, access: &str, title: &str, tags: &[&str]) {
    let created = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(access)
                .json(&json!({"title": title, "body": "b", "tags": tags, "status": "published"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
}

/// The app's world as it was `days` days ago.
fn days_ago(app: &TestApp, days: u64) -> TestApp {
    let at = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 24 * 3600);
    app.at(shared::clock::Clock::Fixed(at))
}

/// Every item of the app's table, sorted by key: what a refused request must leave unchanged.
async fn table_snapshot(app: &TestApp) -> Vec<String> {
    let records = infra::table::scan(app.client(), &app.table, |scan| scan.consistent_read(true))
        .await
        .expect("scan");
    // JSON objects keep their keys sorted: one spelling per item, nested maps included.
    let mut items: Vec<String> = records
        .into_iter()
        .map(|item| {
            serde_dynamo::from_item::<_, serde_json::Value>(item)
                .expect("an item as JSON")
                .to_string()
        })
        .collect();
    items.sort();
    items
}

/// How many items of the table have a key starting with one of `prefixes`.
async fn items_with_key(app: &TestApp, prefixes: &[&str]) -> usize {
    table_snapshot(app)
        .await
        .iter()
        .filter(|item| {
            prefixes
                .iter()
                .any(|p| item.contains(&format!("\"pk\":\"{p}")))
        })
        .count()
}

/// Registers `email` from `ip`: the answer.
async fn register_from(
    app: &TestApp,
    email: &str,
    password: &str,
    ip: &str,
) -> ferrite_tests::TestResponse {
    app.call(
        auth_register::handle,
        Call::new("POST", "/v1/auth/register")
            .json(&json!({"email": email, "name": "Someone", "password": password}))
            .from_ip(ip),
    )
    .await
}
