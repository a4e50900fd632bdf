//! The property registry over HTTP: register, transfer (both owners mailed, the buyer's inbox
//! told), history, and each change in the audit trail through the pipeline.

use ferrite_tests::live::next_message;
use ferrite_tests::{api_url, delivery_bound, eventually, http, websocket_url};

use super::{admin_token, register_over_http, stack_state};

#[tokio::test]
async fn a_property_changes_hands_over_http_and_its_history_and_audit_trail_say_so() {
    let state = stack_state();
    let admin = admin_token(&state).await;
    let seller = register_over_http("seller", "Seller").await;
    let buyer = register_over_http("buyer", "Buyer").await;
    let number = format!("E2E-{}", &ulid::Ulid::new().to_string()[..12]);

    let created = http()
        .post(format!("{}/v1/properties", api_url()))
        .bearer_auth(&seller.access)
        .json(&serde_json::json!({
            "fileNumber": number,
            "kind": "commercial",
            "address": {"line1": "1 Harbour Row", "city": "Bristol", "postalCode": "BS1 4RN", "country": "GB"}
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let property: serde_json::Value = created.json().await.expect("json");
    let id = property["id"].as_str().expect("id").to_owned();
    assert_eq!(property["owner"]["id"], seller.id.as_str());
    // The buyer's app is open: a WebSocket through the gateway to live-connect. Without the
    // token it is refused.
    let refused = ferrite_tests::live::open(&websocket_url(), Some("ferrite.v1")).await;
    assert_eq!(refused.err(), Some(401));
    let (mut buyer_socket, chosen) = ferrite_tests::live::open(
        &websocket_url(),
        Some(&format!("ferrite.v1, bearer.{}", buyer.access)),
    )
    .await
    .expect("the buyer connects");
    assert_eq!(chosen.as_deref(), Some("ferrite.v1"));

    let transferred = http()
        .post(format!("{}/v1/properties/{id}/transfer", api_url()))
        .bearer_auth(&seller.access)
        .header("if-match", "\"1\"")
        .json(&serde_json::json!({"newOwnerId": buyer.id, "note": "completion"}))
        .send()
        .await
        .expect("request");
    assert_eq!(transferred.status(), 201);
    // Both owners are told, through the stream, the pipe, the queue and the email worker.
    let subjects = [
        (
            &seller.email,
            format!("Property {number} was transferred from you"),
        ),
        (
            &buyer.email,
            format!("Property {number} was transferred to you"),
        ),
    ];
    for (address, subject) in &subjects {
        eventually("a transfer email", delivery_bound("EmailQueue"), || async {
            ferrite_tests::sent_emails(address)
                .await
                .into_iter()
                .find(|(sent, _)| sent == subject)
        })
        .await;
    }

    // The buyer's inbox is told through NotificationsRule, its queue and worker-notifications;
    // the seller made the change and is told nothing.
    let (inbox, _) = eventually(
        "the buyer's notification",
        delivery_bound("NotificationsQueue"),
        || async {
            let url = format!("{}/v1/users/me/notifications", api_url());
            let inbox = ferrite_tests::get_json(&url, Some(&buyer.access)).await?;
            (inbox["unreadCount"] == 1).then_some(inbox)
        },
    )
    .await;
    assert_eq!(inbox["items"][0]["type"], "property.transferred_to_you");
    assert_eq!(inbox["items"][0]["data"]["fileNumber"], number.as_str());
    // …and pushed on the buyer's open connection by the same worker, through @connections.
    let pushed = tokio::time::timeout(
        delivery_bound("NotificationsQueue"),
        next_message(&mut buyer_socket),
    )
    .await
    .expect("the push within the queue's delivery bound")
    .expect("a message");
    assert_eq!(pushed["type"], "notification");
    assert_eq!(pushed["notification"], inbox["items"][0]);
    let sellers = ferrite_tests::get_json(
        &format!("{}/v1/users/me/notifications", api_url()),
        Some(&seller.access),
    )
    .await
    .expect("the seller's inbox");
    assert_eq!(sellers["unreadCount"], 0, "{sellers}");

    let read = ferrite_tests::get_json(
        &format!("{}/v1/properties?fileNumber={number}", api_url()),
        Some(&buyer.access),
    )
    .await
    .expect("the listing");
    assert_eq!(read["items"][0]["owner"]["id"], buyer.id.as_str());
    assert_eq!(read["items"][0]["owner"]["name"], "Buyer");
    let history = ferrite_tests::get_json(
        &format!("{}/v1/properties/{id}/ownership-history", api_url()),
        Some(&buyer.access),
    )
    .await
    .expect("the history");
    assert_eq!(history["items"][0]["previousOwnerId"], seller.id.as_str());
    assert_eq!(history["items"][0]["note"], "completion");

    let (trail, _) = eventually(
        "the property's audit trail",
        delivery_bound("AuditQueue"),
        || async {
            let url = format!("{}/v1/audit?entityType=property&entityId={id}", api_url());
            let page = ferrite_tests::get_json(&url, Some(&admin)).await?;
            let items = page["items"].as_array()?.clone();
            (items.len() >= 2).then_some(items)
        },
    )
    .await;
    let kinds: Vec<&str> = trail.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["property.transferred", "property.created"]);
    assert_eq!(trail[0]["changes"]["ownerId"]["before"], seller.id.as_str());
    assert_eq!(trail[0]["changes"]["ownerId"]["after"], buyer.id.as_str());
}

/// `make dev`'s whole path of recurring rent: the template's `RentSchedule` fired into the
/// stack's rent queue as EventBridge Scheduler sends it (its Input, signed as its role, which the
/// local IAM holds to its policy), the queue pump invoking `worker-rent`, the charge in the
/// ledger. The date is one no other run of this stack has reached (the run remembers the last
/// day it did).
#[tokio::test]
async fn the_rent_schedule_fired_into_the_stack_charges_a_lease_through_the_queue_and_the_worker() {
    let owner = register_over_http("landlord", "Landlord").await;
    let tenant = register_over_http("tenant", "Tenant").await;
    let number = format!("E2E-RENT-{}", &ulid::Ulid::new().to_string()[..12]);
    let post_json = |path: String, token: String, body: serde_json::Value| async move {
        let response = http()
            .post(format!("{}{path}", api_url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "{path}");
        response.json::<serde_json::Value>().await.expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let property = post_json(
        "/v1/properties".into(),
        owner.access.clone(),
        serde_json::json!({
            "fileNumber": number, "kind": "residential",
            "address": {"line1": "2 Quay St", "city": "Bristol", "postalCode": "BS1 4RN", "country": "GB"}
        }),
    )
    .await;
    let unit = post_json(
        format!("/v1/properties/{property}/units"),
        owner.access.clone(),
        serde_json::json!({"label": "Flat 1"}),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    // 2900-01-01 and on, by the second: later than any date an earlier run of this stack did.
    let day = 339_676 + i64::try_from(now % 30_000).expect("small");
    let scheduled = infra::schedules::rfc3339(
        std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(day * 86_400 + 300).expect("positive")),
    );
    let start = scheduled[..10].to_owned();
    let lease = post_json(
        "/v1/leases".into(),
        owner.access.clone(),
        serde_json::json!({
            "unitId": unit, "tenantId": tenant.id, "startDate": start,
            "rent": {"amountMinor": 95_000, "currency": "GBP"}
        }),
    )
    .await;

    let stack = std::env::var("FERRITE_STACK").expect("`make test` exports the stack's name");
    let queue = std::env::var("RENT_QUEUE_URL").expect("the stack's rent queue");
    let key = infra::iam::access_key_id(&stack, "RentScheduleRole");
    let sdk =
        infra::local_sdk_config_as(&ferrite_tests::endpoint(), &key, infra::iam::LOCAL_SECRET)
            .await;
    aws_sdk_sqs::Client::new(&sdk)
        .send_message()
        .queue_url(&queue)
        .message_body(ferrite_tests::schedule("RentSchedule").input_at(&scheduled))
        .send()
        .await
        .expect("the schedule's role may send its tick");

    let (charge, _) = eventually("the rent charge", delivery_bound("RentQueue"), || {
        let (lease, token) = (lease.clone(), tenant.access.clone());
        async move {
            let ledger = ferrite_tests::get_json(
                &format!("{}/v1/leases/{lease}/ledger", api_url()),
                Some(&token),
            )
            .await?;
            ledger["items"].as_array()?.first().cloned()
        }
    })
    .await;
    assert_eq!(charge["category"], "rent");
    assert_eq!(charge["amountMinor"], 95_000);
    assert_eq!(charge["effectiveDate"], start.as_str());
}

#[tokio::test]
async fn a_document_uploaded_by_a_browser_is_checked_through_the_stack_and_downloads() {
    let owner = register_over_http("doc-owner", "Owner").await;
    let number = format!("DOC-{}", &ulid::Ulid::new().to_string()[..12]);
    let created = http()
        .post(format!("{}/v1/properties", api_url()))
        .bearer_auth(&owner.access)
        .json(&serde_json::json!({
            "fileNumber": number,
            "kind": "residential",
            "address": {"line1": "2 Quay St", "city": "Bristol", "postalCode": "BS1 4RN", "country": "GB"}
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let property: serde_json::Value = created.json().await.expect("json");
    let file = b"%PDF-1.7\n% a survey\n%%EOF\n";
    let added = http()
        .post(format!(
            "{}/v1/properties/{}/documents",
            api_url(),
            property["id"].as_str().expect("id")
        ))
        .bearer_auth(&owner.access)
        .json(&serde_json::json!({"name": "survey.pdf", "contentType": "application/pdf", "size": file.len()}))
        .send()
        .await
        .expect("request");
    assert_eq!(added.status(), 201);
    let added: serde_json::Value = added.json().await.expect("json");
    // The stack's own bucket: its notification, DocumentsQueue, the queue pump, worker-documents.
    let uploaded =
        ferrite_tests::documents::upload_as_browser(&added["upload"], "survey.pdf", file).await;
    assert_eq!(uploaded.status, 204, "{}", uploaded.body);
    let url = format!(
        "{}/v1/documents/{}",
        api_url(),
        added["document"]["id"].as_str().expect("id")
    );
    let (document, _) = eventually(
        "the upload checked",
        delivery_bound("DocumentsQueue"),
        || async {
            ferrite_tests::get_json(&url, Some(&owner.access))
                .await
                .filter(|d| d["document"]["status"] == "ready")
        },
    )
    .await;
    let link = document["download"]["url"].as_str().expect("a link");
    let downloaded = http().get(link).send().await.expect("S3 answers");
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.expect("body").as_ref(), file);
}
