//! The event pipeline end to end: stream → pipes → queues → workers, nothing lost, nothing invented.

use ferrite_tests::{PASSWORD, api_url, delivery_bound, eventually, http};

use super::{
    Account, admin_token, audit_between, post, register_over_http, reset_token_by_email,
    stack_state, token_in, unique_email, user_history,
};

#[tokio::test]
async fn registering_reaches_the_audit_trail_and_the_mailbox_through_the_pumps() {
    let state = stack_state();
    let admin = admin_token(&state).await;
    let Account { email, id, .. } = register_over_http("events", "Evie").await;

    let (entry, audit_delay) =
        eventually("the audit entry", delivery_bound("AuditQueue"), || async {
            user_history(&admin, &id).await?.first().cloned()
        })
        .await;
    assert_eq!(entry["type"], "user.registered");
    eprintln!(
        "API response -> audit entry visible: {} ms",
        audit_delay.as_millis()
    );

    let (welcome, mail_delay) = eventually(
        "the welcome email",
        delivery_bound("EmailQueue"),
        || async { ferrite_tests::sent_emails(&email).await.into_iter().next() },
    )
    .await;
    eprintln!(
        "API response -> email accepted by SES: {} ms",
        mail_delay.as_millis()
    );
    let verify = post(
        "/v1/auth/email/verify",
        &serde_json::json!({"token": token_in(&welcome.1)}),
        None,
    )
    .await;
    assert_eq!(verify.status(), 204);

    // Forgot -> reset email -> reset with its token -> "password changed" email.
    let reset_token = reset_token_by_email(&email).await;
    let new_password = "quiet lanterns over the harbour";
    let reset = post(
        "/v1/auth/password/reset",
        &serde_json::json!({"token": reset_token, "newPassword": new_password}),
        None,
    )
    .await;
    assert_eq!(reset.status(), 204);
    eventually(
        "the password-changed email",
        delivery_bound("EmailQueue"),
        || async {
            ferrite_tests::sent_emails(&email)
                .await
                .into_iter()
                .find(|(subject, _)| subject.contains("was changed"))
        },
    )
    .await;
    let login = post(
        "/v1/auth/login",
        &serde_json::json!({"email": email, "password": new_password}),
        None,
    )
    .await;
    assert_eq!(login.status(), 200);
}

#[tokio::test]
async fn every_email_message_is_either_sent_once_or_dead_lettered_nothing_is_lost() {
    let queue = std::env::var("EMAIL_QUEUE_URL").expect("`make test` exports the queue URLs");
    let dead_letters =
        std::env::var("EMAIL_DEAD_LETTER_QUEUE_URL").expect("`make test` exports the queue URLs");
    let sdk = infra::local_sdk_config(&ferrite_tests::endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let event = |n: usize, template: &str| {
        shared::events::Event::new(
            "user.registered",
            shared::events::Actor::system("test"),
            "user",
            &format!("count-{run}-{n}"),
            "2026-11-24T05:44:53.000Z".into(),
        )
        .email(
            template,
            &format!("count-{n}-{run}@example.com"),
            &[("name", "Ada"), ("verifyToken", "t")],
        )
    };
    // Three deliverable messages, two that can never be sent (no such template).
    let messages: Vec<(usize, bool)> =
        vec![(0, true), (1, false), (2, true), (3, false), (4, true)];
    for (n, good) in &messages {
        let template = if *good { "welcome" } else { "no-such-template" };
        sqs.send_message()
            .queue_url(&queue)
            .message_body(ferrite_tests::stream_record(&event(*n, template)))
            .send()
            .await
            .expect("send");
    }
    let (delivered, _) = eventually(
        "the deliverable emails",
        delivery_bound("EmailQueue"),
        || async {
            let mut counts = Vec::new();
            for (n, good) in &messages {
                if *good {
                    counts.push(
                        ferrite_tests::sent_emails(&format!("count-{n}-{run}@example.com"))
                            .await
                            .len(),
                    );
                }
            }
            counts.iter().all(|c| *c > 0).then_some(counts)
        },
    )
    .await;
    let dead = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let (sqs, messages, run, dead_letters, dead) = (&sqs, &messages, &run, &dead_letters, &dead);
    eventually(
        "the undeliverable messages in the DLQ",
        delivery_bound("EmailQueue"),
        || async move {
            let received = sqs
                .receive_message()
                .queue_url(dead_letters)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .ok()?;
            let mut dead = dead.lock().expect("lock");
            for message in received.messages() {
                for (n, good) in messages {
                    if !good
                        && message
                            .body()
                            .is_some_and(|b| b.contains(&format!("count-{n}-{run}@")))
                    {
                        dead.insert(*n);
                    }
                }
            }
            (dead.len() == 2).then_some(())
        },
    )
    .await;
    assert_eq!(
        delivered,
        [1, 1, 1],
        "each deliverable email sent exactly once"
    );
    let dead: Vec<usize> = dead.lock().expect("lock").iter().copied().collect();
    assert_eq!(dead, [1, 3]);
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    let queue = std::env::var("AUDIT_QUEUE_URL").expect("`make test` exports the queue URLs");
    let dead_letters =
        std::env::var("AUDIT_DEAD_LETTER_QUEUE_URL").expect("`make test` exports the queue URLs");
    let sdk = infra::local_sdk_config(&ferrite_tests::endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let marker = format!("poison-{}", ulid::Ulid::new());
    sqs.send_message()
        .queue_url(&queue)
        .message_body(format!("{{\"not\":\"{marker}\"}}"))
        .send()
        .await
        .expect("send");
    // Bounded by the queue's maxReceiveCount receives, each at most the worker's timeout.
    let (found, delay) = eventually(
        "the poison message in the DLQ",
        delivery_bound("AuditQueue"),
        || async {
            let received = sqs
                .receive_message()
                .queue_url(&dead_letters)
                .max_number_of_messages(10)
                .send()
                .await
                .ok()?;
            received
                .messages()
                .iter()
                .find(|m| m.body().is_some_and(|b| b.contains(&marker)))
                .cloned()
        },
    )
    .await;
    assert!(found.body().is_some_and(|b| b.contains(&marker)));
    eprintln!(
        "poison message dead-lettered after {} ms",
        delay.as_millis()
    );
}

#[tokio::test]
async fn refused_writes_reach_neither_the_audit_trail_nor_the_mailbox() {
    let state = stack_state();
    let admin = admin_token(&state).await;
    let started = std::time::SystemTime::now();
    let password = "violet anchor drifts north";
    let register = |email: String| async move {
        post(
            "/v1/auth/register",
            &serde_json::json!({"email": email, "name": "Refused", "password": password}),
            None,
        )
        .await
    };
    let first = unique_email("refused");
    let registered: serde_json::Value = register(first.clone()).await.json().await.expect("json");
    let token = registered["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let id = registered["user"]["id"].as_str().expect("id").to_owned();
    // The same address again, in another case, right after: refused.
    assert_eq!(register(first.to_uppercase()).await.status(), 409);
    // Ten registrations of one new address at once: exactly one is accepted.
    let second = unique_email("raced");
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        racers.spawn(register(second.clone()));
    }
    let mut statuses = Vec::new();
    let mut winner = None;
    while let Some(response) = racers.join_next().await {
        let response = response.expect("task");
        statuses.push(response.status().as_u16());
        if response.status() == 201 {
            let body: serde_json::Value = response.json().await.expect("json");
            winner = Some((
                body["user"]["id"].as_str().expect("id").to_owned(),
                body["accessToken"].as_str().expect("token").to_owned(),
            ));
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    let (second_id, second_token) = winner.expect("one registration won");
    // A stale version: refused.
    let outdated = http()
        .patch(format!("{}/v1/users/me", api_url()))
        .bearer_auth(&token)
        .header("if-match", "\"0\"")
        .json(&serde_json::json!({"name": "Stale"}))
        .send()
        .await
        .expect("request");
    assert_eq!(outdated.status(), 412);

    // An accepted change after every refused one, for each address: once its mail and its
    // audit entry are through, everything written before it is through too.
    for bearer in [&token, &second_token] {
        let resend = http()
            .post(format!("{}/v1/auth/email/verify/resend", api_url()))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("request");
        assert_eq!(resend.status(), 202);
    }
    for (email, user) in [(&first, &id), (&second, &second_id)] {
        eventually(
            "the resent verification mail",
            delivery_bound("EmailQueue"),
            || async {
                ferrite_tests::sent_emails(email)
                    .await
                    .into_iter()
                    .find(|(subject, _)| subject == "Confirm your email address")
            },
        )
        .await;
        eventually(
            "the resend's audit entry",
            delivery_bound("AuditQueue"),
            || async {
                user_history(&admin, user)
                    .await?
                    .into_iter()
                    .find(|e| e["type"] == "user.verification_requested")
            },
        )
        .await;
        let welcomes = ferrite_tests::sent_emails(email)
            .await
            .into_iter()
            .filter(|(subject, _)| subject.starts_with("Welcome"))
            .count();
        assert_eq!(
            welcomes, 1,
            "one welcome mail for {email}, none for a refused registration"
        );
    }
    let registrations = audit_between(
        &admin,
        started,
        std::time::SystemTime::now(),
        "user.registered",
    )
    .await;
    for (email, user) in [(&first, &id), (&second, &second_id)] {
        let audited: Vec<&str> = registrations
            .iter()
            .filter(|e| e["changes"]["email"]["after"] == **email)
            .filter_map(|e| e["entity"]["id"].as_str())
            .collect();
        assert_eq!(
            audited,
            [user.as_str()],
            "one registration audited for {email}"
        );
    }
    let history = user_history(&admin, &id).await.expect("the audit API");
    assert!(
        history.iter().all(|e| e["type"] != "user.profile_updated"),
        "the refused update left no trace: {history:?}"
    );
}

#[tokio::test]
async fn a_deleted_accounts_posts_are_purged_through_the_pipeline() {
    let state = stack_state();
    let Account {
        access: author, id, ..
    } = register_over_http("leaving", "Leaving").await;
    let password = PASSWORD;
    for n in 0..12 {
        let created = post(
            "/v1/posts",
            &serde_json::json!({"title": format!("going {n}"), "body": "b", "tags": ["leaving"], "status": "published"}),
            Some(&author),
        )
        .await;
        assert_eq!(created.status(), 201);
        // The per-account quota's fields pass through the gateway.
        let policy = created.headers().get("ratelimit-policy");
        assert!(
            policy.is_some_and(|p| p.as_bytes().starts_with(b"\"post-create\";q=")),
            "{policy:?}"
        );
        assert!(created.headers().contains_key("ratelimit"));
    }
    let deleted = http()
        .delete(format!("{}/v1/users/me", api_url()))
        .bearer_auth(&author)
        .json(&serde_json::json!({"password": password}))
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);

    // The stream carries the deletion to the purge queue; its worker deletes every post.
    let remaining = || async {
        state
            .store
            .query_page::<serde_json::Value>(
                &shared::store::KeyQuery::index(shared::store::Index::Gsi1, format!("AUTHOR#{id}")),
                &shared::store::PageRequest::first(100),
            )
            .await
            .expect("query")
            .items
            .len()
    };
    let ((), took) = eventually("the purge", delivery_bound("PurgeQueue"), || async {
        (remaining().await == 0).then_some(())
    })
    .await;
    eprintln!(
        "account deleted -> 12 posts purged: {} ms",
        took.as_millis()
    );
}
