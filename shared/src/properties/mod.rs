//! The property registry: properties with a unique file number, a structured address and an
//! owner, and ownership transfers with their history. Every change is one transaction with
//! its outbox event.
//!
//! | item | `pk` | `sk` | index keys | serves |
//! | --- | --- | --- | --- | --- |
//! | property | `PROPERTY#<id>` | `PROPERTY` | `gsi1`: `OWNER#<ownerId>` / `<id>`; `gsi2`: `PLACE#<country>` / `<city>#<kind>#<id>` | a property: GetItem; an owner's properties: Query `gsi1`; by country, city and kind: Query `gsi2` (sort key prefix) |
//! | file number claim | `FILENUMBER#<FILE-NUMBER>` | `FILENUMBER` | – | uniqueness: written with the property under `attribute_not_exists(pk)` |
//! | ownership transfer | `PROPERTYHISTORY#<id>` | `<transferId>` | – | a property's history, newest first: Query |
//!
//! A property's units live in its item (see [`units`]): a property reads and lists with them.
//!
//! **Owners.** The owner's account counts its properties (`propertyCount` on the user item),
//! changed in the same transaction as every create and transfer; an account is deleted only
//! under the condition that the count is 0. So no property is ever left without an owner, and
//! a deletion refused for it answers 409 `OWNS_PROPERTIES` (transfer the properties first).
//!
//! **Who may do what.** Any signed-in user registers properties they own and reads any
//! property with its owner (the registry is open to its members). The owner and admins
//! transfer a property and read its ownership history. Moderators have no rights here beyond
//! a member's: they moderate posts, not the registry.

mod address;
mod calendar;
pub mod documents;
mod edit;
mod leases;
pub mod ledger;
mod list;
pub mod rent;
pub mod rent_roll;
mod transfer;
mod units;

pub use address::{
    ADDRESS_LINE_MAX_CHARS, Address, AddressLine, CITY_MAX_CHARS, Country, NewAddress,
    POSTAL_CODE_MAX_CHARS, Place, PostalCode, country,
};
pub use edit::{PropertyChange, delete, update};
pub use leases::{
    Currency, Date, LeaseStatus, LeaseView, NewLease, NewRent, NewRentChange, Rent, RentAmount,
    RentChange, create_lease, end_lease, get_lease, my_leases, property_leases, renew,
};
pub use list::{FilterParams, PropertyFilter, SERVED_FILTERS, list};
pub use transfer::{Note, TRANSFERRED_AWAY, TRANSFERRED_TO_YOU, TransferView, history, transfer};
pub use units::{
    AreaM2, Bedrooms, Floor, Label, MAX_UNITS, SettableUnitStatus, UnitFields, UnitStatus,
    UnitView, add_unit, remove_unit, update_unit,
};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::accounts::counts::{self, AccountCount};
use crate::accounts::items::UserItem;
use crate::auth::Role;
use crate::error::ApiError;
use crate::events::{Event, outbox_put};
use crate::http::PathId;
use crate::ids::{PropertyId, UserId};
use crate::state::State;
use crate::store::{Key, OnCondition, Store};
use crate::validate::{Invalid, RequestValue, request_value, text_schema};
use utoipa::openapi::schema::Schema;

/// File numbers: 1–32 characters of `A-Z`, `0-9`, `-` and `/`.
pub const FILE_NUMBER_MAX_CHARS: usize = 32;

/// A property's file number in the registry: unique, compared without case (stored upper-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileNumber(String);

impl FileNumber {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim().to_ascii_uppercase();
        if value.is_empty() || value.len() > FILE_NUMBER_MAX_CHARS {
            return Err(Invalid("must be 1-32 characters"));
        }
        if !value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'/')
        {
            return Err(Invalid("may hold only letters A-Z, digits, '-' and '/'"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestValue for FileNumber {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        Self::parse(&raw)
    }
    fn schema() -> Schema {
        text_schema(
            1,
            FILE_NUMBER_MAX_CHARS,
            "Letters A-Z, digits, `-` and `/`; unique in the registry, compared without case.",
        )
        .pattern(Some("^[A-Za-z0-9/-]+$"))
        .examples(["B-2024/0042"])
        .into()
    }
}

request_value!(FileNumber);

/// What a property is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PropertyKind {
    Residential,
    Commercial,
    Mixed,
    Land,
}

/// A property as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub gsi2pk: String,
    pub gsi2sk: String,
    pub id: PropertyId,
    pub file_number: String,
    pub address: Address,
    pub kind: PropertyKind,
    pub owner_id: UserId,
    /// The units, by label as compared (see [`units`]).
    #[serde(default)]
    pub units: BTreeMap<String, UnitView>,
    /// How many units it has (kept with them: a cap holds under concurrent creations).
    #[serde(default)]
    pub unit_count: u64,
    /// Active leases of its units (see [`leases`]): a property is deleted only without one.
    #[serde(default)]
    pub active_leases: u64,
    /// Its documents and its leases' (see [`documents`]), uploads still pending included.
    #[serde(default)]
    pub document_count: u64,
    /// Their bytes (a pending upload by its declared size): the quota's count.
    #[serde(default)]
    pub document_bytes: u64,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

crate::store::attributes! { PropertyItem in property_attributes {
    GSI1PK: String = gsi1pk,
    GSI2PK: String = gsi2pk,
    GSI2SK: String = gsi2sk,
    ADDRESS: Address = address,
    KIND: PropertyKind = kind,
    OWNER_ID: UserId = owner_id,
    UNITS: BTreeMap<String, UnitView> = units,
    UNIT_COUNT: u64 = unit_count,
    ACTIVE_LEASES: u64 = active_leases,
    DOCUMENT_COUNT: u64 = document_count,
    DOCUMENT_BYTES: u64 = document_bytes,
    UPDATED_AT: String = updated_at,
} }

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileNumberClaim {
    pk: String,
    sk: String,
    property_id: PropertyId,
}

fn property_key(id: PropertyId) -> Key {
    Key::new(format!("PROPERTY#{id}"), "PROPERTY")
}

fn file_number_key(number: &FileNumber) -> Key {
    Key::new(format!("FILENUMBER#{}", number.as_str()), "FILENUMBER")
}

fn owner_partition(owner: UserId) -> String {
    format!("OWNER#{owner}")
}

/// A city as the place index spells it: lower-case, single spaces (`#` cannot appear: the text
/// policy of addresses allows it, so it is replaced).
fn city_key(city: &str) -> String {
    compared(city).replace('#', " ")
}

/// Text as the registry compares it (a city, a unit's label): single spaces, lower-case.
fn compared(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn place_partition(country: &str) -> String {
    format!("PLACE#{country}")
}

impl PropertyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Residential => "residential",
            Self::Commercial => "commercial",
            Self::Mixed => "mixed",
            Self::Land => "land",
        }
    }
}

impl crate::http::QueryEnum for PropertyKind {
    const VALUES: &'static [&'static str] = &["residential", "commercial", "mixed", "land"];
}

/// The owner as a property shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Owner {
    pub id: UserId,
    pub name: String,
}

/// What the API shows of a property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PropertyView {
    pub id: PropertyId,
    #[schema(example = "B-2024/0042")]
    pub file_number: String,
    pub address: Address,
    pub kind: PropertyKind,
    pub owner: Owner,
    /// In the order of their labels.
    pub units: Vec<UnitView>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl PropertyView {
    fn of(property: &PropertyItem, owner_name: &str) -> Self {
        Self {
            id: property.id,
            file_number: property.file_number.clone(),
            address: property.address.clone(),
            kind: property.kind,
            owner: Owner {
                id: property.owner_id,
                name: owner_name.to_owned(),
            },
            units: property.units.values().cloned().collect(),
            created_at: property.created_at.clone(),
            updated_at: property.updated_at.clone(),
            version: property.version,
        }
    }
}

impl PathId for PropertyId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        not_found()
    }
}

fn not_found() -> ApiError {
    ApiError::no_such("property")
}

/// An event about property `id`, caused by `me`.
fn property_event(kind: &str, me: &Principal, id: PropertyId, now: String) -> Event {
    Event::new(kind, me.actor(), "property", &id.to_string(), now)
}

/// What `POST /properties` carries, parsed.
#[derive(Debug, Clone)]
pub struct NewProperty {
    pub file_number: FileNumber,
    pub address: NewAddress,
    pub kind: PropertyKind,
}

/// `POST /properties`: registers a property owned by the caller. One transaction: the
/// property, its file number's claim (409 `FILE_NUMBER_TAKEN` when another property has it,
/// however many register it at once), the owner's count, the event.
pub async fn create(
    state: &State,
    me: &Principal,
    input: NewProperty,
) -> Result<PropertyView, ApiError> {
    let store = &state.store;
    let id = PropertyId::generate();
    let now = state.clock.timestamp();
    let key = property_key(id);
    let address = Address::from(input.address);
    let property = PropertyItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: owner_partition(me.id()),
        gsi1sk: id.to_string(),
        gsi2pk: place_partition(&address.country),
        gsi2sk: format!("{}#{}#{id}", city_key(&address.city), input.kind.as_str()),
        id,
        file_number: input.file_number.as_str().to_owned(),
        address,
        kind: input.kind,
        owner_id: me.id(),
        units: BTreeMap::new(),
        unit_count: 0,
        active_leases: 0,
        document_count: 0,
        document_bytes: 0,
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 1,
    };
    let claim = file_number_key(&input.file_number);
    let event = property_event("property.created", me, id, now)
        .change("fileNumber", (), &property.file_number)
        .change("address", (), &property.address)
        .change("kind", (), property.kind)
        .change("ownerId", (), property.owner_id);
    let writes = vec![
        store.put_new_op(&property)?,
        store.put_new_op(&FileNumberClaim {
            pk: claim.pk,
            sk: claim.sk,
            property_id: id,
        })?,
        counts::change(me.id(), AccountCount::Properties, 1).into_transact(store)?,
        outbox_put(store, event)?,
    ];
    store
        .transact(writes)
        .await
        .on_condition(|index| match index {
            Some(1) => ApiError::Conflict {
                code: "FILE_NUMBER_TAKEN",
                detail: "Another property has this file number.".into(),
            },
            // The caller's account ended meanwhile (deleted or disabled).
            Some(2) => ApiError::Unauthorized {
                code: "INVALID_TOKEN",
                detail: "The session has ended; sign in again.".into(),
            },
            _ => ApiError::internal("a new property's id was taken"),
        })?;
    Ok(PropertyView::of(&property, &me.user.name))
}

/// Reads a property (404 when there is none).
async fn load(store: &Store, id: PropertyId) -> Result<PropertyItem, ApiError> {
    store.get(&property_key(id)).await?.ok_or_else(not_found)
}

/// `GET /properties/{id}`: the property with its owner (two `GetItem`s), to any signed-in user.
pub async fn get(state: &State, id: PropertyId) -> Result<PropertyView, ApiError> {
    let property = load(&state.store, id).await?;
    let owner: Option<UserItem> = state.store.get(&Key::user(property.owner_id)).await?;
    let name = owner.map(|o| o.name).unwrap_or_default();
    Ok(PropertyView::of(&property, &name))
}

/// 403 unless `me` owns `property` or is an admin.
fn require_manager(me: &Principal, property: &PropertyItem) -> Result<(), ApiError> {
    if me.id() == property.owner_id || me.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden {
            detail: "Only the owner or an admin may do this.".into(),
        })
    }
}
