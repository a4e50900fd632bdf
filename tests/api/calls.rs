//! DynamoDB calls per request: each endpoint's happy path makes exactly the operations its
//! access pattern documents (docs/architecture.md, "DynamoDB calls per request") — and the KMS
//! calls (`Encrypt`, `Decrypt`) of the functions that seal second factors, in their place. With
//! `FERRITE_CAPACITY_OUT` set, every endpoint's calls and consumed capacity are also written
//! there (`make capacity` turns them into CAPACITY.md). A regression that adds a
//! round trip fails here.

use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::auth::Role;

use ferrite_tests::PASSWORD;
use ferrite_tests::TestResponse;
use ferrite_tests::call_log::CallLog;
use shared::State;

/// One row of the table: `handler` answers `call` with `status` after exactly `operations`
/// (see [`made`]), optionally under a label. A macro so that each row stays one line.
macro_rules! row {
    ($app:ident, $log:ident: $handler:expr, $call:expr => $status:literal, [$($op:literal),*]) => {
        made(&$app, &$log, None, $handler, $call, $status, &[$($op),*]).await
    };
    // Recorded under a label of its own (a variant of the route: anonymous, filtered).
    ($app:ident, $log:ident, $label:literal: $handler:expr, $call:expr => $status:literal,
        [$($op:literal),*]) => {
        made(&$app, &$log, Some($label), $handler, $call, $status, &[$($op),*]).await
    };
}

/// One endpoint's happy path, checked: `handler` answers `call` with `status` after making
/// exactly `operations` (in order; whatever ran before is not counted), which are recorded for
/// CAPACITY.md under `label`, or the call's `METHOD /route` without one.
async fn made<F, Fut>(
    app: &TestApp,
    log: &CallLog,
    label: Option<&str>,
    handler: F,
    call: Call,
    status: u16,
    operations: &[&str],
) -> TestResponse
where
    F: Fn(&'static State, lambda_http::Request) -> Fut,
    Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, shared::ApiError>>,
{
    let endpoint = label.map_or_else(
        || format!("{} {}", call.method(), call.route()),
        str::to_owned,
    );
    log.take();
    let answer = app.call(handler, call).await;
    assert_eq!(answer.status, status, "{endpoint}: {}", answer.body);
    let made = log.take_measured();
    let names: Vec<&str> = made.iter().map(|m| m.operation.as_str()).collect();
    assert_eq!(names, operations, "{endpoint}");
    ferrite_tests::call_log::record_capacity(&endpoint, &made);
    answer
}

#[tokio::test]
async fn every_endpoint_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;

    row!(app, log: |_, req| health::handle(&(), req), Call::new("GET", "/v1/health") => 200, []);
    row!(app, log: health_ready::handle, Call::new("GET", "/v1/health/ready") => 200, ["GetItem"]);

    // The per-IP registration limit is counted first (atomically, refused past the limit).
    row!(app, log: auth_register::handle, Call::new("POST", "/v1/auth/register")
            .json(&json!({"email": "calls@example.com", "name": "Calls", "password": PASSWORD}))
        => 201, ["UpdateItem", "TransactWriteItems"]);

    // The attempt is counted first (atomically), then the claim and the user are read, and the
    // oldest sessions past the cap are looked up to be ended with this one.
    let login = row!(app, log: auth_login::handle, Call::new("POST", "/v1/auth/login")
            .json(&json!({"email": "calls@example.com", "password": PASSWORD}))
        => 200, ["TransactWriteItems", "GetItem", "GetItem", "Query", "TransactWriteItems"]);
    let access = login.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let refresh_token = login.body["refreshToken"]
        .as_str()
        .expect("token")
        .to_owned();

    row!(app, log: auth_refresh::handle, Call::new("POST", "/v1/auth/refresh")
            .json(&json!({"refreshToken": refresh_token}))
        => 200, ["GetItem", "BatchGetItem", "TransactWriteItems"]);

    row!(app, log: users_me_get::handle, Call::new("GET", "/v1/users/me").bearer(&access)
        => 200, ["BatchGetItem"]);

    row!(app, log: users_me_patch::handle, Call::new("PATCH", "/v1/users/me").bearer(&access)
            .json(&json!({"name": "Renamed"}))
        => 200, ["BatchGetItem", "TransactWriteItems"]);

    row!(app, log: |state, req| jwks::handle(state.auth.verifier().expect("keys"), req),
        Call::new("GET", "/.well-known/jwks.json") => 200, []);

    // The per-account limit is counted first; the feed's month markers are written before
    // the post's transaction, outside it.
    let created = row!(app, log: posts_create::handle, Call::new("POST", "/v1/posts").bearer(&access)
            .json(&json!({"title": "t", "body": "b", "status": "published"}))
        => 201, ["BatchGetItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"]);
    let id = created.body["id"].as_str().expect("id").to_owned();

    // The post, then its author (a deleted account's posts are hidden until purged).
    row!(app, log, "GET /v1/posts/{id} (anonymous)": posts_get::handle,
        Call::new("GET", "/v1/posts/{id}").param("id", &id) => 200, ["GetItem", "GetItem"]);

    row!(app, log: posts_patch::handle, Call::new("PATCH", "/v1/posts/{id}").param("id", &id).bearer(&access)
            .json(&json!({"title": "t2"}))
        => 200, ["BatchGetItem", "GetItem", "TransactWriteItems"]);

    // The newest month bucket holds every post here; reaching its end reads the feed's month
    // index for older months (there are none). Sparse feeds: attacks.rs.
    row!(app, log: posts_list::handle, Call::new("GET", "/v1/posts")
        => 200, ["Query", "Query", "BatchGetItem"]);

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
    let mut operations: Vec<String> = measured.into_iter().map(|m| m.operation).collect();
    operations.sort();
    assert_eq!(
        operations,
        ["GetItem", "Query"],
        "GET /v1/users/{{id}}/posts"
    );

    row!(app, log: users_profile::handle, Call::new("GET", "/v1/users/{id}/profile").param("id", &user_id)
        => 200, ["GetItem"]);

    app.grant("calls@example.com", Role::Admin).await;
    log.take();
    row!(app, log: users_list::handle, Call::new("GET", "/v1/users").bearer(&access)
        => 200, ["BatchGetItem", "Query"]);
    row!(app, log: audit_list::handle, Call::new("GET", "/v1/audit").query("actorId", &user_id).bearer(&access)
        => 200, ["BatchGetItem", "Query"]);

    row!(app, log: posts_delete::handle, Call::new("DELETE", "/v1/posts/{id}").param("id", &id).bearer(&access)
        => 204, ["BatchGetItem", "GetItem", "TransactWriteItems"]);

    // Per-IP limit, the claim, the address's two link-email windows, the event.
    row!(app, log: auth_password_forgot::handle, Call::new("POST", "/v1/auth/password/forgot")
            .json(&json!({"email": "calls@example.com"}))
        => 202, ["UpdateItem", "GetItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]);

    // The password attempt, the new address's claim, the two link-email windows, the change.
    row!(app, log: users_me_email::handle, Call::new("POST", "/v1/users/me/email").bearer(&access)
            .json(&json!({"newEmail": "calls-moved@example.com", "password": PASSWORD}))
        => 202, ["BatchGetItem", "UpdateItem", "GetItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]);
    let token = app.link_token("user.email_change_requested").await;
    log.take();
    // The token, the user, the asking session, the other sessions, one transaction.
    row!(app, log: auth_email_change_confirm::handle, Call::new("POST", "/v1/auth/email/change/confirm")
            .json(&json!({"token": token}))
        => 204, ["GetItem", "GetItem", "GetItem", "Query", "TransactWriteItems"]);

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
    let (owner, _) = app.user("owner@example.com", None).await;
    let (_, buyer_id) = app.user("buyer@example.com", None).await;
    log.take();

    // The property, its file number's claim, the owner's count and the event: one transaction.
    let property = json!({
        "fileNumber": "CALLS-1",
        "address": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
        "kind": "mixed"
    });
    let created = row!(app, log: properties_create::handle,
        Call::new("POST", "/v1/properties").bearer(&owner).json(&property)
        => 201, ["BatchGetItem", "TransactWriteItems"]);
    let id = created.body["id"].as_str().expect("id").to_owned();

    row!(app, log: properties_get::handle, Call::new("GET", "/v1/properties/{id}").param("id", &id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "GetItem"]);

    // The page and its owners: at most two calls besides authentication, whatever the page size.
    row!(app, log, "GET /v1/properties?country=": properties_list::handle,
        Call::new("GET", "/v1/properties").query("country", "US").bearer(&owner)
        => 200, ["BatchGetItem", "Query", "BatchGetItem"]);

    row!(app, log: properties_patch::handle, Call::new("PATCH", "/v1/properties/{id}").param("id", &id).bearer(&owner)
            .json(&json!({"kind": "land"}))
        => 200, ["BatchGetItem", "GetItem", "TransactWriteItems"]);

    // A unit lives in its property's item: one conditional update with the event.
    let unit = row!(app, log: units_create::handle, Call::new("POST", "/v1/properties/{id}/units").param("id", &id).bearer(&owner)
            .json(&json!({"label": "Flat 1", "bedrooms": 2}))
        => 201, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
    let unit_id = unit.body["id"].as_str().expect("id").to_owned();
    let unit_call = |method: &str| {
        Call::new(method, "/v1/properties/{id}/units/{unitId}")
            .param("id", &id)
            .param("unitId", &unit_id)
            .bearer(&owner)
    };
    row!(app, log: units_patch::handle, unit_call("PATCH").json(&json!({"label": "Flat 1A"}))
        => 200, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log: units_delete::handle, unit_call("DELETE")
        => 204, ["BatchGetItem", "GetItem", "TransactWriteItems"]);

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
    // The unit's property (its lookup), the property, then one transaction: the unit leased
    // under the condition that it is vacant, the tenant's count, the lease, the event.
    let leased = row!(app, log: leases_create::handle, Call::new("POST", "/v1/leases").bearer(&owner)
            .json(&json!({"unitId": let_unit, "tenantId": buyer_id, "startDate": "2027-01-01","rent": {"amountMinor": 100, "currency": "USD"}}))
        => 201, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    let lease_id = leased.body["id"].as_str().expect("id").to_owned();
    // The owner is neither tenant nor admin: the property tells that they may see it.
    row!(app, log: leases_get::handle, Call::new("GET", "/v1/leases/{id}").param("id", &lease_id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "GetItem"]);
    row!(app, log: properties_leases::handle, Call::new("GET", "/v1/properties/{id}/leases").param("id", &id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "Query"]);
    // The ledger: the lease and its property (who manages it), then one transaction — the
    // entry, the lease's balance, the event.
    row!(app, log: leases_charges::handle, Call::new("POST", "/v1/leases/{id}/charges").param("id", &lease_id).bearer(&owner)
            .json(&json!({"category": "rent", "amountMinor": 100, "currency": "USD", "effectiveDate": "2027-01-01"}))
        => 201, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    // A payment first looks for its key's record; the record joins the transaction.
    let payment = json!({"amountMinor": 60, "currency": "USD", "effectiveDate": "2027-01-03"});
    let paid = row!(app, log: leases_payments::handle, Call::new("POST", "/v1/leases/{id}/payments").param("id", &lease_id).bearer(&owner)
            .header("idempotency-key", "calls-payment").json(&payment)
        => 201, ["BatchGetItem", "GetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log, "POST /v1/leases/{id}/payments (a retry)": leases_payments::handle, Call::new("POST", "/v1/leases/{id}/payments").param("id", &lease_id).bearer(&owner)
            .header("idempotency-key", "calls-payment").json(&payment)
        => 200, ["BatchGetItem", "GetItem", "GetItem"]);
    let entry = paid.body["id"].as_str().expect("id").to_owned();
    row!(app, log: leases_entries_reverse::handle, Call::new("POST", "/v1/leases/{id}/entries/{entryId}/reverse").param("id", &lease_id).param("entryId", &entry).bearer(&owner)
            .json(&json!({"note": "the cheque bounced"}))
        => 201, ["BatchGetItem", "GetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log: leases_credits::handle, Call::new("POST", "/v1/leases/{id}/credits").param("id", &lease_id).bearer(&owner)
            .json(&json!({"amountMinor": 10, "currency": "USD", "effectiveDate": "2027-01-15", "note": "a broken boiler"}))
        => 201, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log: leases_ledger::handle, Call::new("GET", "/v1/leases/{id}/ledger").param("id", &lease_id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "GetItem", "Query"]);
    // The rent roll: the property (its units), its leases, then the month totals and the
    // tenants' names in one BatchGetItem.
    row!(app, log: properties_rent_roll::handle, Call::new("GET", "/v1/properties/{id}/rent-roll").param("id", &id).query("month", "2027-01").bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "Query", "BatchGetItem"]);
    // A renewal: the lease and its property, then the lease, its due marker and the event.
    row!(app, log: leases_patch::handle, Call::new("PATCH", "/v1/leases/{id}").param("id", &lease_id).bearer(&owner)
            .json(&json!({"endDate": "2099-06-30", "rentChange": {"amountMinor": 120, "currency": "USD", "from": "2099-01-01"}}))
        => 200, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    // Documents: the property (or the lease and its property), then the document, the
    // property's counts and the event in one transaction; the upload form is signed locally.
    let document = json!({"name": "deed.pdf", "contentType": "application/pdf", "size": 100});
    let added = row!(app, log: properties_documents_create::handle, Call::new("POST", "/v1/properties/{id}/documents").param("id", &id).bearer(&owner)
            .json(&document)
        => 201, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log: leases_documents_create::handle, Call::new("POST", "/v1/leases/{id}/documents").param("id", &lease_id).bearer(&owner)
            .json(&document)
        => 201, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    let document_id = added.body["document"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    row!(app, log: documents_get::handle, Call::new("GET", "/v1/documents/{id}").param("id", &document_id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "GetItem"]);
    row!(app, log: properties_documents_list::handle, Call::new("GET", "/v1/properties/{id}/documents").param("id", &id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "Query"]);
    row!(app, log: leases_documents_list::handle, Call::new("GET", "/v1/leases/{id}/documents").param("id", &lease_id).bearer(&owner)
        => 200, ["BatchGetItem", "GetItem", "GetItem", "Query"]);
    row!(app, log: documents_delete::handle, Call::new("DELETE", "/v1/documents/{id}").param("id", &document_id).bearer(&owner)
        => 204, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log: leases_end::handle, Call::new("POST", "/v1/leases/{id}/end").param("id", &lease_id).bearer(&owner)
            .json(&json!({"endDate": "2027-02-01"}))
        => 200, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);

    row!(app, log: properties_transfer::handle, Call::new("POST", "/v1/properties/{id}/transfer").param("id", &id).bearer(&owner)
            .json(&json!({"newOwnerId": buyer_id}))
        => 201, ["BatchGetItem", "GetItem", "TransactWriteItems"]);

    let (admin, _) = app.admin("admin@example.com").await;
    log.take();
    row!(app, log: properties_history::handle, Call::new("GET", "/v1/properties/{id}/ownership-history").param("id", &id).bearer(&admin)
        => 200, ["BatchGetItem", "GetItem", "Query"]);

    row!(app, log: properties_delete::handle, Call::new("DELETE", "/v1/properties/{id}").param("id", &id).bearer(&admin)
        => 204, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
}

#[tokio::test]
async fn every_session_endpoint_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    // Registered (one session) and signed in (the token's session).
    let (caller, caller_id) = app.user("sessions-calls@example.com", None).await;
    let (admin, _) = app.admin("sessions-calls-admin@example.com").await;
    let sign_in = || async {
        let login = app
            .call(
                auth_login::handle,
                Call::new("POST", "/v1/auth/login")
                    .json(&json!({"email": "sessions-calls@example.com", "password": PASSWORD})),
            )
            .await;
        assert_eq!(login.status, 200, "{}", login.body);
    };
    let other_session = || async {
        let listed = app
            .call(
                users_me_sessions::handle,
                Call::new("GET", "/v1/users/me/sessions").bearer(&caller),
            )
            .await;
        listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|s| s["current"] == false)
            .expect("a session besides the current one")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    row!(app, log: users_me_sessions::handle, Call::new("GET", "/v1/users/me/sessions").bearer(&caller)
        => 200, ["BatchGetItem", "Query"]);
    row!(app, log: users_sessions::handle, Call::new("GET", "/v1/users/{id}/sessions").param("id", &caller_id).bearer(&admin)
        => 200, ["BatchGetItem", "GetItem", "Query"]);
    let other = other_session().await;
    row!(app, log: users_me_sessions_delete::handle, Call::new("DELETE", "/v1/users/me/sessions/{id}").param("id", &other).bearer(&caller)
        => 204, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
    sign_in().await;
    let other = other_session().await;
    row!(app, log: users_sessions_delete::handle, Call::new("DELETE", "/v1/users/{id}/sessions/{sessionId}").param("id", &caller_id).param("sessionId", &other).bearer(&admin)
        => 204, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
    sign_in().await;
    row!(app, log: users_me_sessions_end_others::handle, Call::new("DELETE", "/v1/users/me/sessions").bearer(&caller)
        => 200, ["BatchGetItem", "GetItem", "Query", "TransactWriteItems"]);
    row!(app, log: users_sessions_end_all::handle, Call::new("DELETE", "/v1/users/{id}/sessions").param("id", &caller_id).bearer(&admin)
        => 200, ["BatchGetItem", "GetItem", "Query", "TransactWriteItems"]);
}

#[tokio::test]
async fn every_second_factor_endpoint_makes_the_documented_dynamodb_and_kms_calls() {
    let (counting, log) = TestApp::spawn_counting().await;
    // Each step a TOTP step later than the one before: a code is accepted once.
    let start = ferrite_tests::mfa::step_clock(5);
    let app = counting.at(start);
    let (caller, caller_id) = app.user("mfa-calls@example.com", None).await;
    let begun = row!(app, log: users_me_mfa_totp::handle, Call::new("POST", "/v1/users/me/mfa/totp").json(&json!({})).bearer(&caller)
        => 201, ["BatchGetItem", "Encrypt", "TransactWriteItems"]);
    let secret = begun.body["secret"].as_str().expect("secret").to_owned();
    let code = |clock: shared::clock::Clock| ferrite_tests::mfa::code_at(&secret, clock.now());
    row!(app, log: users_me_mfa_totp_confirm::handle, Call::new("POST", "/v1/users/me/mfa/totp/confirm").json(&json!({"code": code(start)})).bearer(&caller)
        => 200, ["BatchGetItem", "GetItem", "TransactWriteItems", "Decrypt", "TransactWriteItems"]);
    let login = json!({"email": "mfa-calls@example.com", "password": PASSWORD});
    let challenged = row!(app, log, "POST /v1/auth/login (second factor on)": auth_login::handle, Call::new("POST", "/v1/auth/login").json(&login)
        => 401, ["TransactWriteItems", "GetItem", "GetItem", "TransactWriteItems"]);
    let challenge = challenged.body["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned();
    let next = app.at(ferrite_tests::mfa::later(start, 30));
    let verified = row!(next, log: auth_mfa_verify::handle, Call::new("POST", "/v1/auth/mfa/verify").json(&json!({"challenge": challenge, "code": code(ferrite_tests::mfa::later(start, 30))}))
        => 200, ["GetItem", "GetItem", "TransactWriteItems", "GetItem", "Decrypt", "Query", "TransactWriteItems"]);
    let token = verified.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    // Signed in with a code moments ago: neither the password nor a code is asked for.
    row!(next, log: users_me_mfa_recovery_codes::handle, Call::new("POST", "/v1/users/me/mfa/recovery-codes").json(&json!({})).bearer(&token)
        => 200, ["BatchGetItem", "GetItem", "Decrypt", "TransactWriteItems"]);
    let after = app.at(ferrite_tests::mfa::later(start, 60));
    row!(after, log: users_me_mfa_totp_delete::handle, Call::new("DELETE", "/v1/users/me/mfa/totp").json(&json!({"code": code(ferrite_tests::mfa::later(start, 60))})).bearer(&token)
        => 204, ["BatchGetItem", "GetItem", "TransactWriteItems", "Decrypt", "TransactWriteItems"]);
    // An admin (signed in moments ago, no factor of their own) removes it again.
    let (admin, _) = app.admin("mfa-calls-admin@example.com").await;
    ferrite_tests::mfa::enrol(&after, &token).await;
    row!(after, log: users_mfa_delete::handle, Call::new("DELETE", "/v1/users/{id}/mfa").param("id", &caller_id).json(&json!({})).bearer(&admin)
        => 204, ["BatchGetItem", "GetItem", "GetItem", "TransactWriteItems"]);
}

#[tokio::test]
async fn a_mailed_sign_in_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    app.user("link-calls@example.com", None).await;
    app.confirm_address().await;
    // Per-IP limit, the claim, the address's two link-email windows, the event — and the same
    // for an address without an account (a count of unsent requests in place of the event).
    row!(app, log: auth_magic_link::handle, Call::new("POST", "/v1/auth/magic-link")
            .json(&json!({"email": "link-calls@example.com"}))
        => 202, ["UpdateItem", "GetItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]);
    let token = app.link_token("user.sign_in_link_requested").await;
    row!(app, log, "POST /v1/auth/magic-link (no such account)": auth_magic_link::handle, Call::new("POST", "/v1/auth/magic-link")
            .json(&json!({"email": "nobody-calls@example.com"}))
        => 202, ["UpdateItem", "GetItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]);
    // The token, the user, the sessions past the cap, one transaction (as a sign-in).
    row!(app, log: auth_magic_link_verify::handle, Call::new("POST", "/v1/auth/magic-link/verify")
            .json(&json!({"token": token}))
        => 200, ["GetItem", "GetItem", "Query", "TransactWriteItems"]);
}

#[tokio::test]
async fn a_provider_sign_in_makes_the_documented_dynamodb_calls() {
    use ferrite_tests::oidc::{id_token, nonce};
    let (app, log) = TestApp::spawn_counting().await;
    let body = |token: String, nonce: String| json!({"idToken": token, "nonce": nonce});
    let first = nonce();
    let token = id_token("google", "g-calls", "oidc-calls@example.com", &first).await;
    // The nonce spent, the identity's claim, the address's claim, one transaction (the account,
    // both claims, the session, the event). The provider's keys are fetched on first use, once
    // per instance: not a DynamoDB call.
    row!(app, log, "POST /v1/auth/oidc/{provider} (a new account)": auth_oidc::handle, Call::new("POST", "/v1/auth/oidc/{provider}").param("provider", "google")
            .json(&body(token, first))
        => 200, ["PutItem", "GetItem", "GetItem", "TransactWriteItems"]);
    let again = nonce();
    let token = id_token("google", "g-calls", "oidc-calls@example.com", &again).await;
    // The nonce, the identity's claim, its account, the sessions past the cap, one transaction.
    row!(app, log: auth_oidc::handle, Call::new("POST", "/v1/auth/oidc/{provider}").param("provider", "google")
            .json(&body(token, again))
        => 200, ["PutItem", "GetItem", "GetItem", "Query", "TransactWriteItems"]);
}

#[tokio::test]
async fn linking_listing_and_unlinking_an_identity_make_the_documented_dynamodb_calls() {
    use ferrite_tests::oidc::{id_token, nonce};
    let (app, log) = TestApp::spawn_counting().await;
    let (caller, _) = app.user("identities-calls@example.com", None).await;
    let nonce = nonce();
    let token = id_token("google", "g-link-calls", "elsewhere@example.net", &nonce).await;
    // The caller, the identity's claim (another account's?), one transaction: the nonce, the
    // claim, the account's entry, the event. Signed in just now: no password to count.
    row!(app, log: users_me_identities_link::handle, Call::new("POST", "/v1/users/me/identities/{provider}").param("provider", "google")
            .bearer(&caller).json(&json!({"idToken": token, "nonce": nonce}))
        => 201, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
    // The caller, then every linked identity's claim at once.
    row!(app, log: users_me_identities::handle, Call::new("GET", "/v1/users/me/identities").bearer(&caller)
        => 200, ["BatchGetItem", "BatchGetItem"]);
    // The caller, one transaction: the claim, the account's entry under the way in that stays,
    // the event.
    row!(app, log: users_me_identities_delete::handle, Call::new("DELETE", "/v1/users/me/identities/{provider}").param("provider", "google")
            .bearer(&caller).json(&json!({}))
        => 204, ["BatchGetItem", "TransactWriteItems"]);
}

#[tokio::test]
async fn the_rent_run_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    let (owner, _) = app.user("owner@example.com", None).await;
    let (_, tenant) = app.user("tenant@example.com", None).await;
    let property = invoke_ok(
        &app,
        properties_create::handle,
        Call::new("POST", "/v1/properties").bearer(&owner).json(&json!({
            "fileNumber": "CALLS-RENT",
            "address": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
            "kind": "residential"
        })),
    )
    .await;
    for i in 0..10 {
        let unit = invoke_ok(
            &app,
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", &property)
                .bearer(&owner)
                .json(&json!({"label": format!("Flat {i}")})),
        )
        .await;
        invoke_ok(
            &app,
            leases_create::handle,
            Call::new("POST", "/v1/leases").bearer(&owner).json(&json!({
                "unitId": unit, "tenantId": tenant, "startDate": "2027-04-12",
                "rent": {"amountMinor": 100_000, "currency": "USD"}
            })),
        )
        .await;
    }
    log.take();
    // The run's state, the day's markers, their leases, a transaction per lease (entry, claim,
    // balance, month, event), the reminders' markers (none), the run moved on.
    let outcome = ferrite_tests::rent_tick_with(
        app.state,
        "2027-05-12T00:05:00Z",
        ferrite_tests::unhurried(),
    )
    .await;
    assert!(outcome.batch_item_failures.is_empty());
    let measured = log.take_measured();
    let mut expected = vec!["GetItem", "Query", "BatchGetItem"];
    expected.extend(["TransactWriteItems"; 10]);
    // The reminders' steps: due in three days, owed five days after, ending in 30 days.
    expected.extend(["Query", "Query", "Query", "UpdateItem"]);
    assert_eq!(
        measured
            .iter()
            .map(|m| m.operation.as_str())
            .collect::<Vec<_>>(),
        expected
    );
    ferrite_tests::call_log::record_capacity("worker-rent (a day with 10 leases due)", &measured);
}

/// `handler`'s answer to `call`, which must be a 201: the id it made.
async fn invoke_ok<F, Fut>(app: &TestApp, handler: F, call: Call) -> String
where
    F: Fn(&'static State, lambda_http::Request) -> Fut,
    Fut: Future<Output = Result<lambda_http::Response<lambda_http::Body>, shared::ApiError>>,
{
    let answer = app.call(handler, call).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn the_inbox_makes_the_documented_dynamodb_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    let (author, _) = app.user("inbox-calls@example.com", None).await;
    let (moderator, _) = app
        .user("inbox-calls-mod@example.com", Some(Role::Moderator))
        .await;
    let post = app
        .call(
            posts_create::handle,
            Call::new("POST", "/v1/posts")
                .bearer(&author)
                .json(&json!({"title": "t", "body": "b", "status": "published"})),
        )
        .await;
    let post = post.body["id"].as_str().expect("id").to_owned();
    for status in ["hidden", "published"] {
        let patched = app
            .call(
                posts_patch::handle,
                Call::new("PATCH", "/v1/posts/{id}")
                    .param("id", &post)
                    .bearer(&moderator)
                    .json(&json!({"status": status})),
            )
            .await;
        assert_eq!(patched.status, 200, "{}", patched.body);
    }
    let records = ferrite_tests::workers::notification_records(&app).await;
    log.take();
    // Per notice: the account exists and the notification is new, one transaction; then the
    // account's connection slots (none open: nothing pushed).
    let delivered = ferrite_tests::workers::notify_with(&app, &records).await;
    assert!(delivered.batch_item_failures.is_empty());
    let measured = log.take_measured();
    assert_eq!(
        measured
            .iter()
            .map(|m| m.operation.as_str())
            .collect::<Vec<_>>(),
        ["TransactWriteItems", "Query", "TransactWriteItems", "Query"]
    );
    ferrite_tests::call_log::record_capacity(
        "worker-notifications (a batch of 2 events, one notice each)",
        &measured,
    );

    // The caller, the mark, then the page and the unread count at once.
    let page = row!(app, log: users_me_notifications::handle,
        Call::new("GET", "/v1/users/me/notifications").bearer(&author)
        => 200, ["BatchGetItem", "GetItem", "Query", "Query"]);
    let newest = page.body["items"][0]["id"].as_str().expect("id").to_owned();
    // By id: the caller and the notifications (one BatchGetItem each), their `readAt` in one
    // transaction; then the mark and the count.
    row!(app, log, "POST /v1/users/me/notifications/read (ids)": users_me_notifications_read::handle,
        Call::new("POST", "/v1/users/me/notifications/read").bearer(&author)
            .json(&json!({"ids": [newest]}))
        => 200, ["BatchGetItem", "BatchGetItem", "TransactWriteItems", "GetItem", "Query"]);
    // Up to one: the caller, the notification exists and the mark moves (one transaction),
    // then the mark and the count.
    row!(app, log: users_me_notifications_read::handle,
        Call::new("POST", "/v1/users/me/notifications/read").bearer(&author)
            .json(&json!({"upTo": newest}))
        => 200, ["BatchGetItem", "TransactWriteItems", "GetItem", "Query"]);
}

#[tokio::test]
async fn a_websocket_connect_and_disconnect_make_the_calls_docs_architecture_lists() {
    let (app, log) = TestApp::spawn_counting().await;
    let (token, _) = app.user("live-calls@example.com", None).await;
    let mut event: shared::live::WebSocketEvent = serde_json::from_str(
        &std::fs::read_to_string(
            infra::workspace_root().join("tests/fixtures/apigw-websocket-connect.json"),
        )
        .expect("fixture"),
    )
    .expect("event");
    event.headers.insert(
        "sec-websocket-protocol",
        format!("ferrite.v1, bearer.{token}")
            .parse()
            .expect("header"),
    );
    log.take();
    // The user and the session; the account's slots; a slot and the connection at once.
    let opened = live_connect::handle(app.state_of("LiveConnectFunction"), event.clone()).await;
    assert_eq!(opened.status_code, 200, "{:?}", opened.body);
    assert_eq!(log.take(), ["BatchGetItem", "Query", "TransactWriteItems"]);
    // The connection, then it and its slot at once.
    event.request_context.route_key = Some("$disconnect".to_owned());
    let closed = live_disconnect::handle(app.state_of("LiveDisconnectFunction"), event).await;
    assert_eq!(closed.status_code, 200, "{:?}", closed.body);
    assert_eq!(log.take(), ["GetItem", "TransactWriteItems"]);
}

#[tokio::test]
async fn the_webhook_routes_make_the_documented_calls() {
    let (app, log) = TestApp::spawn_counting().await;
    let (admin, _) = app.admin("webhooks-calls@example.com").await;
    let created = row!(app, log: webhooks_create::handle, Call::new("POST", "/v1/webhooks")
        .json(&json!({"url": "https://hooks.example.com/in", "eventTypes": ["post.published"]})).bearer(&admin)
        => 201, ["BatchGetItem", "Encrypt", "TransactWriteItems"]);
    let id = created.body["id"].as_str().expect("id").to_owned();
    row!(app, log: webhooks_list::handle, Call::new("GET", "/v1/webhooks").bearer(&admin)
        => 200, ["BatchGetItem", "Query"]);
    row!(app, log: webhooks_deliveries::handle, Call::new("GET", "/v1/webhooks/{id}/deliveries").param("id", &id).bearer(&admin)
        => 200, ["BatchGetItem", "GetItem", "Query"]);
    row!(app, log: webhooks_patch::handle, Call::new("PATCH", "/v1/webhooks/{id}").param("id", &id)
        .json(&json!({"description": "the CRM"})).bearer(&admin)
        => 200, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
    row!(app, log: webhooks_delete::handle, Call::new("DELETE", "/v1/webhooks/{id}").param("id", &id).bearer(&admin)
        => 204, ["BatchGetItem", "GetItem", "TransactWriteItems"]);
}
