//! A lease's ledger: charges and payments move the balance in the entry's own transaction (a
//! concurrent burst loses none), a payment is recorded once per `Idempotency-Key`, corrections
//! are reversals, the lease's currency only, and who may read or post.

use ferrite_tests::{Call, TestApp, TestResponse};
use serde_json::{Value, json};

use super::{create, id_of};

/// A property of `owner` with one unit leased to `tenant_id` at 1,250.00 EUR: the lease's id.
async fn leased(app: &TestApp, owner: &str, tenant_id: &str, file_number: &str) -> String {
    let property = create(app, owner, &super::property(file_number)).await;
    assert_eq!(property.status, 201, "{}", property.body);
    let unit = app
        .call(
            units_create::handle,
            Call::new("POST", "/v1/properties/{id}/units")
                .param("id", &id_of(&property))
                .bearer(owner)
                .json(&json!({"label": "Flat 1"})),
        )
        .await;
    let lease = app
        .call(
            leases_create::handle,
            Call::new("POST", "/v1/leases").bearer(owner).json(&json!({
                "unitId": id_of(&unit), "tenantId": tenant_id, "startDate": "2027-01-01",
                "rent": {"amountMinor": 125_000, "currency": "EUR"}
            })),
        )
        .await;
    assert_eq!(lease.status, 201, "{}", lease.body);
    id_of(&lease)
}

fn charging(token: &str, lease: &str, amount: u64) -> Call {
    Call::new("POST", "/v1/leases/{id}/charges")
        .param("id", lease)
        .bearer(token)
        .json(&json!({"category": "rent", "amountMinor": amount, "currency": "EUR", "effectiveDate": "2027-02-01"}))
}

fn paying(token: &str, lease: &str, key: &str, body: &Value) -> Call {
    Call::new("POST", "/v1/leases/{id}/payments")
        .param("id", lease)
        .bearer(token)
        .header("idempotency-key", key)
        .json(body)
}

fn payment(amount: u64) -> Value {
    json!({"amountMinor": amount, "currency": "EUR", "effectiveDate": "2027-02-03", "note": "bank transfer"})
}

async fn balance(app: &TestApp, token: &str, lease: &str) -> i64 {
    let got = app
        .call(
            leases_get::handle,
            Call::new("GET", "/v1/leases/{id}")
                .param("id", lease)
                .bearer(token),
        )
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    got.body["balanceMinor"].as_i64().expect("a balance")
}

async fn ledger(app: &TestApp, token: &str, lease: &str) -> TestResponse {
    app.call(
        leases_ledger::handle,
        Call::new("GET", "/v1/leases/{id}/ledger")
            .param("id", lease)
            .query("limit", "100")
            .bearer(token),
    )
    .await
}

fn effects(page: &TestResponse) -> Vec<i64> {
    page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["effectMinor"].as_i64().expect("effect"))
        .collect()
}

#[tokio::test]
async fn charges_and_payments_move_the_balance_and_the_tenant_reads_the_ledger_newest_first() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leased(&app, &owner, &tenant_id, "LEDGER-1").await;
    assert_eq!(balance(&app, &owner, &lease).await, 0);
    let charged = app
        .call(leases_charges::handle, charging(&owner, &lease, 125_000))
        .await;
    assert_eq!(charged.status, 201, "{}", charged.body);
    assert_eq!(charged.body["kind"], "charge");
    assert_eq!(charged.body["category"], "rent");
    assert_eq!(charged.body["effectMinor"], 125_000);
    let paid = app
        .call(
            leases_payments::handle,
            paying(&owner, &lease, "feb-rent", &payment(100_000)),
        )
        .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(paid.body["effectMinor"], -100_000);
    assert_eq!(paid.body["note"], "bank transfer");
    assert_eq!(balance(&app, &tenant, &lease).await, 25_000, "owed: 250.00");
    let page = ledger(&app, &tenant, &lease).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(effects(&page), [-100_000, 125_000], "newest first");
    let event = app
        .last_event("lease.payment_recorded")
        .await
        .expect("an event");
    assert_eq!(event.changes["amountMinor"].after, 100_000);
    // The tenant reads but does not post; a stranger finds no lease; another currency is refused.
    let refused = app
        .call(leases_charges::handle, charging(&tenant, &lease, 1))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let (stranger, _) = app.user("stranger@example.com", None).await;
    assert_eq!(ledger(&app, &stranger, &lease).await.status, 404);
    let dollars = app
        .call(
            leases_payments::handle,
            paying(
                &owner,
                &lease,
                "usd",
                &json!({"amountMinor": 5, "currency": "USD", "effectiveDate": "2027-02-03"}),
            ),
        )
        .await;
    assert_eq!(dollars.status, 422, "{}", dollars.body);
    assert_eq!(dollars.body["errors"][0]["field"], "currency");
    assert_eq!(balance(&app, &owner, &lease).await, 25_000);
}

#[tokio::test]
async fn a_payment_is_recorded_once_per_idempotency_key_even_when_retried_at_once() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (_, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leased(&app, &owner, &tenant_id, "LEDGER-2").await;
    let no_key = app
        .call(
            leases_payments::handle,
            Call::new("POST", "/v1/leases/{id}/payments")
                .param("id", &lease)
                .bearer(&owner)
                .json(&payment(1_000)),
        )
        .await;
    assert_eq!(no_key.status, 400, "{}", no_key.body);
    let first = app
        .call(
            leases_payments::handle,
            paying(&owner, &lease, "once", &payment(1_000)),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retried = app
        .call(
            leases_payments::handle,
            paying(&owner, &lease, "once", &payment(1_000)),
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["id"], first.body["id"]);
    let other = app
        .call(
            leases_payments::handle,
            paying(&owner, &lease, "once", &payment(2_000)),
        )
        .await;
    assert_eq!(
        other.status, 422,
        "the same key with another body: {}",
        other.body
    );
    // Five retries of one new payment at once: one payment.
    let calls = (0..5)
        .map(|_| paying(&owner, &lease, "burst", &payment(3_000)))
        .collect();
    let statuses = app.statuses_at_once(leases_payments::handle, calls).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{statuses:?}"
    );
    assert_eq!(balance(&app, &owner, &lease).await, -4_000);
    assert_eq!(effects(&ledger(&app, &owner, &lease).await).len(), 2);
}

#[tokio::test]
async fn a_concurrent_burst_of_postings_loses_none_and_the_balance_is_the_sum_of_the_entries() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (_, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leased(&app, &owner, &tenant_id, "LEDGER-3").await;
    let charges = (1..=8)
        .map(|i| charging(&owner, &lease, 1_000 * i))
        .collect();
    let statuses = app.statuses_at_once(leases_charges::handle, charges).await;
    assert_eq!(statuses, [201; 8]);
    let payments = (1..=6)
        .map(|i| paying(&owner, &lease, &format!("p{i}"), &payment(500 * i)))
        .collect();
    let statuses = app
        .statuses_at_once(leases_payments::handle, payments)
        .await;
    assert_eq!(statuses, [201; 6]);
    let entries = effects(&ledger(&app, &owner, &lease).await);
    assert_eq!(entries.len(), 14);
    let sum: i64 = entries.iter().sum();
    assert_eq!(sum, 36_000 - 10_500);
    assert_eq!(balance(&app, &owner, &lease).await, sum);
}

#[tokio::test]
async fn a_correction_is_a_reversal_made_once_and_never_reversed_itself() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leased(&app, &owner, &tenant_id, "LEDGER-4").await;
    let charged = app
        .call(leases_charges::handle, charging(&owner, &lease, 9_999))
        .await;
    let entry = id_of(&charged);
    let reversing = |token: &str, entry: &str| {
        Call::new("POST", "/v1/leases/{id}/entries/{entryId}/reverse")
            .param("id", &lease)
            .param("entryId", entry)
            .bearer(token)
            .json(&json!({"note": "charged twice"}))
    };
    assert_eq!(
        app.call(leases_entries_reverse::handle, reversing(&tenant, &entry))
            .await
            .status,
        403
    );
    // Two reversals of one entry at once: one.
    let statuses = app
        .statuses_at_once(
            leases_entries_reverse::handle,
            vec![reversing(&owner, &entry), reversing(&owner, &entry)],
        )
        .await;
    let mut sorted = statuses.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [201, 409], "{statuses:?}");
    assert_eq!(balance(&app, &owner, &lease).await, 0);
    let page = ledger(&app, &owner, &lease).await;
    let items = page.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let reversal = &items[0];
    assert_eq!(reversal["kind"], "reversal");
    assert_eq!(reversal["reverses"], entry.as_str());
    assert_eq!(reversal["effectMinor"], -9_999);
    assert_eq!(items[1]["reversedBy"], reversal["id"]);
    let again = app
        .call(leases_entries_reverse::handle, reversing(&owner, &entry))
        .await;
    assert_eq!((again.status, again.code()), (409, "ENTRY_REVERSED"));
    let id = reversal["id"].as_str().expect("id");
    let of_reversal = app
        .call(leases_entries_reverse::handle, reversing(&owner, id))
        .await;
    assert_eq!(
        (of_reversal.status, of_reversal.code()),
        (409, "NOT_REVERSIBLE")
    );
    let unknown = app
        .call(
            leases_entries_reverse::handle,
            reversing(&owner, "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let event = app
        .last_event("lease.entry_reversed")
        .await
        .expect("an event");
    assert_eq!(event.changes["reverses"].after, entry.as_str());
}
