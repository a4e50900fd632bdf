//! Recurring rent: the template's `RentSchedule` ticks (the message EventBridge Scheduler sends,
//! built from the template) run the rent worker, which charges each lease's rent on its due day
//! exactly once per lease and month — across repeated and overlapping ticks, a run stopped at
//! its deadline, and days without a run — reading only the leases due.

use ferrite_tests::{Call, TestApp, rent_tick, rent_tick_with, unhurried};
use serde_json::{Value, json};

use super::{create, id_of};

/// A property of `owner` with one unit per start date, each leased to `tenant_id` from that
/// date at 1,000.00 EUR: the leases' ids, in order.
async fn leases(
    app: &TestApp,
    owner: &str,
    tenant_id: &str,
    file_number: &str,
    starts: &[&str],
) -> Vec<String> {
    let property = create(app, owner, &super::property(file_number)).await;
    assert_eq!(property.status, 201, "{}", property.body);
    let property = id_of(&property);
    let mut ids = Vec::new();
    for (i, start) in starts.iter().enumerate() {
        let unit = app
            .call(
                units_create::handle,
                Call::new("POST", "/v1/properties/{id}/units")
                    .param("id", &property)
                    .bearer(owner)
                    .json(&json!({"label": format!("Unit {i}")})),
            )
            .await;
        assert_eq!(unit.status, 201, "{}", unit.body);
        let lease = app
            .call(
                leases_create::handle,
                Call::new("POST", "/v1/leases").bearer(owner).json(&json!({
                    "unitId": id_of(&unit), "tenantId": tenant_id, "startDate": start,
                    "rent": {"amountMinor": 100_000, "currency": "EUR"}
                })),
            )
            .await;
        assert_eq!(lease.status, 201, "{}", lease.body);
        ids.push(id_of(&lease));
    }
    ids
}

/// The effective dates of a lease's rent charges, oldest first.
async fn rent_charges(app: &TestApp, token: &str, lease: &str) -> Vec<String> {
    let page = app
        .call(
            leases_ledger::handle,
            Call::new("GET", "/v1/leases/{id}/ledger")
                .param("id", lease)
                .query("limit", "100")
                .bearer(token),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut dates: Vec<String> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "charge" && e["category"] == "rent")
        .map(|e| e["effectiveDate"].as_str().expect("date").to_owned())
        .collect();
    dates.reverse();
    dates
}

fn failures(outcome: &shared::worker::BatchOutcome) -> usize {
    outcome.batch_item_failures.len()
}

#[tokio::test]
async fn each_lease_is_charged_on_its_due_day_clamped_to_short_months_and_catching_up_missed_days()
{
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let ids = leases(
        &app,
        &owner,
        &tenant_id,
        "RENT-1",
        &["2027-01-15", "2027-01-31", "2027-03-01", "2027-01-15"],
    )
    .await;
    let (mid, end_of_month, later, ending) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    // The fourth lease ends on 10 February: not prorated, not charged for February.
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", ending)
                .bearer(&owner)
                .json(&json!({"endDate": "2027-02-10"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);

    for tick in [
        "2027-01-15T00:05:00Z",
        // The same tick again (a retry): nothing more.
        "2027-01-15T00:05:00Z",
        // A month without ticks: the run catches up from 16 January.
        "2027-02-15T00:05:00Z",
        "2027-02-28T00:05:00Z",
    ] {
        let outcome = rent_tick(&app, tick, unhurried()).await;
        assert_eq!(failures(&outcome), 0, "{tick}");
    }
    assert_eq!(
        rent_charges(&app, &tenant, mid).await,
        ["2027-01-15", "2027-02-15"]
    );
    assert_eq!(
        rent_charges(&app, &tenant, end_of_month).await,
        ["2027-01-31", "2027-02-28"],
        "due on the 31st: the last day of a shorter month"
    );
    assert!(rent_charges(&app, &tenant, later).await.is_empty());
    assert_eq!(rent_charges(&app, &tenant, ending).await, ["2027-01-15"]);
    // The schedule is the actor of its charges, and they count in their month.
    let event = app
        .last_event("lease.charge_posted")
        .await
        .expect("an event");
    assert_eq!(event.actor.id.as_deref(), Some("rent-schedule"));
    let got = app
        .call(
            leases_get::handle,
            Call::new("GET", "/v1/leases/{id}")
                .param("id", mid)
                .bearer(&tenant),
        )
        .await;
    assert_eq!(got.body["balanceMinor"], 200_000);
}

#[tokio::test]
async fn overlapping_and_repeated_ticks_charge_each_lease_once_for_the_month() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let ids = leases(&app, &owner, &tenant_id, "RENT-2", &["2027-05-03"; 5]).await;
    let tick = || rent_tick(&app, "2027-05-03T00:05:00Z", unhurried());
    let (a, b, c, d) = tokio::join!(tick(), tick(), tick(), tick());
    assert!([a, b, c, d].iter().all(|o| failures(o) == 0));
    for lease in &ids {
        assert_eq!(rent_charges(&app, &tenant, lease).await, ["2027-05-03"]);
    }
    // A late tick for the same day, after the next one ran: still once.
    rent_tick(&app, "2027-05-04T00:05:00Z", unhurried()).await;
    rent_tick(&app, "2027-05-03T00:05:00Z", unhurried()).await;
    for lease in &ids {
        assert_eq!(rent_charges(&app, &tenant, lease).await, ["2027-05-03"]);
    }
}

#[tokio::test]
async fn a_run_stopped_at_its_deadline_is_delivered_again_and_resumes_where_it_stopped() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let ids = leases(&app, &owner, &tenant_id, "RENT-3", &["2027-06-09"; 4]).await;
    // A deadline already past: each delivery charges one lease and stops.
    let mut rounds = 0;
    loop {
        rounds += 1;
        let outcome = rent_tick(&app, "2027-06-09T00:05:00Z", std::time::SystemTime::now()).await;
        if failures(&outcome) == 0 {
            break;
        }
        assert!(rounds <= 5, "a run that never finishes");
    }
    assert!(rounds >= 4, "stopped and resumed: {rounds} deliveries");
    for lease in &ids {
        assert_eq!(rent_charges(&app, &tenant, lease).await, ["2027-06-09"]);
    }
}

/// A thousand leases, ten due: the ten are real leases; the other 990 are represented by what
/// a run could read of them — their due markers, on every other day of the month — written in
/// bulk (as many leases through the API would take minutes on the local endpoint).
#[tokio::test]
async fn a_run_reads_only_the_leases_due_that_day_of_a_thousand() {
    let (app, log) = TestApp::spawn_counting().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (_, tenant_id) = app.user("tenant@example.com", None).await;
    let due = leases(&app, &owner, &tenant_id, "RENT-4", &["2027-04-12"; 10]).await;
    let others: Vec<Value> = (0..990)
        .map(|i| {
            // Any day but the 12th and the days a run of the 12th also looks at: the 15th (rent
            // due in three days) and the 7th (rent due five days ago, perhaps owed).
            let day = [
                1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 16, 20, 25, 28, 30, 31,
            ][i % 18];
            let lease = ulid::Ulid::new().to_string();
            json!({"pk": format!("RENTDUE#{day:02}"), "sk": lease, "leaseId": lease})
        })
        .collect();
    for chunk in others.chunks(25) {
        app.state.store.put_batch(chunk).await.expect("markers");
    }
    log.take();
    let outcome = rent_tick_with(app.state, "2027-05-12T00:05:00Z", unhurried()).await;
    assert_eq!(failures(&outcome), 0);
    let calls = log.take_measured();
    let count = |operation: &str| calls.iter().filter(|c| c.operation == operation).count();
    let items = |operation: &str| -> usize {
        calls
            .iter()
            .filter(|c| c.operation == operation)
            .map(|c| c.items)
            .sum()
    };
    // The run's state, a Query per step (the day's markers, those due in three days, those due
    // five days ago, those ending in 30 days), one BatchGetItem of the leases due, a transaction
    // per lease due, the run moved on.
    assert_eq!((count("Query"), items("Query")), (4, 10), "{calls:?}");
    assert_eq!((count("BatchGetItem"), items("BatchGetItem")), (1, 10));
    assert_eq!(count("TransactWriteItems"), due.len());
    assert_eq!(count("GetItem") + count("UpdateItem"), 2);
    let read: f64 = calls.iter().map(|c| c.read_units).sum();
    assert!(read < 20.0, "read {read} units for 10 leases due");
}

#[tokio::test]
async fn a_tick_that_is_not_the_rent_schedules_is_refused_for_good() {
    let app = TestApp::spawn().await;
    let state = app.state_of("WorkerRentFunction");
    for body in [
        json!({"schedule": "other", "scheduledTime": "2027-01-01T00:05:00Z"}),
        json!({"schedule": "rent", "scheduledTime": "2027-01-01T00:05:00+02:00"}),
        json!({"schedule": "rent", "scheduledTime": "yesterday"}),
        json!({"schedule": "rent"}),
        Value::String("not json".into()),
    ] {
        let outcome = worker_rent::handle(
            state,
            ferrite_tests::sqs_event(&[body.to_string()]),
            unhurried(),
        )
        .await;
        assert_eq!((failures(&outcome), outcome.failed), (1, 1), "{body}");
    }
}

fn renewing(token: &str, lease: &str, body: &Value) -> Call {
    Call::new("PATCH", "/v1/leases/{id}")
        .param("id", lease)
        .bearer(token)
        .json(body)
}

#[tokio::test]
async fn a_renewal_moves_the_end_date_and_the_schedule_charges_a_new_rent_from_its_date() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leases(&app, &owner, &tenant_id, "RENT-5", &["2027-01-10"]).await;
    let lease = &lease[0];
    let raised = app
        .call(
            leases_patch::handle,
            renewing(
                &owner,
                lease,
                &json!({"rentChange": {"amountMinor": 120_000, "currency": "EUR", "from": "2027-03-01"}}),
            ),
        )
        .await;
    assert_eq!(raised.status, 200, "{}", raised.body);
    assert_eq!(
        raised.body["rentChanges"],
        json!([{"from": "2027-03-01", "amountMinor": 120_000}])
    );
    let ending = app
        .call(
            leases_patch::handle,
            renewing(&owner, lease, &json!({"endDate": "2027-04-20"})),
        )
        .await;
    assert_eq!(ending.status, 200, "{}", ending.body);
    assert_eq!(ending.body["endDate"], "2027-04-20");
    let event = app.last_event("lease.renewed").await.expect("an event");
    assert_eq!(event.changes["endDate"].after, "2027-04-20");

    for tick in [
        "2027-02-10T00:05:00Z",
        "2027-03-10T00:05:00Z",
        "2027-04-10T00:05:00Z",
        "2027-05-10T00:05:00Z",
    ] {
        assert_eq!(failures(&rent_tick(&app, tick, unhurried()).await), 0);
    }
    let page = app
        .call(
            leases_ledger::handle,
            Call::new("GET", "/v1/leases/{id}/ledger")
                .param("id", lease)
                .bearer(&tenant),
        )
        .await;
    let charged: Vec<(String, u64)> = page.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .rev()
        .map(|e| {
            (
                e["effectiveDate"].as_str().expect("date").to_owned(),
                e["amountMinor"].as_u64().expect("amount"),
            )
        })
        .collect();
    assert_eq!(
        charged,
        [
            ("2027-02-10".to_owned(), 100_000),
            ("2027-03-10".to_owned(), 120_000),
            ("2027-04-10".to_owned(), 120_000),
        ],
        "the new rent from March; nothing after the end date"
    );
}

#[tokio::test]
async fn a_renewal_is_the_owners_reports_every_problem_at_once_and_two_at_once_keep_both_apart() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leases(&app, &owner, &tenant_id, "RENT-6", &["2027-01-10"]).await;
    let lease = &lease[0];
    let by_tenant = app
        .call(
            leases_patch::handle,
            renewing(&tenant, lease, &json!({"endDate": "2099-01-01"})),
        )
        .await;
    assert_eq!(by_tenant.status, 403);
    let wrong = app
        .call(
            leases_patch::handle,
            renewing(
                &owner,
                lease,
                &json!({"endDate": "2020-01-01", "rentChange": {"amountMinor": 1, "currency": "USD", "from": "2020-01-01"}}),
            ),
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    let mut fields: Vec<&str> = wrong.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["endDate", "rentChange.currency", "rentChange.from"]
    );
    // Two renewals at once, read from the same lease: one wins, the other is told to look again.
    let statuses = app
        .statuses_at_once(
            leases_patch::handle,
            vec![
                renewing(&owner, lease, &json!({"endDate": "2028-01-09"})),
                renewing(&owner, lease, &json!({"endDate": "2029-01-09"})),
            ],
        )
        .await;
    let mut sorted = statuses.clone();
    sorted.sort_unstable();
    assert!(sorted == [200, 200] || sorted == [200, 412], "{statuses:?}");
    let ended = app
        .call(
            leases_end::handle,
            Call::new("POST", "/v1/leases/{id}/end")
                .param("id", lease)
                .bearer(&owner)
                .json(&json!({"endDate": "2027-06-30"})),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let after_end = app
        .call(
            leases_patch::handle,
            renewing(&owner, lease, &json!({"endDate": "2099-01-01"})),
        )
        .await;
    assert_eq!((after_end.status, after_end.code()), (409, "LEASE_ENDED"));
}

#[tokio::test]
async fn reminders_go_once_per_period_to_confirmed_addresses_before_the_due_day_when_owed_and_before_the_end()
 {
    let app = TestApp::spawn().await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let address = |who: &str| format!("{who}-{tag}@example.com");
    let (owner, _) = app.user(&address("landlord"), None).await;
    app.confirm_address().await;
    let (_, ada_id) = app.user(&address("ada"), None).await;
    app.confirm_address().await;
    // Bo never confirms an address: nothing is mailed to Bo.
    let (bo, bo_id) = app.user(&address("bo"), None).await;
    let ada_lease = leases(&app, &owner, &ada_id, "RENT-7", &["2027-01-10"]).await;
    let bo_lease = leases(&app, &owner, &bo_id, "RENT-8", &["2027-01-10"]).await;
    let renewed = app
        .call(
            leases_patch::handle,
            renewing(&owner, &ada_lease[0], &json!({"endDate": "2027-12-31"})),
        )
        .await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let tick = |at: &'static str| rent_tick(&app, at, unhurried());

    assert_eq!(failures(&tick("2027-02-07T00:05:00Z").await), 0);
    assert_eq!(failures(&tick("2027-02-07T00:05:00Z").await), 0);
    assert_eq!(failures(&tick("2027-02-10T00:05:00Z").await), 0);
    // Bo pays February in full; Ada does not.
    let paid = app
        .call(
            leases_payments::handle,
            Call::new("POST", "/v1/leases/{id}/payments")
                .param("id", &bo_lease[0])
                .bearer(&owner)
                .header("idempotency-key", "bo-february")
                .json(&json!({"amountMinor": 100_000, "currency": "EUR", "effectiveDate": "2027-02-10"})),
        )
        .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_eq!(failures(&tick("2027-02-15T00:05:00Z").await), 0);
    // Weeks later: the run catches up on 28 October to 1 December (35 days) — November's
    // reminders, its charges, both overdue on the 15th, Ada's lease ending on 31 December.
    assert_eq!(failures(&tick("2027-12-01T00:05:00Z").await), 0);
    assert_eq!(failures(&tick("2027-12-01T00:05:00Z").await), 0);

    let outbox = app.outbox().await;
    let of = |kind: &str| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = outbox
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| {
                let date = e
                    .changes
                    .values()
                    .find_map(|c| c.after.as_str().filter(|d| d.len() == 10))
                    .unwrap_or_default();
                (e.entity.id.clone(), date.to_owned())
            })
            .collect();
        found.sort();
        found
    };
    let (a, b) = (ada_lease[0].clone(), bo_lease[0].clone());
    let mut due_soon = vec![
        (a.clone(), "2027-02-10".to_owned()),
        (a.clone(), "2027-11-10".to_owned()),
        (b.clone(), "2027-02-10".to_owned()),
        (b.clone(), "2027-11-10".to_owned()),
    ];
    due_soon.sort();
    assert_eq!(
        of("lease.rent_due_soon"),
        due_soon,
        "once per lease and month"
    );
    let mut overdue = vec![
        (a.clone(), "2027-02-10".to_owned()),
        (a.clone(), "2027-11-10".to_owned()),
        (b.clone(), "2027-11-10".to_owned()),
    ];
    overdue.sort();
    assert_eq!(of("lease.rent_overdue"), overdue, "only while rent is owed");
    assert_eq!(of("lease.ending_soon"), [(a, "2027-12-31".to_owned())]);

    // Through the email worker: to confirmed addresses only, the owner told of what is overdue.
    let reminders: Vec<String> = outbox
        .iter()
        .filter(|e| e.kind.starts_with("lease.rent_") || e.kind == "lease.ending_soon")
        .map(ferrite_tests::stream_record)
        .collect();
    let worker = ferrite_tests::email_worker(&app, "no-reply@example.com", true).await;
    let sent = worker_email::handle(&worker, ferrite_tests::sqs_event(&reminders)).await;
    assert!(sent.batch_item_failures.is_empty());
    let subjects = |to: String| async move {
        let mut subjects: Vec<String> = ferrite_tests::sent_emails(&to)
            .await
            .into_iter()
            .map(|(subject, _)| subject)
            .collect();
        subjects.sort();
        subjects
    };
    assert_eq!(
        subjects(address("ada")).await,
        [
            "Rent of 1,000.00 EUR due on 2027-02-10",
            "Rent of 1,000.00 EUR due on 2027-11-10",
            "Your lease ends on 2027-12-31",
            "Your rent due on 2027-02-10 is overdue",
            "Your rent due on 2027-11-10 is overdue",
        ]
    );
    assert!(
        subjects(address("bo")).await.is_empty(),
        "an unconfirmed address"
    );
    assert_eq!(
        subjects(address("landlord")).await,
        [
            "A tenant's rent due on 2027-02-10 is overdue",
            "A tenant's rent due on 2027-11-10 is overdue",
            "A tenant's rent due on 2027-11-10 is overdue",
        ]
    );

    // The inbox is the account's own, confirmed address or not: Bo is told too, the owner of
    // what is overdue and of the lease ending.
    assert!(
        ferrite_tests::workers::notify(&app)
            .await
            .batch_item_failures
            .is_empty()
    );
    let reminded = |token: String| {
        let app = &app;
        async move {
            let inbox = ferrite_tests::workers::inbox(app, &token, &[("limit", "100")]).await;
            let mut found: Vec<(String, String)> = inbox.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter(|n| n["type"] != "ledger.charge_posted" && n["type"] != "lease.created")
                .map(|n| {
                    let notice = &n["data"];
                    let date = notice["date"].as_str().or(notice["dueDate"].as_str());
                    (
                        n["type"].as_str().expect("type").to_owned(),
                        date.expect("a date").to_owned(),
                    )
                })
                .collect();
            found.sort();
            found
        }
    };
    let told = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(t, d)| ((*t).to_owned(), (*d).to_owned()))
            .collect()
    };
    assert_eq!(
        reminded(bo).await,
        told(&[
            ("rent.due_soon", "2027-02-10"),
            ("rent.due_soon", "2027-11-10"),
            ("rent.overdue", "2027-11-10"),
        ])
    );
    assert_eq!(
        reminded(owner).await,
        told(&[
            ("lease.ending_soon", "2027-12-31"),
            ("rent.overdue", "2027-02-10"),
            ("rent.overdue", "2027-11-10"),
            ("rent.overdue", "2027-11-10"),
        ])
    );
}

#[tokio::test]
async fn leases_made_before_recurring_rent_are_found_once_their_markers_are_backfilled() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let lease = leases(&app, &owner, &tenant_id, "RENT-9", &["2027-01-20"]).await;
    let lease = &lease[0];
    // As a lease made by an earlier version: no due marker.
    let store = &app.state.store;
    let marker = shared::store::Key::new("RENTDUE#20", lease.as_str());
    store
        .transact(vec![store.delete_op(&marker, true).expect("delete")])
        .await
        .expect("the marker was there");
    rent_tick(&app, "2027-02-20T00:05:00Z", unhurried()).await;
    assert!(
        rent_charges(&app, &tenant, lease).await.is_empty(),
        "not found"
    );
    let found = shared::properties::rent::backfill_markers(store)
        .await
        .expect("backfill");
    assert_eq!(found, 1);
    // Again: the same markers (idempotent).
    assert_eq!(
        shared::properties::rent::backfill_markers(store)
            .await
            .expect("backfill"),
        1
    );
    rent_tick(&app, "2027-03-20T00:05:00Z", unhurried()).await;
    assert_eq!(rent_charges(&app, &tenant, lease).await, ["2027-03-20"]);
}

#[tokio::test]
async fn a_stacks_first_run_stopped_at_its_deadline_is_finished_by_the_next_days_tick() {
    let app = TestApp::spawn().await;
    let (owner, _) = app.user("landlord@example.com", None).await;
    let (tenant, tenant_id) = app.user("tenant@example.com", None).await;
    let ids = leases(&app, &owner, &tenant_id, "RENT-10", &["2027-06-09"; 3]).await;
    let stopped = rent_tick(&app, "2027-06-09T00:05:00Z", std::time::SystemTime::now()).await;
    assert_eq!(failures(&stopped), 1, "stopped at its deadline");
    // The next day's tick comes before the stopped one is delivered again.
    assert_eq!(
        failures(&rent_tick(&app, "2027-06-10T00:05:00Z", unhurried()).await),
        0
    );
    for lease in &ids {
        assert_eq!(rent_charges(&app, &tenant, lease).await, ["2027-06-09"]);
    }
}
