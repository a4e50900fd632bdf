//! Webhooks, against the local endpoint: admins register endpoints (the secret shown once,
//! sealed with KMS), the worker delivers each event its endpoints follow — signed as Standard
//! Webhooks says, checked here with the specification's own library — to a receiver on this
//! machine's loopback (a test target), retries through the queue with its backoff, gives up to
//! the dead-letter queue, disables an endpoint that keeps failing and tells its admin; and
//! refuses targets that are not public wherever their address comes from.

use ferrite_tests::webhooks::{Receiver, WebhookQueue, worker};
use ferrite_tests::{Call, TestApp, TestResponse, workers};
use serde_json::{Value, json};
use shared::clock::Clock;

/// How long a receive waits for a message at most (SQS's longest long poll): it returns as soon
/// as one is visible, so the bound costs nothing when the queue works, and a busy machine has
/// room. Every step of these tests' backoff is shorter.
const LONG_POLL: i32 = 20;

/// A world whose webhooks may reach `receiver` (and nothing else on this machine).
async fn app_for(receiver: &Receiver) -> TestApp {
    TestApp::spawn_with(
        Clock::System,
        &[("WEBHOOK_TEST_TARGETS", &receiver.addr.to_string())],
    )
    .await
}

async fn register(app: &TestApp, admin: &str, url: &str, types: &[&str]) -> TestResponse {
    app.call(
        webhooks_create::handle,
        Call::new("POST", "/v1/webhooks")
            .json(&json!({"url": url, "eventTypes": types, "description": "the CRM"}))
            .bearer(admin),
    )
    .await
}

async fn publish(app: &TestApp, token: &str, title: &str) -> String {
    let created = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .json(&json!({"title": title, "body": "Hello", "status": "published"}))
                .bearer(token),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().expect("id").to_owned()
}

async fn deliveries(app: &TestApp, admin: &str, id: &str) -> Vec<Value> {
    let listed = app
        .call(
            webhooks_deliveries::handle,
            Call::new("GET", "/v1/webhooks/{id}/deliveries")
                .param("id", id)
                .bearer(admin),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body["items"].as_array().expect("items").clone()
}

async fn endpoint(app: &TestApp, admin: &str, id: &str) -> Value {
    let listed = app
        .call(
            webhooks_list::handle,
            Call::new("GET", "/v1/webhooks").bearer(admin),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .expect("the endpoint is listed")
}

#[tokio::test]
async fn an_admin_registers_an_endpoint_whose_secret_is_shown_once_and_stored_sealed() {
    let receiver = Receiver::start(&[]).await;
    let app = app_for(&receiver).await;
    let (admin, _) = app.admin("hooks-admin@example.com").await;
    let created = register(
        &app,
        &admin,
        &receiver.url(),
        &["post.published", "property.created"],
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let secret = created.body["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/webhooks/{id}").as_str())
    );
    assert_eq!(created.body["status"], "enabled");
    assert_eq!(
        created.body["eventTypes"],
        json!(["property.created", "post.published"])
    );

    let listed = endpoint(&app, &admin, &id).await;
    assert!(listed.get("secret").is_none(), "{listed}");
    assert_eq!(listed["url"], receiver.url());

    // The table holds the secret sealed: neither it nor its key bytes in the clear.
    let item: Value = app
        .state
        .store
        .get(&shared::store::Key::new(format!("WEBHOOK#{id}"), "WEBHOOK"))
        .await
        .expect("read")
        .expect("stored");
    let key = secret.trim_start_matches("whsec_");
    assert!(
        !item.to_string().contains(key),
        "the secret is stored in the clear"
    );
    assert!(
        item["sealedSecret"].as_str().is_some_and(|s| s.len() > 44),
        "{item}"
    );
}

#[tokio::test]
async fn registrations_to_local_private_or_metadata_addresses_or_over_plain_http_are_refused() {
    let receiver = Receiver::start(&[]).await;
    let app = app_for(&receiver).await;
    let (admin, _) = app.admin("hooks-refused@example.com").await;
    let other_port = receiver.addr.port().wrapping_add(1);
    for url in [
        "https://localhost/hooks".to_owned(),
        "https://127.0.0.1/hooks".to_owned(),
        "https://2130706433/hooks".to_owned(),
        "https://[::1]/hooks".to_owned(),
        "https://[::ffff:127.0.0.1]/hooks".to_owned(),
        "https://[::ffff:a9fe:a9fe]/latest/meta-data".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[fd00:ec2::254]/latest/meta-data".to_owned(),
        "https://10.0.0.8/hooks".to_owned(),
        "https://metadata.google.internal/hooks".to_owned(),
        "http://hooks.example.com/hooks".to_owned(),
        format!("http://127.0.0.1:{other_port}/hooks"),
        "https://user:pw@hooks.example.com/hooks".to_owned(),
        "ftp://hooks.example.com/hooks".to_owned(),
    ] {
        let refused = register(&app, &admin, &url, &["post.published"]).await;
        assert_eq!(refused.status, 422, "{url}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["field"], "url", "{url}");
    }
    let unknown = register(
        &app,
        &admin,
        "https://hooks.example.com/in",
        &["user.registered"],
    )
    .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    let none = register(&app, &admin, "https://hooks.example.com/in", &[]).await;
    assert_eq!(none.status, 422, "{}", none.body);
}

#[tokio::test]
async fn a_delivery_is_signed_as_standard_webhooks_says_and_carries_the_public_payload_only() {
    let receiver = Receiver::start(&[]).await;
    let app = app_for(&receiver).await;
    let (admin, _) = app.admin("hooks-signed@example.com").await;
    let created = register(&app, &admin, &receiver.url(), &["post.published"]).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let secret = created.body["secret"].as_str().expect("secret").to_owned();
    let (author, _) = app.user("hooks-author@example.com", None).await;
    let post = publish(&app, &author, "Signed delivery").await;

    let queue = WebhookQueue::new(&app, &[1]).await;
    assert_eq!(queue.forward(&app).await, 1);
    let batch = queue.receive(LONG_POLL).await.expect("the event");
    let worker = worker(&app, &queue.settings(&[]));
    let outcome = queue.run(&worker, batch).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    // Verified by the Standard Webhooks library (its own HMAC implementation, not ours).
    let verifier = standardwebhooks::Webhook::new(&secret).expect("the secret");
    verifier
        .verify(&got[0].body, &got[0].headers)
        .expect("the signature verifies");
    let wrong =
        standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a secret");
    assert!(wrong.verify(&got[0].body, &got[0].headers).is_err());
    let mut tampered = got[0].body.clone();
    tampered.push(b' ');
    assert!(verifier.verify(&tampered, &got[0].headers).is_err());

    let payload: Value = serde_json::from_slice(&got[0].body).expect("json");
    let event = app.last_event("post.published").await.expect("the event");
    assert_eq!(got[0].headers["webhook-id"], event.id.to_string().as_str());
    assert_eq!(
        payload,
        json!({"type": "post.published", "timestamp": event.occurred_at, "data": {"object": "post", "id": post}})
    );
    assert_eq!(got[0].headers["content-type"], "application/json");

    let records = deliveries(&app, &admin, &id).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], "succeeded");
    assert_eq!(records[0]["attempts"], 1);
    assert_eq!(records[0]["responseStatus"], 200);
    assert_eq!(records[0]["id"], event.id.to_string());

    // Delivered again (SQS is at least once): the endpoint that answered gets nothing twice.
    assert_eq!(queue.forward(&app).await, 1);
    let again = queue.receive(LONG_POLL).await.expect("the event again");
    let outcome = queue.run(&worker, again).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_after_its_backoff_and_then_succeeds() {
    let receiver = Receiver::start(&[503]).await;
    let app = app_for(&receiver).await;
    let (admin, _) = app.admin("hooks-retry@example.com").await;
    let created = register(&app, &admin, &receiver.url(), &["post.published"]).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let (author, _) = app.user("hooks-retry-author@example.com", None).await;
    publish(&app, &author, "Retried").await;

    let queue = WebhookQueue::new(&app, &[2, 2]).await;
    let worker = worker(&app, &queue.settings(&[]));
    queue.forward(&app).await;
    let first = queue.receive(LONG_POLL).await.expect("the event");
    let hidden_from = std::time::Instant::now();
    let outcome = queue.run(&worker, first).await;
    assert_eq!(
        outcome.batch_item_failures.len(),
        1,
        "reported for redelivery"
    );
    assert_eq!(
        outcome.failed, 0,
        "a failing endpoint is not the worker failing"
    );
    let records = deliveries(&app, &admin, &id).await;
    assert_eq!(records[0]["status"], "retrying");
    assert_eq!(records[0]["responseStatus"], 503);
    assert!(records[0]["nextAttemptAt"].is_string());

    // Hidden for its backoff step: not handed out before it (whatever the machine's pace),
    // then handed out again.
    let step = std::time::Duration::from_secs(u64::from(queue.steps[0]));
    let second = match queue.receive(0).await {
        Some(early) => {
            assert!(
                hidden_from.elapsed() >= step,
                "handed out before its backoff step"
            );
            early
        }
        None => queue
            .receive(LONG_POLL)
            .await
            .expect("delivered again after the step"),
    };
    assert_eq!(second.records[0].attributes["ApproximateReceiveCount"], "2");
    let outcome = queue.run(&worker, second).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");
    let records = deliveries(&app, &admin, &id).await;
    assert_eq!(records[0]["status"], "succeeded");
    assert_eq!(records[0]["attempts"], 2);
    assert_eq!(receiver.received().len(), 2);
    // The same message id on every attempt.
    let ids: Vec<_> = receiver
        .received()
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn a_delivery_failing_every_attempt_is_given_up_to_the_dead_letter_queue() {
    let receiver = Receiver::start(&[500, 500, 302]).await;
    let app = app_for(&receiver).await;
    let (admin, _) = app.admin("hooks-dlq@example.com").await;
    let created = register(&app, &admin, &receiver.url(), &["post.published"]).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let (author, _) = app.user("hooks-dlq-author@example.com", None).await;
    publish(&app, &author, "Never answered").await;

    let queue = WebhookQueue::new(&app, &[1, 1]).await;
    let worker = worker(&app, &queue.settings(&[]));
    queue.forward(&app).await;
    for attempt in 1..=3 {
        let batch = queue
            .receive(LONG_POLL)
            .await
            .unwrap_or_else(|| panic!("attempt {attempt}"));
        let outcome = queue.run(&worker, batch).await;
        assert_eq!(outcome.batch_item_failures.len(), 1, "attempt {attempt}");
    }
    // The third receive was the last (maxReceiveCount 3), and the worker made the message
    // visible at once: the next receive moves it to the DLQ instead of handing it out.
    assert!(queue.receive(1).await.is_none());
    assert_eq!(queue.dead_lettered().await, 1);
    let records = deliveries(&app, &admin, &id).await;
    assert_eq!(records[0]["status"], "failed");
    assert_eq!(records[0]["attempts"], 3);
    // A redirect is an answer like any other failure: recorded, never followed.
    assert_eq!(records[0]["responseStatus"], 302);
    assert!(
        records[0]["error"]
            .as_str()
            .expect("why")
            .contains("not followed")
    );
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn an_endpoint_failing_past_the_bound_is_disabled_its_admin_told_and_enabled_again() {
    let receiver = Receiver::start(&[500, 500]).await;
    let app = app_for(&receiver).await;
    let (admin, _) = app.admin("hooks-disabled@example.com").await;
    let created = register(&app, &admin, &receiver.url(), &["post.published"]).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    let (author, _) = app.user("hooks-disabled-author@example.com", None).await;
    publish(&app, &author, "Down for days").await;

    // Failing for "0 seconds" is sustained enough: the second failure disables it.
    let queue = WebhookQueue::new(&app, &[1, 1, 1]).await;
    let worker = worker(
        &app,
        &queue.settings(&[("WEBHOOK_DISABLE_AFTER_SECONDS", "0".into())]),
    );
    queue.forward(&app).await;
    let first = queue.receive(LONG_POLL).await.expect("the event");
    queue.run(&worker, first).await;
    assert!(endpoint(&app, &admin, &id).await["failingSince"].is_string());
    let second = queue
        .receive(LONG_POLL)
        .await
        .expect("again after its step");
    let outcome = queue.run(&worker, second).await;
    assert!(
        outcome.batch_item_failures.is_empty(),
        "nothing more goes to a disabled endpoint"
    );
    let disabled = endpoint(&app, &admin, &id).await;
    assert_eq!(disabled["status"], "disabled", "{disabled}");
    assert_eq!(disabled["disabledBy"], "failures");
    let records = deliveries(&app, &admin, &id).await;
    assert_eq!(records[0]["status"], "failed");

    // The admin who registered it is told, in their inbox.
    workers::notify(&app).await;
    let inbox = workers::inbox(&app, &admin, &[]).await;
    let told = &inbox.body["items"][0];
    assert_eq!(told["type"], "webhook.disabled", "{}", inbox.body);
    assert_eq!(told["data"]["webhookId"], id);
    assert_eq!(told["data"]["url"], receiver.url());

    // A disabled endpoint gets nothing.
    publish(&app, &author, "While disabled").await;
    queue.forward(&app).await;
    let later = queue.receive(LONG_POLL).await.expect("the events");
    let outcome = queue.run(&worker, later).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");
    assert_eq!(receiver.received().len(), 2);

    // Enabled again by its admin, under the version they saw: its failures forgotten.
    let enabled = app
        .call(
            webhooks_patch::handle,
            Call::new("PATCH", "/v1/webhooks/{id}")
                .param("id", &id)
                .json(&json!({"enabled": true, "version": disabled["version"]}))
                .bearer(&admin),
        )
        .await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    assert_eq!(enabled.body["status"], "enabled");
    assert!(enabled.body.get("failingSince").is_none());
    let stale = app
        .call(
            webhooks_patch::handle,
            Call::new("PATCH", "/v1/webhooks/{id}")
                .param("id", &id)
                .json(&json!({"enabled": false, "version": disabled["version"]}))
                .bearer(&admin),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
}

#[tokio::test]
async fn deliveries_refuse_hosts_that_resolve_to_this_machine_without_connecting() {
    let allowed = Receiver::start(&[]).await;
    // A listener that is not a test target: nothing may reach it.
    let forbidden = Receiver::start(&[]).await;
    let targets = shared::webhooks::TestTargets::parse(&allowed.addr.to_string()).expect("targets");
    // As in AWS: names are looked up, and every address checked.
    let sender = shared::webhooks::delivery::Sender::new(targets.clone(), false);
    let port = forbidden.addr.port();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("this machine's name")
        .trim()
        .to_owned();
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((hostname.as_str(), port))
        .await
        .expect("this machine's name resolves")
        .collect();
    assert!(
        resolved
            .iter()
            .all(|a| !shared::webhooks::target::is_public(a.ip())),
        "{hostname} resolves to {resolved:?}"
    );
    for url in [
        // Names that resolve to this machine: one the name rules catch, one only the lookup does.
        format!("https://localhost:{port}/hooks"),
        format!("https://{hostname}:{port}/hooks"),
        format!("https://127.0.0.1:{port}/hooks"),
        format!("https://2130706433:{port}/hooks"),
        format!("https://[::1]:{port}/hooks"),
        format!("https://[::ffff:127.0.0.1]:{port}/hooks"),
        format!("https://[::ffff:7f00:1]:{port}/hooks"),
        format!("https://[64:ff9b::7f00:1]:{port}/hooks"),
    ] {
        let parsed = url::Url::parse(&url).expect("a URL");
        let refused = sender
            .post(&parsed, &[], b"{}".to_vec())
            .await
            .expect_err(&url);
        assert_eq!(refused.status, None, "{url}");
        assert!(
            refused.error.contains("not a public address")
                || refused.error.contains("names this machine"),
            "{url}: {}",
            refused.error
        );
    }
    assert_eq!(
        forbidden.connections(),
        0,
        "a refused target was connected to"
    );
    // The test target itself is reached, over plain HTTP.
    let fine = url::Url::parse(&allowed.url()).expect("a URL");
    assert_eq!(sender.post(&fine, &[], b"{}".to_vec()).await, Ok(200));

    // A local stack reaches nothing off this machine, not even a public address or a name.
    let local = shared::webhooks::delivery::Sender::new(targets, true);
    for url in [
        "https://93.184.215.14/hooks",
        "https://hooks.example.com/hooks",
    ] {
        let parsed = url::Url::parse(url).expect("a URL");
        let refused = local
            .post(&parsed, &[], b"{}".to_vec())
            .await
            .expect_err(url);
        assert!(
            refused.error.contains("a local stack"),
            "{url}: {}",
            refused.error
        );
    }
    assert_eq!(local.post(&fine, &[], b"{}".to_vec()).await, Ok(200));
}

#[tokio::test]
async fn the_webhooks_rule_forwards_exactly_the_event_types_endpoints_may_follow() {
    let template = infra::tree::template().expect("the template");
    let rule = template
        .resources_of("AWS::Events::Rule")
        .find(|r| r.logical_id == "WebhooksRule")
        .expect("WebhooksRule");
    let types: Vec<&str> = rule.properties["EventPattern"]["detail"]["dynamodb"]["NewImage"]["event"]
        ["M"]["type"]["S"]
        .as_sequence()
        .expect("the types")
        .iter()
        .map(|t| t.as_str().expect("a name"))
        .collect();
    let expected: Vec<&str> = shared::webhooks::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(types, expected);
}

#[tokio::test]
async fn the_worker_makes_the_documented_calls_per_endpoint() {
    let receiver = Receiver::start(&[]).await;
    let (app, log) =
        TestApp::spawn_counting_with(&[("WEBHOOK_TEST_TARGETS", &receiver.addr.to_string())]).await;
    let (admin, _) = app.admin("hooks-calls@example.com").await;
    register(&app, &admin, &receiver.url(), &["post.published"]).await;
    let (author, _) = app.user("hooks-calls-author@example.com", None).await;
    publish(&app, &author, "Counted").await;
    let queue = WebhookQueue::new(&app, &[1]).await;
    let worker = worker(&app, &queue.settings(&[]));
    queue.forward(&app).await;
    let batch = queue.receive(LONG_POLL).await.expect("the event");
    log.take();
    let outcome = queue.run(&worker, batch).await;
    assert!(outcome.batch_item_failures.is_empty(), "{outcome:?}");
    // The endpoints (Query gsi1), then per endpoint: its delivery so far (GetItem), its secret
    // opened (Decrypt: once per instance), the attempt recorded (PutItem).
    assert_eq!(log.take(), ["Query", "GetItem", "Decrypt", "PutItem"]);
    // Delivered again: the endpoint answered already (its delivery read, nothing sent).
    queue.forward(&app).await;
    let again = queue.receive(LONG_POLL).await.expect("the event again");
    log.take();
    queue.run(&worker, again).await;
    assert_eq!(log.take(), ["Query", "GetItem"]);
}
