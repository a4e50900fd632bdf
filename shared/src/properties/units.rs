//! Units: the parts of a property that can be let. They live inside the property's item, a map
//! keyed by the unit's label as compared (trimmed, lower-case), so that a property reads and
//! lists with its units at no extra cost, a label is unique within its property by the key
//! itself, and every unit change is one conditional update of the property (with its event).
//! A property holds at most [`MAX_UNITS`] units.

use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::error::ApiError;
use crate::events::{Event, outbox_put};
use crate::ids::{PropertyId, UnitId};
use crate::state::State;
use crate::store::{OnCondition, Update};
use crate::validate::{Invalid, RequestValue, line_schema, request_value, visible_line};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::{PropertyItem, load, property_key, require_manager};

/// The most units one property holds.
pub const MAX_UNITS: u64 = 200;
pub const LABEL_MAX_CHARS: usize = 40;

/// Whether a unit can be let. `leased` is not set by hand: it comes with a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnitStatus {
    Vacant,
    Leased,
    Unavailable,
}

/// The status a unit is given by hand: `leased` comes only with a lease, so a request cannot
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SettableUnitStatus {
    Vacant,
    Unavailable,
}

impl From<SettableUnitStatus> for UnitStatus {
    fn from(status: SettableUnitStatus) -> Self {
        match status {
            SettableUnitStatus::Vacant => Self::Vacant,
            SettableUnitStatus::Unavailable => Self::Unavailable,
        }
    }
}

/// A unit, as stored in its property and as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitView {
    pub id: UnitId,
    #[schema(example = "Flat 2B")]
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bedrooms: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_m2: Option<f64>,
    pub status: UnitStatus,
    pub created_at: String,
    pub updated_at: String,
}

crate::store::attributes! { UnitView in unit_attributes {
    ID: UnitId = id,
    STATUS: UnitStatus = status,
} }

/// A unit's label: one line of 1–40 visible characters (trimmed), unique in its property
/// without case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

/// The floor a unit is on: -20 to 300.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor(i16);

/// Bedrooms: at most 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bedrooms(u8);

/// Floor area in m²: above 0, at most 1,000,000.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AreaM2(f64);

pub const FLOOR_RANGE: std::ops::RangeInclusive<i16> = -20..=300;
pub const MAX_BEDROOMS: u8 = 100;
pub const MAX_AREA_M2: f64 = 1_000_000.0;

impl RequestValue for Label {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_line(&raw, LABEL_MAX_CHARS).map(|l| Self(l.to_owned()))
    }
    fn schema() -> Schema {
        line_schema(
            LABEL_MAX_CHARS,
            "A unit's label, unique in its property without case.",
        )
        .examples(["Flat 2B"])
        .into()
    }
}

impl RequestValue for Floor {
    type Raw = i16;
    fn from_raw(raw: i16) -> Result<Self, Invalid> {
        if FLOOR_RANGE.contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(Invalid("must be from -20 to 300"))
        }
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(*FLOOR_RANGE.start()))
            .maximum(Some(*FLOOR_RANGE.end()))
            .into()
    }
}

impl RequestValue for Bedrooms {
    type Raw = u8;
    fn from_raw(raw: u8) -> Result<Self, Invalid> {
        if raw <= MAX_BEDROOMS {
            Ok(Self(raw))
        } else {
            Err(Invalid("must be at most 100"))
        }
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(MAX_BEDROOMS))
            .into()
    }
}

impl RequestValue for AreaM2 {
    type Raw = f64;
    fn from_raw(raw: f64) -> Result<Self, Invalid> {
        if raw.is_finite() && raw > 0.0 && raw <= MAX_AREA_M2 {
            Ok(Self(raw))
        } else {
            Err(Invalid("must be above 0 and at most 1,000,000"))
        }
    }
    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .exclusive_minimum(Some(0))
            .maximum(Some(MAX_AREA_M2))
            .into()
    }
}

request_value!(Label, Floor, Bedrooms, AreaM2);

/// The fields a unit is created or changed with (absent: unchanged, or none at creation), each
/// checked as it was read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnitFields {
    pub label: Option<Label>,
    pub floor: Option<Floor>,
    pub bedrooms: Option<Bedrooms>,
    pub area_m2: Option<AreaM2>,
    pub status: Option<SettableUnitStatus>,
}

/// A label as the map compares it.
fn label_key(label: &str) -> String {
    super::compared(label)
}

impl UnitFields {
    fn label(&self) -> Option<String> {
        self.label.as_ref().map(|l| l.0.clone())
    }

    fn status(&self) -> Option<UnitStatus> {
        self.status.map(UnitStatus::from)
    }
}

impl crate::http::PathId for UnitId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        unit_not_found()
    }
}

pub(super) fn unit_not_found() -> ApiError {
    ApiError::no_such("unit")
}

fn label_taken() -> ApiError {
    ApiError::Conflict {
        code: "UNIT_LABEL_TAKEN",
        detail: "Another unit of this property has this label.".into(),
    }
}

fn unit_event(
    kind: &str,
    me: &Principal,
    unit: UnitId,
    property: PropertyId,
    now: String,
) -> Event {
    Event::new(kind, me.actor(), "unit", &unit.to_string(), now).change("propertyId", (), property)
}

/// The unit `unit` of `property` with its map key.
pub(super) fn find(property: &PropertyItem, unit: UnitId) -> Result<(String, UnitView), ApiError> {
    property
        .units
        .iter()
        .find(|(_, u)| u.id == unit)
        .map(|(key, u)| (key.clone(), u.clone()))
        .ok_or_else(unit_not_found)
}

/// `POST /properties/{id}/units` (the owner or an admin): a new unit, `vacant` unless said
/// `unavailable`. 409 `UNIT_LABEL_TAKEN` when the property has a unit with that label (compared
/// without case), 409 `TOO_MANY_UNITS` past [`MAX_UNITS`]. Calls: GetItem, TransactWriteItems.
pub async fn add_unit(
    state: &State,
    me: &Principal,
    id: PropertyId,
    fields: &UnitFields,
) -> Result<UnitView, ApiError> {
    let store = &state.store;
    let label = fields
        .label()
        .ok_or_else(|| Invalid("is required").at("label"))?;
    let property = load(store, id).await?;
    require_manager(me, &property)?;
    let now = state.clock.timestamp();
    let unit = UnitView {
        id: UnitId::generate(),
        label: label.clone(),
        floor: fields.floor.map(|f| f.0),
        bedrooms: fields.bedrooms.map(|b| b.0),
        area_m2: fields.area_m2.map(|a| a.0),
        status: fields.status().unwrap_or(UnitStatus::Vacant),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let key = label_key(&label);
    let event = unit_event("unit.created", me, unit.id, id, now.clone())
        .change("label", (), &unit.label)
        .change("status", (), unit.status);
    let writes = vec![
        Update::new(property_key(id))
            .set_entry(PropertyItem::UNITS, &key, &unit)
            .add(PropertyItem::UNIT_COUNT, 1)
            .set(PropertyItem::UPDATED_AT, &now)
            .next_version()
            .if_exists()
            .if_no_entry(PropertyItem::UNITS, &key)
            .if_below(PropertyItem::UNIT_COUNT, MAX_UNITS)
            .into_transact(store)?,
        store.put_new_op(&UnitLookup {
            pk: unit_lookup_key(unit.id).pk,
            sk: unit_lookup_key(unit.id).sk,
            property_id: id,
        })?,
        outbox_put(store, event)?,
    ];
    store.transact(writes).await.on_condition(|_| {
        // Which condition of the update failed is not said: a full property, or a label
        // that is taken (the property as read tells which is likely).
        if property.units.len() as u64 >= MAX_UNITS {
            ApiError::Conflict {
                code: "TOO_MANY_UNITS",
                detail: format!("A property holds at most {MAX_UNITS} units."),
            }
        } else {
            label_taken()
        }
    })?;
    Ok(unit)
}

/// `PATCH /properties/{id}/units/{unitId}` (the owner or an admin): the fields given change;
/// a new label must be free in the property (409 `UNIT_LABEL_TAKEN`). Calls: GetItem,
/// TransactWriteItems.
pub async fn update_unit(
    state: &State,
    me: &Principal,
    id: PropertyId,
    unit: UnitId,
    fields: &UnitFields,
) -> Result<UnitView, ApiError> {
    let store = &state.store;
    let property = load(store, id).await?;
    require_manager(me, &property)?;
    let (key, before) = find(&property, unit)?;
    if fields.status.is_some() && before.status == UnitStatus::Leased {
        return Err(ApiError::Conflict {
            code: "UNIT_LEASED",
            detail: "The unit is leased: its status follows its lease.".into(),
        });
    }
    let now = state.clock.timestamp();
    let after = UnitView {
        label: fields.label().unwrap_or_else(|| before.label.clone()),
        floor: fields.floor.map(|f| f.0).or(before.floor),
        bedrooms: fields.bedrooms.map(|b| b.0).or(before.bedrooms),
        area_m2: fields.area_m2.map(|a| a.0).or(before.area_m2),
        status: fields.status().unwrap_or(before.status),
        updated_at: now.clone(),
        ..before.clone()
    };
    let new_key = label_key(&after.label);
    let mut update = Update::new(property_key(id))
        .set(PropertyItem::UPDATED_AT, &now)
        .next_version()
        .if_entry_field_equals(PropertyItem::UNITS, &key, UnitView::ID, &unit)
        // Its status as read: a lease made meanwhile is not overwritten.
        .if_entry_field_equals(PropertyItem::UNITS, &key, UnitView::STATUS, &before.status);
    if new_key == key {
        update = update.set_entry(PropertyItem::UNITS, &key, &after);
    } else {
        update = update
            .remove_entry(PropertyItem::UNITS, &key)
            .set_entry(PropertyItem::UNITS, &new_key, &after)
            .if_no_entry(PropertyItem::UNITS, &new_key);
    }
    let event = unit_event("unit.updated", me, unit, id, now)
        .change("label", &before.label, &after.label)
        .change("floor", before.floor, after.floor)
        .change("bedrooms", before.bedrooms, after.bedrooms)
        .change("areaM2", before.area_m2, after.area_m2)
        .change("status", before.status, after.status);
    let writes = vec![update.into_transact(store)?, outbox_put(store, event)?];
    let renamed = new_key != key;
    store.transact(writes).await.on_condition(|_| {
        if renamed {
            label_taken()
        } else {
            ApiError::changed_meanwhile()
        }
    })?;
    Ok(after)
}

/// `DELETE /properties/{id}/units/{unitId}` (the owner or an admin). Calls: GetItem,
/// TransactWriteItems.
pub async fn remove_unit(
    state: &State,
    me: &Principal,
    id: PropertyId,
    unit: UnitId,
) -> Result<(), ApiError> {
    let store = &state.store;
    let property = load(store, id).await?;
    require_manager(me, &property)?;
    let (key, before) = find(&property, unit)?;
    if before.status == UnitStatus::Leased {
        return Err(ApiError::Conflict {
            code: "UNIT_LEASED",
            detail: "The unit is leased: end its lease first.".into(),
        });
    }
    let now = state.clock.timestamp();
    let event =
        unit_event("unit.deleted", me, unit, id, now.clone()).change("label", &before.label, ());
    let writes = vec![
        Update::new(property_key(id))
            .remove_entry(PropertyItem::UNITS, &key)
            .add(PropertyItem::UNIT_COUNT, -1)
            .set(PropertyItem::UPDATED_AT, &now)
            .next_version()
            .if_entry_field_equals(PropertyItem::UNITS, &key, UnitView::ID, &unit)
            // Still not leased: a lease made meanwhile keeps its unit.
            .if_entry_field_equals(PropertyItem::UNITS, &key, UnitView::STATUS, &before.status)
            .into_transact(store)?,
        store.delete_op(&unit_lookup_key(unit), false)?,
        outbox_put(store, event)?,
    ];
    store.transact(writes).await.or_stale()
}

/// Which property a unit belongs to, for the routes that name only the unit (`POST /leases`).
/// Written with the unit, removed with it; one left by a deleted property names a property
/// that is gone, and is read as no unit.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UnitLookup {
    pk: String,
    sk: String,
    pub(super) property_id: PropertyId,
}

pub(super) fn unit_lookup_key(unit: UnitId) -> crate::store::Key {
    crate::store::Key::new(format!("UNIT#{unit}"), "UNIT")
}
