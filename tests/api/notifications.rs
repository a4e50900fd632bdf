//! The inbox in-process against the local endpoint: the changes that concern someone reach
//! their inbox through the notifications worker (as the template's function), once, never their
//! actor's; reading pages of it with the unread count; marking read up to one or by id.

use ferrite_tests::workers::{inbox, notify};
use ferrite_tests::{Call, PASSWORD, TestApp, TestResponse};
use serde_json::{Value, json};
use shared::auth::Role;

async fn mark(app: &TestApp, token: &str, body: &Value) -> TestResponse {
    app.call(
        users_me_notifications_read::handle,
        Call::new("POST", "/v1/users/me/notifications/read")
            .bearer(token)
            .json(body),
    )
    .await
}

fn types(inbox: &TestResponse) -> Vec<String> {
    inbox.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["type"].as_str().expect("type").to_owned())
        .collect()
}

fn ids(inbox: &TestResponse) -> Vec<String> {
    inbox.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

fn unread(answer: &TestResponse) -> u64 {
    answer.body["unreadCount"].as_u64().expect("unreadCount")
}

/// The body of a successful answer.
fn ok(answer: TestResponse) -> Value {
    assert!((200..300).contains(&answer.status), "{}", answer.body);
    answer.body
}

/// A post of `token`'s, hidden by `moderator` and published again `times` times: two
/// notifications for its author each time.
async fn moderated_post(app: &TestApp, author: &str, moderator: &str, times: usize) -> String {
    let post = ok(app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(author)
                .json(&json!({"title": "Mine", "body": "text", "status": "published"})),
        )
        .await);
    let id = post["id"].as_str().expect("id").to_owned();
    for _ in 0..times {
        for status in ["hidden", "published"] {
            ok(app
                .call(
                    posts_patch::handle,
                    Call::new("PATCH", "/v1/posts/{id}")
                        .param("id", &id)
                        .bearer(moderator)
                        .json(&json!({"status": status})),
                )
                .await);
        }
    }
    id
}

#[tokio::test]
async fn each_change_that_concerns_someone_reaches_their_inbox_once_and_never_its_actor() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let (admin, _) = app.admin("admin@example.com").await;

    // A property, a unit leased to the tenant, a charge on the lease, the lease ended.
    let property = ok(app.call(
            properties_create::handle,
            Call::new("POST", "/v1/properties").bearer(&owner).json(&json!({
                "fileNumber": "INBOX-1",
                "address": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
                "kind": "residential"
            })),
        )
        .await);
    let property_id = property["id"].as_str().expect("id").to_owned();
    let unit = ok(app
        .call(
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", &property_id)
                .bearer(&owner)
                .json(&json!({"label": "Flat 1"})),
        )
        .await);
    let lease = ok(app
        .call(
            leases_create::handle,
            Call::new("POST", "/v1/leases").bearer(&owner).json(&json!({
                "unitId": unit["id"], "tenantId": tenant_id, "startDate": "2027-01-01",
                "rent": {"amountMinor": 125_000, "currency": "EUR"}
            })),
        )
        .await);
    let lease_id = lease["id"].as_str().expect("id").to_owned();
    ok(app.call(
            leases_charges::handle,
            Call::new("POST", "/v1/leases/{id}/charges")
                .param("id", &lease_id)
                .bearer(&owner)
                .json(&json!({"category": "rent", "amountMinor": 125_000, "currency": "EUR", "effectiveDate": "2027-02-01"})),
        )
        .await);
    ok(app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &lease_id)
                .bearer(&owner)
                .json(&json!({"endDate": "2027-06-30"})),
        )
        .await);
    // The owner transfers it to the tenant (only the tenant is told); an admin transfers it
    // back (both are told).
    let transfer = |token: &str, to: &str| {
        Call::new("POST", "/v1/properties/{id}/transfer")
            .param("id", &property_id)
            .bearer(token)
            .json(&json!({"newOwnerId": to}))
    };
    ok(app
        .call(properties_transfer::handle, transfer(&owner, &tenant_id))
        .await);
    ok(app
        .call(properties_transfer::handle, transfer(&admin, &owner_id))
        .await);
    // A moderator hides the tenant's post and publishes it again.
    let post = moderated_post(&app, &tenant, &moderator, 1).await;
    // The owner signs in from a device the account has not seen, and changes its address.
    let signed_in = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .header(
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                )
                .json(&json!({"email": "owner@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let asked = app
        .call(
            users_me_email::handle,
            Call::new("POST", "/v1/users/me/email")
                .bearer(&owner)
                .json(&json!({"newEmail": "owner-moved@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    let token = app.link_token("user.email_change_requested").await;
    let confirmed = app
        .call(
            auth_email_change_confirm::handle,
            Call::new("POST", "/v1/auth/email/change/confirm").json(&json!({"token": token})),
        )
        .await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);

    let delivered = notify(&app).await;
    assert!(delivered.batch_item_failures.is_empty(), "{delivered:?}");
    // Nine events ask for notices (the admin's transfer for two, in one record).
    assert_eq!(
        delivered.records, 9,
        "one record per event that asks for one"
    );

    let tenants = inbox(&app, &tenant, &[]).await;
    assert_eq!(
        types(&tenants),
        [
            "post.unhidden",
            "post.hidden",
            "property.transferred_away",
            "property.transferred_to_you",
            "lease.ended",
            "ledger.charge_posted",
            "lease.created",
        ],
        "{}",
        tenants.body
    );
    assert_eq!(unread(&tenants), 7);
    let items = tenants.body["items"].as_array().expect("items");
    assert_eq!(
        items[0]["data"],
        json!({"postId": post, "title": "Mine"}),
        "a notice carries its type's public data"
    );
    assert_eq!(items[0]["read"], false);
    assert_eq!(items[2]["data"]["propertyId"], property_id.as_str());
    assert_eq!(items[2]["data"]["fileNumber"], "INBOX-1");
    assert_eq!(
        items[4]["data"],
        json!({"leaseId": lease_id, "date": "2027-06-30"})
    );
    assert_eq!(items[5]["data"]["amountMinor"], 125_000);
    assert_eq!(items[5]["data"]["currency"], "EUR");
    assert_eq!(items[6]["data"]["startDate"], "2027-01-01");

    // The owner made the lease, the charge, the end and the first transfer: told only of what
    // others did, and of what guards the account (the new device, the new address) though it
    // did those itself. No notice carries an address.
    let owners = inbox(&app, &owner, &[]).await;
    assert_eq!(
        types(&owners),
        [
            "account.email_changed",
            "account.signed_in",
            "property.transferred_to_you"
        ],
        "{}",
        owners.body
    );
    let sign_in = &owners.body["items"][1]["data"];
    assert_eq!(
        sign_in["device"],
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
    );
    assert_eq!(owners.body["items"][0]["data"], json!({}));
    assert!(!owners.body.to_string().contains("owner-moved@example.com"));

    // The moderator and the admin acted; nobody told them anything.
    assert_eq!(unread(&inbox(&app, &moderator, &[]).await), 0);
    assert_eq!(unread(&inbox(&app, &admin, &[]).await), 0);

    // Every event delivered again: nothing new.
    let again = notify(&app).await;
    assert!(again.batch_item_failures.is_empty(), "{again:?}");
    assert_eq!(types(&inbox(&app, &tenant, &[]).await).len(), 7);
    assert_eq!(types(&inbox(&app, &owner, &[]).await).len(), 3);
}

#[tokio::test]
async fn the_inbox_pages_newest_first_lists_the_unread_alone_on_request_and_marking_read_moves_the_count()
 {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("author@example.com", None).await;
    let (other, _) = app.user("other@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    moderated_post(&app, &author, &moderator, 3).await;
    moderated_post(&app, &other, &moderator, 1).await;
    assert!(notify(&app).await.batch_item_failures.is_empty());

    // Six notifications, two a page, newest first; every page tells the whole unread count.
    let first = inbox(&app, &author, &[("limit", "2")]).await;
    assert_eq!(unread(&first), 6);
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let second = inbox(&app, &author, &[("limit", "2"), ("cursor", &cursor)]).await;
    let cursor = second.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let third = inbox(&app, &author, &[("limit", "2"), ("cursor", &cursor)]).await;
    assert!(third.body["nextCursor"].is_null());
    let all: Vec<String> = [&first, &second, &third]
        .iter()
        .flat_map(|page| ids(page))
        .collect();
    let mut sorted = all.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(all, sorted, "newest first");
    assert_eq!(all.len(), 6);
    // Another's cursor or a forged one is refused, not followed.
    let forged = app
        .call(
            users_me_notifications::handle,
            Call::new("GET", "/v1/users/me/notifications")
                .query("cursor", "forged")
                .bearer(&author),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.body);

    // By id: the second newest.
    let marked = mark(&app, &author, &json!({"ids": [all[1]]})).await;
    assert_eq!(marked.status, 200, "{}", marked.body);
    assert_eq!(unread(&marked), 5);
    let again = mark(&app, &author, &json!({"ids": [all[1]]})).await;
    assert_eq!(unread(&again), 5, "marking twice counts once");

    // Up to the fourth newest: it and the older two are read; the second was already.
    let marked = mark(&app, &author, &json!({"upTo": all[3]})).await;
    assert_eq!(marked.status, 200, "{}", marked.body);
    assert_eq!(unread(&marked), 2);
    let page = inbox(&app, &author, &[]).await;
    let read: Vec<bool> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["read"].as_bool().expect("read"))
        .collect();
    assert_eq!(read, [false, true, false, true, true, true]);
    // Only the unread: the newest and the third newest, a page at a time; a cursor of the
    // unread listing is not one of the whole inbox's.
    let unread_first = inbox(&app, &author, &[("unread", "true"), ("limit", "1")]).await;
    assert_eq!(ids(&unread_first), [all[0].clone()]);
    assert_eq!(unread(&unread_first), 2);
    let cursor = unread_first.body["nextCursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let unread_second = inbox(
        &app,
        &author,
        &[("unread", "true"), ("limit", "1"), ("cursor", &cursor)],
    )
    .await;
    assert_eq!(ids(&unread_second), [all[2].clone()]);
    assert!(unread_second.body["nextCursor"].is_null());
    assert_eq!(
        ids(&inbox(&app, &author, &[("unread", "false")]).await).len(),
        6
    );
    for (query, problem) in [
        (
            vec![("cursor", cursor.as_str())],
            "another listing's cursor",
        ),
        (vec![("unread", "yes")], "not a flag"),
        (vec![("unread", "true"), ("unread", "true")], "twice"),
    ] {
        let mut call = Call::new("GET", "/v1/users/me/notifications").bearer(&author);
        for (name, value) in query {
            call = call.query(name, value);
        }
        let refused = app.call(users_me_notifications::handle, call).await;
        assert_eq!(refused.status, 400, "{problem}: {}", refused.body);
    }
    // The mark never moves back.
    let back = mark(&app, &author, &json!({"upTo": all[5]})).await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(unread(&back), 2);

    // Ids that are not the caller's notifications: each named, and nothing marked.
    let others = ids(&inbox(&app, &other, &[]).await);
    let refused = mark(
        &app,
        &author,
        &json!({"ids": [all[0], others[0], "01ARZ3NDEKTSV4RRFFQ69G5FAV"]}),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["ids[1]", "ids[2]"]);
    assert_eq!(unread(&inbox(&app, &author, &[]).await), 2);
    let refused = mark(&app, &author, &json!({"upTo": others[0]})).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["field"], "upTo");
    assert_eq!(unread(&inbox(&app, &other, &[]).await), 2, "untouched");

    // Up to the newest: all read.
    let all_read = mark(&app, &author, &json!({"upTo": all[0]})).await;
    assert_eq!(unread(&all_read), 0);
}

#[tokio::test]
async fn a_request_to_mark_read_with_problems_is_refused_with_all_of_them() {
    let app = TestApp::spawn().await;
    let (token, _) = app.user("marker@example.com", None).await;
    let id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let cases = [
        (json!({}), 422, vec!["ids", "upTo"]),
        (json!({"upTo": id, "ids": [id]}), 422, vec!["ids", "upTo"]),
        (json!({"ids": []}), 422, vec!["ids"]),
        (json!({"ids": [id, id]}), 422, vec!["ids"]),
        (
            json!({"ids": ["nope"], "upTo": 7}),
            422,
            vec!["ids[0]", "upTo"],
        ),
        (json!({"upTo": "nope"}), 422, vec!["upTo"]),
    ];
    for (body, status, fields) in cases {
        let answer = mark(&app, &token, &body).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        let got: Vec<&str> = answer.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().expect("field"))
            .collect();
        assert_eq!(got, fields, "{body}: {}", answer.body);
    }
    let too_many: Vec<String> = (0..101)
        .map(|_| shared::ids::NotificationId::generate().to_string())
        .collect();
    let answer = mark(&app, &token, &json!({"ids": too_many})).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    let unknown = mark(&app, &token, &json!({"upTo": id, "all": true})).await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(unknown.code(), "UNKNOWN_FIELD");
    let anonymous = app
        .call(
            users_me_notifications_read::handle,
            Call::new("POST", "/v1/users/me/notifications/read").json(&json!({"upTo": id})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn an_account_deleted_before_its_notification_arrives_gets_none() {
    let app = TestApp::spawn().await;
    let (author, author_id) = app.user("leaving@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    moderated_post(&app, &author, &moderator, 1).await;
    let deleted = app.leave(&author).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let delivered = notify(&app).await;
    assert!(delivered.batch_item_failures.is_empty(), "{delivered:?}");
    // Nothing was written under the deleted account's key.
    let left = app
        .state
        .store
        .query_all(&format!("USER#{author_id}"), "NOTIFICATION#")
        .await
        .expect("query");
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_deleted_accounts_inbox_is_purged_with_its_posts() {
    let app = TestApp::spawn().await;
    let (author, author_id) = app.user("purged@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    moderated_post(&app, &author, &moderator, 15).await;
    assert!(notify(&app).await.batch_item_failures.is_empty());
    let first = inbox(&app, &author, &[("limit", "1")]).await;
    assert_eq!(unread(&first), 30);
    let newest = ids(&first)[0].clone();
    assert_eq!(
        mark(&app, &author, &json!({"upTo": newest})).await.status,
        200
    );
    let deleted = app.leave(&author).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    // Thirty notifications: two batches, then the mark; a redelivery finds nothing left.
    for _ in 0..2 {
        let purged = ferrite_tests::purge(&app, ferrite_tests::unhurried()).await;
        assert!(purged.batch_item_failures.is_empty(), "{purged:?}");
        let left = app
            .state
            .store
            .query_all(&format!("USER#{author_id}"), "NOTIFICATION")
            .await
            .expect("query");
        assert!(left.is_empty(), "{left:?}");
    }
}

#[tokio::test]
async fn the_unread_count_counts_up_to_a_hundred_whatever_is_left_unread() {
    let app = TestApp::spawn().await;
    let (author, _) = app.user("busy@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    moderated_post(&app, &author, &moderator, 51).await;
    assert!(notify(&app).await.batch_item_failures.is_empty());
    let page = inbox(&app, &author, &[("limit", "100")]).await;
    assert_eq!(unread(&page), 100, "102 unread read as a hundred or more");
    // Two marked one by one leave exactly a hundred; a third, ninety-nine.
    let shown = ids(&page);
    let marked = mark(&app, &author, &json!({"ids": [shown[0], shown[1]]})).await;
    assert_eq!(unread(&marked), 100);
    let marked = mark(&app, &author, &json!({"ids": [shown[2]]})).await;
    assert_eq!(unread(&marked), 99);
}
