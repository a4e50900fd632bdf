//! Ownership transfers and their history. A transfer is one transaction conditioned on the
//! owner and the version the caller saw: the property changes hands, both owners' counts move,
//! the history entry records the owner actually replaced, and the event goes out — or nothing
//! happens. Two transfers from one version: exactly one wins. Both owners get an email.

use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::accounts::counts::{self, AccountCount};
use crate::error::ApiError;
use crate::events::outbox_put;
use crate::ids::{PropertyId, TransferId, UserId};
use crate::notices::{Notice, PropertyNotice};
use crate::state::State;
use crate::store::{KeyQuery, OnCondition, Page, PageRequest, Update, expect_version};
use crate::validate::{Invalid, RequestValue, lines_schema, request_value, visible_text};
use utoipa::openapi::schema::Schema;

use super::{PropertyItem, load, owner_partition, property_event, property_key, require_manager};

/// The email templates of a transfer: to the previous owner, and to the new one.
pub const TRANSFERRED_AWAY: &str = "property-transferred-away";
pub const TRANSFERRED_TO_YOU: &str = "property-transferred-to-you";

/// The longest note a transfer may carry.
pub const NOTE_MAX_CHARS: usize = 1000;

/// A transfer's note: up to 1,000 characters under the text policy of many lines
/// ([`visible_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

impl RequestValue for Note {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_text(&raw, NOTE_MAX_CHARS).map(|n| Self(n.to_owned()))
    }
    fn schema() -> Schema {
        lines_schema(NOTE_MAX_CHARS, "Why the property changes hands.").into()
    }
}

request_value!(Note);

/// One entry of a property's ownership history, as stored and as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    pub id: TransferId,
    pub property_id: PropertyId,
    pub previous_owner_id: UserId,
    pub new_owner_id: UserId,
    pub transferred_at: String,
    /// Who made the transfer: the previous owner or an admin.
    pub actor_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TransferItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    transfer: TransferView,
}

fn history_partition(id: PropertyId) -> String {
    format!("PROPERTYHISTORY#{id}")
}

/// `POST /properties/{id}/transfer`: gives the property to `new_owner` (the owner or an admin;
/// `expected_version`, from `If-Match` or the body, must be current when given). 422 when the
/// new owner is the current one or not an active account; 412 when the property changed since
/// it was read. Calls: GetItem, TransactWriteItems.
pub async fn transfer(
    state: &State,
    me: &Principal,
    id: PropertyId,
    new_owner: UserId,
    note: Option<Note>,
    expected_version: Option<u64>,
) -> Result<TransferView, ApiError> {
    let store = &state.store;
    let note = note.map(|n| n.0);
    let property = load(store, id).await?;
    require_manager(me, &property)?;
    let version = expect_version(expected_version, property.version)?;
    let previous = property.owner_id;
    if new_owner == previous {
        return Err(Invalid("is the current owner").at("newOwnerId"));
    }
    let now = state.clock.timestamp();
    let entry = TransferView {
        id: TransferId::generate(),
        property_id: id,
        previous_owner_id: previous,
        new_owner_id: new_owner,
        transferred_at: now.clone(),
        actor_id: me.id(),
        note,
    };
    // Both owners are told, each at the address their account has when the email goes.
    let place = property.address.one_line();
    let vars = [
        ("fileNumber", property.file_number.as_str()),
        ("address", place.as_str()),
        ("transferredAt", now.as_str()),
    ];
    let notice = PropertyNotice {
        property_id: id,
        file_number: property.file_number.clone(),
        address: place.clone(),
    };
    let event = property_event("property.transferred", me, id, now.clone())
        .change("ownerId", previous, new_owner)
        .email_user(TRANSFERRED_AWAY, previous, &vars)
        .email_user(TRANSFERRED_TO_YOU, new_owner, &vars)
        .notify(new_owner, Notice::PropertyTransferredToYou(notice.clone()))
        .notify(previous, Notice::PropertyTransferredAway(notice));
    let writes = vec![
        Update::new(property_key(id))
            .set(PropertyItem::OWNER_ID, &new_owner)
            .set(PropertyItem::GSI1PK, &owner_partition(new_owner))
            .set(PropertyItem::UPDATED_AT, &now)
            .if_equals(PropertyItem::OWNER_ID, &previous)
            .bump_version(version)
            .into_transact(store)?,
        counts::change(new_owner, AccountCount::Properties, 1).into_transact(store)?,
        counts::change(previous, AccountCount::Properties, -1).into_transact(store)?,
        store.put_new_op(&TransferItem {
            pk: history_partition(id),
            sk: entry.id.to_string(),
            transfer: entry.clone(),
        })?,
        outbox_put(store, event)?,
    ];
    store
        .transact(writes)
        .await
        .on_condition(|index| match index {
            Some(1) => Invalid("is not an active account").at("newOwnerId"),
            _ => ApiError::changed_meanwhile(),
        })?;
    Ok(entry)
}

/// `GET /properties/{id}/ownership-history`: the transfers of a property, newest first (the
/// owner or an admin). Calls: GetItem, Query.
pub async fn history(
    state: &State,
    me: &Principal,
    id: PropertyId,
    page: &PageRequest,
) -> Result<Page<TransferView>, ApiError> {
    let property = load(&state.store, id).await?;
    require_manager(me, &property)?;
    let items: Page<TransferItem> = state
        .store
        .query_page(&KeyQuery::table(history_partition(id)).newest_first(), page)
        .await?;
    Ok(Page {
        items: items.items.into_iter().map(|i| i.transfer).collect(),
        next_cursor: items.next_cursor,
    })
}
