//! The authorization matrix: every route, every kind of caller.

use ferrite_tests::PASSWORD;
use ferrite_tests::{Call, TestApp};
use serde_json::json;
use shared::auth::Role;

use super::{WHO, create_post, invoke};

/// The row `make new-function` writes: who may call the route is still to be decided.
const DECIDE: [u16; 5] = [1; 5];

#[tokio::test]
async fn the_authorization_matrix_holds_for_every_route_and_every_kind_of_caller() {
    let app = TestApp::spawn().await;
    let (owner, owner_id) = app.user("owner@example.com", None).await;
    let (other, other_id) = app.user("other@example.com", None).await;
    let (moderator, _) = app.user("mod@example.com", Some(Role::Moderator)).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let tokens = [
        None,
        Some(&owner),
        Some(&other),
        Some(&moderator),
        Some(&admin),
    ];
    let draft = create_post(&app, &owner, "draft").await;
    let property = invoke(
        &app,
        Call::new("POST", "/v1/properties")
            .bearer(&owner)
            .json(&json!({
                "fileNumber": "MATRIX-1",
                "address": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
                "kind": "land"
            })),
    )
    .await;
    assert_eq!(property.status, 201, "{}", property.body);
    let property = property.body["id"].as_str().expect("id").to_owned();
    let unit = invoke(
        &app,
        Call::new("POST", "/v1/properties/{id}/units")
            .param("id", &property)
            .bearer(&owner)
            .json(&json!({"label": "Unit 1"})),
    )
    .await;
    assert_eq!(unit.status, 201, "{}", unit.body);
    let unit = unit.body["id"].as_str().expect("id").to_owned();
    // A unit leased to the other user: the tenant sees the lease, nobody else but the
    // owner and admins.
    let leased = invoke(
        &app,
        Call::new("POST", "/v1/properties/{id}/units")
            .param("id", &property)
            .bearer(&owner)
            .json(&json!({"label": "Unit L"})),
    )
    .await;
    let leased = leased.body["id"].as_str().expect("id").to_owned();
    let lease_body = json!({
        "unitId": leased, "tenantId": other_id, "startDate": "2027-01-01",
        "rent": {"amountMinor": 90_000, "currency": "USD"}
    });
    let lease = invoke(
        &app,
        Call::new("POST", "/v1/leases")
            .bearer(&owner)
            .json(&lease_body),
    )
    .await;
    assert_eq!(lease.status, 201, "{}", lease.body);
    let lease = lease.body["id"].as_str().expect("id").to_owned();
    let document_body = json!({"name": "deed.pdf", "contentType": "application/pdf", "size": 10});
    let document = invoke(
        &app,
        Call::new("POST", "/v1/properties/{id}/documents")
            .param("id", &property)
            .bearer(&owner)
            .json(&document_body),
    )
    .await;
    assert_eq!(document.status, 201, "{}", document.body);
    let document = document.body["document"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let published = create_post(&app, &owner, "published").await;

    // (request, expected status for [anonymous, owner, other user, moderator, admin]);
    // `0` = not tried here (it would change what the next rows see; dedicated tests cover it).
    let rows: Vec<(Call, [u16; 5])> = vec![
        (Call::new("GET", "/v1/health"), [200; 5]),
        (Call::new("GET", "/v1/health/ready"), [200; 5]),
        (Call::new("GET", "/.well-known/jwks.json"), [200; 5]),
        (Call::new("GET", "/v1/openapi.json"), [200; 5]),
        (Call::new("GET", "/v1/docs"), [200; 5]),
        (Call::new("GET", "/v1/docs/redoc.standalone.js"), [200; 5]),
        (Call::new("GET", "/v1/users/me"), [401, 200, 200, 200, 200]),
        (
            Call::new("PATCH", "/v1/users/me").json(&json!({"name": "Renamed"})),
            [401, 200, 200, 200, 200],
        ),
        (
            Call::new("GET", "/v1/users/me/posts"),
            [401, 200, 200, 200, 200],
        ),
        (Call::new("GET", "/v1/users"), [401, 403, 403, 403, 200]),
        (
            Call::new("GET", "/v1/users/{id}").param("id", &owner_id),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("PATCH", "/v1/users/{id}")
                .param("id", &owner_id)
                .json(&json!({"roles": ["USER"]})),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("GET", "/v1/audit")
                .query("entityType", "user")
                .query("entityId", &owner_id),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("GET", "/v1/users/{id}/posts").param("id", &owner_id),
            [200; 5],
        ),
        (
            Call::new("GET", "/v1/users/{id}/profile").param("id", &owner_id),
            [200; 5],
        ),
        (Call::new("GET", "/v1/posts"), [200; 5]),
        (
            Call::new("GET", "/v1/posts/{id}").param("id", &published),
            [200; 5],
        ),
        (
            Call::new("GET", "/v1/posts/{id}").param("id", &draft),
            [404, 200, 404, 200, 200],
        ),
        (
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &draft)
                .json(&json!({"title": "Edited"})),
            [401, 200, 404, 403, 403],
        ),
        (
            Call::new("PATCH", "/v1/posts/{id}")
                .param("id", &published)
                .json(&json!({"title": "Edited"})),
            [401, 200, 403, 403, 403],
        ),
        (
            Call::new("POST", "/v1/posts").json(&json!({"title": "T", "body": "B"})),
            [401, 201, 201, 201, 201],
        ),
        (
            Call::new("DELETE", "/v1/posts/{id}").param("id", &draft),
            [401, 0, 404, 0, 0],
        ),
        (
            Call::new("DELETE", "/v1/posts/{id}").param("id", &published),
            [401, 0, 403, 0, 0],
        ),
        (
            Call::new("DELETE", "/v1/users/{id}").param("id", &owner_id),
            [401, 403, 403, 403, 0],
        ),
        // The registry: members read; the owner and admins transfer and read the history.
        (
            Call::new("POST", "/v1/properties").json(&json!({
                "fileNumber": "MATRIX-2",
                "address": {"line1": "2 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"},
                "kind": "residential"
            })),
            [401, 201, 409, 409, 409],
        ),
        (
            Call::new("GET", "/v1/users/me/properties"),
            [401, 200, 200, 200, 200],
        ),
        (
            Call::new("GET", "/v1/properties").query("ownerId", &owner_id),
            [401, 200, 200, 200, 200],
        ),
        (
            Call::new("GET", "/v1/properties/{id}").param("id", &property),
            [401, 200, 200, 200, 200],
        ),
        (
            Call::new("PATCH", "/v1/properties/{id}")
                .param("id", &property)
                .json(&json!({"kind": "land"})),
            [401, 200, 403, 403, 200],
        ),
        (
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", &property)
                .json(&json!({"label": "Unit 2"})),
            [401, 201, 403, 403, 409],
        ),
        (
            Call::new("PATCH", "/v1/properties/{id}/units/{unitId}")
                .param("id", &property)
                .param("unitId", &unit)
                .json(&json!({"bedrooms": 2})),
            [401, 200, 403, 403, 200],
        ),
        (
            Call::new("DELETE", "/v1/properties/{id}/units/{unitId}")
                .param("id", &property)
                .param("unitId", &unit),
            [401, 0, 403, 403, 0],
        ),
        (
            Call::new("POST", "/v1/leases").json(&lease_body),
            [401, 409, 403, 403, 409],
        ),
        (
            Call::new("GET", "/v1/leases/{id}").param("id", &lease),
            [401, 200, 200, 404, 200],
        ),
        (
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &lease)
                .json(&json!({"endDate": "2027-06-30"})),
            [401, 0, 403, 404, 0],
        ),
        (Call::new("GET", "/v1/users/me/leases"), [401, 200, 200, 200, 200]),
        (
            Call::new("GET", "/v1/properties/{id}/leases").param("id", &property),
            [401, 200, 403, 403, 200],
        ),
        (
            Call::new("DELETE", "/v1/properties/{id}").param("id", &property),
            [401, 0, 403, 403, 0],
        ),
        (
            Call::new("GET", "/v1/properties/{id}/ownership-history").param("id", &property),
            [401, 200, 403, 403, 200],
        ),
        (
            Call::new("POST", "/v1/properties/{id}/transfer")
                .param("id", &property)
                .json(&json!({"newOwnerId": owner_id})),
            [401, 422, 403, 403, 422],
        ),
        // The account routes that need the password refuse a wrong one (a field error), whoever asks.
        (
            Call::new("DELETE", "/v1/users/me").json(&json!({"password": "not the password"})),
            [401, 422, 422, 422, 422],
        ),
        (
            Call::new("PUT", "/v1/users/me/password").json(
                &json!({"currentPassword": "not the password", "newPassword": "quiet lanterns over the harbour"}),
            ),
            [401, 422, 422, 422, 422],
        ),
        (
            Call::new("POST", "/v1/users/me/email")
                .json(&json!({"newEmail": "elsewhere@example.org", "password": "not the password"})),
            [401, 422, 422, 422, 422],
        ),
        (
            Call::new("POST", "/v1/auth/email/verify/resend"),
            [401, 202, 202, 202, 202],
        ),
        // Public routes: a bearer token neither helps nor hurts.
        (
            Call::new("POST", "/v1/auth/register").json(
                &json!({"email": "newcomer@example.com", "name": "New", "password": PASSWORD}),
            ),
            [201, 409, 409, 409, 409],
        ),
        (
            Call::new("POST", "/v1/auth/login")
                .json(&json!({"email": "stranger@example.com", "password": "not the password"})),
            [401; 5],
        ),
        (
            Call::new("POST", "/v1/auth/refresh").json(&json!({"refreshToken": "forged"})),
            [401; 5],
        ),
        (
            Call::new("POST", "/v1/auth/logout").json(&json!({"refreshToken": "forged"})),
            [204; 5],
        ),
        (
            Call::new("POST", "/v1/auth/password/forgot")
                .json(&json!({"email": "nobody@example.com"})),
            [202; 5],
        ),
        (
            Call::new("POST", "/v1/auth/password/reset")
                .json(&json!({"token": "forged", "newPassword": "quiet lanterns over the harbour"})),
            [400; 5],
        ),
        (
            Call::new("POST", "/v1/auth/email/verify").json(&json!({"token": "forged"})),
            [400; 5],
        ),
        (
            Call::new("POST", "/v1/auth/email/change/confirm").json(&json!({"token": "forged"})),
            [400; 5],
        ),
        (Call::new("GET", "/v1/users/me/sessions"), [401, 200, 200, 200, 200]),
        // Nobody has a session of that id: each caller's own sessions only.
        (
            Call::new("DELETE", "/v1/users/me/sessions/{id}").param("id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            [401, 404, 404, 404, 404],
        ),
        // Each caller keeps the session of the token used here.
        (Call::new("DELETE", "/v1/users/me/sessions"), [401, 200, 200, 200, 200]),
        (
            Call::new("GET", "/v1/users/{id}/sessions").param("id", &owner_id),
            [401, 403, 403, 403, 200],
        ),
        (
            Call::new("DELETE", "/v1/users/{id}/sessions/{sessionId}")
                .param("id", &owner_id)
                .param("sessionId", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            [401, 403, 403, 403, 404],
        ),
        // The admin's answer (200) would sign the owner out of the rows below: tested apart.
        (
            Call::new("DELETE", "/v1/users/{id}/sessions").param("id", &owner_id),
            [401, 403, 403, 403, 0],
        ),
        // Each caller signed in moments ago (a recent sign-in): a pending enrolment each.
        (
            Call::new("POST", "/v1/users/me/mfa/totp").json(&json!({})),
            [401, 201, 201, 201, 201],
        ),
        // A wrong code for each caller's own pending enrolment.
        (
            Call::new("POST", "/v1/users/me/mfa/totp/confirm").json(&json!({"code": "000000"})),
            [401, 422, 422, 422, 422],
        ),
        (
            Call::new("DELETE", "/v1/users/me/mfa/totp").json(&json!({"code": "000000"})),
            [401, 409, 409, 409, 409],
        ),
        // A challenge is the only credential: a bearer token changes nothing.
        (
            Call::new("POST", "/v1/auth/mfa/verify")
                .json(&json!({"challenge": "forged", "code": "000000"})),
            [401; 5],
        ),
        // Nobody has an app in force (the enrolments above are pending).
        (
            Call::new("POST", "/v1/users/me/mfa/recovery-codes").json(&json!({})),
            [401, 409, 409, 409, 409],
        ),
        (
            Call::new("DELETE", "/v1/users/{id}/mfa")
                .param("id", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
                .json(&json!({})),
            [401, 403, 403, 403, 404],
        ),
        // Anyone may ask (the answer says nothing of the address); a bearer token changes
        // nothing.
        (
            Call::new("POST", "/v1/auth/magic-link").json(&json!({"email": "nobody@example.com"})),
            [202; 5],
        ),
        // The link's token is the only credential.
        (
            Call::new("POST", "/v1/auth/magic-link/verify").json(&json!({"token": "forged"})),
            [400; 5],
        ),
        // The ID token is the only credential: a bearer token changes nothing.
        (
            Call::new("POST", "/v1/auth/oidc/{provider}")
                .param("provider", "google")
                .json(&json!({"idToken": "a.b.c", "nonce": "0123456789abcdef"})),
            [401; 5],
        ),
        (
            Call::new("GET", "/v1/users/me/identities"),
            [401, 200, 200, 200, 200],
        ),
        // Signed in first, then the provider: a stranger learns nothing of the deployment's.
        (
            Call::new("POST", "/v1/users/me/identities/{provider}")
                .param("provider", "facebook")
                .json(&json!({"idToken": "a.b.c", "nonce": "0123456789abcdef"})),
            [401, 404, 404, 404, 404],
        ),
        // Nobody has Google linked here: nothing to unlink.
        (
            Call::new("DELETE", "/v1/users/me/identities/{provider}")
                .param("provider", "google")
                .json(&json!({})),
            [401, 404, 404, 404, 404],
        ),
        // The ledger: the tenant reads it but does not post; anyone else finds no lease.
        (
            Call::new("GET", "/v1/leases/{id}/ledger").param("id", &lease),
            [401, 200, 200, 404, 200],
        ),
        (
            Call::new("POST", "/v1/leases/{id}/charges")
                .param("id", &lease)
                .json(&json!({"category": "fee", "amountMinor": 2_500, "currency": "USD", "effectiveDate": "2027-02-01"})),
            [401, 201, 403, 404, 201],
        ),
        (
            Call::new("POST", "/v1/leases/{id}/payments")
                .param("id", &lease)
                .header("idempotency-key", "matrix-payment")
                .json(&json!({"amountMinor": 2_500, "currency": "USD", "effectiveDate": "2027-02-03"})),
            [401, 201, 403, 404, 201],
        ),
        (
            Call::new("POST", "/v1/leases/{id}/entries/{entryId}/reverse")
                .param("id", &lease)
                .param("entryId", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
                .json(&json!({})),
            [401, 404, 403, 404, 404],
        ),
        (
            Call::new("POST", "/v1/leases/{id}/credits")
                .param("id", &lease)
                .json(&json!({"amountMinor": 1_000, "currency": "USD", "effectiveDate": "2027-02-05"})),
            [401, 201, 403, 404, 201],
        ),
        // A rent roll is the owner's (and admins'): the property is public, its money is not.
        (
            Call::new("GET", "/v1/properties/{id}/rent-roll")
                .param("id", &property)
                .query("month", "2027-02"),
            [401, 200, 403, 403, 200],
        ),
        // Renewing: the tenant sees the lease but may not change it; anyone else finds none.
        (
            Call::new("PATCH", "/v1/leases/{id}")
                .param("id", &lease)
                .json(&json!({"endDate": "2099-12-31"})),
            [401, 200, 403, 404, 200],
        ),
        // A property's documents are its owner's (and admins'); the property is public, they are not.
        (
            Call::new("POST", "/v1/properties/{id}/documents")
                .param("id", &property)
                .json(&document_body),
            [401, 201, 403, 403, 201],
        ),
        // A lease's: its tenant adds too (a signed contract); anyone else finds no lease.
        (
            Call::new("POST", "/v1/leases/{id}/documents")
                .param("id", &lease)
                .json(&document_body),
            [401, 201, 201, 404, 201],
        ),
        // A document the caller may not read does not exist for them.
        (
            Call::new("GET", "/v1/documents/{id}").param("id", &document),
            [401, 200, 404, 404, 200],
        ),
        // Deleting: the tenant (other) and the moderator cannot see it; the owner's call deletes
        // it, so the admin's finds none.
        (
            Call::new("DELETE", "/v1/documents/{id}").param("id", &document),
            [401, 204, 404, 404, 404],
        ),
        // Listing a property's documents: as reading one.
        (
            Call::new("GET", "/v1/properties/{id}/documents").param("id", &property),
            [401, 200, 403, 403, 200],
        ),
        // A lease's: its tenant too.
        (
            Call::new("GET", "/v1/leases/{id}/documents").param("id", &lease),
            [401, 200, 200, 404, 200],
        ),
        // Everyone signed in has an inbox of their own.
        (
            Call::new("GET", "/v1/users/me/notifications"),
            [401, 200, 200, 200, 200],
        ),
        // Marking reaches each caller's own inbox, where no notification has that id.
        (
            Call::new("POST", "/v1/users/me/notifications/read")
                .json(&json!({"upTo": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})),
            [401, 422, 422, 422, 422],
        ),
        // Webhooks are the app's: admins only (an endpoint of no such id is a 404 to them).
        (
            Call::new("POST", "/v1/webhooks").json(&json!({
                "url": "https://hooks.example.com/ferrite",
                "eventTypes": ["post.published"],
            })),
            [401, 403, 403, 403, 201],
        ),
        (Call::new("GET", "/v1/webhooks"), [401, 403, 403, 403, 200]),
        (
            Call::new("PATCH", "/v1/webhooks/{id}")
                .param("id", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
                .json(&json!({"enabled": false})),
            [401, 403, 403, 403, 404],
        ),
        (
            Call::new("DELETE", "/v1/webhooks/{id}").param("id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            [401, 403, 403, 403, 404],
        ),
        (
            Call::new("GET", "/v1/webhooks/{id}/deliveries")
                .param("id", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
            [401, 403, 403, 403, 404],
        ),
        // make new-function adds its rows here.
    ];
    let undecided: Vec<String> = rows
        .iter()
        .filter(|(_, expected)| *expected == DECIDE)
        .map(|(call, _)| format!("{} {}", call.method(), call.route()))
        .collect();
    assert!(
        undecided.is_empty(),
        "decide who may call {undecided:?}: the status for each kind of caller"
    );

    // Every route of the API is in the matrix.
    let covered: std::collections::BTreeSet<(String, String)> = rows
        .iter()
        .map(|(call, _)| (call.method().to_owned(), call.route().to_owned()))
        .collect();
    let every: std::collections::BTreeSet<(String, String)> =
        api_spec::operations().into_iter().collect();
    assert_eq!(
        every.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from the matrix"
    );

    let mut wrong = Vec::new();
    for (call, expected) in rows {
        for ((who, token), want) in WHO.iter().zip(tokens).zip(expected) {
            if want == 0 {
                continue;
            }
            let call = match token {
                Some(token) => call.clone().bearer(token),
                None => call.clone(),
            };
            let response = invoke(&app, call.clone()).await;
            if response.header("x-content-type-options") != Some("nosniff")
                || response.header("cache-control").is_none()
                || response.header("x-request-id").is_none()
                || shared::http::SECURITY_HEADERS
                    .iter()
                    .any(|(name, _)| response.header(name).is_none())
            {
                wrong.push(format!(
                    "{} {} as {who}: security headers missing",
                    call.method(),
                    call.route()
                ));
            }
            if response.status != want {
                wrong.push(format!(
                    "{} {} as {who}: {} (expected {want}) {}",
                    call.method(),
                    call.route(),
                    response.status,
                    response.body
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
