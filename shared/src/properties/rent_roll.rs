//! `GET /properties/{id}/rent-roll?month=YYYY-MM` (the owner, admins): for each unit, the
//! lease that ran in the month (or none) and what its ledger says of that month — charged,
//! paid, credited, what is left of it — with the lease's balance now.
//!
//! Read by key, never by scan: the property (its units), its leases (`gsi2`
//! `PROPERTYLEASES#<propertyId>`, every page: a property's lease history stays small), then one
//! BatchGetItem per 100 keys of the month totals of the leases that ran in the month
//! (`LEASE#<leaseId>` / `MONTH#<yyyy-mm>`, see [`super::ledger`]) and of their tenants' names.
//!
//! A month is calendar dates, as the ledger's effective dates are: a lease runs in it when it
//! started on or before its last day and did not end before its first. A unit whose lease ended
//! and whose next began in the same month has a row for each; a unit without a lease that month
//! has one row without a lease. A lease whose unit was removed since keeps its row (no label).

use std::collections::HashMap;

use serde::Serialize;

use crate::accounts::Principal;
use crate::accounts::items::UserItem;
use crate::error::ApiError;
use crate::ids::{LeaseId, PropertyId, UnitId, UserId};
use crate::state::State;
use crate::store::{Index, Key, KeyQuery, Store};
use crate::validate::Invalid;

use super::leases::{LeaseItem, LeaseStatus, Rent, property_leases_partition};
use super::ledger::{MonthTotals, month_key};
use super::{load, require_manager};

/// A calendar month, `YYYY-MM` (years 1900–2999).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Month(String);

impl Month {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid("must be a month such as 2027-01");
        let (year, month) = raw.split_once('-').ok_or_else(bad)?;
        if year.len() != 4
            || month.len() != 2
            || !raw.bytes().all(|b| b == b'-' || b.is_ascii_digit())
        {
            return Err(bad());
        }
        match (year.parse::<u16>(), month.parse::<u8>()) {
            (Ok(1900..=2999), Ok(1..=12)) => Ok(Self(raw.to_owned())),
            _ => Err(bad()),
        }
    }

    /// The month a `YYYY-MM-DD…` timestamp or date falls in.
    pub fn of(date: &str) -> Result<Self, Invalid> {
        Self::parse(date.get(..7).unwrap_or_default())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a lease from `start` to `end` (dates, `YYYY-MM-DD`) runs on a day of this month.
    fn overlaps(&self, start: &str, end: Option<&str>) -> bool {
        let first = format!("{}-01", self.0);
        let after_last = format!("{}-32", self.0);
        start < after_last.as_str() && end.is_none_or(|end| end >= first.as_str())
    }
}

/// One row of a rent roll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RentRollRow {
    pub unit_id: UnitId,
    /// The unit's label; absent when the unit was removed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Flat 2B")]
    pub unit_label: Option<String>,
    /// The lease that ran in the month; absent when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<RentRollLease>,
}

/// A lease of a rent roll's month, with what its ledger says of that month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RentRollLease {
    pub id: LeaseId,
    pub tenant_id: UserId,
    /// The tenant's display name (empty when the account is gone).
    pub tenant_name: String,
    #[schema(example = "2027-01-01")]
    pub start_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    pub status: LeaseStatus,
    /// The lease's monthly rent in force at the month's end.
    pub rent: Rent,
    /// Charges effective in the month (rent, fees, deposits), net of reversals: what the month
    /// asked for.
    pub expected_minor: i64,
    /// Payments effective in the month, net of reversals.
    pub paid_minor: i64,
    /// Credits effective in the month, net of reversals.
    pub credited_minor: i64,
    /// What is left of the month: expected − paid − credited (negative: paid ahead).
    pub outstanding_minor: i64,
    /// The lease's balance now, every month included.
    pub balance_minor: i64,
}

/// A property's rent roll for one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RentRoll {
    pub property_id: PropertyId,
    #[schema(example = "2027-01")]
    pub month: String,
    /// By unit label, then by lease start.
    pub items: Vec<RentRollRow>,
}

/// How many keys one BatchGetItem reads.
const BATCH: usize = 100;

/// `GET /properties/{id}/rent-roll?month=` (the owner, admins; 403 for others). Calls: GetItem
/// (property), Query (its leases, a page per 100), and BatchGetItem (month totals and tenants,
/// one per 100 keys) when a lease ran in the month.
pub async fn rent_roll(
    state: &State,
    me: &Principal,
    id: PropertyId,
    month: &Month,
) -> Result<RentRoll, ApiError> {
    let store = &state.store;
    let property = load(store, id).await?;
    require_manager(me, &property)?;
    let leases: Vec<LeaseItem> = store
        .query_every(&KeyQuery::index(Index::Gsi2, property_leases_partition(id)))
        .await?;
    let running: Vec<_> = leases
        .into_iter()
        .map(|item| item.lease)
        .filter(|lease| month.overlaps(&lease.start_date, lease.end_date.as_deref()))
        .collect();
    let mut tenants: Vec<UserId> = running.iter().map(|lease| lease.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let keys: Vec<Key> = running
        .iter()
        .map(|lease| month_key(lease.id, month.as_str()))
        .chain(tenants.iter().map(|tenant| Key::user(*tenant)))
        .collect();
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(BATCH) {
        found.extend(store.batch_get(chunk).await?);
    }
    let (months, users) = found.split_at(running.len());
    let mut names = HashMap::new();
    for user in users.iter().flatten() {
        let user: UserItem = Store::parse(user.clone())?;
        names.insert(user.id, user.name);
    }

    let mut by_unit: HashMap<UnitId, Vec<RentRollLease>> = HashMap::new();
    for (lease, totals) in running.into_iter().zip(months) {
        let totals: MonthTotals = match totals {
            Some(item) => Store::parse(item.clone())?,
            None => MonthTotals::default(),
        };
        // The rent in force at the month's end (a change agreed from within the month).
        let rent = Rent {
            amount_minor: lease.rent_on(&format!("{}-31", month.as_str())),
            currency: lease.rent.currency.clone(),
        };
        by_unit
            .entry(lease.unit_id)
            .or_default()
            .push(RentRollLease {
                id: lease.id,
                tenant_id: lease.tenant_id,
                tenant_name: names.get(&lease.tenant_id).cloned().unwrap_or_default(),
                start_date: lease.start_date,
                end_date: lease.end_date,
                status: lease.status,
                rent,
                expected_minor: totals.charged_minor,
                paid_minor: totals.paid_minor,
                credited_minor: totals.credited_minor,
                outstanding_minor: totals.charged_minor - totals.paid_minor - totals.credited_minor,
                balance_minor: lease.balance_minor,
            });
    }

    let mut items = Vec::new();
    let row = |unit_id, unit_label: Option<&str>, lease| RentRollRow {
        unit_id,
        unit_label: unit_label.map(str::to_owned),
        lease,
    };
    // The units in label order (the property's map is keyed by the compared label).
    for unit in property.units.values() {
        match by_unit.remove(&unit.id) {
            Some(mut leases) => {
                leases.sort_by(|a, b| a.start_date.cmp(&b.start_date));
                items.extend(
                    leases
                        .into_iter()
                        .map(|l| row(unit.id, Some(&unit.label), Some(l))),
                );
            }
            None => items.push(row(unit.id, Some(&unit.label), None)),
        }
    }
    let mut removed: Vec<_> = by_unit
        .into_iter()
        .flat_map(|(unit, leases)| leases.into_iter().map(move |lease| (unit, lease)))
        .collect();
    removed.sort_by(|a, b| a.1.start_date.cmp(&b.1.start_date));
    items.extend(
        removed
            .into_iter()
            .map(|(unit, lease)| row(unit, None, Some(lease))),
    );
    Ok(RentRoll {
        property_id: id,
        month: month.as_str().to_owned(),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_a_year_and_a_month_of_it() {
        assert!(Month::parse("2027-01").is_ok());
        assert!(Month::parse("2027-12").is_ok());
        for bad in [
            "2027-13",
            "2027-00",
            "2027-1",
            "27-01",
            "2027",
            "3000-01",
            "2027-01-01",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_lease_runs_in_a_month_it_touches_by_a_day() {
        let march = Month::parse("2027-03").unwrap();
        assert!(march.overlaps("2027-03-31", None));
        assert!(march.overlaps("2027-01-01", Some("2027-03-01")));
        assert!(march.overlaps("2026-01-01", None));
        assert!(!march.overlaps("2027-04-01", None));
        assert!(!march.overlaps("2027-01-01", Some("2027-02-28")));
    }
}
