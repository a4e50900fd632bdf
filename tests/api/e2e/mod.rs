//! End to end: real HTTP through the local gateway, `cargo lambda watch` and the functions.

mod accounts;
mod gateway;
mod observability;
mod pipeline;
mod posts;
mod properties;

use ferrite_tests::{PASSWORD, api_url, delivery_bound, eventually, http};

/// A unique address per test run: the end-to-end tests share the stack's table.
fn unique_email(tag: &str) -> String {
    format!(
        "{tag}-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    )
}

async fn post(path: &str, body: &serde_json::Value, token: Option<&str>) -> reqwest::Response {
    let mut request = http().post(format!("{}{path}", api_url())).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// Asks for a password reset of `email` and returns the token of the link it is mailed.
async fn reset_token_by_email(email: &str) -> String {
    assert_eq!(
        post(
            "/v1/auth/password/forgot",
            &serde_json::json!({"email": email}),
            None
        )
        .await
        .status(),
        202
    );
    let (reset_mail, _) = eventually("the reset email", delivery_bound("EmailQueue"), || async {
        ferrite_tests::sent_emails(email)
            .await
            .into_iter()
            .find(|(subject, _)| subject.contains("Reset"))
    })
    .await;
    token_in(&reset_mail.1)
}

fn token_in(html: &str) -> String {
    let start = html.find("token=").expect("a link with a token") + "token=".len();
    html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%'))
        .collect()
}

/// An account registered over HTTP with [`PASSWORD`] (the 201 checked).
struct Account {
    email: String,
    access: String,
    id: String,
}

async fn register_over_http(tag: &str, name: &str) -> Account {
    let email = unique_email(tag);
    let response = post(
        "/v1/auth/register",
        &serde_json::json!({"email": email, "name": name, "password": PASSWORD}),
        None,
    )
    .await;
    assert_eq!(response.status(), 201, "registering {email}");
    let body: serde_json::Value = response.json().await.expect("json");
    Account {
        access: body["accessToken"].as_str().expect("token").to_owned(),
        id: body["user"]["id"].as_str().expect("id").to_owned(),
        email,
    }
}

async fn admin_token(state: &shared::State) -> String {
    let email = register_over_http("auditor", "Auditor").await.email;
    ferrite_tests::grant(state, &email, shared::auth::Role::Admin).await;
    let login: serde_json::Value = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": PASSWORD}),
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    login["accessToken"].as_str().expect("token").to_owned()
}

fn stack_state() -> shared::State {
    let table = std::env::var("TABLE_NAME").expect("`make test` exports the stack's TABLE_NAME");
    let config = shared::config::Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.clone()),
        "CURSOR_SECRET" => Some(ferrite_tests::TEST_CURSOR_SECRET.to_owned()),
        other => std::env::var(other).ok(),
    })
    .expect("config");
    shared::State::from_config(config, shared::clock::Clock::System).expect("state")
}

async fn put(path: &str, body: &serde_json::Value, token: &str) -> reqwest::Response {
    http()
        .put(format!("{}{path}", api_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

/// A user's audit history (`GET /v1/audit?entityType=user&entityId=…`), newest first; None
/// when the API could not answer.
async fn user_history(admin: &str, user: &str) -> Option<Vec<serde_json::Value>> {
    let url = format!("{}/v1/audit?entityType=user&entityId={user}", api_url());
    let page = ferrite_tests::get_json(&url, Some(admin)).await?;
    page["items"].as_array().cloned()
}

/// Audit entries of one type between two instants (`GET /v1/audit?from&to`, month by month).
async fn audit_between(
    admin: &str,
    from: std::time::SystemTime,
    to: std::time::SystemTime,
    kind: &str,
) -> Vec<serde_json::Value> {
    let (from, to) = (shared::clock::rfc3339(from), shared::clock::rfc3339(to));
    // The API answers one calendar month per query.
    let mut ranges = vec![(from.clone(), to.clone())];
    if from[..7] != to[..7] {
        ranges = vec![
            (from.clone(), format!("{}-31T23:59:59.999Z", &from[..7])),
            (format!("{}-01T00:00:00.000Z", &to[..7]), to.clone()),
        ];
    }
    let mut entries = Vec::new();
    for (from, to) in ranges {
        let mut cursor: Option<String> = None;
        loop {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("from", &from)
                .append_pair("to", &to)
                .append_pair("limit", "100");
            if let Some(cursor) = &cursor {
                query.append_pair("cursor", cursor);
            }
            let page: serde_json::Value = http()
                .get(format!("{}/v1/audit?{}", api_url(), query.finish()))
                .bearer_auth(admin)
                .send()
                .await
                .expect("audit")
                .json()
                .await
                .expect("json");
            entries.extend(
                page["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .filter(|e| e["type"] == kind)
                    .cloned(),
            );
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
    }
    entries
}
