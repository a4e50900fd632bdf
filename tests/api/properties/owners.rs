//! Owners: editing and deleting a property, and an account that cannot leave its properties behind.

use ferrite_tests::{Call, PASSWORD, TestApp};
use serde_json::{Value, json};

use super::{at, create, file_numbers, get, id_of, list, property, transfer};

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
    let leave = app.leave(&owner).await;
    assert_eq!(leave.status, 204, "{}", leave.body);
}
