//! Leases: one active lease per unit, the unit's status following it, who sees them, and the
//! accounts and properties that cannot go while a lease runs.

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};

use super::{at, create, get, id_of};

async fn add_unit(app: &TestApp, token: &str, property: &str, label: &str) -> String {
    let unit = app
        .call(
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", property)
                .bearer(token)
                .json(&json!({"label": label})),
        )
        .await;
    assert_eq!(unit.status, 201, "{}", unit.body);
    id_of(&unit)
}

fn lease_body(unit: &str, tenant: &str) -> Value {
    json!({
        "unitId": unit, "tenantId": tenant, "startDate": "2027-01-01", "endDate": "2028-12-31",
        "rent": {"amountMinor": 125_000, "currency": "eur"}
    })
}

async fn lease(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(
        leases_create::handle,
        Call::new("POST", "/v1/leases").bearer(token).json(body),
    )
    .await
}

fn unit_status(property: &TestResponse, unit: &str) -> String {
    property.body["units"]
        .as_array()
        .expect("units")
        .iter()
        .find(|u| u["id"] == unit)
        .and_then(|u| u["status"].as_str())
        .expect("the unit")
        .to_owned()
}

#[tokio::test]
async fn a_unit_has_one_active_lease_however_many_are_made_at_once_and_is_vacant_again_when_it_ends()
 {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("owner@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let property = id_of(&create(&app, &owner, &at("L-1", "Oslo", "NO", "residential")).await);
    let unit = add_unit(&app, &owner, &property, "Flat 1").await;

    let racers = (0..10)
        .map(|_| {
            Call::new("POST", "/v1/leases")
                .bearer(&owner)
                .json(&lease_body(&unit, &tenant_id))
        })
        .collect();
    let statuses = app.statuses_at_once(leases_create::handle, racers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 409)),
        "{statuses:?}"
    );
    assert_eq!(
        unit_status(&get(&app, &owner, &property).await, &unit),
        "leased"
    );

    let mine = app
        .call(
            users_me_leases::handle,
            Call::new("GET", "/v1/users/me/leases").bearer(&tenant),
        )
        .await;
    let items = mine.body["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1, "{}", mine.body);
    let id = items[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        items[0]["rent"],
        json!({"amountMinor": 125_000, "currency": "EUR"})
    );
    assert_eq!(items[0]["status"], "active");

    // A leased unit's status follows its lease; it cannot go; the property cannot go.
    let unit_call = |method: &str| {
        Call::new(method, "/v1/properties/{id}/units/{unitId}")
            .param("id", &property)
            .param("unitId", &unit)
            .bearer(&owner)
    };
    let status = app
        .call(
            units_patch::handle,
            unit_call("PATCH").json(&json!({"status": "vacant"})),
        )
        .await;
    assert_eq!(status.code(), "UNIT_LEASED", "{}", status.body);
    assert_eq!(
        app.call(units_delete::handle, unit_call("DELETE"))
            .await
            .code(),
        "UNIT_LEASED"
    );
    let gone = app
        .call(
            properties_delete::handle,
            Call::new("DELETE", "/v1/properties/{id}")
                .param("id", &property)
                .bearer(&owner),
        )
        .await;
    assert_eq!((gone.status, gone.code()), (409, "HAS_ACTIVE_LEASES"));

    let end = |token: &str, date: &str| {
        Call::new("POST", "/v1/leases/{id}/end")
            .param("id", &id)
            .bearer(token)
            .json(&json!({"endDate": date}))
    };
    assert_eq!(
        app.call(leases_end::handle, end(&tenant, "2027-06-30"))
            .await
            .status,
        403
    );
    assert_eq!(
        app.call(leases_end::handle, end(&owner, "2026-12-31"))
            .await
            .status,
        422
    );
    let ended = app
        .call(leases_end::handle, end(&owner, "2027-06-30"))
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(
        (
            ended.body["status"].as_str(),
            ended.body["endDate"].as_str()
        ),
        (Some("ended"), Some("2027-06-30"))
    );
    let again = app
        .call(leases_end::handle, end(&owner, "2027-07-01"))
        .await;
    assert_eq!((again.status, again.code()), (409, "LEASE_ENDED"));
    assert_eq!(
        unit_status(&get(&app, &owner, &property).await, &unit),
        "vacant"
    );
    assert_eq!(
        lease(&app, &owner, &lease_body(&unit, &tenant_id))
            .await
            .status,
        201,
        "leasable again"
    );

    let kinds: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.entity.kind == "lease")
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["lease.created", "lease.ended", "lease.created"]);
}

#[tokio::test]
async fn leases_are_seen_by_their_tenant_the_owner_and_admins_only_and_are_checked_before_any_write()
 {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let (stranger, _) = app.user("stranger@example.com", None).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let property = id_of(&create(&app, &owner, &at("L-2", "Rome", "IT", "mixed")).await);
    let unit = add_unit(&app, &owner, &property, "Shop").await;
    let closed = add_unit(&app, &owner, &property, "Store").await;
    let closing = app
        .call(
            units_patch::handle,
            Call::new("PATCH", "/v1/properties/{id}/units/{unitId}")
                .param("id", &property)
                .param("unitId", &closed)
                .bearer(&owner)
                .json(&json!({"status": "unavailable"})),
        )
        .await;
    assert_eq!(closing.status, 200, "{}", closing.body);

    // Only the owner (or an admin) leases; an unavailable unit is not leasable.
    assert_eq!(
        lease(&app, &tenant, &lease_body(&unit, &tenant_id))
            .await
            .status,
        403
    );
    assert_eq!(
        lease(&app, &owner, &lease_body(&closed, &tenant_id))
            .await
            .code(),
        "UNIT_NOT_VACANT"
    );
    assert_eq!(
        lease(&app, &owner, &lease_body(&owner_id, &tenant_id))
            .await
            .status,
        404,
        "no such unit"
    );
    let nobody = lease(
        &app,
        &owner,
        &lease_body(&unit, "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
    )
    .await;
    assert_eq!(
        (nobody.status, nobody.body["errors"][0]["field"].as_str()),
        (422, Some("tenantId"))
    );
    for (field, bad) in [
        ("startDate", json!({"startDate": "2027-02-30"})),
        ("endDate", json!({"endDate": "2026-01-01"})),
        (
            "rent.amountMinor",
            json!({"rent": {"amountMinor": 0, "currency": "EUR"}}),
        ),
        (
            "rent.currency",
            json!({"rent": {"amountMinor": 1, "currency": "euro"}}),
        ),
    ] {
        let mut body = lease_body(&unit, &tenant_id);
        for (k, v) in bad.as_object().expect("object") {
            body[k] = v.clone();
        }
        let refused = lease(&app, &owner, &body).await;
        assert_eq!(refused.status, 422, "{field}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["field"], field);
    }
    let made = lease(&app, &admin, &lease_body(&unit, &tenant_id)).await;
    assert_eq!(made.status, 201, "{}", made.body);
    let id = id_of(&made);
    assert_eq!(
        made.header("location"),
        Some(format!("/v1/leases/{id}").as_str())
    );

    let read = |token: &str| {
        Call::new("GET", "/v1/leases/{id}")
            .param("id", &id)
            .bearer(token)
    };
    for token in [&tenant, &owner, &admin] {
        assert_eq!(app.call(leases_get::handle, read(token)).await.status, 200);
    }
    assert_eq!(
        app.call(leases_get::handle, read(&stranger)).await.status,
        404
    );
    let listed = |token: &str| {
        Call::new("GET", "/v1/properties/{id}/leases")
            .param("id", &property)
            .bearer(token)
    };
    let page = app.call(properties_leases::handle, listed(&owner)).await;
    assert_eq!(page.body["items"][0]["tenantId"], tenant_id.as_str());
    assert_eq!(
        app.call(properties_leases::handle, listed(&tenant))
            .await
            .status,
        403
    );
    assert_eq!(
        app.call(properties_leases::handle, listed(&stranger))
            .await
            .status,
        403
    );

    // A tenant with an active lease cannot leave until it ends.
    let leave = app.leave(&tenant).await;
    assert_eq!(
        (leave.status, leave.code()),
        (409, "HOLDS_LEASES"),
        "{}",
        leave.body
    );
}

#[tokio::test]
async fn a_unit_changed_or_removed_while_it_is_leased_keeps_its_lease() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("owner@example.com", None).await;
    let (_, tenant_id) = app.user("tenant@example.com", None).await;
    let property = id_of(&create(&app, &owner, &at("L-3", "Porto", "PT", "residential")).await);
    for round in 0..4 {
        let unit = add_unit(&app, &owner, &property, &format!("Flat {round}")).await;
        let unit_call = |method: &str| {
            Call::new(method, "/v1/properties/{id}/units/{unitId}")
                .param("id", &property)
                .param("unitId", &unit)
                .bearer(&owner)
        };
        let body = lease_body(&unit, &tenant_id);
        let (leased, changed) = if round % 2 == 0 {
            let (l, c) = tokio::join!(
                lease(&app, &owner, &body),
                app.call(
                    units_patch::handle,
                    unit_call("PATCH").json(&json!({"status": "unavailable"}))
                ),
            );
            (l.status, c.status)
        } else {
            let (l, c) = tokio::join!(
                lease(&app, &owner, &body),
                app.call(units_delete::handle, unit_call("DELETE")),
            );
            (l.status, c.status)
        };
        let read = get(&app, &owner, &property).await;
        let unit_now = read.body["units"]
            .as_array()
            .expect("units")
            .iter()
            .find(|u| u["id"] == unit.as_str())
            .cloned();
        if leased == 201 {
            // The lease won: whatever the other did, the unit is there and leased.
            assert_eq!(
                unit_now.as_ref().map(|u| u["status"].clone()),
                Some(json!("leased")),
                "round {round}: lease 201, change {changed}"
            );
        } else {
            // The change won: the lease saw a unit that was not vacant, or none.
            assert!(matches!(leased, 404 | 409), "round {round}: {leased}");
            assert!(matches!(changed, 200 | 204), "round {round}: {changed}");
        }
    }
}
