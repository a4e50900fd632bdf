//! The inbox: what happened that concerns a user — a property transferred to or away from them,
//! a lease of theirs made or ending, a charge on their ledger, rent due or overdue, a document
//! added to their lease, a moderator hiding or restoring their post, a sign-in from a device new
//! to their account, their address changed.
//!
//! **How one arrives.** The change that concerns someone names them in its event
//! (`notification`, `moreNotifications`: whom, and the [`Notice`] — its public `type` and
//! `data`), written in the change's own transaction, so a notification is never lost and never
//! sent for a change that did not happen. `NotificationsRule` forwards exactly those events to
//! the notifications queue; the notifications worker writes each notice as an item of the
//! user's partition, under `attribute_not_exists` (a redelivered event changes nothing) and only
//! while the account exists (a deleted account gets nothing). The actor of a change is not told
//! of it ([`Event::notify`]), except of what guards their account ([`Event::alert`]: a sign-in,
//! a changed address). Notifications live `NOTIFICATION_RETENTION_DAYS` (the table's TTL; reads
//! leave out what expired).
//!
//! **Read or not.** A notification is read when it was marked one by one (`readAt`) or when its
//! id is at or before the user's mark (`readUpTo`, which only moves forward): "everything up to
//! here" is one write however many notifications there are. The unread count is counted, never
//! kept: a Query (`Select: COUNT`) of the notifications after the mark that have no `readAt` —
//! no counter to drift when notifications expire — counting up to [`MAX_UNREAD_COUNT`], so what
//! it reads stays bounded however much a user leaves unread.
//!
//! Items: `USER#<userId>` / `NOTIFICATION#<notificationId>` (the id is the event's, so
//! time-ordered: newest first is the reverse key order) and `USER#<userId>` / `NOTIFICATIONS`
//! (the mark).

use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::error::{ApiError, FieldError};
use crate::events::Event;
use crate::ids::{NotificationId, UserId};
pub use crate::notices::{Notice, NotificationIntent};
use crate::state::State;
use crate::store::{Key, KeyQuery, PageRequest, SortKey, Store, StoreError, Update};
use crate::validate::{Invalid, RequestValue, request_value};

/// How long a notification is kept when `NOTIFICATION_RETENTION_DAYS` is not set.
pub const DEFAULT_RETENTION_DAYS: i64 = 90;
/// The most notifications one request may mark read by id.
pub const MAX_IDS: usize = 100;
/// The unread count counts no further (a badge shows "99+"): what a read of the inbox costs is
/// bounded whatever a user left unread.
pub const MAX_UNREAD_COUNT: u16 = 100;

const SK_PREFIX: &str = "NOTIFICATION#";
/// Sorts after every notification's sort key (ids are Crockford base32: digits and capitals).
const SK_END: &str = "NOTIFICATION#~";

/// A notification as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: NotificationId,
    /// When what it tells happened.
    #[schema(example = "2027-01-05T09:30:00.000Z")]
    pub occurred_at: String,
    /// Marked read, one by one or by `upTo`.
    pub read: bool,
    /// `type` and `data`.
    #[serde(flatten)]
    pub notice: Notice,
}

/// One page of the inbox, with the number of unread notifications (all of them, not the
/// page's — up to 100: 100 means a hundred or more).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Every unread notification, not the page's — counted up to 100: 100 means a hundred or
    /// more.
    pub unread_count: u64,
}

/// How many notifications are unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Unread {
    /// Up to 100: 100 means a hundred or more.
    pub unread_count: u64,
}

/// The stored notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationItem {
    pk: String,
    sk: String,
    id: NotificationId,
    occurred_at: String,
    notice: Notice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    read_at: Option<String>,
    expires_at: i64,
}

crate::store::attributes! { NotificationItem in notification_attributes {
    READ_AT: String = read_at,
} }

/// The user's mark: everything up to it is read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadMark {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    read_up_to: Option<NotificationId>,
}

crate::store::attributes! { ReadMark in read_mark_attributes {
    READ_UP_TO: NotificationId = read_up_to,
} }

fn partition(user: UserId) -> String {
    Key::user(user).pk
}

fn notification_key(user: UserId, id: NotificationId) -> Key {
    Key::new(partition(user), format!("{SK_PREFIX}{id}"))
}

fn mark_key(user: UserId) -> Key {
    Key::new(partition(user), "NOTIFICATIONS")
}

/// What the worker did with one notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written now.
    New,
    /// Written by an earlier delivery of the same event.
    Already,
    /// The account is gone: nothing written.
    NoAccount,
}

/// Writes `intent` of `event` to its user's inbox, once: one TransactWriteItems (the account
/// exists; the notification is new), kept `retention_days` after the event.
pub async fn record(
    store: &Store,
    event: &Event,
    intent: &NotificationIntent,
    retention_days: i64,
) -> Result<Recorded, StoreError> {
    let id = NotificationId::from(event.id);
    let key = notification_key(intent.to_user, id);
    let item = NotificationItem {
        pk: key.pk,
        sk: key.sk,
        id,
        occurred_at: event.occurred_at.clone(),
        notice: intent.notice.clone(),
        read_at: None,
        expires_at: store.expires_in(retention_days.saturating_mul(86_400)),
    };
    let writes = vec![
        Update::new(Key::user(intent.to_user))
            .if_exists()
            .into_check(store)?,
        store.put_new_op(&item)?,
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(Recorded::New),
        Err(StoreError::ConditionFailed { index: Some(0) }) => Ok(Recorded::NoAccount),
        Err(StoreError::ConditionFailed { .. }) => Ok(Recorded::Already),
        Err(other) => Err(other),
    }
}

/// The notification `intent` of `event` as the inbox shows it when it is new (unread): what a
/// push sends.
pub fn view_of(event: &Event, intent: &NotificationIntent) -> NotificationView {
    NotificationView {
        id: NotificationId::from(event.id),
        occurred_at: event.occurred_at.clone(),
        read: false,
        notice: intent.notice.clone(),
    }
}

/// `GET /users/me/notifications`: the caller's notifications (with `unread_only`, only the
/// unread ones), newest first, and how many are unread. Calls: GetItem (the mark), then Query
/// (the page) and Query (`COUNT`, the unread) at once.
pub async fn inbox(
    state: &State,
    me: &Principal,
    page: &PageRequest,
    unread_only: bool,
) -> Result<Inbox, ApiError> {
    let store = &state.store;
    let mark = read_mark(store, me.id()).await?;
    let query = if unread_only {
        unread_query(me.id(), mark)
    } else {
        KeyQuery::table(partition(me.id())).sort(SortKey::BeginsWith(SK_PREFIX.to_owned()))
    }
    .newest_first();
    let (found, unread_count) = tokio::try_join!(
        store.query_page::<NotificationItem>(&query, page),
        unread(store, me.id(), mark),
    )?;
    Ok(Inbox {
        items: found
            .items
            .into_iter()
            .map(|item| NotificationView {
                read: item.read_at.is_some() || mark.is_some_and(|m| item.id <= m),
                id: item.id,
                occurred_at: item.occurred_at,
                notice: item.notice,
            })
            .collect(),
        next_cursor: found.next_cursor,
        unread_count,
    })
}

/// The caller's mark, if they ever set one.
async fn read_mark(store: &Store, user: UserId) -> Result<Option<NotificationId>, StoreError> {
    Ok(store
        .get::<ReadMark>(&mark_key(user))
        .await?
        .and_then(|m| m.read_up_to))
}

/// The unread notifications of `user`: after the mark, without `readAt` (a Query; the store
/// leaves out the expired).
fn unread_query(user: UserId, mark: Option<NotificationId>) -> KeyQuery {
    // Every id after the mark sorts after `<mark>!` (ids have one length); the mark does not.
    let low = match mark {
        Some(mark) => format!("{SK_PREFIX}{mark}!"),
        None => SK_PREFIX.to_owned(),
    };
    KeyQuery::table(partition(user))
        .sort(SortKey::Between(low, SK_END.to_owned()))
        .without(NotificationItem::READ_AT)
}

/// How many notifications of `user` are unread (up to [`MAX_UNREAD_COUNT`]).
async fn unread(
    store: &Store,
    user: UserId,
    mark: Option<NotificationId>,
) -> Result<u64, StoreError> {
    store
        .count(&unread_query(user, mark), MAX_UNREAD_COUNT)
        .await
}

/// The notification ids of a request (1 to 100, no repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationIds(Vec<NotificationId>);

impl RequestValue for NotificationIds {
    type Raw = Vec<NotificationId>;
    fn from_raw(raw: Vec<NotificationId>) -> Result<Self, Invalid> {
        if raw.is_empty() || raw.len() > MAX_IDS {
            return Err(Invalid("must list 1 to 100 notification ids"));
        }
        let distinct: std::collections::BTreeSet<_> = raw.iter().collect();
        if distinct.len() != raw.len() {
            return Err(Invalid("must not repeat an id"));
        }
        Ok(Self(raw))
    }
    fn schema() -> utoipa::openapi::schema::Schema {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<NotificationId as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .max_items(Some(MAX_IDS))
            .unique_items(true)
            .into()
    }
}

request_value!(NotificationIds);

/// What to mark read: everything up to a notification (`upTo`, inclusive: typically the newest
/// one shown), or notifications by id (`ids`) — one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkRead {
    UpTo(NotificationId),
    Ids(NotificationIds),
}

impl MarkRead {
    /// The one of `up_to` and `ids` that was given (422 for both or neither).
    pub fn of(
        up_to: Option<NotificationId>,
        ids: Option<NotificationIds>,
    ) -> Result<Self, ApiError> {
        match (up_to, ids) {
            (Some(up_to), None) => Ok(Self::UpTo(up_to)),
            (None, Some(ids)) => Ok(Self::Ids(ids)),
            (Some(_), Some(_)) => Err(ApiError::Validation {
                errors: vec![
                    FieldError::new("ids", "give either upTo or ids, not both"),
                    FieldError::new("upTo", "give either upTo or ids, not both"),
                ],
            }),
            (None, None) => Err(ApiError::Validation {
                errors: vec![
                    FieldError::new("ids", "give upTo or ids"),
                    FieldError::new("upTo", "give upTo or ids"),
                ],
            }),
        }
    }
}

/// `POST /users/me/notifications/read`: marks the caller's notifications read; the unread count
/// after it. An id that is not one of the caller's live notifications is a 422 naming it (all
/// of them at once) and nothing is marked. Calls — `upTo`: TransactWriteItems (the notification
/// exists; the mark moves forward, never back); `ids`: BatchGetItem, TransactWriteItems (each
/// `readAt` set once). Then GetItem (the mark) and Query (`COUNT`).
pub async fn mark_read(state: &State, me: &Principal, what: MarkRead) -> Result<Unread, ApiError> {
    let store = &state.store;
    let user = me.id();
    match what {
        MarkRead::UpTo(id) => {
            let writes = vec![
                Update::new(notification_key(user, id))
                    .if_exists()
                    .into_check(store)?,
                Update::new(mark_key(user))
                    .set(ReadMark::READ_UP_TO, &id)
                    .if_absent_or_before(ReadMark::READ_UP_TO, &id)
                    .into_transact(store)?,
            ];
            match store.transact(writes).await {
                // The mark is at or past it already: nothing to move.
                Ok(()) | Err(StoreError::ConditionFailed { index: Some(1) }) => {}
                Err(StoreError::ConditionFailed { .. }) => {
                    return Err(unknown(&[("upTo".to_owned(), id)]));
                }
                Err(other) => return Err(other.into()),
            }
        }
        MarkRead::Ids(NotificationIds(ids)) => {
            let keys: Vec<Key> = ids.iter().map(|id| notification_key(user, *id)).collect();
            let found = store.batch_get(&keys).await?;
            let missing: Vec<(String, NotificationId)> = ids
                .iter()
                .zip(&found)
                .enumerate()
                .filter(|(_, (_, item))| item.is_none())
                .map(|(i, (id, _))| (format!("ids[{i}]"), *id))
                .collect();
            if !missing.is_empty() {
                return Err(unknown(&missing));
            }
            let now = state.clock.timestamp();
            let writes = keys
                .into_iter()
                .map(|key| {
                    Update::new(key)
                        .set_if_absent(NotificationItem::READ_AT, &now)
                        .if_exists()
                        .into_transact(store)
                })
                .collect::<Result<Vec<_>, _>>()?;
            store.transact(writes).await.map_err(|error| match error {
                // Expired and deleted between the read and the write.
                StoreError::ConditionFailed { index: Some(i) } => {
                    unknown(&[(format!("ids[{i}]"), ids[i])])
                }
                other => other.into(),
            })?;
        }
    }
    let mark = read_mark(store, user).await?;
    Ok(Unread {
        unread_count: unread(store, user, mark).await?,
    })
}

/// Notifications a purge deletes per BatchWriteItem (DynamoDB's most).
const PURGE_BATCH: u16 = 25;

/// How a purge of an inbox ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Notifications deleted by this call.
    pub deleted: usize,
    /// Nothing left (false: `until` came first; call again).
    pub done: bool,
}

/// Deletes the inbox of a deleted account — its notifications, 25 per BatchWriteItem, then
/// its read mark — until nothing is left or `until` has passed. Run by the purge worker on the
/// account's deletion; nothing is written to the inbox after it (the notifications worker
/// checks that the account exists), so a purge that finishes leaves nothing. Resumable: each
/// run reads what is still there. Calls: per batch Query and BatchWriteItem; BatchWriteItem
/// (the mark).
pub async fn purge(
    store: &Store,
    user: UserId,
    until: std::time::SystemTime,
) -> Result<Purged, StoreError> {
    // Newest first: the oldest may have expired (a read leaves them out; TTL deletes them).
    let query = KeyQuery::table(partition(user))
        .sort(SortKey::BeginsWith(SK_PREFIX.to_owned()))
        .newest_first();
    let mut deleted = 0;
    while std::time::SystemTime::now() < until {
        let found: Vec<NotificationItem> = store.query_head(&query, PURGE_BATCH).await?;
        if found.is_empty() {
            store.delete_batch(&[mark_key(user)]).await?;
            return Ok(Purged {
                deleted,
                done: true,
            });
        }
        let keys: Vec<Key> = found
            .iter()
            .map(|item| Key::new(item.pk.clone(), item.sk.clone()))
            .collect();
        store.delete_batch(&keys).await?;
        deleted += keys.len();
    }
    Ok(Purged {
        deleted,
        done: false,
    })
}

/// The 422 of ids that are not the caller's notifications.
fn unknown(ids: &[(String, NotificationId)]) -> ApiError {
    ApiError::Validation {
        errors: ids
            .iter()
            .map(|(field, _)| FieldError::new(field, "is not one of your notifications"))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_shows_its_type_and_data_beside_its_id() {
        let view = NotificationView {
            id: NotificationId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("id"),
            occurred_at: "t".into(),
            read: false,
            notice: Notice::EmailChanged(crate::notices::EmailChangedNotice {}),
        };
        let json = serde_json::to_value(&view).expect("json");
        assert_eq!(json["type"], "account.email_changed");
        assert_eq!(json["data"], serde_json::json!({}));
        assert_eq!(json["read"], false);
    }

    #[test]
    fn ids_after_the_mark_sort_after_its_lower_bound() {
        let mark = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        let low = format!("{SK_PREFIX}{mark}!");
        assert!(format!("{SK_PREFIX}{mark}") < low);
        assert!(format!("{SK_PREFIX}01ARZ3NDEKTSV4RRFFQ69G5FAW") > low);
        assert!(format!("{SK_PREFIX}7ZZZZZZZZZZZZZZZZZZZZZZZZZ").as_str() < SK_END);
    }
}
