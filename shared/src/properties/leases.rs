//! Leases: a tenant's right to a unit, from a start date, perhaps to an end date, at a rent.
//! A lease is one transaction with its unit's status: the unit goes from `vacant` to `leased`
//! under the condition that it is vacant, so of two concurrent leases of one unit exactly one
//! succeeds; ending the lease makes the unit vacant again. The property counts its active
//! leases (it is deleted only without one) and the tenant's account counts theirs (deleted only
//! without one).
//!
//! | item | `pk` | `sk` | index keys | serves |
//! | --- | --- | --- | --- | --- |
//! | lease | `LEASE#<leaseId>` | `LEASE` | `gsi1`: `TENANT#<userId>` / `<leaseId>`; `gsi2`: `PROPERTYLEASES#<propertyId>` / `<leaseId>` | a lease: GetItem; a tenant's: Query `gsi1`; a property's: Query `gsi2` |
//!
//! Who sees a lease: its tenant, the property's owner and admins — for anyone else it does not
//! exist (404), so neither do the tenants' identities.

use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::accounts::counts::{self, AccountCount};
use crate::auth::Role;
use crate::error::{ApiError, FieldError};
use crate::events::{Event, outbox_put};
use crate::ids::{LeaseId, PropertyId, UnitId, UserId};
use crate::notices::{LeaseDateNotice, LeaseNotice, Notice};
use crate::state::State;
use crate::store::{Index, Key, KeyQuery, OnCondition, Page, PageRequest, Update};
use crate::validate::{Invalid, RequestValue, request_value, text_schema};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use super::units::{UnitLookup, UnitStatus, UnitView, find, unit_lookup_key, unit_not_found};
use super::{PropertyItem, load, property_key, require_manager};

/// Whether a lease is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeaseStatus {
    Active,
    Ended,
}

/// A rent: an amount in the currency's minor unit (cents), per month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rent {
    /// In minor units (cents): 1 to 10^12.
    #[schema(example = 125_000)]
    pub amount_minor: u64,
    /// ISO 4217, three letters.
    #[schema(example = "EUR", min_length = 3, max_length = 3)]
    pub currency: String,
}

/// A lease, as stored and as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaseView {
    pub id: LeaseId,
    pub unit_id: UnitId,
    pub property_id: PropertyId,
    pub tenant_id: UserId,
    /// `YYYY-MM-DD`.
    #[schema(example = "2027-01-01")]
    pub start_date: String,
    /// `YYYY-MM-DD`, after `startDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    pub rent: Rent,
    pub status: LeaseStatus,
    /// What the tenant owes, in the rent's minor units: the sum of the ledger's entries
    /// (charges add, payments and credits subtract, a reversal undoes its entry). Negative: in
    /// credit. Kept in the same transaction as each entry.
    #[serde(default)]
    pub balance_minor: i64,
    /// Rent changes agreed for the future (`PATCH /leases/{id}`), oldest first: from its date
    /// on, a change's amount is the rent; before the first, `rent` is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rent_changes: Vec<RentChange>,
    pub created_at: String,
    pub updated_at: String,
}

/// A rent agreed from a date on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RentChange {
    /// `YYYY-MM-DD`: the first day of the new rent (the rent due on or after it is this).
    #[schema(example = "2028-01-01")]
    pub from: String,
    /// In the lease's currency's minor units.
    #[schema(example = 130_000)]
    pub amount_minor: u64,
}

impl LeaseView {
    /// The monthly rent on `date` (`YYYY-MM-DD`): the last change from on or before it, else
    /// the rent the lease began with.
    pub fn rent_on(&self, date: &str) -> u64 {
        self.rent_changes
            .iter()
            .rev()
            .find(|change| change.from.as_str() <= date)
            .map_or(self.rent.amount_minor, |change| change.amount_minor)
    }
}

// The lease item flattens its view: these are the item's own attributes.
crate::store::attributes! { LeaseView in lease_attributes {
    STATUS: LeaseStatus = status,
    BALANCE_MINOR: i64 = balance_minor,
    END_DATE: String = end_date,
    RENT_CHANGES: Vec<RentChange> = rent_changes,
    UPDATED_AT: String = updated_at,
} }

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LeaseItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    gsi2pk: String,
    gsi2sk: String,
    #[serde(flatten)]
    pub(super) lease: LeaseView,
}

pub(super) fn lease_key(id: LeaseId) -> Key {
    Key::new(format!("LEASE#{id}"), "LEASE")
}

fn tenant_partition(tenant: UserId) -> String {
    format!("TENANT#{tenant}")
}

pub(super) fn property_leases_partition(property: PropertyId) -> String {
    format!("PROPERTYLEASES#{property}")
}

pub(super) fn lease_not_found() -> ApiError {
    ApiError::no_such("lease")
}

impl crate::http::PathId for LeaseId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        lease_not_found()
    }
}

/// A calendar date `YYYY-MM-DD` (years 1900–2999), as given; compared as text (the format
/// orders like the calendar).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(String);

impl Date {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestValue for Date {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        date(&raw).map(Self).map_err(Invalid)
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
            .pattern(Some("^(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$"))
            .description(Some("A calendar date, years 1900–2999."))
            .examples(["2027-01-01"])
            .into()
    }
}

/// A rent's amount in minor units (cents): 1 to 10^12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RentAmount(u64);

pub const MAX_RENT_MINOR: u64 = 1_000_000_000_000;

impl RentAmount {
    /// The amount in minor units.
    pub fn minor(self) -> u64 {
        self.0
    }
}

impl RequestValue for RentAmount {
    type Raw = u64;
    fn from_raw(raw: u64) -> Result<Self, Invalid> {
        if (1..=MAX_RENT_MINOR).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(Invalid("must be from 1 to 10^12"))
        }
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_RENT_MINOR))
            .examples([125_000])
            .into()
    }
}

/// An ISO 4217 currency code, upper-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// The code, upper-case.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl RequestValue for Currency {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(Invalid("must be an ISO 4217 code such as EUR"))
        }
    }
    fn schema() -> Schema {
        text_schema(3, 3, "ISO 4217, three letters (any case).")
            .pattern(Some("^[A-Za-z]{3}$"))
            .examples(["EUR"])
            .into()
    }
}

request_value!(Date, RentAmount, Currency);

/// A rent as a request gives it.
#[derive(Debug, Clone, PartialEq, Eq, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRent {
    pub amount_minor: RentAmount,
    pub currency: Currency,
}

impl From<NewRent> for Rent {
    fn from(rent: NewRent) -> Self {
        Self {
            amount_minor: rent.amount_minor.0,
            currency: rent.currency.0,
        }
    }
}

fn date(raw: &str) -> Result<String, &'static str> {
    let bad = "must be a date such as 2027-01-31";
    let parts: Vec<&str> = raw.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad);
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad);
    }
    let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return Err(bad);
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad),
    };
    if !(1900..=2999).contains(&y) || d == 0 || d > days {
        return Err(bad);
    }
    Ok(raw.to_owned())
}

/// What `POST /leases` carries, each field checked as it was read.
#[derive(Debug, Clone)]
pub struct NewLease {
    pub unit_id: UnitId,
    pub tenant_id: UserId,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub rent: NewRent,
}

impl NewLease {
    /// What the fields must be together: a lease ends after it starts.
    fn checked(&self) -> Result<&Self, ApiError> {
        if self
            .end_date
            .as_ref()
            .is_some_and(|end| *end <= self.start_date)
        {
            return Err(Invalid("must be after startDate").at("endDate"));
        }
        Ok(self)
    }
}

fn lease_event(kind: &str, me: &Principal, lease: &LeaseView, now: String) -> Event {
    Event::new(kind, me.actor(), "lease", &lease.id.to_string(), now)
        .change("propertyId", (), lease.property_id)
        .change("unitId", (), lease.unit_id)
}

impl LeaseNotice {
    /// The notice of a new lease.
    fn of(lease: &LeaseView) -> Self {
        Self {
            lease_id: lease.id,
            property_id: lease.property_id,
            unit_id: lease.unit_id,
            start_date: lease.start_date.clone(),
            end_date: lease.end_date.clone(),
            rent_minor: lease.rent.amount_minor,
            currency: lease.rent.currency.clone(),
        }
    }
}

/// `POST /leases` (the property's owner or an admin): leases a vacant unit to an active user.
/// 409 `UNIT_NOT_VACANT` when the unit is leased (however many ask at once) or unavailable;
/// 422 when the tenant is not an active account. Calls: GetItem (the unit's property), GetItem
/// (the property), TransactWriteItems.
pub async fn create_lease(
    state: &State,
    me: &Principal,
    input: &NewLease,
) -> Result<LeaseView, ApiError> {
    let store = &state.store;
    let input = input.checked()?;
    let lookup: UnitLookup = store
        .get(&unit_lookup_key(input.unit_id))
        .await?
        .ok_or_else(unit_not_found)?;
    let property = load(store, lookup.property_id)
        .await
        .map_err(|error| match error {
            // A lookup left by a deleted property: no such unit.
            ApiError::NotFound { .. } => unit_not_found(),
            other => other,
        })?;
    require_manager(me, &property)?;
    let (key, unit) = find(&property, input.unit_id)?;
    let not_vacant = || ApiError::Conflict {
        code: "UNIT_NOT_VACANT",
        detail: "The unit is leased or unavailable.".into(),
    };
    if unit.status != UnitStatus::Vacant {
        return Err(not_vacant());
    }
    let now = state.clock.timestamp();
    let lease = LeaseView {
        id: LeaseId::generate(),
        unit_id: unit.id,
        property_id: property.id,
        tenant_id: input.tenant_id,
        start_date: input.start_date.0.clone(),
        end_date: input.end_date.clone().map(|d| d.0),
        rent: input.rent.clone().into(),
        status: LeaseStatus::Active,
        balance_minor: 0,
        rent_changes: Vec::new(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let key_of = lease_key(lease.id);
    let notice = Notice::LeaseCreated(LeaseNotice::of(&lease));
    let event = lease_event("lease.created", me, &lease, now.clone())
        .change("tenantId", (), lease.tenant_id)
        .change("startDate", (), &lease.start_date)
        .change("rent", (), &lease.rent)
        .notify(lease.tenant_id, notice.clone())
        .notify(property.owner_id, notice);
    let writes = vec![
        Update::new(property_key(property.id))
            .set_entry_field(
                PropertyItem::UNITS,
                &key,
                UnitView::STATUS,
                &UnitStatus::Leased,
            )
            .add(PropertyItem::ACTIVE_LEASES, 1)
            .set(PropertyItem::UPDATED_AT, &now)
            .next_version()
            .if_entry_field_equals(PropertyItem::UNITS, &key, UnitView::ID, &unit.id)
            .if_entry_field_equals(
                PropertyItem::UNITS,
                &key,
                UnitView::STATUS,
                &UnitStatus::Vacant,
            )
            .into_transact(store)?,
        counts::change(lease.tenant_id, AccountCount::ActiveLeases, 1).into_transact(store)?,
        store.put_new_op(&LeaseItem {
            pk: key_of.pk,
            sk: key_of.sk,
            gsi1pk: tenant_partition(lease.tenant_id),
            gsi1sk: lease.id.to_string(),
            gsi2pk: property_leases_partition(lease.property_id),
            gsi2sk: lease.id.to_string(),
            lease: lease.clone(),
        })?,
        outbox_put(store, event)?,
        store.put_new_op(&super::calendar::due_marker(
            lease.id,
            &lease.start_date,
            lease.end_date.as_deref(),
        )?)?,
    ];
    let mut writes = writes;
    if let Some(end) = &lease.end_date {
        writes.push(store.put_op(&super::calendar::end_marker(lease.id, end)?)?);
    }
    store
        .transact(writes)
        .await
        .on_condition(|index| match index {
            Some(1) => Invalid("is not an active account").at("tenantId"),
            Some(0) => not_vacant(),
            _ => ApiError::internal("a new lease's id was taken"),
        })?;
    Ok(lease)
}

/// Reads a lease for `me`: its tenant, the property's owner or an admin — 404 for anyone else.
pub(super) async fn visible_lease(
    state: &State,
    me: &Principal,
    id: LeaseId,
) -> Result<LeaseView, ApiError> {
    let item: LeaseItem = state
        .store
        .get(&lease_key(id))
        .await?
        .ok_or_else(lease_not_found)?;
    let lease = item.lease;
    if lease.tenant_id == me.id() || me.has_role(Role::Admin) {
        return Ok(lease);
    }
    match load(&state.store, lease.property_id).await {
        Ok(property) if property.owner_id == me.id() => Ok(lease),
        _ => Err(lease_not_found()),
    }
}

/// `GET /leases/{id}` (its tenant, the property's owner, admins). Calls: GetItem, and GetItem
/// (the property) when the caller is neither the tenant nor an admin.
pub async fn get_lease(state: &State, me: &Principal, id: LeaseId) -> Result<LeaseView, ApiError> {
    visible_lease(state, me, id).await
}

/// A lease `me` manages (the property's owner, an admin) and its property. The tenant sees
/// the lease but does not manage it (403); for anyone else it does not exist (404). Calls:
/// GetItem (lease), GetItem (property).
pub(super) async fn managed_lease(
    state: &State,
    me: &Principal,
    id: LeaseId,
) -> Result<(LeaseView, PropertyItem), ApiError> {
    let store = &state.store;
    let item: LeaseItem = store
        .get(&lease_key(id))
        .await?
        .ok_or_else(lease_not_found)?;
    let lease = item.lease;
    let property = load(store, lease.property_id).await?;
    if require_manager(me, &property).is_err() {
        return Err(if lease.tenant_id == me.id() {
            ApiError::Forbidden {
                detail: "Only the property's owner or an admin may do this to a lease.".into(),
            }
        } else {
            lease_not_found()
        });
    }
    Ok((lease, property))
}

/// `POST /leases/{id}/end` `{endDate}` (the property's owner or an admin): the lease ends on
/// `end_date` (not before its start), its unit is vacant again. 409 `LEASE_ENDED` when it has
/// ended already. Calls: GetItem (lease), GetItem (property), TransactWriteItems.
pub async fn end_lease(
    state: &State,
    me: &Principal,
    id: LeaseId,
    end_date: &Date,
) -> Result<LeaseView, ApiError> {
    let store = &state.store;
    let end_date = end_date.0.clone();
    let (lease, property) = managed_lease(state, me, id).await?;
    let ended = || ApiError::Conflict {
        code: "LEASE_ENDED",
        detail: "The lease has ended already.".into(),
    };
    if lease.status == LeaseStatus::Ended {
        return Err(ended());
    }
    if end_date < lease.start_date {
        return Err(Invalid("must not be before startDate").at("endDate"));
    }
    let (key, _) = find(&property, lease.unit_id)?;
    let now = state.clock.timestamp();
    let notice = Notice::LeaseEnded(LeaseDateNotice {
        lease_id: id,
        date: end_date.clone(),
    });
    let after = LeaseView {
        end_date: Some(end_date),
        status: LeaseStatus::Ended,
        updated_at: now.clone(),
        ..lease.clone()
    };
    let event = lease_event("lease.ended", me, &after, now.clone())
        .change("status", lease.status, after.status)
        .change("endDate", &lease.end_date, &after.end_date)
        .notify(lease.tenant_id, notice.clone())
        .notify(property.owner_id, notice);
    let writes = vec![
        Update::new(lease_key(id))
            .set(LeaseView::STATUS, &LeaseStatus::Ended)
            .set_or_remove(LeaseView::END_DATE, after.end_date.as_ref())
            .set(LeaseView::UPDATED_AT, &now)
            .if_equals(LeaseView::STATUS, &LeaseStatus::Active)
            .into_transact(store)?,
        Update::new(property_key(property.id))
            .set_entry_field(
                PropertyItem::UNITS,
                &key,
                UnitView::STATUS,
                &UnitStatus::Vacant,
            )
            .add(PropertyItem::ACTIVE_LEASES, -1)
            .set(PropertyItem::UPDATED_AT, &now)
            .next_version()
            .if_entry_field_equals(PropertyItem::UNITS, &key, UnitView::ID, &lease.unit_id)
            .into_transact(store)?,
        counts::change(lease.tenant_id, AccountCount::ActiveLeases, -1).into_transact(store)?,
        outbox_put(store, event)?,
        // Its rent stops at the end date; the marker stays long enough for a catching-up run.
        store.put_op(&super::calendar::due_marker(
            after.id,
            &after.start_date,
            after.end_date.as_deref(),
        )?)?,
    ];
    store
        .transact(writes)
        .await
        .on_condition(|index| match index {
            Some(0) => ended(),
            _ => ApiError::changed_meanwhile(),
        })?;
    Ok(after)
}

/// A rent change as `PATCH /leases/{id}` gives it, each field checked as it was read.
#[derive(Debug, Clone)]
pub struct NewRentChange {
    pub amount_minor: RentAmount,
    pub currency: Currency,
    pub from: Date,
}

/// `PATCH /leases/{id}` `{endDate?, rentChange?}` (the property's owner or an admin): a renewal —
/// the end date moved (later or earlier, not into the past), a rent agreed from a future date
/// (the schedule charges it from then; a change of the same date replaces it). Only an active
/// lease (409 `LEASE_ENDED`). Every problem is reported at once (422). History: a
/// `lease.renewed` event (its audit entry). Conditional on the end date and the rent changes
/// read, so two renewals at once never lose one (the second: 412). Calls: GetItem (lease),
/// GetItem (property), TransactWriteItems (lease, due marker, event).
pub async fn renew(
    state: &State,
    me: &Principal,
    id: LeaseId,
    end_date: Option<Date>,
    rent_change: Option<NewRentChange>,
) -> Result<LeaseView, ApiError> {
    let store = &state.store;
    let (lease, _) = managed_lease(state, me, id).await?;
    if lease.status == LeaseStatus::Ended {
        return Err(ApiError::Conflict {
            code: "LEASE_ENDED",
            detail: "The lease has ended; make a new one.".into(),
        });
    }
    if end_date.is_none() && rent_change.is_none() {
        return Ok(lease);
    }
    let now = state.clock.timestamp();
    let today = now.get(..10).unwrap_or_default();
    let (end, changes) = renewed(&lease, today, end_date, rent_change.as_ref())?;
    let after = LeaseView {
        end_date: end,
        rent_changes: changes,
        updated_at: now.clone(),
        ..lease.clone()
    };
    if after.end_date == lease.end_date && after.rent_changes == lease.rent_changes {
        // Nothing changes (the same end date, the same change again): nothing to record.
        return Ok(lease);
    }
    let mut event = lease_event("lease.renewed", me, &after, now.clone());
    if after.end_date != lease.end_date {
        event = event.change("endDate", &lease.end_date, &after.end_date);
    }
    if after.rent_changes != lease.rent_changes {
        event = event.change("rentChanges", &lease.rent_changes, &after.rent_changes);
    }
    let mut update = Update::new(lease_key(id))
        .set_or_remove(LeaseView::END_DATE, after.end_date.as_ref())
        .set_or_remove(
            LeaseView::RENT_CHANGES,
            Some(&after.rent_changes).filter(|changes| !changes.is_empty()),
        )
        .set(LeaseView::UPDATED_AT, &now)
        .if_equals(LeaseView::STATUS, &LeaseStatus::Active);
    update = match &lease.end_date {
        Some(end) => update.if_equals(LeaseView::END_DATE, end),
        None => update.if_absent(LeaseView::END_DATE),
    };
    update = if lease.rent_changes.is_empty() {
        update.if_absent(LeaseView::RENT_CHANGES)
    } else {
        update.if_equals(LeaseView::RENT_CHANGES, &lease.rent_changes)
    };
    let writes = vec![
        update.into_transact(store)?,
        // The marker's expiry follows the end date.
        store.put_op(&super::calendar::due_marker(
            after.id,
            &after.start_date,
            after.end_date.as_deref(),
        )?)?,
        outbox_put(store, event)?,
    ];
    let mut writes = writes;
    if let Some(end) = after
        .end_date
        .as_ref()
        .filter(|_| after.end_date != lease.end_date)
    {
        // The rent run tells the tenant 30 days before (the old marker is read and ignored).
        writes.push(store.put_op(&super::calendar::end_marker(id, end)?)?);
    }
    store
        .transact(writes)
        .await
        .on_condition(|_| ApiError::changed_meanwhile())?;
    Ok(after)
}

/// The end date and rent changes a renewal of `lease` on `today` gives, or every problem of it
/// at once (422).
fn renewed(
    lease: &LeaseView,
    today: &str,
    end_date: Option<Date>,
    rent_change: Option<&NewRentChange>,
) -> Result<(Option<String>, Vec<RentChange>), ApiError> {
    let mut errors = Vec::new();
    let new_end = end_date.map(|d| d.0);
    if let Some(end) = &new_end {
        if *end < lease.start_date {
            errors.push(FieldError::new("endDate", "must not be before startDate"));
        } else if end.as_str() < today {
            errors.push(FieldError::new(
                "endDate",
                "must not be in the past (end the lease with POST /leases/{id}/end)",
            ));
        }
    }
    let end = new_end.or_else(|| lease.end_date.clone());
    let mut changes = lease.rent_changes.clone();
    if let Some(change) = rent_change {
        let from = change.from.0.as_str();
        if change.currency.code() != lease.rent.currency {
            errors.push(FieldError::new(
                "rentChange.currency",
                "must be the lease's currency",
            ));
        }
        if from <= today || from < lease.start_date.as_str() {
            errors.push(FieldError::new(
                "rentChange.from",
                "must be a future date within the lease",
            ));
        } else if end.as_deref().is_some_and(|end| from > end) {
            errors.push(FieldError::new(
                "rentChange.from",
                "must not be after the lease's endDate",
            ));
        }
        changes.retain(|c| c.from != from);
        changes.push(RentChange {
            from: from.to_owned(),
            amount_minor: change.amount_minor.minor(),
        });
        changes.sort_by(|a, b| a.from.cmp(&b.from));
    }
    if errors.is_empty() {
        Ok((end, changes))
    } else {
        Err(ApiError::Validation { errors })
    }
}

async fn lease_page(
    state: &State,
    query: &KeyQuery,
    page: &PageRequest,
) -> Result<Page<LeaseView>, ApiError> {
    let found: Page<LeaseItem> = state.store.query_page(query, page).await?;
    Ok(Page {
        items: found.items.into_iter().map(|i| i.lease).collect(),
        next_cursor: found.next_cursor,
    })
}

/// `GET /users/me/leases`: my leases as a tenant, newest first. Calls: Query.
pub async fn my_leases(
    state: &State,
    me: &Principal,
    page: &PageRequest,
) -> Result<Page<LeaseView>, ApiError> {
    let query = KeyQuery::index(Index::Gsi1, tenant_partition(me.id())).newest_first();
    lease_page(state, &query, page).await
}

/// `GET /properties/{id}/leases` (the owner, admins): the property's leases, newest first.
/// Calls: GetItem, Query.
pub async fn property_leases(
    state: &State,
    me: &Principal,
    id: PropertyId,
    page: &PageRequest,
) -> Result<Page<LeaseView>, ApiError> {
    let property = load(&state.store, id).await?;
    require_manager(me, &property)?;
    let query = KeyQuery::index(Index::Gsi2, property_leases_partition(id)).newest_first();
    lease_page(state, &query, page).await
}
