//! The single table's item layout — the one place that names keys.
//!
//! Every item has string keys `pk`/`sk`; items that need a second access path also carry the
//! generic index keys `gsi1pk`/`gsi1sk` (index `gsi1`) and `gsi2pk`/`gsi2sk` (index `gsi2`).
//! Items with a lifetime carry `expiresAt` (epoch seconds; the table's TTL attribute — TTL deletion
//! is lazy, so readers check it too, see [`super::Store::get`]). Items changed by concurrent
//! writers carry `version` (optimistic locking: [`super::Update::bump_version`] in the write,
//! [`super::expect_version`] for the version a client sent, [`super::OnCondition::or_stale`] for
//! the answer).
//!
//! Every item shape of the table, with the access pattern each key serves (the modules named
//! build the keys and document their items in detail):
//!
//! | item | `pk` | `sk` | index keys | access patterns | module |
//! | --- | --- | --- | --- | --- | --- |
//! | user (with its known devices, a map by fingerprint) | `USER#<userId>` | `PROFILE` | `gsi1`: `USERS` / `<userId>`; `gsi2`: `USERS#<status>` / `<userId>` | get a user: GetItem (with a session: BatchGetItem); list users newest first: Query `gsi1`; by status: Query `gsi2` | accounts |
//! | email claim | `EMAIL#<address>` | `EMAIL` | – | who owns an address: GetItem; uniqueness: written with the user under `attribute_not_exists(pk)` | accounts |
//! | session (with its User-Agent and network) | `USER#<userId>` | `SESSION#<sessionId>` | – | check one: BatchGetItem with the user; a user's sessions, newest first (the listing, ending them): Query `begins_with(sk, SESSION#)` | accounts |
//! | second factor (TOTP: its secret sealed with KMS, the last step used, recovery-code hashes) | `USER#<userId>` | `MFA#TOTP` | – | enrol, confirm, check, remove: GetItem, conditional writes in a transaction | accounts (`mfa`) |
//! | sign-in challenge | `MFACHALLENGE#<sha256>` | `MFACHALLENGE` | – | the second step of a sign-in: GetItem, deleted under `attribute_exists` in the transaction that makes the session (5-minute TTL) | accounts (`mfa`) |
//! | identity claim (an OpenID Connect provider's user, linked to an account) | `IDENTITY#<provider>#<sub>` | `IDENTITY` | – | provider sign-in and linking: GetItem; `GET /users/me/identities`: BatchGetItem; one account per identity: written with the account or the link under `attribute_not_exists(pk)`, deleted with the unlink or the account | accounts (`federated`, `identities`) |
//! | used ID-token nonce | `OIDCNONCE#<sha256(provider, nonce)>` | `OIDCNONCE` | – | a token signs in once: conditional PutItem (TTL: the token's expiry) | accounts (`federated`) |
//! | refresh token | `REFRESH#<sha256>` | `REFRESH` | – | refresh: GetItem; rotation: conditional update in a transaction | accounts |
//! | one-time token | `TOKEN#<sha256>` | `TOKEN` | – | verify / reset links: GetItem, consumed in a transaction | accounts |
//! | throttle counter | `THROTTLE#<scope>#<subject>` | `<windowStart>` | – | one window's count: conditional UpdateItem (`login-account`, `login-ip`, `register-ip`, mail budgets) | accounts |
//! | admin count | `STATS` | `ADMINS` | – | the last-admin rule: conditional UpdateItem in the same transaction | accounts |
//! | post | `POST#<postId>` | `POST` | `gsi1`: `AUTHOR#<userId>` / `<postId>`; `gsi2` (published only): `AUTHOR_PUBLISHED#<userId>` / `<publishedKey>` | GetItem; an author's posts: Query `gsi1`; published ones: Query `gsi2` | posts |
//! | feed / tag entry | `FEED#<yyyy-mm>` / `TAG#<tag>#<yyyy-mm>` | `<publishedKey>` | – | a feed page: Query per month bucket, newest first | posts |
//! | feed month | `FEEDMONTHS#FEED` / `FEEDMONTHS#TAG#<tag>` | `<yyyy-mm>` | – | the next older month with entries: Query `sk BETWEEN` | posts |
//! | idempotency record | `IDEMPOTENCY#<userId>#<key>` | `IDEMPOTENCY` | – | replaying `POST /posts`: GetItem (24 h TTL) | posts |
//! | payment idempotency record | `IDEMPOTENCY#<userId>#<key>` | `PAYMENT` | – | replaying `POST /leases/{id}/payments`: GetItem, written in the payment's transaction under `attribute_not_exists(pk)` (24 h TTL; the sort key keeps a post's key and a payment's apart) | properties (`ledger`) |
//! | property (with its units, a map by label) | `PROPERTY#<propertyId>` | `PROPERTY` | `gsi1`: `OWNER#<userId>` / `<propertyId>`; `gsi2`: `PLACE#<country>` / `<city>#<kind>#<propertyId>` | a property and its units: GetItem; an owner's properties: Query `gsi1`; by place: Query `gsi2` (sort-key prefix) | properties |
//! | file number claim | `FILENUMBER#<FILE-NUMBER>` | `FILENUMBER` | – | uniqueness: written with the property under `attribute_not_exists(pk)` | properties |
//! | unit lookup | `UNIT#<unitId>` | `UNIT` | – | the property of a unit (`POST /leases` names only the unit): GetItem | properties |
//! | lease | `LEASE#<leaseId>` | `LEASE` | `gsi1`: `TENANT#<userId>` / `<leaseId>`; `gsi2`: `PROPERTYLEASES#<propertyId>` / `<leaseId>` | a lease: GetItem; a tenant's, a property's: Query | properties |
//! | ledger entry | `LEASE#<leaseId>` | `ENTRY#<entryId>` | – | a lease's ledger, newest first: Query `begins_with(sk, ENTRY#)`; written with the lease's balance (`ADD`) and the event; a reversal marks its entry (`reversedBy`, `attribute_not_exists`) | properties (`ledger`) |
//! | rent due marker | `RENTDUE#<dd>` (the start date's day of the month) | `<leaseId>` | – | the leases due on a day: Query (one partition per due day; written with the lease, given a TTL 62 days after its end date) | properties (`rent`) |
//! | lease end marker | `LEASEEND#<yyyy-mm-dd>` | `<leaseId>` | – | the leases agreed to end on a date (the rent run's 30-day notice): Query; written with the lease and by a renewal that moves the end date (62-day TTL after it; a marker of a moved end date is read and ignored) | properties (`calendar`, `rent`) |
//! | reminder claim | `LEASE#<leaseId>` | `REMINDER#<kind>#<period>` (kind `due`, `overdue`, `ending`) | – | a reminder sent at most once per lease, kind and period: written under `attribute_not_exists` with its event | properties (`rent`) |
//! | rent claim | `LEASE#<leaseId>` | `RENT#<yyyy-mm>` | – | a period charged once: written under `attribute_not_exists` in the rent charge's transaction | properties (`ledger`, `rent`) |
//! | rent run | `RENTRUN` | `STATE` | – | the last day the rent run finished and where a run stopped: GetItem, UpdateItem (moved forward only) | properties (`rent`) |
//! | lease month totals | `LEASE#<leaseId>` | `MONTH#<yyyy-mm>` | – | a month's charged/paid/credited (`ADD` in each posting's transaction; a reversal counts against its entry's month): the rent roll's BatchGetItem | properties (`ledger`, `rent_roll`) |
//! | ownership transfer | `PROPERTYHISTORY#<propertyId>` | `<transferId>` | – | a property's history, newest first: Query | properties |
//! | document (of a property or a lease; its file in the documents' bucket) | `DOC#<documentId>` | `DOC` | `gsi1`: `DOCS#PROPERTY#<propertyId>` or `DOCS#LEASE#<leaseId>` / `<documentId>` | a document: GetItem; a property's or a lease's, newest first: Query `gsi1`; written with its property's counts (`documentCount`, `documentBytes`: `ADD` under the quota's condition) and its event | properties (`documents`) |
//! | notification | `USER#<userId>` | `NOTIFICATION#<notificationId>` (the event's id) | – | the inbox, newest first: Query `begins_with(sk, NOTIFICATION#)`; the unread count: Query (`COUNT`) of `sk` after the read mark, without `readAt`; written once by the notifications worker under `attribute_not_exists` with a ConditionCheck that the account exists (TTL: `NOTIFICATION_RETENTION_DAYS`) | notifications |
//! | read mark | `USER#<userId>` | `NOTIFICATIONS` | – | everything up to `readUpTo` is read: GetItem; moved forward only (UpdateItem under `readUpTo < :id`) | notifications |
//! | connection slot (one of an account's [`MAX_CONNECTIONS`](crate::live::MAX_CONNECTIONS) WebSocket connections) | `USER#<userId>` | `LIVE#<n>` (0–4) | – | a connect takes a free or expired one: Query `begins_with(sk, LIVE#)`, then UpdateItem under `expiresAt <= now` in the transaction with the connection; a push reads them (the same Query, expired ones too, to close them); freed under `connectionId = :id` (TTL: the access token's `exp`) | live |
//! | connection | `LIVE#<connectionId>` | `LIVE` | – | `$disconnect` knows only the id: GetItem (whose, which slot), deleted with its slot (TTL: the access token's `exp`) | live |
//! | webhook endpoint (its signing secret sealed with KMS) | `WEBHOOK#<webhookId>` | `WEBHOOK` | `gsi1`: `WEBHOOKS` / `<webhookId>` | one: GetItem; all (the listing, the worker's fan-out): Query `gsi1`; written with the endpoint count and the event | webhooks |
//! | webhook delivery | `WEBHOOK#<webhookId>` | `DELIVERY#<eventId>` | – | an endpoint's deliveries, newest first: Query; one per event and endpoint, rewritten (PutItem) on each attempt (30-day TTL) | webhooks |
//! | webhook endpoint count | `STATS` | `WEBHOOKS` | – | at most 20 endpoints: `ADD` under a condition in the new endpoint's transaction | webhooks |
//! | outbox event | `OUTBOX#<eventId>` | `EVENT` | – | written in every change's transaction; read only by the stream (24 h TTL) | events |
//! | audit entry | `AUDIT#<entityType>#<entityId>` | `<eventId>` | `gsi1`: `AUDIT_ACTOR#<actorId>` / `<eventId>`; `gsi2`: `AUDIT_MONTH#<yyyy-mm>` / `<eventId>` | an entity's history, an actor's actions, a month: Query | audit |
//! | email send claim | `EMAIL#<eventId>` | `EMAIL`, `EMAIL#<n>` (the event's n-th further email) | – | at most one send per email of an event: conditional PutItem (30-day TTL; an event id has no `@`, an address always has one, so it never meets an email claim) | worker-email |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ids::{EventId, UserId};
use crate::validate::Email;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
/// The table's TTL attribute (epoch seconds).
pub const EXPIRES_AT: &str = "expiresAt";
/// The optimistic-locking counter.
pub const VERSION: &str = "version";

/// A global secondary index of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    pub fn name(self) -> &'static str {
        match self {
            Self::Gsi1 => "gsi1",
            Self::Gsi2 => "gsi2",
        }
    }

    pub fn partition_attr(self) -> &'static str {
        match self {
            Self::Gsi1 => GSI1PK,
            Self::Gsi2 => GSI2PK,
        }
    }

    pub fn sort_attr(self) -> &'static str {
        match self {
            Self::Gsi1 => GSI1SK,
            Self::Gsi2 => GSI2SK,
        }
    }
}

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key as DynamoDB attributes (`Key` of GetItem/UpdateItem/DeleteItem).
    pub fn to_attrs(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(self.pk.clone())),
            (SK.to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }

    /// A user's profile item.
    pub fn user(id: UserId) -> Self {
        Self::new(format!("USER#{id}"), "PROFILE")
    }

    /// The item that reserves an email address for one account.
    pub fn email(email: &Email) -> Self {
        Self::new(format!("EMAIL#{}", email.as_str()), "EMAIL")
    }

    /// The at-most-once claim of the `n`-th email event `event` asks for (`EMAIL` for the
    /// first, `EMAIL#<n>` for the others).
    pub fn email_send(event: EventId, n: usize) -> Self {
        let sk = if n == 0 {
            "EMAIL".to_owned()
        } else {
            format!("EMAIL#{n}")
        };
        Self::new(format!("EMAIL#{event}"), sk)
    }
}

/// Partition of `gsi1` listing every user.
pub const USERS_PARTITION: &str = "USERS";

/// Partition of `gsi1` holding every post of `author`, drafts and hidden ones too.
pub fn author_posts(author: UserId) -> String {
    format!("AUTHOR#{author}")
}

/// Partition of `gsi2` holding `author`'s published posts only (a sparse index).
pub fn author_published(author: UserId) -> String {
    format!("AUTHOR_PUBLISHED#{author}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_layout() {
        let id = UserId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("id");
        assert_eq!(
            Key::user(id),
            Key::new("USER#01ARZ3NDEKTSV4RRFFQ69G5FAV", "PROFILE")
        );
        let email = Email::parse("Ada@Example.com").expect("email");
        assert_eq!(Key::email(&email).pk, "EMAIL#ada@example.com");
        assert_eq!(author_posts(id), "AUTHOR#01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert_eq!(
            author_published(id),
            "AUTHOR_PUBLISHED#01ARZ3NDEKTSV4RRFFQ69G5FAV"
        );
        let attrs = Key::user(id).to_attrs();
        assert_eq!(
            attrs["pk"],
            AttributeValue::S("USER#01ARZ3NDEKTSV4RRFFQ69G5FAV".into())
        );
        assert_eq!(Index::Gsi2.sort_attr(), "gsi2sk");
    }
}
