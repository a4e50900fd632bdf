//! Editing and deleting a property (the owner or an admin), each one transaction with its
//! event, conditioned on the version read.

use crate::accounts::Principal;
use crate::accounts::counts::{self, AccountCount};
use crate::accounts::items::UserItem;
use crate::error::ApiError;
use crate::events::outbox_put;
use crate::ids::PropertyId;
use crate::state::State;
use crate::store::{Key, OnCondition, Update, expect_version};

use super::{
    Address, NewAddress, PropertyItem, PropertyKind, PropertyView, city_key, file_number_key, load,
    place_partition, property_event, property_key, require_manager,
};

/// What `PATCH /properties/{id}` may change. The file number is the property's name in the
/// registry and does not change.
#[derive(Debug, Clone, Default)]
pub struct PropertyChange {
    pub address: Option<NewAddress>,
    pub kind: Option<PropertyKind>,
    pub expected_version: Option<u64>,
}

/// `PATCH /properties/{id}`: the address and the kind (the owner or an admin). 412 when the
/// version given, or the one read, is not current when the change is written.
pub async fn update(
    state: &State,
    me: &Principal,
    id: PropertyId,
    change: PropertyChange,
) -> Result<PropertyView, ApiError> {
    let store = &state.store;
    let before = load(store, id).await?;
    require_manager(me, &before)?;
    let version = expect_version(change.expected_version, before.version)?;
    let now = state.clock.timestamp();
    let after = PropertyItem {
        address: change
            .address
            .map_or_else(|| before.address.clone(), Address::from),
        kind: change.kind.unwrap_or(before.kind),
        updated_at: now.clone(),
        version: version + 1,
        ..before.clone()
    };
    let after = PropertyItem {
        gsi2pk: place_partition(&after.address.country),
        gsi2sk: format!(
            "{}#{}#{id}",
            city_key(&after.address.city),
            after.kind.as_str()
        ),
        ..after
    };
    let event = property_event("property.updated", me, id, now.clone())
        .change("address", &before.address, &after.address)
        .change("kind", before.kind, after.kind);
    let writes = vec![
        Update::new(property_key(id))
            .set(PropertyItem::ADDRESS, &after.address)
            .set(PropertyItem::KIND, &after.kind)
            .set(PropertyItem::GSI2PK, &after.gsi2pk)
            .set(PropertyItem::GSI2SK, &after.gsi2sk)
            .set(PropertyItem::UPDATED_AT, &now)
            .if_exists()
            .bump_version(version)
            .into_transact(store)?,
        outbox_put(store, event)?,
    ];
    store.transact(writes).await.or_stale()?;
    let owner = if after.owner_id == me.id() {
        me.user.name.clone()
    } else {
        let owner: Option<UserItem> = store.get(&Key::user(after.owner_id)).await?;
        owner.map(|o| o.name).unwrap_or_default()
    };
    Ok(PropertyView::of(&after, &owner))
}

/// `DELETE /properties/{id}` (the owner or an admin): the property and its file number's claim
/// go, the owner's count moves, the event goes out; its ownership history stays (it is the
/// registry's record). Conditioned on the version read (412 when it changed meanwhile).
pub async fn delete(state: &State, me: &Principal, id: PropertyId) -> Result<(), ApiError> {
    let store = &state.store;
    let property = load(store, id).await?;
    require_manager(me, &property)?;
    if property.active_leases > 0 {
        return Err(ApiError::Conflict {
            code: "HAS_ACTIVE_LEASES",
            detail: "The property has active leases: end them first.".into(),
        });
    }
    let number = super::FileNumber::parse(&property.file_number)
        .map_err(|_| ApiError::internal("a stored file number is invalid"))?;
    let event = property_event("property.deleted", me, id, state.clock.timestamp())
        .change("fileNumber", &property.file_number, ())
        .change("address", &property.address, ())
        .change("ownerId", property.owner_id, ());
    let writes = vec![
        store.delete_versioned_op(&property_key(id), property.version)?,
        store.delete_op(&file_number_key(&number), true)?,
        counts::change(property.owner_id, AccountCount::Properties, -1).into_transact(store)?,
        outbox_put(store, event)?,
    ];
    store.transact(writes).await.or_stale()
}
