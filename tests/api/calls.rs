//! DynamoDB calls per request: each endpoint's happy path makes exactly the operations its
//! access pattern documents (docs/architecture.md, "DynamoDB calls per request"). With
//! `FERRITE_CAPACITY_OUT` set, every endpoint's calls and consumed capacity are also written
//! there (`make capacity` turns them into CAPACITY.md). A regression that adds a
//! round trip fails here.

use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::auth::Role;

use ferrite_tests::PASSWORD;

#[tokio::test]
async fn every_endpoint_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    let expect = |endpoint: &str, calls: &[&str]| {
        let made = log.take_measured();
        let names: Vec<&str> = made.iter().map(|m| m.operation.as_str()).collect();
        assert_eq!(names, calls, "{endpoint}");
        ferrite_tests::call_log::record_capacity(endpoint, &made);
    };

    let health = app
        .call(
            |_, req| health::handle(&(), req),
            Call::new("GET", "/v1/health"),
        )
        .await;
    assert_eq!(health.status, 200);
    expect("GET /v1/health", &[]);
    let ready = app
        .call(health_ready::handle, Call::new("GET", "/v1/health/ready"))
        .await;
    assert_eq!(ready.status, 200);
    expect("GET /v1/health/ready", &["GetItem"]);

    let registered = app
        .call(
            auth_register::handle,
            Call::new("POST", "/v1/auth/register").json(
                &json!({"email": "calls@example.com", "name": "Calls", "password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(registered.status, 201);
    // The per-IP registration limit is counted first (atomically, refused past the limit).
    expect(
        "POST /v1/auth/register",
        &["UpdateItem", "TransactWriteItems"],
    );

    let login = app
        .call(
            auth_login::handle,
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "calls@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 200);
    expect(
        "POST /v1/auth/login",
        // The attempt is counted first (atomically), then the claim and the user are read, and
        // the oldest sessions past the cap are looked up to be ended with this one.
        &[
            "TransactWriteItems",
            "GetItem",
            "GetItem",
            "Query",
            "TransactWriteItems",
        ],
    );
    let access = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let refresh_token = login.body["refreshToken"]
        .as_str()
        .expect("token")
        .to_owned();

    let refreshed = app
        .call(
            auth_refresh::handle,
            Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, 200);
    expect(
        "POST /v1/auth/refresh",
        &["GetItem", "BatchGetItem", "TransactWriteItems"],
    );

    assert_eq!(
        app.call(
            users_me_get::handle,
            Call::new("GET", "/v1/users/me").bearer(&access)
        )
        .await
        .status,
        200
    );
    expect("GET /v1/users/me", &["BatchGetItem"]);

    let patched = app
        .call(
            users_me_patch::handle,
            Call::new("PATCH", "/v1/users/me")
                .bearer(&access)
                .json(&json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(patched.status, 200);
    expect(
        "PATCH /v1/users/me",
        &["BatchGetItem", "TransactWriteItems"],
    );

    let jwks = app
        .call(
            |state, req| jwks::handle(state.auth.verifier().expect("keys"), req),
            Call::new("GET", "/.well-known/jwks.json"),
        )
        .await;
    assert_eq!(jwks.status, 200);
    expect("GET /.well-known/jwks.json", &[]);

    let created = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(&access)
                .json(&json!({"title": "t", "body": "b", "status": "published"})),
        )
        .await;
    assert_eq!(created.status, 201);
    // The per-account limit is counted first; the feed's month markers are written before
    // the post's transaction, outside it.
    expect(
        "POST /v1/posts",
        &[
            "BatchGetItem",
            "UpdateItem",
            "BatchWriteItem",
            "TransactWriteItems",
        ],
    );
    let id = created.body["id"].as_str().expect("id").to_owned();

    assert_eq!(
        app.call(
            posts_get::handle,
            Call::new("GET", "/v1/posts/{id}").param("id", &id)
        )
        .await
        .status,
        200
    );
    // The post, then its author (a deleted account's posts are hidden until purged).
    expect("GET /v1/posts/{id} (anonymous)", &["GetItem", "GetItem"]);

    let patched = app
        .call(
            posts_patch::handle,
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &id)
                .bearer(&access)
                .json(&json!({"title": "t2"})),
        )
        .await;
    assert_eq!(patched.status, 200);
    expect(
        "PATCH /v1/posts/{id}",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );

    // The newest month bucket holds every post here; reaching its end reads the feed's month
    // index for older months (there are none). Sparse feeds: attacks.rs.
    assert_eq!(
        app.call(posts_list::handle, Call::new("GET", "/v1/posts"))
            .await
            .status,
        200
    );
    expect("GET /v1/posts", &["Query", "Query", "BatchGetItem"]);

    let me = app
        .call(
            users_me_get::handle,
            Call::new("GET", "/v1/users/me").bearer(&access),
        )
        .await;
    let user_id = me.body["id"].as_str().expect("id").to_owned();
    log.take();
    assert_eq!(
        app.call(
            users_posts::handle,
            Call::new("GET", "/v1/users/{id}/posts").param("id", &user_id)
        )
        .await
        .status,
        200
    );
    // The author's existence and the page, read concurrently (in either order).
    let measured = log.take_measured();
    ferrite_tests::call_log::record_capacity("GET /v1/users/{id}/posts", &measured);
    let mut made: Vec<String> = measured.into_iter().map(|m| m.operation).collect();
    made.sort();
    assert_eq!(made, ["GetItem", "Query"], "GET /v1/users/{{id}}/posts");

    assert_eq!(
        app.call(
            users_profile::handle,
            Call::new("GET", "/v1/users/{id}/profile").param("id", &user_id)
        )
        .await
        .status,
        200
    );
    expect("GET /v1/users/{id}/profile", &["GetItem"]);

    app.grant("calls@example.com", Role::Admin).await;
    log.take();
    assert_eq!(
        app.call(
            users_list::handle,
            Call::new("GET", "/v1/users").bearer(&access)
        )
        .await
        .status,
        200
    );
    expect("GET /v1/users", &["BatchGetItem", "Query"]);
    assert_eq!(
        app.call(
            audit_list::handle,
            Call::new("GET", "/v1/audit")
                .query("actorId", &user_id)
                .bearer(&access)
        )
        .await
        .status,
        200
    );
    expect("GET /v1/audit", &["BatchGetItem", "Query"]);

    assert_eq!(
        app.call(
            posts_delete::handle,
            Call::new("DELETE", "/v1/posts/{id}")
                .param("id", &id)
                .bearer(&access)
        )
        .await
        .status,
        204
    );
    expect(
        "DELETE /v1/posts/{id}",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );

    let forgot = app
        .call(
            auth_password_forgot::handle,
            Call::new("POST", "/v1/auth/password/forgot")
                .json(&json!({"email": "calls@example.com"})),
        )
        .await;
    assert_eq!(forgot.status, 202);
    // Per-IP limit, the claim, the address's two link-email windows, the event.
    expect(
        "POST /v1/auth/password/forgot",
        &[
            "UpdateItem",
            "GetItem",
            "UpdateItem",
            "UpdateItem",
            "TransactWriteItems",
        ],
    );

    let asked = app
        .call(
            users_me_email::handle,
            Call::new("POST", "/v1/users/me/email")
                .bearer(&access)
                .json(&json!({"newEmail": "calls-moved@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    // The password attempt, the new address's claim, the two link-email windows, the change.
    expect(
        "POST /v1/users/me/email",
        &[
            "BatchGetItem",
            "UpdateItem",
            "GetItem",
            "UpdateItem",
            "UpdateItem",
            "TransactWriteItems",
        ],
    );
    let token = app.link_token("user.email_change_requested").await;
    log.take();
    let confirmed = app
        .call(
            auth_email_change_confirm::handle,
            Call::new("POST", "/v1/auth/email/change/confirm").json(&json!({"token": token})),
        )
        .await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);
    // The token, the user, the asking session, the other sessions, one transaction.
    expect(
        "POST /v1/auth/email/change/confirm",
        &[
            "GetItem",
            "GetItem",
            "GetItem",
            "Query",
            "TransactWriteItems",
        ],
    );

    // The workers, per batch of every event above (the capacity model divides by the batch).
    let events = app.outbox().await;
    log.take();
    let bodies: Vec<String> = events.iter().map(ferrite_tests::stream_record).collect();
    let audit =
        worker_audit::AuditWorker::new(app.state_of("WorkerAuditFunction").clone(), |_| None)
            .expect("worker");
    let audited = worker_audit::handle(&audit, ferrite_tests::sqs_event(&bodies)).await;
    assert!(audited.batch_item_failures.is_empty());
    let measured = log.take_measured();
    assert_eq!(
        measured
            .iter()
            .filter(|m| m.operation == "TransactWriteItems" || m.operation == "PutItem")
            .count(),
        events.len(),
        "one audit write per event: {measured:?}"
    );
    ferrite_tests::call_log::record_capacity(
        &format!("worker-audit (a batch of {} events)", events.len()),
        &measured,
    );
    let mailing: Vec<String> = events
        .iter()
        .filter(|e| e.email.is_some())
        .map(ferrite_tests::stream_record)
        .collect();
    let email_worker = ferrite_tests::workers::email_worker(&app, "calls@example.net", true).await;
    log.take();
    let sent = worker_email::handle(&email_worker, ferrite_tests::sqs_event(&mailing)).await;
    assert!(sent.batch_item_failures.is_empty());
    ferrite_tests::call_log::record_capacity(
        &format!(
            "worker-email (a batch of {} events with email)",
            mailing.len()
        ),
        &log.take_measured(),
    );
}

#[tokio::test]
async fn every_property_endpoint_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    let expect = |endpoint: &str, calls: &[&str]| {
        let made = log.take_measured();
        let names: Vec<&str> = made.iter().map(|m| m.operation.as_str()).collect();
        assert_eq!(names, calls, "{endpoint}");
        ferrite_tests::call_log::record_capacity(endpoint, &made);
    };
    let (owner, _) = app.user("owner@example.com", None).await;
    let (_, buyer_id) = app.user("buyer@example.com", None).await;
    log.take();

    let created = app
        .call(
            properties_create::handle,
            Call::new("POST", "/v1/properties").bearer(&owner).json(&json!({
                "fileNumber": "CALLS-1",
                "address": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
                "kind": "mixed"
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    // The property, its file number's claim, the owner's count and the event: one transaction.
    expect(
        "POST /v1/properties",
        &["BatchGetItem", "TransactWriteItems"],
    );
    let id = created.body["id"].as_str().expect("id").to_owned();

    let read = app
        .call(
            properties_get::handle,
            Call::new("GET", "/v1/properties/{id}")
                .param("id", &id)
                .bearer(&owner),
        )
        .await;
    assert_eq!(read.status, 200);
    expect(
        "GET /v1/properties/{id}",
        &["BatchGetItem", "GetItem", "GetItem"],
    );

    let listed = app
        .call(
            properties_list::handle,
            Call::new("GET", "/v1/properties")
                .query("country", "US")
                .bearer(&owner),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    // The page and its owners: at most two calls besides authentication, whatever the page size.
    expect(
        "GET /v1/properties?country=",
        &["BatchGetItem", "Query", "BatchGetItem"],
    );

    let patched = app
        .call(
            properties_patch::handle,
            Call::new("PATCH", "/v1/properties/{id}")
                .param("id", &id)
                .bearer(&owner)
                .json(&json!({"kind": "land"})),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    expect(
        "PATCH /v1/properties/{id}",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );

    let unit = app
        .call(
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", &id)
                .bearer(&owner)
                .json(&json!({"label": "Flat 1", "bedrooms": 2})),
        )
        .await;
    assert_eq!(unit.status, 201, "{}", unit.body);
    // A unit lives in its property's item: one conditional update with the event.
    expect(
        "POST /v1/properties/{id}/units",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );
    let unit_id = unit.body["id"].as_str().expect("id").to_owned();
    let unit_call = |method: &str| {
        Call::new(method, "/v1/properties/{id}/units/{unitId}")
            .param("id", &id)
            .param("unitId", &unit_id)
            .bearer(&owner)
    };
    let renamed = app
        .call(
            units_patch::handle,
            unit_call("PATCH").json(&json!({"label": "Flat 1A"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    expect(
        "PATCH /v1/properties/{id}/units/{unitId}",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );
    assert_eq!(
        app.call(units_delete::handle, unit_call("DELETE"))
            .await
            .status,
        204
    );
    expect(
        "DELETE /v1/properties/{id}/units/{unitId}",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );

    let let_unit = app
        .call(
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", &id)
                .bearer(&owner)
                .json(&json!({"label": "To let"})),
        )
        .await;
    let let_unit = let_unit.body["id"].as_str().expect("id").to_owned();
    log.take();
    let leased = app
        .call(
            leases_create::handle,
            Call::new("POST", "/v1/leases").bearer(&owner).json(&json!({
                "unitId": let_unit, "tenantId": buyer_id, "startDate": "2027-01-01",
                "rent": {"amountMinor": 100, "currency": "USD"}
            })),
        )
        .await;
    assert_eq!(leased.status, 201, "{}", leased.body);
    // The unit's property (its lookup), the property, then one transaction: the unit leased
    // under the condition that it is vacant, the tenant's count, the lease, the event.
    expect(
        "POST /v1/leases",
        &["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"],
    );
    let lease_id = leased.body["id"].as_str().expect("id").to_owned();
    let read = app
        .call(
            leases_get::handle,
            Call::new("GET", "/v1/leases/{id}")
                .param("id", &lease_id)
                .bearer(&owner),
        )
        .await;
    assert_eq!(read.status, 200);
    // The owner is neither tenant nor admin: the property tells that they may see it.
    expect(
        "GET /v1/leases/{id}",
        &["BatchGetItem", "GetItem", "GetItem"],
    );
    let their_leases = app
        .call(
            properties_leases::handle,
            Call::new("GET", "/v1/properties/{id}/leases")
                .param("id", &id)
                .bearer(&owner),
        )
        .await;
    assert_eq!(their_leases.status, 200);
    expect(
        "GET /v1/properties/{id}/leases",
        &["BatchGetItem", "GetItem", "Query"],
    );
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &lease_id)
                .bearer(&owner)
                .json(&json!({"endDate": "2027-02-01"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    expect(
        "POST /v1/leases/{id}/end",
        &["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"],
    );

    let moved = app
        .call(
            properties_transfer::handle,
            Call::new("POST", "/v1/properties/{id}/transfer")
                .param("id", &id)
                .bearer(&owner)
                .json(&json!({"newOwnerId": buyer_id})),
        )
        .await;
    assert_eq!(moved.status, 201, "{}", moved.body);
    expect(
        "POST /v1/properties/{id}/transfer",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );

    let (admin, _) = app.admin("admin@example.com").await;
    log.take();
    let history = app
        .call(
            properties_history::handle,
            Call::new("GET", "/v1/properties/{id}/ownership-history")
                .param("id", &id)
                .bearer(&admin),
        )
        .await;
    assert_eq!(history.status, 200);
    expect(
        "GET /v1/properties/{id}/ownership-history",
        &["BatchGetItem", "GetItem", "Query"],
    );

    let deleted = app
        .call(
            properties_delete::handle,
            Call::new("DELETE", "/v1/properties/{id}")
                .param("id", &id)
                .bearer(&admin),
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    expect(
        "DELETE /v1/properties/{id}",
        &["BatchGetItem", "GetItem", "TransactWriteItems"],
    );
}
