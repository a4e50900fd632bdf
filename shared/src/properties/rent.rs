//! Recurring rent: a daily run (the template's `RentSchedule`, EventBridge Scheduler → the rent
//! queue → `worker-rent`) charges each lease's rent for the month on its due day, exactly once
//! per lease and month.
//!
//! **Dates are calendar dates in UTC**, as every date of the registry is: a lease's rent is due
//! on its start date's day of the month, clamped to the month's last day (a lease from
//! 31 January is due on 28 or 29 February, 31 March, 30 April…). The period is that month
//! (`YYYY-MM`); the first charge is on the start date. A run's "today" is the date of the
//! schedule's *scheduled* time, never the wall clock: a late or repeated run charges the same
//! periods.
//!
//! **Found by key, never by scan**: each lease has a due marker `RENTDUE#<dd>` / `<leaseId>`
//! (written with the lease), so a day reads the leases due on it (and on the last day of a month,
//! those due on the days the month does not have) — what a run reads grows with the leases due,
//! not with the registry. A lease is charged when it runs on the due date (started on or before
//! it, and no end date before it); an ended lease's marker expires 62 days after its end date,
//! so a run catching up still finds it.
//!
//! **Exactly once**: each charge is one transaction with a claim `LEASE#<id>` / `RENT#<yyyy-mm>`
//! under `attribute_not_exists`, so retries, overlapping runs and catch-up charge a period once.
//!
//! **Resumable, catching up**: the run item (`RENTRUN` / `STATE`) holds the last day fully done
//! (`throughDay`, days since 1970-01-01, only ever moved forward) and, when a run stopped at its
//! deadline, where it stopped. A run does every day after `throughDay` up to its own, at most
//! [`CATCH_UP_DAYS`] of them (older periods are posted by hand); the first run ever does its own
//! day only.
//!
//! **Reminders**, each day after the charges, each at most once per lease, kind and period (a
//! claim `LEASE#<id>` / `REMINDER#<kind>#<period>` written with its event): the rent due in
//! [`REMIND_DAYS_BEFORE`] days (to the tenant), the rent still owed [`OVERDUE_AFTER_DAYS`] days
//! after its due day (a positive balance then: to the tenant and the property's owner), a lease
//! agreed to end in [`ENDING_NOTICE_DAYS`] days (to the tenant; found by its end marker
//! `LEASEEND#<date>`). The emails go through the email worker, to **confirmed** addresses only
//! (the worker reads the account when it sends and voids the email otherwise) and at most once
//! per event (its claim). A stopped run resumes at the step and marker where it stopped.
//!
//! **Not prorated** (decided): a period's rent is charged in full on its due day while
//! the lease runs; a lease ending before its next due day is not charged for the days after its
//! last due day, and a shorter last period is settled with a credit by hand.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::events::{Actor, Event, outbox_put};
use crate::ids::LeaseId;
use crate::notices::{LeaseDateNotice, Notice, OverdueNotice};
use crate::state::State;
use crate::store::{Key, KeyQuery, Store, StoreError, Update};

pub use super::calendar::Day;
use super::calendar::{RentDueItem, due_marker, due_partition, end_marker, end_partition};
use super::leases::{LeaseItem, LeaseStatus, LeaseView, lease_key};
use super::ledger::{RENT_SCHEDULE_ACTOR, post_scheduled_rent};

/// How many days a run catches up at most (a month and a few days of a stopped schedule).
pub const CATCH_UP_DAYS: i64 = 35;
/// How many days before its due day the tenant is reminded of the rent.
pub const REMIND_DAYS_BEFORE: i64 = 3;
/// How many days after its due day a lease still owing is overdue (tenant and owner are told).
pub const OVERDUE_AFTER_DAYS: i64 = 5;
/// How many days before an agreed end date the tenant is told the lease ends.
pub const ENDING_NOTICE_DAYS: i64 = 30;
/// Markers read per Query (and leases per BatchGetItem).
const PAGE: u16 = 100;

/// What a run does for each day, in this order (a run stopped at its deadline resumes at its
/// step): charge the rent due that day, remind of the rent due in three days, tell of the rent
/// still owed five days after its due day, tell of the leases ending in 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    Charge,
    DueSoon,
    Overdue,
    EndingSoon,
}

impl Step {
    const ALL: [Self; 4] = [Self::Charge, Self::DueSoon, Self::Overdue, Self::EndingSoon];

    /// The date this step is about on `day`.
    fn date(self, day: Day) -> Day {
        match self {
            Self::Charge => day,
            Self::DueSoon => day.plus(REMIND_DAYS_BEFORE),
            Self::Overdue => day.plus(-OVERDUE_AFTER_DAYS),
            Self::EndingSoon => day.plus(ENDING_NOTICE_DAYS),
        }
    }

    /// The marker partitions this step reads on `day`, in order.
    fn partitions(self, day: Day) -> Vec<String> {
        let date = self.date(day);
        match self {
            Self::EndingSoon => vec![end_partition(date)],
            _ => date.due_days().into_iter().map(due_partition).collect(),
        }
    }
}

/// The rent run's state.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    /// The last day fully done (days since 1970-01-01).
    #[serde(default)]
    pub through_day: Option<i64>,
    /// Where a run stopped at its deadline.
    #[serde(default)]
    pub stopped_at: Option<StoppedAt>,
}

/// Where a run stopped: the day, the step, the partition of markers it was reading and the
/// last lease it did there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoppedAt {
    pub day: i64,
    pub step: Step,
    pub partition: String,
    pub after: LeaseId,
}

crate::store::attributes! { RunState in run_attributes {
    THROUGH_DAY: i64 = through_day,
    STOPPED_AT: StoppedAt = stopped_at,
} }

fn run_key() -> Key {
    Key::new("RENTRUN", "STATE")
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Periods this run charged.
    pub charged: u32,
    /// Due leases whose period was charged already (by an earlier or overlapping run).
    pub already: u32,
    /// Reminders sent (each once per lease, kind and period).
    pub reminded: u32,
    /// Days fully done.
    pub days: u32,
    /// `false`: the deadline came first; the next delivery resumes where this one stopped.
    pub done: bool,
}

/// The run for the schedule's `scheduled` time (RFC 3339, UTC): every day after the last one
/// done up to that date (at most [`CATCH_UP_DAYS`]), stopping at `until`. Calls: GetItem (the
/// run), then per day, step and marker partition a Query per 100 markers and a BatchGetItem of
/// their leases, a TransactWriteItems per charge or reminder (a GetItem of the property first
/// for an overdue one), and an UpdateItem (the run) per day.
pub async fn run(
    state: &State,
    scheduled: &str,
    until: SystemTime,
) -> Result<RunOutcome, ApiError> {
    let store = &state.store;
    let today = Day::parse(scheduled)
        .ok_or_else(|| ApiError::internal("the schedule's time is not an RFC 3339 UTC time"))?;
    let run: RunState = store.get(&run_key()).await?.unwrap_or_default();
    let earliest = Day(today.0 - CATCH_UP_DAYS + 1);
    let first = match (run.through_day, &run.stopped_at) {
        (Some(through), _) => Day(through + 1).max(earliest),
        // The first run of the stack stopped before its day was done: that day first, even
        // when a later tick comes before the stopped one is delivered again.
        (None, Some(at)) => Day(at.day).min(today).max(earliest),
        (None, None) => today,
    };
    let mut outcome = RunOutcome {
        done: true,
        ..RunOutcome::default()
    };
    let mut day = first;
    while day <= today {
        for step in Step::ALL {
            for partition in step.partitions(day) {
                let place = (day.0, step, partition.as_str());
                let resume = match &run.stopped_at {
                    Some(at) if (at.day, at.step, at.partition.as_str()) == place => Some(at.after),
                    Some(at) if (at.day, at.step, at.partition.as_str()) > place => continue,
                    _ => None,
                };
                let stopped =
                    visit(state, day, step, &partition, resume, until, &mut outcome).await?;
                if let Some(after) = stopped {
                    let stopped = StoppedAt {
                        day: day.0,
                        step,
                        partition,
                        after,
                    };
                    store
                        .update(Update::new(run_key()).set(RunState::STOPPED_AT, &stopped))
                        .await?;
                    outcome.done = false;
                    return Ok(outcome);
                }
            }
        }
        // The day is done: move the run forward (never back: an overlapping run may be ahead).
        let advanced = store
            .update(
                Update::new(run_key())
                    .set(RunState::THROUGH_DAY, &day.0)
                    .remove(RunState::STOPPED_AT)
                    .if_below(RunState::THROUGH_DAY, u64::try_from(day.0).unwrap_or(0)),
            )
            .await;
        match advanced {
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        outcome.days += 1;
        day = day.next();
    }
    Ok(outcome)
}

/// Does `step` of `day` for the leases of the markers in `partition`, after `resume`:
/// `Some(lease)` when `until` came after that lease, `None` when every one is done.
async fn visit(
    state: &State,
    day: Day,
    step: Step,
    partition: &str,
    resume: Option<LeaseId>,
    until: SystemTime,
    outcome: &mut RunOutcome,
) -> Result<Option<LeaseId>, ApiError> {
    let store = &state.store;
    let query = KeyQuery::table(partition);
    let mut after = resume.map(|lease| Key::new(partition, lease.to_string()));
    loop {
        let (markers, more): (Vec<RentDueItem>, bool) =
            store.query_after(&query, after.as_ref(), PAGE).await?;
        let keys: Vec<Key> = markers.iter().map(|m| lease_key(m.lease_id)).collect();
        let leases = if keys.is_empty() {
            Vec::new()
        } else {
            store.batch_get(&keys).await?
        };
        for (marker, lease) in markers.iter().zip(leases) {
            if let Some(lease) = lease {
                let lease: LeaseItem = Store::parse(lease)?;
                act(state, day, step, &lease.lease, outcome).await?;
            }
            after = Some(Key::new(marker.pk.clone(), marker.sk.clone()));
            if SystemTime::now() >= until {
                return Ok(Some(marker.lease_id));
            }
        }
        if !more {
            return Ok(None);
        }
    }
}

/// `step` of `day` for one lease whose marker matched.
async fn act(
    state: &State,
    day: Day,
    step: Step,
    lease: &LeaseView,
    outcome: &mut RunOutcome,
) -> Result<(), ApiError> {
    let date = step.date(day);
    let on = date.to_string();
    let money = |minor: i64| format_money(minor, &lease.rent.currency);
    let id = lease.id.to_string();
    let sent = match step {
        Step::Charge => {
            if !runs_on(lease, date) {
                return Ok(());
            }
            let amount = lease.rent_on(&on);
            if post_scheduled_rent(state, lease, &date.month(), &on, amount).await? {
                outcome.charged += 1;
            } else {
                outcome.already += 1;
            }
            return Ok(());
        }
        Step::DueSoon => {
            if lease.status != LeaseStatus::Active || !runs_on(lease, date) {
                return Ok(());
            }
            let amount = money(i64::try_from(lease.rent_on(&on)).unwrap_or(i64::MAX));
            let balance = money(lease.balance_minor);
            let notice = Notice::RentDueSoon(LeaseDateNotice {
                lease_id: lease.id,
                date: on.clone(),
            });
            let event = reminder_event(state, "lease.rent_due_soon", lease, "dueDate", &on)
                .notify(lease.tenant_id, notice)
                .email_confirmed_user(
                    "rent-due-soon",
                    lease.tenant_id,
                    &[
                        ("leaseId", &id),
                        ("dueDate", &on),
                        ("amount", &amount),
                        ("balance", &balance),
                    ],
                );
            remind(state, lease, "due", &date.month(), event).await?
        }
        Step::Overdue => {
            if lease.balance_minor <= 0 || !runs_on(lease, date) {
                return Ok(());
            }
            let balance = money(lease.balance_minor);
            let vars = |audience| {
                [
                    ("leaseId", id.as_str()),
                    ("dueDate", on.as_str()),
                    ("balance", balance.as_str()),
                    ("audience", audience),
                ]
            };
            let owner = super::load(&state.store, lease.property_id).await?.owner_id;
            let notice = Notice::RentOverdue(OverdueNotice {
                lease_id: lease.id,
                due_date: on.clone(),
                balance_minor: lease.balance_minor,
                currency: lease.rent.currency.clone(),
            });
            let event = reminder_event(state, "lease.rent_overdue", lease, "dueDate", &on)
                .change("balanceMinor", (), lease.balance_minor)
                .notify(lease.tenant_id, notice.clone())
                .notify(owner, notice)
                .email_confirmed_user("rent-overdue", lease.tenant_id, &vars("tenant"))
                .email_confirmed_user("rent-overdue", owner, &vars("owner"));
            remind(state, lease, "overdue", &date.month(), event).await?
        }
        Step::EndingSoon => {
            if lease.status != LeaseStatus::Active || lease.end_date.as_deref() != Some(on.as_str())
            {
                return Ok(());
            }
            let owner = super::load(&state.store, lease.property_id).await?.owner_id;
            let notice = Notice::LeaseEndingSoon(LeaseDateNotice {
                lease_id: lease.id,
                date: on.clone(),
            });
            let event = reminder_event(state, "lease.ending_soon", lease, "endDate", &on)
                .notify(lease.tenant_id, notice.clone())
                .notify(owner, notice)
                .email_confirmed_user(
                    "lease-ending-soon",
                    lease.tenant_id,
                    &[("leaseId", &id), ("endDate", &on)],
                );
            remind(state, lease, "ending", &on, event).await?
        }
    };
    if sent {
        outcome.reminded += 1;
    }
    Ok(())
}

fn reminder_event(state: &State, kind: &str, lease: &LeaseView, field: &str, date: &str) -> Event {
    Event::new(
        kind,
        Actor::system(RENT_SCHEDULE_ACTOR),
        "lease",
        &lease.id.to_string(),
        state.clock.timestamp(),
    )
    .change(field, (), date)
}

/// The record that a lease's reminder of one kind and period was sent (at most once).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReminderClaim {
    pk: String,
    sk: String,
    sent_at: String,
}

/// `event` (asking for the reminder's emails) with its claim `LEASE#<id>` /
/// `REMINDER#<kind>#<period>` under `attribute_not_exists`: `false` when it was sent already.
async fn remind(
    state: &State,
    lease: &LeaseView,
    kind: &str,
    period: &str,
    event: Event,
) -> Result<bool, ApiError> {
    let store = &state.store;
    let claim = ReminderClaim {
        pk: format!("LEASE#{}", lease.id),
        sk: format!("REMINDER#{kind}#{period}"),
        sent_at: state.clock.timestamp(),
    };
    let writes = vec![store.put_new_op(&claim)?, outbox_put(store, event)?];
    match store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// `minor` units of `currency` as people read them (`1,250.00 EUR`), by ISO 4217's minor unit
/// (none for JPY and its kind, three for the dinars).
fn format_money(minor: i64, currency: &str) -> String {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
        "VUV", "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let digits = if NONE.contains(&currency) {
        0
    } else if THREE.contains(&currency) {
        3
    } else {
        2
    };
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    let scale = 10_u64.pow(digits);
    let whole = (magnitude / scale).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if digits == 0 {
        format!("{sign}{grouped} {currency}")
    } else {
        let fraction = magnitude % scale;
        format!(
            "{sign}{grouped}.{fraction:0width$} {currency}",
            width = digits as usize
        )
    }
}

/// Writes the due and end markers of every lease (`ferrite-admin backfill-rent-markers`, once
/// after upgrading a stack whose leases were made before recurring rent): the lease partitions
/// from one Scan of their keys (an operator's one-off, never a request), the leases by
/// BatchGetItem, the markers by BatchWriteItem — idempotent (a marker is the same whenever it is
/// written). The number of leases it found.
pub async fn backfill_markers(store: &Store) -> Result<usize, ApiError> {
    let partitions = store.partitions_starting_with(&["LEASE#"]).await?;
    let keys: Vec<Key> = partitions
        .iter()
        .filter_map(|pk| LeaseId::parse(pk.strip_prefix("LEASE#")?).ok())
        .map(lease_key)
        .collect();
    let mut leases = 0;
    for chunk in keys.chunks(usize::from(PAGE)) {
        let mut markers = Vec::new();
        for item in store.batch_get(chunk).await?.into_iter().flatten() {
            let lease: LeaseItem = Store::parse(item)?;
            let lease = lease.lease;
            markers.push(due_marker(
                lease.id,
                &lease.start_date,
                lease.end_date.as_deref(),
            )?);
            if let Some(end) = &lease.end_date {
                markers.push(end_marker(lease.id, end)?);
            }
            leases += 1;
        }
        for batch in markers.chunks(25) {
            store.put_batch(batch).await?;
        }
    }
    Ok(leases)
}

/// Whether `lease` runs on `day` (started on or before it, not ended before it).
fn runs_on(lease: &LeaseView, day: Day) -> bool {
    let started = Day::parse(&lease.start_date).is_some_and(|start| start <= day);
    let not_ended = lease
        .end_date
        .as_deref()
        .and_then(Day::parse)
        .is_none_or(|end| end >= day);
    started && not_ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_in_the_currencys_minor_unit_with_thousands_grouped() {
        assert_eq!(format_money(125_000, "EUR"), "1,250.00 EUR");
        assert_eq!(format_money(5, "USD"), "0.05 USD");
        assert_eq!(format_money(-250_000, "GBP"), "-2,500.00 GBP");
        assert_eq!(format_money(1_234_567, "JPY"), "1,234,567 JPY");
        assert_eq!(format_money(1_500, "KWD"), "1.500 KWD");
        assert_eq!(format_money(100_000_000, "EUR"), "1,000,000.00 EUR");
    }
}
