//! The property registry over HTTP: register, transfer (both owners mailed), history, and each
//! change in the audit trail through the pipeline.

use ferrite_tests::{api_url, delivery_bound, eventually, http};

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
