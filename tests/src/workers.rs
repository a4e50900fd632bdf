//! The workers, run in-process on a test's outbox as the template's functions (each signing
//! with its own role).

use crate::{Call, TestApp, TestResponse, sqs_event, stream_record};

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
pub async fn purge(app: &TestApp, until: std::time::SystemTime) -> shared::worker::BatchOutcome {
    let event = app
        .outbox()
        .await
        .into_iter()
        .rev()
        .find(|e| shared::posts::ACCOUNT_DELETED_EVENTS.contains(&e.kind.as_str()))
        .expect("an account deletion event");
    worker_purge::handle(
        app.state_of("WorkerPurgeFunction"),
        sqs_event(&[stream_record(&event)]),
        until,
    )
    .await
}

/// A deadline far enough away for any purge a test makes.
pub fn unhurried() -> std::time::SystemTime {
    std::time::SystemTime::now() + std::time::Duration::from_secs(600)
}

/// The template's schedule `name` (a logical id), as the local stack fires it.
pub fn schedule(name: &str) -> infra::schedules::Schedule {
    infra::schedules::schedules(crate::world::template(), &crate::world::placeholder_ctx())
        .expect("schedules")
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is not a schedule of template.yaml"))
}

/// Runs the rent worker on a tick of the template's `RentSchedule` as of `scheduled` (RFC 3339,
/// UTC) — the message EventBridge Scheduler would send — with `state` (the worker's, or a
/// counting app's), until `until`: the batch response.
pub async fn rent_tick_with(
    state: &'static shared::State,
    scheduled: &str,
    until: std::time::SystemTime,
) -> shared::worker::BatchOutcome {
    let tick = schedule("RentSchedule").input_at(scheduled);
    worker_rent::handle(state, sqs_event(&[tick]), until).await
}

/// [`rent_tick_with`] as the template's worker function (signing with its role).
pub async fn rent_tick(
    app: &TestApp,
    scheduled: &str,
    until: std::time::SystemTime,
) -> shared::worker::BatchOutcome {
    rent_tick_with(app.state_of("WorkerRentFunction"), scheduled, until).await
}

/// Runs the notifications worker (as the template's function, keeping notifications the
/// template's default days) on every event of `app`'s outbox that asks for a notification —
/// as `NotificationsRule` forwards them: the batch response. Running it again is a redelivery.
pub async fn notify(app: &TestApp) -> shared::worker::BatchOutcome {
    notify_with(app, &notification_records(app).await).await
}

/// The stream records of the events of `app`'s outbox that ask for a notification.
pub async fn notification_records(app: &TestApp) -> Vec<String> {
    app.outbox()
        .await
        .iter()
        .filter(|e| e.notification.is_some())
        .map(stream_record)
        .collect()
}

/// Runs the notifications worker on `records` (see [`notify`]). Its WebSocket API is one where
/// nothing listens: a test without connections makes no push.
pub async fn notify_with(app: &TestApp, records: &[String]) -> shared::worker::BatchOutcome {
    let nowhere = [
        ("WEBSOCKET_API_ENDPOINT", "ws://127.0.0.1:9".to_owned()),
        ("WEBSOCKET_STAGE", "v1".to_owned()),
    ];
    notify_pushing(app, records, &nowhere).await
}

/// Runs the notifications worker on `records`, pushing through the WebSocket API of `settings`
/// (`WEBSOCKET_API_ENDPOINT`, `WEBSOCKET_STAGE`: [`crate::live::Live::settings`]).
pub async fn notify_pushing(
    app: &TestApp,
    records: &[String],
    settings: &[(&str, String)],
) -> shared::worker::BatchOutcome {
    let worker = worker_notifications::NotificationsWorker::new(
        app.state_of("WorkerNotificationsFunction").clone(),
        |name| {
            settings
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        },
    )
    .expect("worker");
    worker_notifications::handle(&worker, sqs_event(records)).await
}

/// `GET /v1/users/me/notifications` of `token` with `query` (`limit`, `cursor`), which must
/// answer 200: the inbox the notifications worker writes.
pub async fn inbox(app: &TestApp, token: &str, query: &[(&str, &str)]) -> TestResponse {
    let mut call = Call::new("GET", "/v1/users/me/notifications").bearer(token);
    for (name, value) in query {
        call = call.query(name, value);
    }
    let answer = app.call(users_me_notifications::handle, call).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
}
