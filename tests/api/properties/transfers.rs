//! Transfers: one winner per version, the owner actually replaced in the history, who may.

use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::auth::Role;

use super::{create, get, history, id_of, property, transfer, transfer_call};

#[tokio::test]
async fn concurrent_transfers_from_one_version_have_one_winner_and_one_history_entry() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let id = id_of(&create(&app, &owner, &property("T-1")).await);
    let mut buyers = Vec::new();
    for n in 0..8 {
        buyers.push(app.user(&format!("buyer{n}@example.com"), None).await.1);
    }
    let racers = buyers
        .iter()
        .map(|buyer| transfer_call(&owner, &id, &json!({"newOwnerId": buyer, "version": 1})))
        .collect();
    let statuses = app
        .statuses_at_once(properties_transfer::handle, racers)
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 403 | 412)),
        "{statuses:?}"
    );

    let read = get(&app, &owner, &id).await;
    let winner = read.body["owner"]["id"].as_str().expect("owner").to_owned();
    assert!(buyers.contains(&winner));
    assert_eq!(read.body["version"], 2);

    // The history records the owner actually replaced, once.
    let (admin, _) = app.admin("admin@example.com").await;
    let entries = history(&app, &admin, &id, 20).await;
    assert_eq!(entries.status, 200, "{}", entries.body);
    let items = entries.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["previousOwnerId"], owner_id.as_str());
    assert_eq!(items[0]["newOwnerId"], winner.as_str());
    assert_eq!(items[0]["actorId"], owner_id.as_str());
    let events: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "property.transferred")
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].changes["ownerId"].before, owner_id.as_str());
    assert_eq!(events[0].changes["ownerId"].after, winner.as_str());
}

#[tokio::test]
async fn only_the_owner_or_an_admin_transfers_and_reads_the_history_newest_first() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (buyer, buyer_id) = app.user("buyer@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let id = id_of(&create(&app, &owner, &property("H-1")).await);

    let to_buyer = json!({"newOwnerId": buyer_id, "note": "sold"});
    for stranger in [&buyer, &moderator] {
        assert_eq!(transfer(&app, stranger, &id, &to_buyer).await.status, 403);
        assert_eq!(history(&app, stranger, &id, 20).await.status, 403);
    }
    let sold = transfer(&app, &owner, &id, &to_buyer).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    assert_eq!(sold.body["note"], "sold");
    // The previous owner lost it; an admin moves it back.
    assert_eq!(
        transfer(&app, &owner, &id, &json!({"newOwnerId": owner_id}))
            .await
            .status,
        403
    );
    let back = transfer(&app, &admin, &id, &json!({"newOwnerId": owner_id})).await;
    assert_eq!(back.status, 201, "{}", back.body);

    let first = history(&app, &owner, &id, 1).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["items"][0]["newOwnerId"], owner_id.as_str());
    let cursor = first.body["nextCursor"].as_str().expect("a second page");
    let second = app
        .call(
            properties_history::handle,
            Call::new("GET", "/v1/properties/{id}/ownership-history")
                .param("id", &id)
                .query("limit", "1")
                .query("cursor", cursor)
                .bearer(&owner),
        )
        .await;
    assert_eq!(second.body["items"][0]["newOwnerId"], buyer_id.as_str());
    assert_eq!(
        second.body["items"][0]["previousOwnerId"],
        owner_id.as_str()
    );
    assert!(second.body["nextCursor"].is_null());
}

#[tokio::test]
async fn a_transfer_to_the_owner_to_no_active_account_or_from_a_stale_version_changes_nothing() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let (_, disabled_id) = app.user("disabled@example.com", None).await;
    let disabled = app
        .call(
            users_patch::handle,
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &disabled_id)
                .bearer(&admin)
                .json(&json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    let id = id_of(&create(&app, &owner, &property("S-1")).await);

    for (body, field) in [
        (json!({"newOwnerId": owner_id}), "newOwnerId"),
        (json!({"newOwnerId": disabled_id}), "newOwnerId"),
        (
            json!({"newOwnerId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
            "newOwnerId",
        ),
    ] {
        let refused = transfer(&app, &owner, &id, &body).await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    let (_, buyer_id) = app.user("buyer@example.com", None).await;
    let stale = app
        .call(
            properties_transfer::handle,
            transfer_call(&owner, &id, &json!({"newOwnerId": buyer_id}))
                .header("if-match", "\"7\""),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);

    let read = get(&app, &owner, &id).await;
    assert_eq!(read.body["owner"]["id"], owner_id.as_str());
    assert_eq!(read.body["version"], 1);
    assert_eq!(
        history(&app, &owner, &id, 20).await.body["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_transfer_emails_both_owners_once_each_without_an_address_in_the_outbox() {
    let app = TestApp::spawn().await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (seller_email, buyer_email) = (
        format!("seller-{tag}@example.com"),
        format!("buyer-{tag}@example.com"),
    );
    let (seller, _) = app.user(&seller_email, None).await;
    let (_, buyer_id) = app.user(&buyer_email, None).await;
    let id = id_of(&create(&app, &seller, &property("MAIL-1")).await);
    let moved = transfer(
        &app,
        &seller,
        &id,
        &json!({"newOwnerId": buyer_id, "version": 1}),
    )
    .await;
    assert_eq!(moved.status, 201, "{}", moved.body);

    let event = app
        .outbox()
        .await
        .into_iter()
        .find(|e| e.kind == "property.transferred")
        .expect("the transfer's event");
    let envelope = serde_json::to_string(&event).expect("json");
    assert!(!envelope.contains(&seller_email) && !envelope.contains(&buyer_email));
    let worker = ferrite_tests::email_worker(&app, "no-reply@example.com", true).await;
    let record = ferrite_tests::stream_record(&event);
    // Delivered twice: each owner still gets exactly one email.
    let response =
        worker_email::handle(&worker, ferrite_tests::sqs_event(&[record.clone(), record])).await;
    assert!(response.batch_item_failures.is_empty());

    let away = ferrite_tests::sent_emails(&seller_email).await;
    assert_eq!(away.len(), 1, "{away:?}");
    assert_eq!(away[0].0, "Property MAIL-1 was transferred from you");
    assert!(
        away[0].1.contains("Hauptstraße 1, Berlin, DE"),
        "{}",
        away[0].1
    );
    let to_you = ferrite_tests::sent_emails(&buyer_email).await;
    assert_eq!(to_you.len(), 1, "{to_you:?}");
    assert_eq!(to_you[0].0, "Property MAIL-1 was transferred to you");
    assert!(to_you[0].1.contains("Hello Poster,"), "{}", to_you[0].1);
}
