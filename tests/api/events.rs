//! The workers in-process, with real SQS events, against the local endpoint.

use ferrite_tests::{Call, TestApp, sent_emails, sqs_event, stream_record};

use ferrite_tests::email_worker;
use serde_json::json;
use shared::auth::Role;
use shared::events::{Actor, Event};

fn event_for(kind: &str, entity: &str) -> Event {
    Event::new(
        kind,
        Actor::system("test"),
        "user",
        entity,
        "2026-11-24T05:44:53.000Z".into(),
    )
    .change("name", (), "Ada")
}

/// A welcome email event to a fresh address `<prefix>-<ulid>@example.com`: the address and
/// the event.
fn welcome_email(prefix: &str, entity: &str, token: &str) -> (String, Event) {
    let to = format!(
        "{prefix}-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let event = event_for("user.registered", entity).email(
        "welcome",
        &to,
        &[("name", "Ada"), ("verifyToken", token)],
    );
    (to, event)
}

fn audit_worker(app: &TestApp) -> worker_audit::AuditWorker {
    worker_audit::AuditWorker::new(app.state_of("WorkerAuditFunction").clone(), |_| None)
        .expect("worker")
}

async fn audit_count(app: &TestApp, entity: &str) -> usize {
    shared::audit::query(
        &app.state.store,
        &shared::audit::AuditQuery::Entity {
            kind: "user".into(),
            id: entity.into(),
        },
        &shared::store::PageRequest::first(100),
    )
    .await
    .expect("query")
    .items
    .len()
}

#[tokio::test]
async fn the_audit_worker_reports_exactly_the_bad_record_of_a_batch() {
    let app = TestApp::spawn().await;
    let worker = audit_worker(&app);
    let good = event_for("user.registered", "u-1");
    let bodies = vec![
        stream_record(&good),
        "{\"not\": \"a stream record\"}".to_owned(),
        stream_record(&event_for("user.logged_in", "u-1")),
    ];
    let response = worker_audit::handle(&worker, sqs_event(&bodies)).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["message-1"]);
    assert_eq!(
        audit_count(&app, "u-1").await,
        2,
        "the records around the bad one were processed"
    );
}

#[tokio::test]
async fn a_redelivered_event_makes_one_audit_entry() {
    let app = TestApp::spawn().await;
    let worker = audit_worker(&app);
    let event = event_for("user.profile_updated", "u-2");
    let body = stream_record(&event);
    let response = worker_audit::handle(&worker, sqs_event(&[body.clone(), body.clone()])).await;
    assert!(response.batch_item_failures.is_empty());
    let response = worker_audit::handle(&worker, sqs_event(&[body])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(audit_count(&app, "u-2").await, 1);
}

#[tokio::test]
async fn admins_read_the_trail_by_entity_actor_and_time() {
    let app = TestApp::spawn().await;
    let worker = audit_worker(&app);
    // Real events: registration and promotion of an admin, then a member's registration.
    let password = "violet anchor drifts north";
    let register = |email: &str| {
        app.call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": "N", "password": password})),
        )
    };
    let admin_id = register("admin@example.com").await.body["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.grant("admin@example.com", Role::Admin).await;
    let member_id = register("member@example.com").await.body["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let bodies: Vec<String> = app.outbox().await.iter().map(stream_record).collect();
    assert!(
        worker_audit::handle(&worker, sqs_event(&bodies))
            .await
            .batch_item_failures
            .is_empty()
    );

    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "admin@example.com", "password": password})),
        )
        .await;
    let token = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let audit = |call: Call| app.call(audit_list::handle, call.bearer(&token));

    let by_entity = audit(
        Call::new("GET", "/v1/audit")
            .query("entityType", "user")
            .query("entityId", &admin_id),
    )
    .await;
    assert_eq!(by_entity.status, 200, "{:?}", by_entity.body);
    let kinds: Vec<&str> = by_entity.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["user.roles_changed", "user.registered"],
        "newest first"
    );
    assert!(
        by_entity.body["items"][0].get("email").is_none(),
        "the email section is not stored"
    );

    let by_actor = audit(Call::new("GET", "/v1/audit").query("actorId", &member_id)).await;
    assert_eq!(by_actor.body["items"][0]["type"], "user.registered");

    let now = shared::clock::rfc3339(std::time::SystemTime::now());
    let month_start = format!("{}-01T00:00:00Z", &now[..7]);
    let by_time = audit(
        Call::new("GET", "/v1/audit")
            .query("from", &month_start)
            .query("to", &now)
            .query("limit", "2"),
    )
    .await;
    assert_eq!(by_time.body["items"].as_array().map(Vec::len), Some(2));
    assert!(by_time.body["nextCursor"].is_string());

    for bad in [
        Call::new("GET", "/v1/audit"),
        Call::new("GET", "/v1/audit").query("entityType", "user"),
        Call::new("GET", "/v1/audit")
            .query("actorId", "x")
            .query("entityType", "user")
            .query("entityId", "y"),
        Call::new("GET", "/v1/audit")
            .query("from", "2026-10-31T00:00:00Z")
            .query("to", "2026-11-01T00:00:00Z"),
        Call::new("GET", "/v1/audit")
            .query("from", "yesterday")
            .query("to", "today"),
    ] {
        assert_eq!(audit(bad).await.status, 400);
    }
    let member_login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "member@example.com", "password": password})),
        )
        .await;
    let member = member_login.body["accessToken"].as_str().expect("token");
    let forbidden = app
        .call(
            audit_list::handle,
            Call::new("GET", "/v1/audit")
                .query("actorId", "x")
                .bearer(member),
        )
        .await;
    assert_eq!(forbidden.status, 403);
}

#[tokio::test]
async fn a_duplicate_delivery_sends_one_email() {
    let app = TestApp::spawn().await;
    let worker = email_worker(&app, "no-reply@example.com", true).await;
    let (to, event) = welcome_email("dup", "u-3", "tok123");
    let body = stream_record(&event);
    let response =
        worker_email::handle(&worker, sqs_event(&[body.clone(), body.clone(), body])).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = sent_emails(&to).await;
    assert_eq!(sent.len(), 1, "one email for three deliveries");
    assert!(sent[0].0.contains("confirm your email"));
    // HTML escapes `/` in attributes (`https:&#x2f;&#x2f;…`): what matters is the link and its token.
    assert!(
        sent[0].1.contains("verify-email?token=tok123"),
        "{}",
        sent[0].1
    );
}

#[tokio::test]
async fn when_ses_fails_for_now_the_record_fails_and_a_retry_sends_it() {
    let app = TestApp::spawn().await;
    let (to, event) = welcome_email("retry", "u-4", "t");
    let body = stream_record(&event);

    // SES refuses for a reason that a retry may not meet (here: a configuration set it does
    // not have yet, NotFoundException): the record fails, so SQS delivers it again.
    let mut failing = email_worker(&app, "no-reply@example.com", true).await;
    failing.configuration_set = Some(format!("not-yet-{}", app.table));
    let response = worker_email::handle(&failing, sqs_event(std::slice::from_ref(&body))).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "reported, so SQS retries and then dead-letters it"
    );
    assert!(sent_emails(&to).await.is_empty());

    // The claim was released: a retry after SES recovers sends the email.
    let healthy = email_worker(&app, "no-reply@example.com", true).await;
    assert!(
        worker_email::handle(&healthy, sqs_event(&[body]))
            .await
            .batch_item_failures
            .is_empty()
    );
    assert_eq!(sent_emails(&to).await.len(), 1);
}

#[tokio::test]
async fn an_email_ses_rejects_for_good_is_settled_instead_of_retried_into_the_dead_letter_queue() {
    let app = TestApp::spawn().await;
    let (to, event) = welcome_email("rejected", "u-4r", "t");
    let body = stream_record(&event);

    // A sender no identity verifies: SES rejects the message (MessageRejected), and will
    // every time. The record succeeds — nothing to retry — and nothing is sent.
    let refused = email_worker(&app, "unverified-sender@example.org", false).await;
    let response = worker_email::handle(&refused, sqs_event(std::slice::from_ref(&body))).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a permanent rejection is settled, not failed into the DLQ"
    );
    assert!(sent_emails(&to).await.is_empty());
    let claim: serde_json::Value = app
        .state
        .store
        .get(&shared::store::Key::email_send(event.id, 0))
        .await
        .expect("read")
        .expect("the claim is kept");
    assert_eq!(claim["state"], "rejected", "{claim}");

    // Settled: a redelivery does not try again, even once the worker could send.
    let healthy = email_worker(&app, "no-reply@example.com", true).await;
    assert!(
        worker_email::handle(&healthy, sqs_event(&[body]))
            .await
            .batch_item_failures
            .is_empty()
    );
    assert!(sent_emails(&to).await.is_empty());
}

#[tokio::test]
async fn an_event_without_email_or_with_an_unknown_template_is_a_failed_record() {
    let app = TestApp::spawn().await;
    let worker = email_worker(&app, "no-reply@example.com", true).await;
    let no_email = stream_record(&event_for("user.logged_in", "u-5"));
    let unknown =
        stream_record(&event_for("user.x", "u-5").email("no-such-template", "a@example.com", &[]));
    let response = worker_email::handle(&worker, sqs_event(&[no_email, unknown])).await;
    assert_eq!(response.batch_item_failures.len(), 2);
}

#[tokio::test]
async fn an_email_to_an_account_that_is_gone_is_not_sent_and_the_events_other_emails_are() {
    let app = TestApp::spawn().await;
    let worker = email_worker(&app, "no-reply@example.com", true).await;
    let to = format!(
        "still-here-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let (_, here) = app.user(&to, None).await;
    let here = here.parse().expect("a user id");
    let event = event_for("property.transferred", "p-1")
        .email_user("password-changed", shared::ids::UserId::generate(), &[])
        .email_user("password-changed", here, &[]);
    let record = stream_record(&event);
    let response = worker_email::handle(&worker, sqs_event(std::slice::from_ref(&record))).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = sent_emails(&to).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    // Greeted by the name the account has (the event gave none).
    assert!(sent[0].1.contains("Hello Poster,"), "{}", sent[0].1);
    // A redelivery sends neither again: the gone account's claim is settled, not pending.
    let response = worker_email::handle(&worker, sqs_event(&[record])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(sent_emails(&to).await.len(), 1);
}

/// A reader of a test table's stream, from its first record, as a pipe reads it: one iterator
/// followed from the start.
struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    iterator: Option<String>,
}

impl StreamReader {
    async fn open(app: &TestApp) -> Self {
        let sdk = infra::local_sdk_config(&ferrite_tests::endpoint()).await;
        let client = aws_sdk_dynamodbstreams::Client::new(&sdk);
        let arn = app
            .client()
            .describe_table()
            .table_name(&app.table)
            .send()
            .await
            .expect("describe")
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("a stream");
        let shard = client
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .expect("describe stream")
            .stream_description
            .and_then(|d| d.shards.and_then(|s| s.into_iter().next()))
            .and_then(|s| s.shard_id)
            .expect("a shard");
        let iterator = client
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("iterator")
            .shard_iterator;
        Self { client, iterator }
    }

    /// The event ids of the `OUTBOX#` INSERTs read until the stream has no more.
    async fn outbox_events(&mut self) -> std::collections::BTreeSet<String> {
        let mut ids = std::collections::BTreeSet::new();
        while let Some(current) = self.iterator.take() {
            let page = self
                .client
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .expect("records");
            for record in page.records() {
                let Some(image) = record.dynamodb().and_then(|d| d.new_image()) else {
                    continue;
                };
                let pk = image.get("pk").and_then(|v| v.as_s().ok());
                if record
                    .event_name()
                    .map(aws_sdk_dynamodbstreams::types::OperationType::as_str)
                    == Some("INSERT")
                    && pk.is_some_and(|pk| pk.starts_with("OUTBOX#"))
                {
                    let event = image
                        .get("event")
                        .and_then(|v| v.as_m().ok())
                        .and_then(|m| m.get("id"))
                        .and_then(|v| v.as_s().ok())
                        .expect("an outbox record names its event");
                    ids.insert(event.clone());
                }
            }
            let done = page.records().is_empty();
            self.iterator = page.next_shard_iterator;
            if done {
                break;
            }
        }
        ids
    }
}

#[tokio::test]
async fn refused_writes_put_nothing_on_the_stream_and_every_streamed_event_was_committed() {
    let app = TestApp::spawn().await;
    // Opened before any write, and followed to the end, as a pipe follows the stream.
    let mut stream = StreamReader::open(&app).await;
    let password = "violet anchor drifts north";
    let register = |email: &'static str| {
        app.call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register")
                .json(&json!({"email": email, "name": "Ada Lovelace", "password": password})),
        )
    };
    let first = register("ada@example.com").await;
    assert_eq!(first.status, 201);
    let token = first.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let id = first.body["user"]["id"].as_str().expect("id").to_owned();
    // Refused: the same address in another case; nine of ten racing registrations.
    assert_eq!(register("ADA@example.com").await.status, 409);
    let statuses = ferrite_tests::racing_registrations(&app, "grace@example.com", 10).await;
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    // Refused: a stale version.
    let stale = app
        .call(
            users_me_patch::handle,
            Call::new("PATCH", "/v1/users/me")
                .bearer(&token)
                .header("if-match", "\"0\"")
                .json(&json!({"name": "Stale"})),
        )
        .await;
    assert_eq!(stale.status, 412);
    // Refused: the last admin demoting or disabling themselves.
    let admin =
        ferrite_tests::sign_in_as(&app, "ada@example.com", password, Some(Role::Admin)).await;
    for body in [json!({"roles": ["USER"]}), json!({"status": "disabled"})] {
        let refused = app
            .call(
                users_patch::handle,
                Call::new("PATCH", "/v1/users/{id}")
                    .param("id", &id)
                    .bearer(&admin)
                    .json(&body),
            )
            .await;
        assert_eq!((refused.status, refused.code()), (409, "LAST_ADMIN"));
    }

    // One change committed after the refused ones: the stream must still carry it.
    let me = app
        .call(
            users_me_get::handle,
            Call::new("GET", "/v1/users/me").bearer(&admin),
        )
        .await;
    let etag = me.header("etag").expect("an ETag").to_owned();
    let after = app
        .call(
            users_me_patch::handle,
            Call::new("PATCH", "/v1/users/me")
                .bearer(&admin)
                .header("if-match", &etag)
                .json(&json!({"name": "Ada Byron"})),
        )
        .await;
    assert_eq!(after.status, 200, "{:?}", after.body);

    let committed: std::collections::BTreeSet<String> = app
        .outbox()
        .await
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(stream.outbox_events().await, committed);
    let registered = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "user.registered")
        .count();
    assert_eq!(registered, 2, "one event per accepted registration");
}

#[tokio::test]
async fn a_pipe_describes_a_batch_its_target_refuses_in_its_dead_letter_queue_after_its_retries() {
    let app = TestApp::spawn().await;
    // The template's pipes give up after a bounded number of retries, into their DLQ.
    let template = infra::tree::template().expect("template");
    let mut ctx = infra::template::Context::local("limits", "us-east-1");
    for resource in template.resources() {
        ctx.refs.insert(
            resource.logical_id.to_owned(),
            format!("url-{}", resource.logical_id),
        );
    }
    ctx.attributes
        .insert("Table.StreamArn".into(), "arn:stream".into());
    infra::stack::resolve_event_buses(&template, &mut ctx).expect("the event buses resolve");
    for pipe in infra::pumps::pipes(&template, &ctx).expect("pipes") {
        assert_eq!(pipe.give_up.max_retries, Some(10), "{}", pipe.name);
        assert_eq!(
            pipe.give_up.dead_letter_url.as_deref(),
            Some("url-PipeDeadLetterQueue"),
            "{}",
            pipe.name
        );
        // Its bus's rules give up too, into the events' dead-letter queue, with the events.
        if let infra::pumps::Target::Bus(bus) = &pipe.target {
            for target in bus.rules.iter().flat_map(|r| &r.targets) {
                assert_eq!(target.give_up.max_retries, Some(185), "{}", target.id);
                assert_eq!(
                    target.give_up.dead_letter_url.as_deref(),
                    Some("url-EventDeadLetterQueue")
                );
                assert!(target.give_up.dead_letter_as_is);
            }
        }
    }

    let sqs = aws_sdk_sqs::Client::new(app.state.sdk_config());
    let queue = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("a queue")
                .queue_url
                .expect("a url")
        }
    };
    let target = queue(format!("{}-target", app.table)).await;
    let dlq = queue(format!("{}-pipe-dlq", app.table)).await;
    let records: Vec<String> = (0..3)
        .map(|n| {
            let mut record: serde_json::Value =
                serde_json::from_str(&stream_record(&event_for("user.x", &format!("u-{n}"))))
                    .expect("json");
            record["dynamodb"]["SequenceNumber"] = format!("{}", 100 + n).into();
            record.to_string()
        })
        .collect();
    let give_up = infra::pumps::GiveUp {
        max_retries: Some(2),
        dead_letter_url: Some(dlq.clone()),
        dead_letter_as_is: false,
    };
    // A target that takes them: all delivered, nothing given up.
    let fine = infra::pumps::deliver(&sqs, &target, &give_up, &records, "pipe Test").await;
    assert_eq!(
        fine,
        infra::pumps::Delivered {
            delivered: 3,
            dead_lettered: 0
        }
    );
    // A target that refuses (it does not exist): retried twice, then described in the DLQ.
    let gone = format!("{target}-deleted");
    let refused = infra::pumps::deliver(&sqs, &gone, &give_up, &records, "pipe Test").await;
    assert_eq!(
        refused,
        infra::pumps::Delivered {
            delivered: 0,
            dead_lettered: 3
        }
    );
    let messages = sqs
        .receive_message()
        .queue_url(&dlq)
        .max_number_of_messages(10)
        .send()
        .await
        .expect("the DLQ")
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 1, "one description per batch");
    let described: serde_json::Value =
        serde_json::from_str(messages[0].body().unwrap_or_default()).expect("json");
    assert_eq!(described["pipe"], "Test");
    assert_eq!(described["batchSize"], 3);
    assert_eq!(described["startSequenceNumber"], "100");
    assert_eq!(described["endSequenceNumber"], "102");
    assert!(!described["failure"].as_str().unwrap_or_default().is_empty());
    // The description holds where the records are, not what they say.
    assert!(!messages[0].body().unwrap_or_default().contains("u-1"));

    // A rule of the bus gives up into its dead-letter queue with the events themselves, ready
    // to be sent to their queue again.
    let rule_dlq = queue(format!("{}-rule-dlq", app.table)).await;
    let rule_give_up = infra::pumps::GiveUp {
        max_retries: Some(1),
        dead_letter_url: Some(rule_dlq.clone()),
        dead_letter_as_is: true,
    };
    let refused = infra::pumps::deliver(&sqs, &gone, &rule_give_up, &records, "rule Test").await;
    assert_eq!(refused.dead_lettered, 3);
    let mut kept = Vec::new();
    while kept.len() < 3 {
        let batch = sqs
            .receive_message()
            .queue_url(&rule_dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("the rule's DLQ")
            .messages
            .unwrap_or_default();
        assert!(!batch.is_empty(), "every refused event is in the DLQ");
        kept.extend(batch.iter().filter_map(|m| m.body().map(str::to_owned)));
    }
    kept.sort();
    let mut sent = records.clone();
    sent.sort();
    assert_eq!(kept, sent);
}
