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
    (sign_in_as(app, email, PASSWORD, role).await, id)
}

/// Grants `email` `role` the documented way (`grant_role`), if any, and signs in: the access
/// token, which carries the role.
pub async fn sign_in_as(app: &TestApp, email: &str, password: &str, role: Option<Role>) -> String {
    if let Some(role) = role {
        shared::accounts::grant_role(app.state, &Email::parse(email).expect("email"), role)
            .await
            .expect("grant");
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

/// The email worker of `app`'s world, sending from `sender` (made a verified SES identity when
/// `verified`), as the template's worker function (its role's policy resolved for `sender`).
pub async fn email_worker(
    app: &TestApp,
    sender: &str,
    verified: bool,
) -> worker_email::EmailWorker {
    if verified {
        let ses = aws_sdk_sesv2::Client::new(app.state.sdk_config());
        drop(
            ses.create_email_identity()
                .email_identity(sender)
                .send()
                .await,
        );
    }
    // The worker's role may send only from the stack's EmailSender.
    app.with_parameters(&[("EmailSender", sender)]).await;
    worker_email::EmailWorker::new(
        app.state_of("WorkerEmailFunction").clone(),
        |name| match name {
            "EMAIL_SENDER" => Some(sender.to_owned()),
            "APP_BASE_URL" => Some("https://app.example.com".to_owned()),
            _ => None,
        },
    )
    .expect("worker")
}

/// Runs the purge worker (as the template's function) on the newest account deletion event of
/// `app`'s outbox, purging until `until`: the batch response.
pub async fn purge(
    app: &TestApp,
    until: std::time::SystemTime,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    let event = app
        .outbox()
        .await
        .into_iter()
        .rev()
        .find(|e| shared::posts::ACCOUNT_DELETED_EVENTS.contains(&e.kind.as_str()))
        .expect("an account deletion event");
    worker_purge::handle(
        app.state_of("WorkerPurgeFunction"),
        ferrite_tests::sqs_event(&[ferrite_tests::stream_record(&event)]),
        until,
    )
    .await
}

/// A deadline far enough away for any purge a test makes.
pub fn unhurried() -> std::time::SystemTime {
    std::time::SystemTime::now() + std::time::Duration::from_secs(600)
}
