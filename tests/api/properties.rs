//! The property registry in-process against the local endpoint: registration with unique file
//! numbers, reads with the owner, transfers conditioned on the version, the ownership history,
//! and owners who cannot leave their properties behind.

use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::auth::Role;

fn property(file_number: &str) -> Value {
    json!({
        "fileNumber": file_number,
        "address": {
            "line1": "Hauptstraße 1",
            "city": "Berlin",
            "postalCode": "10115",
            "country": "de"
        },
        "kind": "residential"
    })
}

async fn create(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(
        properties_create::handle,
        Call::new("POST", "/v1/properties").bearer(token).json(body),
    )
    .await
}

async fn get(app: &TestApp, token: &str, id: &str) -> TestResponse {
    app.call(
        properties_get::handle,
        Call::new("GET", "/v1/properties/{id}")
            .param("id", id)
            .bearer(token),
    )
    .await
}

fn transfer_call(token: &str, id: &str, body: &Value) -> Call {
    Call::new("POST", "/v1/properties/{id}/transfer")
        .param("id", id)
        .bearer(token)
        .json(body)
}

async fn transfer(app: &TestApp, token: &str, id: &str, body: &Value) -> TestResponse {
    app.call(properties_transfer::handle, transfer_call(token, id, body))
        .await
}

async fn history(app: &TestApp, token: &str, id: &str, limit: u16) -> TestResponse {
    app.call(
        properties_history::handle,
        Call::new("GET", "/v1/properties/{id}/ownership-history")
            .param("id", id)
            .query("limit", &limit.to_string())
            .bearer(token),
    )
    .await
}

fn id_of(response: &TestResponse) -> String {
    response.body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_registered_property_shows_its_owner_and_its_file_number_is_taken_once() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;

    let created = create(&app, &owner, &property("b-2024/0042")).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = id_of(&created);
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/properties/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["fileNumber"], "B-2024/0042");
    assert_eq!(created.body["address"]["country"], "DE");
    assert_eq!(
        created.body["owner"],
        json!({"id": owner_id, "name": "Poster"})
    );

    // Any signed-in user reads it, with its owner.
    let read = get(&app, &other, &id).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body, created.body);
    assert_eq!(get(&app, &other, &owner_id).await.status, 404);
    assert_eq!(get(&app, &other, "not-an-id").await.status, 404);

    // The same file number in another case, later: refused, nothing written.
    let again = create(&app, &other, &property("B-2024/0042")).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "FILE_NUMBER_TAKEN"),
        "{}",
        again.body
    );

    // Twenty at once with a new number: exactly one property.
    let racers = (0..20)
        .map(|_| {
            Call::new("POST", "/v1/properties")
                .bearer(&other)
                .json(&property("RACE-1"))
        })
        .collect();
    let statuses = app
        .statuses_at_once(properties_create::handle, racers)
        .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 409)),
        "{statuses:?}"
    );

    let created_events: Vec<_> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.kind == "property.created")
        .collect();
    assert_eq!(created_events.len(), 2, "one event per property made");
    let first = &created_events[0];
    assert_eq!(first.entity.id, id);
    assert_eq!(first.changes["fileNumber"].after, "B-2024/0042");
    assert_eq!(first.changes["ownerId"].after, owner_id.as_str());
}

#[tokio::test]
async fn invalid_properties_are_refused_naming_every_field() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("owner@example.com", None).await;
    let bad = json!({
        "fileNumber": "no spaces allowed",
        "address": {"line1": " ", "city": "Berlin", "postalCode": "10115", "country": "XX"},
        "kind": "residential"
    });
    let refused = create(&app, &owner, &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let mut fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["address.country", "address.line1", "fileNumber"]);

    let mut unknown = property("OK-1");
    unknown["ownerId"] = json!("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    assert_eq!(
        create(&app, &owner, &unknown).await.status,
        400,
        "no mass assignment"
    );
    let mut kind = property("OK-1");
    kind["kind"] = json!("castle");
    assert_eq!(create(&app, &owner, &kind).await.status, 422);
    assert_eq!(
        create(&app, &owner, &property(&"7".repeat(33)))
            .await
            .status,
        422
    );
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|e| e.kind != "property.created")
    );
}

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
async fn an_account_that_owns_properties_is_deleted_only_after_it_transfers_them() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let (_, buyer_id) = app.user("buyer@example.com", None).await;
    let id = id_of(&create(&app, &owner, &property("D-1")).await);

    let delete_me = || {
        Call::new("DELETE", "/v1/users/me")
            .bearer(&owner)
            .json(&json!({"password": PASSWORD}))
    };
    let refused = app.call(users_me_delete::handle, delete_me()).await;
    assert_eq!(
        (refused.status, refused.code()),
        (409, "OWNS_PROPERTIES"),
        "{}",
        refused.body
    );
    let by_admin = app
        .call(
            users_delete::handle,
            Call::new("DELETE", "/v1/users/{id}")
                .param("id", &owner_id)
                .bearer(&admin),
        )
        .await;
    assert_eq!((by_admin.status, by_admin.code()), (409, "OWNS_PROPERTIES"));
    assert_eq!(
        get(&app, &owner, &id).await.status,
        200,
        "nothing was deleted"
    );

    let sold = transfer(&app, &owner, &id, &json!({"newOwnerId": buyer_id})).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    assert_eq!(
        app.call(users_me_delete::handle, delete_me()).await.status,
        204
    );
    let (reader, _) = app.user("reader@example.com", None).await;
    assert_eq!(
        get(&app, &reader, &id).await.body["owner"]["id"],
        buyer_id.as_str()
    );
}

async fn list(app: &TestApp, token: &str, query: &[(&str, &str)]) -> TestResponse {
    let mut call = Call::new("GET", "/v1/properties").bearer(token);
    for (name, value) in query {
        call = call.query(name, value);
    }
    app.call(properties_list::handle, call).await
}

fn file_numbers(response: &TestResponse) -> Vec<String> {
    response.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["fileNumber"].as_str().expect("fileNumber").to_owned())
        .collect()
}

fn at(file_number: &str, city: &str, country: &str, kind: &str) -> Value {
    let mut body = property(file_number);
    body["address"]["city"] = json!(city);
    body["address"]["country"] = json!(country);
    body["kind"] = json!(kind);
    body
}

#[tokio::test]
async fn the_registry_lists_by_owner_place_and_file_number_with_owners_and_refuses_what_no_index_serves()
 {
    let app = TestApp::spawn().await;
    let (ada, ada_id) = app.user("ada@example.com", None).await;
    let (bob, bob_id) = app.user("bob@example.com", None).await;
    for (token, body) in [
        (&ada, at("A-1", "Berlin", "DE", "residential")),
        (&ada, at("A-2", "  berlin ", "de", "commercial")),
        (&ada, at("A-3", "Paris", "FR", "land")),
        (&bob, at("B-1", "BERLIN", "DE", "residential")),
        (&bob, at("B-2", "Hamburg", "DE", "mixed")),
    ] {
        assert_eq!(create(&app, token, &body).await.status, 201);
    }

    let mine = list(&app, &bob, &[("ownerId", &ada_id)]).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(file_numbers(&mine), ["A-1", "A-2", "A-3"]);
    let own = app
        .call(
            users_me_properties::handle,
            Call::new("GET", "/v1/users/me/properties").bearer(&ada),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.body["items"], mine.body["items"]);
    assert!(
        mine.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p.get("owner") == Some(&json!({"id": ada_id, "name": "Poster"})))
    );

    let mut germany = file_numbers(&list(&app, &ada, &[("country", "de")]).await);
    germany.sort();
    assert_eq!(germany, ["A-1", "A-2", "B-1", "B-2"]);
    let mut berlin =
        file_numbers(&list(&app, &ada, &[("country", "DE"), ("city", "Berlin")]).await);
    berlin.sort();
    assert_eq!(
        berlin,
        ["A-1", "A-2", "B-1"],
        "cities compare without case or spacing"
    );
    let mut homes = file_numbers(
        &list(
            &app,
            &ada,
            &[
                ("country", "DE"),
                ("city", "berlin"),
                ("kind", "residential"),
            ],
        )
        .await,
    );
    homes.sort();
    assert_eq!(homes, ["A-1", "B-1"]);
    let by_number = list(&app, &ada, &[("fileNumber", "b-2")]).await;
    assert_eq!(file_numbers(&by_number), ["B-2"]);
    assert_eq!(by_number.body["items"][0]["owner"]["id"], bob_id.as_str());
    assert_eq!(
        list(&app, &ada, &[("fileNumber", "NONE-1")]).await.body["items"],
        json!([])
    );

    // Pages: a cursor per page, bound to its filter.
    let first = list(&app, &ada, &[("country", "DE"), ("limit", "3")]).await;
    assert_eq!(file_numbers(&first).len(), 3);
    let cursor = first.body["nextCursor"].as_str().expect("more");
    let rest = list(
        &app,
        &ada,
        &[("country", "DE"), ("limit", "3"), ("cursor", cursor)],
    )
    .await;
    assert_eq!(file_numbers(&rest).len(), 1);
    assert!(rest.body["nextCursor"].is_null());
    let foreign = list(&app, &ada, &[("country", "FR"), ("cursor", cursor)]).await;
    assert_eq!(foreign.status, 400, "{}", foreign.body);

    for unserved in [
        vec![],
        vec![("kind", "land")],
        vec![("country", "DE"), ("kind", "land")],
        vec![("city", "Berlin")],
        vec![("ownerId", ada_id.as_str()), ("country", "DE")],
        vec![("fileNumber", "A-1"), ("ownerId", ada_id.as_str())],
    ] {
        let refused = list(&app, &ada, &unserved).await;
        assert_eq!(refused.status, 400, "{unserved:?}: {}", refused.body);
        assert!(
            refused.body["detail"]
                .as_str()
                .expect("detail")
                .contains("`ownerId`"),
            "{}",
            refused.body
        );
    }
    for invalid in [
        vec![("ownerId", "someone")],
        vec![("country", "XX")],
        vec![("country", "DE"), ("city", "Berlin"), ("kind", "castle")],
        vec![("fileNumber", "no spaces")],
    ] {
        assert_eq!(list(&app, &ada, &invalid).await.status, 400, "{invalid:?}");
    }
}

#[tokio::test]
async fn the_owner_edits_and_deletes_a_property_under_its_version_and_its_file_number_is_free_again()
 {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("owner@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let id = id_of(&create(&app, &owner, &at("E-1", "Berlin", "DE", "residential")).await);
    let patch = |token: &str, body: Value| {
        Call::new("PATCH", "/v1/properties/{id}")
            .param("id", &id)
            .bearer(token)
            .json(&body)
    };

    let moved = app
        .call(
            properties_patch::handle,
            patch(&owner, json!({"kind": "mixed", "address": {"line1": "Rue 2", "city": "Paris", "postalCode": "75001", "country": "fr"}}))
                .header("if-match", "\"1\""),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        (moved.body["kind"].as_str(), moved.body["version"].as_u64()),
        (Some("mixed"), Some(2))
    );
    assert_eq!(moved.body["address"]["country"], "FR");
    assert_eq!(moved.header("etag"), Some("\"2\""));
    // The place index follows the address.
    assert!(file_numbers(&list(&app, &owner, &[("country", "DE")]).await).is_empty());
    assert_eq!(
        file_numbers(
            &list(
                &app,
                &owner,
                &[("country", "FR"), ("city", "paris"), ("kind", "mixed")]
            )
            .await
        ),
        ["E-1"]
    );

    let stale = app
        .call(
            properties_patch::handle,
            patch(&owner, json!({"kind": "land", "version": 1})),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert_eq!(
        app.call(
            properties_patch::handle,
            patch(&other, json!({"kind": "land"}))
        )
        .await
        .status,
        403
    );
    let renamed = app
        .call(
            properties_patch::handle,
            patch(&owner, json!({"fileNumber": "E-2"})),
        )
        .await;
    assert_eq!(renamed.status, 400, "the file number does not change");
    let invalid = app
        .call(
            properties_patch::handle,
            patch(
                &owner,
                json!({"address": {"line1": "x", "city": "", "postalCode": "1", "country": "FR"}}),
            ),
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    assert_eq!(invalid.body["errors"][0]["field"], "address.city");
    let by_admin = app
        .call(
            properties_patch::handle,
            patch(&admin, json!({"kind": "land"})),
        )
        .await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.body);
    assert_eq!(by_admin.body["owner"]["name"], "Poster");

    let delete = |token: &str| {
        Call::new("DELETE", "/v1/properties/{id}")
            .param("id", &id)
            .bearer(token)
    };
    assert_eq!(
        app.call(properties_delete::handle, delete(&other))
            .await
            .status,
        403
    );
    assert_eq!(
        app.call(properties_delete::handle, delete(&owner))
            .await
            .status,
        204
    );
    assert_eq!(get(&app, &owner, &id).await.status, 404);
    assert_eq!(
        app.call(properties_delete::handle, delete(&owner))
            .await
            .status,
        404
    );
    assert_eq!(
        create(&app, &other, &property("E-1")).await.status,
        201,
        "the number is free"
    );

    let kinds: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .filter(|e| e.entity.id == id)
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "property.created",
            "property.updated",
            "property.updated",
            "property.deleted"
        ]
    );
    // The owner, with nothing left, may leave.
    let leave = app
        .call(
            users_me_delete::handle,
            Call::new("DELETE", "/v1/users/me")
                .bearer(&owner)
                .json(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(leave.status, 204, "{}", leave.body);
}

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
