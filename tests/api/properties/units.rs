//! Units: in their property, labels unique within it, in every read.

use ferrite_tests::{Call, TestApp};
use serde_json::{Value, json};

use super::{at, create, get, id_of, list};

#[tokio::test]
async fn units_belong_to_their_property_with_labels_unique_in_it_and_come_with_every_read() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let id = id_of(&create(&app, &owner, &at("U-1", "Lyon", "FR", "residential")).await);
    let add = |token: &str, body: Value| {
        Call::new("POST", "/v1/properties/{id}/units")
            .param("id", &id)
            .bearer(token)
            .json(&body)
    };

    let flat = app
        .call(
            units_create::handle,
            add(
                &owner,
                json!({"label": " Flat  2B ", "floor": 2, "bedrooms": 3, "areaM2": 71.5}),
            ),
        )
        .await;
    assert_eq!(flat.status, 201, "{}", flat.body);
    assert_eq!(flat.body["label"], "Flat  2B");
    assert_eq!(flat.body["status"], "vacant");
    let flat_id = flat.body["id"].as_str().expect("id").to_owned();
    let shop = app
        .call(
            units_create::handle,
            add(&owner, json!({"label": "Shop", "status": "unavailable"})),
        )
        .await;
    assert_eq!(shop.status, 201, "{}", shop.body);

    // Labels are unique in the property, compared without case or spacing.
    let taken = app
        .call(
            units_create::handle,
            add(&owner, json!({"label": "flat 2b"})),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (409, "UNIT_LABEL_TAKEN"),
        "{}",
        taken.body
    );
    let racers = (0..10)
        .map(|_| add(&owner, json!({"label": "Attic"})))
        .collect();
    let statuses = app.statuses_at_once(units_create::handle, racers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        app.call(units_create::handle, add(&other, json!({"label": "Mine"})))
            .await
            .status,
        403
    );
    for bad in [
        json!({"label": ""}),
        json!({"label": "x", "floor": 400}),
        json!({"label": "x", "areaM2": -1}),
        json!({"label": "x", "status": "leased"}),
    ] {
        let refused = app
            .call(units_create::handle, add(&owner, bad.clone()))
            .await;
        assert_eq!(refused.status, 422, "{bad}: {}", refused.body);
    }

    // A read and a list page carry the units, in label order.
    let read = get(&app, &other, &id).await;
    let labels: Vec<&str> = read.body["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["Attic", "Flat  2B", "Shop"]);
    let listed = list(&app, &other, &[("ownerId", &owner_id)]).await;
    assert_eq!(listed.body["items"][0]["units"], read.body["units"]);

    let unit_call = |method: &str, unit: &str, token: &str| {
        Call::new(method, "/v1/properties/{id}/units/{unitId}")
            .param("id", &id)
            .param("unitId", unit)
            .bearer(token)
    };
    let renamed = app
        .call(
            units_patch::handle,
            unit_call("PATCH", &flat_id, &owner).json(&json!({"label": "Flat 3", "bedrooms": 2})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(
        (
            renamed.body["label"].as_str(),
            renamed.body["bedrooms"].as_u64()
        ),
        (Some("Flat 3"), Some(2))
    );
    assert_eq!(renamed.body["floor"], 2, "what is not sent stays");
    let clash = app
        .call(
            units_patch::handle,
            unit_call("PATCH", &flat_id, &owner).json(&json!({"label": "SHOP"})),
        )
        .await;
    assert_eq!(clash.code(), "UNIT_LABEL_TAKEN", "{}", clash.body);
    // The old label is free again.
    assert_eq!(
        app.call(
            units_create::handle,
            add(&owner, json!({"label": "Flat 2B"}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        app.call(
            units_patch::handle,
            unit_call("PATCH", &owner_id, &owner).json(&json!({"floor": 1}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.call(units_delete::handle, unit_call("DELETE", &flat_id, &other))
            .await
            .status,
        403
    );
    assert_eq!(
        app.call(units_delete::handle, unit_call("DELETE", &flat_id, &owner))
            .await
            .status,
        204
    );
    assert_eq!(
        app.call(units_delete::handle, unit_call("DELETE", &flat_id, &owner))
            .await
            .status,
        404
    );

    let read = get(&app, &owner, &id).await;
    let labels: Vec<&str> = read.body["units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["Attic", "Flat 2B", "Shop"]);
    let kinds: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.entity.kind == "unit" && e.entity.id == flat_id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["unit.created", "unit.updated", "unit.deleted"]);
}
