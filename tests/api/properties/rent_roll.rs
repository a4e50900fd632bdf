//! A property's rent roll: each unit with the lease that ran in the month and what its ledger
//! says of that month — charges, payments and credits by effective date, reversals counted
//! against the month of what they undo — read by key, for the owner and admins only.

use ferrite_tests::{Call, TestApp, TestResponse, standing_clock};
use serde_json::{Value, json};

use super::{create, id_of, lease, unit};

/// Posts to `route` (`charges`, `payments`, `credits`) of `lease`: the entry's id.
async fn post(app: &TestApp, owner: &str, lease: &str, route: &str, body: Value) -> String {
    let call = Call::new("POST", &format!("/v1/leases/{{id}}/{route}"))
        .param("id", lease)
        .bearer(owner)
        .header("idempotency-key", &ulid::Ulid::new().to_string())
        .json(&body);
    let posted = match route {
        "charges" => app.call(leases_charges::handle, call).await,
        "payments" => app.call(leases_payments::handle, call).await,
        _ => app.call(leases_credits::handle, call).await,
    };
    assert_eq!(posted.status, 201, "{}", posted.body);
    id_of(&posted)
}

fn money(amount: u64, date: &str) -> Value {
    json!({"amountMinor": amount, "currency": "EUR", "effectiveDate": date})
}

fn charge(category: &str, amount: u64, date: &str) -> Value {
    json!({"category": category, "amountMinor": amount, "currency": "EUR", "effectiveDate": date})
}

async fn reverse(app: &TestApp, owner: &str, lease: &str, entry: &str) {
    let reversed = app
        .call(
            leases_entries_reverse::handle,
            Call::new("POST", "/v1/leases/{id}/entries/{entryId}/reverse")
                .param("id", lease)
                .param("entryId", entry)
                .bearer(owner)
                .json(&json!({})),
        )
        .await;
    assert_eq!(reversed.status, 201, "{}", reversed.body);
}

async fn roll(app: &TestApp, token: &str, property: &str, month: Option<&str>) -> TestResponse {
    let call = Call::new("GET", "/v1/properties/{id}/rent-roll")
        .param("id", property)
        .bearer(token);
    let call = match month {
        Some(month) => call.query("month", month),
        None => call,
    };
    app.call(properties_rent_roll::handle, call).await
}

/// Each row as (label, lease id or "-", expected, paid, credited, outstanding).
fn rows(roll: &TestResponse) -> Vec<(String, String, i64, i64, i64, i64)> {
    assert_eq!(roll.status, 200, "{}", roll.body);
    roll.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| {
            let lease = &row["lease"];
            let n = |field: &str| lease[field].as_i64().unwrap_or_default();
            (
                row["unitLabel"].as_str().unwrap_or("(removed)").to_owned(),
                lease["id"].as_str().unwrap_or("-").to_owned(),
                n("expectedMinor"),
                n("paidMinor"),
                n("creditedMinor"),
                n("outstandingMinor"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_rent_roll_shows_each_unit_with_what_its_lease_was_charged_paid_and_credited_that_month()
{
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (_, ada) = app.user("ada@example.com", None).await;
    let (_, bo) = app.user("bo@example.com", None).await;
    let property = id_of(&create(&app, &owner, &super::property("ROLL-1")).await);
    let flat_a = unit(&app, &owner, &property, "Flat A").await;
    unit(&app, &owner, &property, "Flat B").await;
    let flat_c = unit(&app, &owner, &property, "Flat C").await;
    let a = lease(&app, &owner, &flat_a, &ada, "2027-01-01").await;
    // Flat C is let from March: in February it has no lease.
    let c = lease(&app, &owner, &flat_c, &bo, "2027-03-01").await;

    post(
        &app,
        &owner,
        &a,
        "charges",
        charge("rent", 125_000, "2027-02-01"),
    )
    .await;
    let fee = post(
        &app,
        &owner,
        &a,
        "charges",
        charge("fee", 2_500, "2027-02-10"),
    )
    .await;
    post(
        &app,
        &owner,
        &a,
        "charges",
        charge("rent", 125_000, "2027-03-01"),
    )
    .await;
    post(&app, &owner, &a, "payments", money(100_000, "2027-02-03")).await;
    let january = post(&app, &owner, &a, "payments", money(7_000, "2027-01-30")).await;
    post(&app, &owner, &a, "credits", money(5_000, "2027-02-14")).await;
    // Corrections in March count against the months of what they undo.
    reverse(&app, &owner, &a, &fee).await;
    reverse(&app, &owner, &a, &january).await;
    post(
        &app,
        &owner,
        &c,
        "charges",
        charge("deposit", 250_000, "2027-02-20"),
    )
    .await;

    let february = roll(&app, &owner, &property, Some("2027-02")).await;
    assert_eq!(february.body["month"], "2027-02");
    assert_eq!(
        rows(&february),
        [
            ("Flat A".into(), a.clone(), 125_000, 100_000, 5_000, 20_000),
            ("Flat B".into(), "-".into(), 0, 0, 0, 0),
            // The deposit was charged in February, but Flat C's lease runs from March.
            ("Flat C".into(), "-".into(), 0, 0, 0, 0),
        ]
    );
    let row = &february.body["items"][0]["lease"];
    assert_eq!(row["tenantId"], ada.as_str());
    assert_eq!(row["tenantName"], "Poster");
    assert_eq!(row["rent"]["amountMinor"], 125_000);
    // The balance is the lease's now: every month, every correction.
    assert_eq!(row["balanceMinor"], 125_000 + 125_000 - 100_000 - 5_000);
    let january_roll = rows(&roll(&app, &owner, &property, Some("2027-01")).await);
    assert_eq!(january_roll[0], ("Flat A".into(), a.clone(), 0, 0, 0, 0));
    let march = rows(&roll(&app, &owner, &property, Some("2027-03")).await);
    assert_eq!(march[0], ("Flat A".into(), a, 125_000, 0, 0, 125_000));
    assert_eq!(march[2], ("Flat C".into(), c, 0, 0, 0, 0));
}

#[tokio::test]
async fn a_unit_relet_within_a_month_has_a_row_for_each_lease_and_a_vacant_one_a_row_without() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (_, ada) = app.user("ada@example.com", None).await;
    let (_, bo) = app.user("bo@example.com", None).await;
    let property = id_of(&create(&app, &owner, &super::property("ROLL-2")).await);
    let flat = unit(&app, &owner, &property, "Flat 1").await;
    let first = lease(&app, &owner, &flat, &ada, "2027-01-01").await;
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", &first)
                .bearer(&owner)
                .json(&json!({"endDate": "2027-04-15"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let second = lease(&app, &owner, &flat, &bo, "2027-04-16").await;
    let april = rows(&roll(&app, &owner, &property, Some("2027-04")).await);
    let leases: Vec<&str> = april.iter().map(|row| row.1.as_str()).collect();
    assert_eq!(leases, [first.as_str(), second.as_str()], "by start date");
    let may = rows(&roll(&app, &owner, &property, Some("2027-05")).await);
    let leases: Vec<&str> = may.iter().map(|row| row.1.as_str()).collect();
    assert_eq!(leases, [second.as_str()]);
    let before = rows(&roll(&app, &owner, &property, Some("2026-12")).await);
    assert_eq!(before, [("Flat 1".into(), "-".into(), 0, 0, 0, 0)]);
}

#[tokio::test]
async fn a_month_totals_every_posting_of_a_concurrent_burst() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (_, tenant) = app.user("tenant@example.com", None).await;
    let property = id_of(&create(&app, &owner, &super::property("ROLL-3")).await);
    let flat = unit(&app, &owner, &property, "Flat 1").await;
    let lease = lease(&app, &owner, &flat, &tenant, "2027-01-01").await;
    let calls = |route: &str, amounts: &[u64], body: fn(u64) -> Value| -> Vec<Call> {
        amounts
            .iter()
            .map(|amount| {
                Call::new("POST", &format!("/v1/leases/{{id}}/{route}"))
                    .param("id", &lease)
                    .bearer(&owner)
                    .header("idempotency-key", &ulid::Ulid::new().to_string())
                    .json(&body(*amount))
            })
            .collect()
    };
    let charges = calls("charges", &[1_000, 2_000, 3_000, 4_000, 5_000], |a| {
        charge("fee", a, "2027-06-02")
    });
    let payments = calls("payments", &[600, 700, 800], |a| money(a, "2027-06-09"));
    let credits = calls("credits", &[50, 60], |a| money(a, "2027-06-30"));
    let (charge_statuses, payment_statuses, credit_statuses) = tokio::join!(
        app.statuses_at_once(leases_charges::handle, charges),
        app.statuses_at_once(leases_payments::handle, payments),
        app.statuses_at_once(leases_credits::handle, credits),
    );
    assert_eq!(
        (charge_statuses, payment_statuses, credit_statuses),
        (vec![201; 5], vec![201; 3], vec![201; 2])
    );
    let june = rows(&roll(&app, &owner, &property, Some("2027-06")).await);
    assert_eq!(
        june,
        [(
            "Flat 1".into(),
            lease.clone(),
            15_000,
            2_100,
            110,
            15_000 - 2_100 - 110
        )]
    );
    let roll = roll(&app, &owner, &property, Some("2027-06")).await;
    assert_eq!(
        roll.body["items"][0]["lease"]["balanceMinor"],
        15_000 - 2_100 - 110,
        "the balance and the month agree"
    );
}

#[tokio::test]
async fn only_the_owner_and_admins_read_a_rent_roll_and_a_month_must_be_one() {
    let clock = standing_clock();
    let this_month = clock.timestamp()[..7].to_owned();
    let app = TestApp::spawn_with_clock(clock).await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let (admin, _) = app.admin("admin@example.com").await;
    let property = create(&app, &owner, &super::property("ROLL-4")).await;
    assert_eq!(property.status, 201, "{}", property.body);
    let property = id_of(&property);
    let flat = unit(&app, &owner, &property, "Flat 1").await;
    lease(&app, &owner, &flat, &tenant_id, "2027-01-01").await;
    // Without a month: the current one (UTC).
    let current = roll(&app, &admin, &property, None).await;
    assert_eq!(current.status, 200, "{}", current.body);
    assert_eq!(current.body["month"], this_month.as_str());
    // The tenant of a unit does not read the property's money.
    assert_eq!(
        roll(&app, &tenant, &property, Some("2027-03")).await.status,
        403
    );
    for bad in ["2027-13", "2027-3", "march", "2027-03-01"] {
        let refused = roll(&app, &owner, &property, Some(bad)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "INVALID_PARAMETER"),
            "{bad}: {}",
            refused.body
        );
    }
    let unknown = roll(&app, &owner, "01ARZ3NDEKTSV4RRFFQ69G5FAV", Some("2027-03")).await;
    assert_eq!(unknown.status, 404);
}
