//! Registering properties with unique file numbers, and reading the registry by its keys.

use ferrite_tests::{Call, TestApp};
use serde_json::json;

use super::{at, create, file_numbers, get, id_of, list, property};

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

/// The fields a 422 names, sorted.
fn fields_named(body: &serde_json::Value) -> Vec<&str> {
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    fields
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
    assert_eq!(
        fields_named(&refused.body),
        ["address.country", "address.line1", "fileNumber"]
    );

    // A body of the wrong shape with a wrong value: every missing field, at every depth, and
    // every invalid value (the empty file number), in one 422.
    let shapeless = create(&app, &owner, &json!({"fileNumber": "", "address": {}})).await;
    assert_eq!(shapeless.status, 422, "{}", shapeless.body);
    assert_eq!(
        fields_named(&shapeless.body),
        [
            "address.city",
            "address.country",
            "address.line1",
            "address.postalCode",
            "fileNumber",
            "kind"
        ]
    );

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
