//! The audit trail: one item per event, written by the audit worker, read by `GET /v1/audit`.
//!
//! | access pattern | key | |
//! | --- | --- | --- |
//! | an entity's history | `pk = AUDIT#<entityType>#<entityId>`, `sk = <eventId>` | Query, newest first |
//! | what an actor did | `gsi1pk = AUDIT_ACTOR#<actorId>`, `gsi1sk = <eventId>` | Query `gsi1` |
//! | a time range | `gsi2pk = AUDIT_MONTH#<yyyy-mm>`, `gsi2sk = <eventId>` | Query `gsi2` with `BETWEEN` on the event id |
//!
//! Event ids are ULIDs, so sorting by id is sorting by time, and a time range is a key range.
//! A time-range query stays within one calendar month (one partition: one Query); monthly
//! partitions also keep audit writes off a single hot index partition.
//! Items expire after `AUDIT_RETENTION_DAYS` (default 365) through the table's TTL. The
//! event's `email` section is never stored here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::{Actor, Change, Entity, Event};
use crate::ids::EventId;
use crate::store::{Key, KeyQuery, Page, PageRequest, SortKey, Store, StoreError, keys::Index};

/// Default retention of audit entries.
pub const DEFAULT_RETENTION_DAYS: i64 = 365;

/// An audit entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub gsi2pk: String,
    pub gsi2sk: String,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub expires_at: i64,
}

/// What `GET /v1/audit` shows of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: EventId,
    /// The event type (`user.registered`, `post.published`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub schema_version: u32,
    #[schema(format = DateTime)]
    pub occurred_at: String,
    pub actor: Actor,
    pub entity: Entity,
    #[serde(default)]
    pub changes: BTreeMap<String, Change>,
}

fn entity_partition(kind: &str, id: &str) -> String {
    format!("AUDIT#{kind}#{id}")
}

fn actor_partition(actor: &str) -> String {
    format!("AUDIT_ACTOR#{actor}")
}

fn month_partition(month: &str) -> String {
    format!("AUDIT_MONTH#{month}")
}

impl AuditItem {
    /// The entry for `event`, kept `retention_days`.
    pub fn from_event(event: &Event, store: &Store, retention_days: i64) -> Self {
        let id = event.id.to_string();
        let actor = event
            .actor
            .id
            .clone()
            .unwrap_or_else(|| "system".to_owned());
        let month = event.occurred_at.get(..7).unwrap_or("unknown").to_owned();
        Self {
            pk: entity_partition(&event.entity.kind, &event.entity.id),
            sk: id.clone(),
            gsi1pk: actor_partition(&actor),
            gsi1sk: id.clone(),
            gsi2pk: month_partition(&month),
            gsi2sk: id,
            entry: AuditEntry {
                id: event.id,
                kind: event.kind.clone(),
                schema_version: event.schema_version,
                occurred_at: event.occurred_at.clone(),
                actor: event.actor.clone(),
                entity: event.entity.clone(),
                changes: event.changes.clone(),
            },
            expires_at: store.expires_in(retention_days * 86_400),
        }
    }

    pub fn key(&self) -> Key {
        Key::new(&self.pk, &self.sk)
    }
}

/// Records `event` once: a redelivered event finds its entry and changes nothing.
/// Returns `false` for a duplicate.
pub async fn record(store: &Store, event: &Event, retention_days: i64) -> Result<bool, StoreError> {
    match store
        .put_new(&AuditItem::from_event(event, store, retention_days))
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Which slice of the trail to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditQuery {
    Entity {
        kind: String,
        id: String,
    },
    Actor(String),
    /// `[from, to]` in milliseconds since the epoch, within one calendar month.
    Time {
        month: String,
        from_ms: u64,
        to_ms: u64,
    },
}

/// The smallest and largest ULID strings of a millisecond timestamp.
fn ulid_bounds(from_ms: u64, to_ms: u64) -> (String, String) {
    let low = ulid::Ulid::from_parts(from_ms, 0).to_string();
    let high = ulid::Ulid::from_parts(to_ms, u128::MAX).to_string();
    (low, high)
}

/// One page of the trail, newest first.
pub async fn query(
    store: &Store,
    query: &AuditQuery,
    page: &PageRequest,
) -> Result<Page<AuditEntry>, StoreError> {
    let key_query = match query {
        AuditQuery::Entity { kind, id } => KeyQuery::table(entity_partition(kind, id)),
        AuditQuery::Actor(actor) => KeyQuery::index(Index::Gsi1, actor_partition(actor)),
        AuditQuery::Time {
            month,
            from_ms,
            to_ms,
        } => {
            let (low, high) = ulid_bounds(*from_ms, *to_ms);
            KeyQuery::index(Index::Gsi2, month_partition(month)).sort(SortKey::Between(low, high))
        }
    }
    .newest_first();
    let items: Page<AuditItem> = store.query_page(&key_query, page).await?;
    Ok(Page {
        items: items.items.into_iter().map(|i| i.entry).collect(),
        next_cursor: items.next_cursor,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC) into milliseconds since the epoch and the month.
pub fn parse_timestamp(text: &str) -> Option<(u64, String)> {
    let bytes = text.as_bytes();
    if text.len() < 20
        || !text.ends_with('Z')
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let millis = match &text[19..text.len() - 1] {
        "" => 0,
        fraction
            if fraction.starts_with('.')
                && fraction.len() > 1
                && fraction[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let digits = format!("{:0<3}", &fraction[1..]);
            digits[..3].parse::<i64>().ok()?
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis;
    Some((u64::try_from(ms).ok()?, text[..7].to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_milliseconds_and_their_month() {
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00Z"),
            Some((0, "1970-01".into()))
        );
        assert_eq!(
            parse_timestamp("2026-11-24T05:44:53.123Z"),
            Some((1_795_499_093_123, "2026-11".into()))
        );
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00.5Z"),
            Some((951_782_400_500, "2000-02".into()))
        );
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-11-24T25:00:00Z",
            "2026-11-24T05:44:53+01:00",
            "2026-11-24T05:44:53.Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn ulid_bounds_enclose_every_id_of_the_range() {
        let (low, high) = ulid_bounds(1000, 2000);
        let inside = ulid::Ulid::from_parts(1500, 42).to_string();
        let before = ulid::Ulid::from_parts(999, u128::MAX).to_string();
        assert!(low <= inside && inside <= high);
        assert!(before < low);
    }
}
