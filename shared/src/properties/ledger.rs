//! A lease's ledger: what was charged, what was paid, what is owed.
//!
//! Entries are immutable — a `charge` (rent, fee, deposit) adds to what the tenant owes, a
//! `payment` subtracts, a `credit` (a concession) subtracts without being a payment, a
//! `reversal` undoes one earlier entry (a correction is a reversal and a new entry, never an
//! edit). Amounts are in the lease's currency's minor units
//! (another currency is a 422). Each entry and the lease's `balanceMinor` move in **one
//! transaction** (`ADD`) and its month's totals, so concurrent postings never lose one and the balance is
//! always the sum of the entries.
//!
//! | item | `pk` | `sk` | serves |
//! | --- | --- | --- | --- |
//! | ledger entry | `LEASE#<leaseId>` (beside the lease) | `ENTRY#<entryId>` | the ledger, newest first: Query (`begins_with`) |
//! | month totals | `LEASE#<leaseId>` (beside the lease) | `MONTH#<yyyy-mm>` | the rent roll: BatchGetItem ([`MonthTotals`]) |
//! | payment idempotency record | `IDEMPOTENCY#<userId>#<key>` | `PAYMENT` | a retried payment: GetItem (24 h TTL) |
//!
//! **Payments need an `Idempotency-Key`** (as `POST /posts` takes one): scoped to the caller,
//! kept 24 hours; a retry with the same key and the same request (lease and body) answers the
//! payment recorded the first time and records nothing; the same key with another request is a
//! 422. The record is written in the payment's transaction, so two retries at once record one
//! payment. Who: the property's owner and admins post; the tenant reads (403 on a write); anyone
//! else finds no lease (404). Entries may be posted after the lease ended (final charges, the
//! deposit's return).

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;

use crate::accounts::Principal;
use crate::error::ApiError;
use crate::events::{Actor, Event, outbox_put};
use crate::ids::{EntryId, LeaseId, UserId};
use crate::notices::{ChargeNotice, Notice};
use crate::state::State;
use crate::store::{Key, KeyQuery, Page, PageRequest, SortKey, StoreError, Update};
use crate::validate::{Invalid, RequestValue, lines_schema, request_value, visible_text};

use super::leases::{LeaseView, lease_key, managed_lease, visible_lease};
use super::{Currency, Date, RentAmount};

/// How long a payment's `Idempotency-Key` is remembered (as the posts').
pub const PAYMENT_IDEMPOTENCY_TTL_SECS: i64 = crate::http::IDEMPOTENCY_TTL_SECS;
const NOTE_MAX_CHARS: usize = 500;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Charge,
    Payment,
    /// Money the tenant no longer owes without having paid it (a concession, a goodwill
    /// discount): lowers the balance like a payment, but is not one.
    Credit,
    Reversal,
}

/// What a charge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChargeCategory {
    Rent,
    Fee,
    Deposit,
}

/// One entry of a ledger, as stored and as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub id: EntryId,
    pub lease_id: LeaseId,
    pub kind: EntryKind,
    /// A charge's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<ChargeCategory>,
    /// Positive, in the currency's minor units; `effectMinor` says which way it moves the balance.
    pub amount_minor: u64,
    pub currency: String,
    /// What it does to the balance: + a charge, − a payment, the opposite of its entry for a
    /// reversal.
    pub effect_minor: i64,
    /// `YYYY-MM-DD`: the day it counts for (a payment's day of receipt, a charge's due day).
    #[schema(example = "2027-01-01")]
    pub effective_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A reversal's entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverses: Option<EntryId>,
    /// The reversal that undid this entry, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed_by: Option<EntryId>,
    /// Who posted it; absent for a rent charge the schedule posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<UserId>,
    pub created_at: String,
}

crate::store::attributes! { LedgerEntry in entry_attributes {
    REVERSED_BY: EntryId = reversed_by,
} }

#[derive(Debug, Serialize, Deserialize)]
struct EntryItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    entry: LedgerEntry,
}

const ENTRY_PREFIX: &str = "ENTRY#";
const MONTH_PREFIX: &str = "MONTH#";

/// What a lease's entries of one month (`YYYY-MM` of their effective date) add up to, beside
/// the entries and kept in each posting's transaction (`ADD`: the first posting of a month
/// makes the item). A reversal counts against the month and column of the entry it undoes, so
/// a month's totals are always what its entries net to. The rent roll reads one of these per
/// lease by key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthTotals {
    /// Charges (rent, fees, deposits) effective in the month, net of reversals.
    #[serde(default)]
    pub charged_minor: i64,
    /// Payments effective in the month, net of reversals.
    #[serde(default)]
    pub paid_minor: i64,
    /// Credits effective in the month, net of reversals.
    #[serde(default)]
    pub credited_minor: i64,
}

crate::store::attributes! { MonthTotals in month_attributes {
    CHARGED_MINOR: i64 = charged_minor,
    PAID_MINOR: i64 = paid_minor,
    CREDITED_MINOR: i64 = credited_minor,
} }

/// `YYYY-MM` of a lease's month totals.
pub(super) fn month_key(lease: LeaseId, month: &str) -> Key {
    Key::new(format!("LEASE#{lease}"), format!("{MONTH_PREFIX}{month}"))
}

/// The change `counted` makes to its month's totals, `sign` times its amount (−1: it is being
/// reversed).
fn month_update(counted: &LedgerEntry, sign: i64) -> Result<Update, ApiError> {
    let month = counted
        .effective_date
        .get(..7)
        .ok_or_else(|| ApiError::internal("an entry without its effective month"))?;
    let amount = i64::try_from(counted.amount_minor)
        .map_err(|_| ApiError::internal("an amount over i64"))?
        * sign;
    let update = Update::new(month_key(counted.lease_id, month));
    Ok(match counted.kind {
        EntryKind::Charge => update.add(MonthTotals::CHARGED_MINOR, amount),
        EntryKind::Payment => update.add(MonthTotals::PAID_MINOR, amount),
        EntryKind::Credit => update.add(MonthTotals::CREDITED_MINOR, amount),
        EntryKind::Reversal => return Err(ApiError::internal("a reversal counted in a month")),
    })
}

fn entry_key(lease: LeaseId, entry: EntryId) -> Key {
    Key::new(format!("LEASE#{lease}"), format!("{ENTRY_PREFIX}{entry}"))
}

fn entry_not_found() -> ApiError {
    ApiError::no_such("entry")
}

impl crate::http::PathId for EntryId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        entry_not_found()
    }
}

/// An entry's note: up to 500 characters of visible text, on many lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryNote(String);

impl RequestValue for EntryNote {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_text(&raw, NOTE_MAX_CHARS).map(|n| Self(n.to_owned()))
    }
    fn schema() -> Schema {
        lines_schema(
            NOTE_MAX_CHARS,
            "What the entry is for, for the people who read the ledger.",
        )
        .into()
    }
}

request_value!(EntryNote);

/// A charge or a payment, as a request gives it (each field checked as it was read).
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// A charge's category; `None` for a payment.
    pub category: Option<ChargeCategory>,
    pub amount_minor: RentAmount,
    pub currency: Currency,
    pub effective_date: Date,
    pub note: Option<EntryNote>,
}

/// The stored answer of a payment made with an `Idempotency-Key`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentRecord {
    pk: String,
    sk: String,
    request_hash: String,
    lease_id: LeaseId,
    entry_id: EntryId,
    expires_at: i64,
}

fn payment_record_key(me: UserId, key: &str) -> Key {
    Key::new(format!("IDEMPOTENCY#{me}#{key}"), "PAYMENT")
}

/// What makes two payment requests the same: the lease and every field of the body.
fn request_hash(lease: LeaseId, input: &NewEntry) -> String {
    crate::http::request_fingerprint(&serde_json::json!([
        lease,
        input.category,
        input.amount_minor.minor(),
        input.currency.code(),
        input.effective_date.as_str(),
        input.note.as_ref().map(|n| n.0.as_str()),
    ]))
}

/// `GET /leases/{id}/ledger` (its tenant, the property's owner, admins): a page of entries,
/// newest first. Calls: GetItem (lease; and the property for an owner), Query.
pub async fn ledger(
    state: &State,
    me: &Principal,
    id: LeaseId,
    page: &PageRequest,
) -> Result<Page<LedgerEntry>, ApiError> {
    visible_lease(state, me, id).await?;
    let query = KeyQuery::table(lease_key(id).pk)
        .sort(SortKey::BeginsWith(ENTRY_PREFIX.to_owned()))
        .newest_first();
    let found: Page<EntryItem> = state.store.query_page(&query, page).await?;
    Ok(Page {
        items: found.items.into_iter().map(|i| i.entry).collect(),
        next_cursor: found.next_cursor,
    })
}

/// `POST /leases/{id}/charges` (the property's owner, admins): a charge (`input.category` set). Calls: GetItem (lease),
/// GetItem (property), TransactWriteItems (entry, balance, month, event).
pub async fn charge(
    state: &State,
    me: &Principal,
    id: LeaseId,
    input: NewEntry,
) -> Result<LedgerEntry, ApiError> {
    if input.category.is_none() {
        return Err(ApiError::internal("a charge without its category"));
    }
    post_entry(state, me, id, EntryKind::Charge, input).await
}

/// `POST /leases/{id}/credits` (the property's owner, admins): a credit — money the tenant no
/// longer owes without paying it (a concession, a discount). Calls: GetItem (lease), GetItem
/// (property), TransactWriteItems (entry, balance, month, event).
pub async fn credit(
    state: &State,
    me: &Principal,
    id: LeaseId,
    input: NewEntry,
) -> Result<LedgerEntry, ApiError> {
    let input = NewEntry {
        category: None,
        ..input
    };
    post_entry(state, me, id, EntryKind::Credit, input).await
}

/// A charge or a credit: an entry that no other request's write can race (no key, no mark).
async fn post_entry(
    state: &State,
    me: &Principal,
    id: LeaseId,
    kind: EntryKind,
    input: NewEntry,
) -> Result<LedgerEntry, ApiError> {
    let (lease, _) = managed_lease(state, me, id).await?;
    let entry = new_entry(state, me, &lease, kind, &input)?;
    let counted = month_update(&entry, 1)?;
    post(state, me.actor(), &lease, entry, counted, None)
        .await?
        .map_err(|Raced| ApiError::internal("an entry conditioned on nothing raced"))
}

/// `POST /leases/{id}/payments` (the property's owner records a payment received; admins):
/// idempotent by `Idempotency-Key` (see the module). Calls: GetItem (the key's record), GetItem
/// (lease), GetItem (property), TransactWriteItems (entry, record, balance, month, event); a replay:
/// GetItem, then GetItem (the entry).
pub async fn record_payment(
    state: &State,
    me: &Principal,
    id: LeaseId,
    input: NewEntry,
    idempotency_key: &str,
) -> Result<Recorded, ApiError> {
    let store = &state.store;
    let record_key = payment_record_key(me.id(), idempotency_key);
    let input = NewEntry {
        category: None,
        ..input
    };
    let hash = request_hash(id, &input);
    if let Some(entry) = replay(state, &record_key, &hash).await? {
        return Ok(Recorded {
            entry,
            replayed: true,
        });
    }
    let (lease, _) = managed_lease(state, me, id).await?;
    let entry = new_entry(state, me, &lease, EntryKind::Payment, &input)?;
    let record = store.put_new_op(&PaymentRecord {
        pk: record_key.pk.clone(),
        sk: record_key.sk.clone(),
        request_hash: hash.clone(),
        lease_id: id,
        entry_id: entry.id,
        expires_at: store.expires_in(PAYMENT_IDEMPOTENCY_TTL_SECS),
    })?;
    let counted = month_update(&entry, 1)?;
    if let Ok(entry) = post(state, me.actor(), &lease, entry, counted, Some(record)).await? {
        return Ok(Recorded {
            entry,
            replayed: false,
        });
    }
    // The same key raced this request: answer what the winner recorded.
    let entry = replay(state, &record_key, &hash)
        .await?
        .ok_or_else(|| ApiError::internal("a payment record vanished after a conflict"))?;
    Ok(Recorded {
        entry,
        replayed: true,
    })
}

/// A payment recorded now, or the one an earlier request with the same key recorded.
#[derive(Debug)]
pub struct Recorded {
    pub entry: LedgerEntry,
    pub replayed: bool,
}

/// The entry an earlier request with this key recorded; 422 when the key was used for another
/// request.
async fn replay(state: &State, key: &Key, hash: &str) -> Result<Option<LedgerEntry>, ApiError> {
    let Some(record) = state.store.get::<PaymentRecord>(key).await? else {
        return Ok(None);
    };
    crate::http::same_request(&record.request_hash, hash)?;
    let item: EntryItem = state
        .store
        .get(&entry_key(record.lease_id, record.entry_id))
        .await?
        .ok_or_else(|| ApiError::internal("a payment record names no entry"))?;
    Ok(Some(item.entry))
}

/// `POST /leases/{id}/entries/{entryId}/reverse` `{note?}` (the property's owner, admins): a
/// reversal of a charge or a payment, which undoes its effect on the balance. 409
/// `ENTRY_REVERSED` when it was reversed already (however many ask at once), `NOT_REVERSIBLE`
/// for a reversal. Calls: GetItem (lease), GetItem (property), GetItem (entry),
/// TransactWriteItems (the reversal, the entry marked, balance, its entry's month, event).
pub async fn reverse(
    state: &State,
    me: &Principal,
    id: LeaseId,
    entry_id: EntryId,
    note: Option<EntryNote>,
) -> Result<LedgerEntry, ApiError> {
    let store = &state.store;
    let (lease, _) = managed_lease(state, me, id).await?;
    let original: EntryItem = store
        .get(&entry_key(id, entry_id))
        .await?
        .ok_or_else(entry_not_found)?;
    let original = original.entry;
    let reversed = || ApiError::Conflict {
        code: "ENTRY_REVERSED",
        detail: "This entry was reversed already.".into(),
    };
    if original.kind == EntryKind::Reversal {
        return Err(ApiError::Conflict {
            code: "NOT_REVERSIBLE",
            detail: "A reversal cannot be reversed: post the entry again instead.".into(),
        });
    }
    if original.reversed_by.is_some() {
        return Err(reversed());
    }
    let now = state.clock.timestamp();
    let entry = LedgerEntry {
        id: EntryId::generate(),
        lease_id: id,
        kind: EntryKind::Reversal,
        category: None,
        amount_minor: original.amount_minor,
        currency: original.currency.clone(),
        effect_minor: -original.effect_minor,
        effective_date: now.get(..10).unwrap_or_default().to_owned(),
        note: note.map(|n| n.0),
        reverses: Some(original.id),
        reversed_by: None,
        created_by: Some(me.id()),
        created_at: now,
    };
    let mark = Update::new(entry_key(id, original.id))
        .set(LedgerEntry::REVERSED_BY, &entry.id)
        .if_exists()
        .if_absent(LedgerEntry::REVERSED_BY)
        .into_transact(store)?;
    let counted = month_update(&original, -1)?;
    post(state, me.actor(), &lease, entry, counted, Some(mark))
        .await?
        .map_err(|Raced| reversed())
}

/// The record that a lease's rent for a period was charged: written under
/// `attribute_not_exists` in the charge's transaction, so a period is charged once however many
/// runs reach it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RentClaim {
    pk: String,
    sk: String,
    entry_id: EntryId,
}

fn rent_claim_key(lease: LeaseId, period: &str) -> Key {
    Key::new(format!("LEASE#{lease}"), format!("RENT#{period}"))
}

/// Posts `lease`'s rent of `period` (`YYYY-MM`), due on `due` (`YYYY-MM-DD`), as the rent
/// schedule (see [`super::rent`]): `true` when this call charged it, `false` when the period was
/// charged already. Calls: TransactWriteItems (entry, claim, balance, month, event).
pub(super) async fn post_scheduled_rent(
    state: &State,
    lease: &LeaseView,
    period: &str,
    due: &str,
    amount_minor: u64,
) -> Result<bool, ApiError> {
    let store = &state.store;
    let magnitude =
        i64::try_from(amount_minor).map_err(|_| ApiError::internal("a rent over i64"))?;
    let entry = LedgerEntry {
        id: EntryId::generate(),
        lease_id: lease.id,
        kind: EntryKind::Charge,
        category: Some(ChargeCategory::Rent),
        amount_minor,
        currency: lease.rent.currency.clone(),
        effect_minor: magnitude,
        effective_date: due.to_owned(),
        note: Some(format!("Rent for {period}")),
        reverses: None,
        reversed_by: None,
        created_by: None,
        created_at: state.clock.timestamp(),
    };
    let claim = rent_claim_key(lease.id, period);
    let claim = store.put_new_op(&RentClaim {
        pk: claim.pk,
        sk: claim.sk,
        entry_id: entry.id,
    })?;
    let counted = month_update(&entry, 1)?;
    let posted = post(
        state,
        Actor::system(RENT_SCHEDULE_ACTOR),
        lease,
        entry,
        counted,
        Some(claim),
    )
    .await?;
    Ok(posted.is_ok())
}

/// The actor of the charges the rent schedule posts (events, audit entries).
pub const RENT_SCHEDULE_ACTOR: &str = "rent-schedule";

fn new_entry(
    state: &State,
    me: &Principal,
    lease: &LeaseView,
    kind: EntryKind,
    input: &NewEntry,
) -> Result<LedgerEntry, ApiError> {
    if input.currency.code() != lease.rent.currency {
        return Err(Invalid("must be the lease's currency").at("currency"));
    }
    let amount = input.amount_minor.minor();
    let magnitude = i64::try_from(amount).map_err(|_| ApiError::internal("an amount over i64"))?;
    Ok(LedgerEntry {
        id: EntryId::generate(),
        lease_id: lease.id,
        kind,
        category: input.category,
        amount_minor: amount,
        currency: lease.rent.currency.clone(),
        effect_minor: if kind == EntryKind::Charge {
            magnitude
        } else {
            -magnitude
        },
        effective_date: input.effective_date.as_str().to_owned(),
        note: input.note.as_ref().map(|n| n.0.clone()),
        reverses: None,
        reversed_by: None,
        created_by: Some(me.id()),
        created_at: state.clock.timestamp(),
    })
}

/// Another request wrote what `also` conditions on at the same moment (the same payment key, a
/// reversal of the same entry).
struct Raced;

/// `entry`, the lease's balance and the month it counts in (`counted`) in one transaction with
/// `also` (a write conditioned on nobody having done the same: [`Raced`] when it fails) and the
/// event.
async fn post(
    state: &State,
    actor: Actor,
    lease: &LeaseView,
    entry: LedgerEntry,
    counted: Update,
    also: Option<aws_sdk_dynamodb::types::TransactWriteItem>,
) -> Result<Result<LedgerEntry, Raced>, ApiError> {
    let store = &state.store;
    let key = entry_key(lease.id, entry.id);
    let kind = match entry.kind {
        EntryKind::Charge => "lease.charge_posted",
        EntryKind::Payment => "lease.payment_recorded",
        EntryKind::Credit => "lease.credit_posted",
        EntryKind::Reversal => "lease.entry_reversed",
    };
    let event = Event::new(
        kind,
        actor,
        "lease",
        &lease.id.to_string(),
        entry.created_at.clone(),
    )
    .change("entryId", (), entry.id)
    .change("amountMinor", (), entry.amount_minor)
    .change("effectMinor", (), entry.effect_minor);
    let event = match entry.reverses {
        Some(reversed) => event.change("reverses", (), reversed),
        None => event,
    };
    let event = if entry.kind == EntryKind::Charge {
        event.notify(
            lease.tenant_id,
            Notice::ChargePosted(ChargeNotice {
                lease_id: lease.id,
                entry_id: entry.id,
                amount_minor: entry.amount_minor,
                currency: entry.currency.clone(),
                effective_date: entry.effective_date.clone(),
            }),
        )
    } else {
        event
    };
    let mut writes = vec![store.put_new_op(&EntryItem {
        pk: key.pk,
        sk: key.sk,
        entry: entry.clone(),
    })?];
    let also_at = also.as_ref().map(|_| writes.len());
    writes.extend(also);
    writes.push(
        Update::new(lease_key(lease.id))
            .add(LeaseView::BALANCE_MINOR, entry.effect_minor)
            .set(LeaseView::UPDATED_AT, &entry.created_at)
            .if_exists()
            .into_transact(store)?,
    );
    writes.push(counted.into_transact(store)?);
    writes.push(outbox_put(store, event)?);
    match store.transact(writes).await {
        Ok(()) => Ok(Ok(entry)),
        Err(StoreError::ConditionFailed { index }) if index.is_some() && index == also_at => {
            Ok(Err(Raced))
        }
        Err(StoreError::ConditionFailed { .. }) => Err(ApiError::changed_meanwhile()),
        Err(other) => Err(other.into()),
    }
}
