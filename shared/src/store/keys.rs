//! The single table's item layout — the one place that names keys.
//!
//! Every item has string keys `pk`/`sk`; items that need a second access path also carry the
//! generic index keys `gsi1pk`/`gsi1sk` (index `gsi1`) and `gsi2pk`/`gsi2sk` (index `gsi2`).
//! Items with a lifetime carry `expiresAt` (epoch seconds; the table's TTL attribute — TTL deletion
//! is lazy, so readers check it too, see [`super::Store::get`]). Items changed by concurrent
//! writers carry `version` (optimistic locking, see [`super::Store::update_versioned`]).
//!
//! | entity | `pk` | `sk` | `gsi1pk` / `gsi1sk` | access patterns (one call each) |
//! | --- | --- | --- | --- | --- |
//! | user | `USER#<userId>` | `PROFILE` | `USERS` / `<userId>` | get a user: GetItem; list users, newest first: Query `gsi1` |
//! | email claim | `EMAIL#<email>` | `EMAIL` | – | who owns an address: GetItem; uniqueness: written in the same transaction as the user, under `attribute_not_exists(pk)` |
//!
//! Later features add their rows here, with the access pattern each key serves.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::ids::UserId;
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
}

/// Partition of `gsi1` listing every user.
pub const USERS_PARTITION: &str = "USERS";

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
        let attrs = Key::user(id).to_attrs();
        assert_eq!(
            attrs["pk"],
            AttributeValue::S("USER#01ARZ3NDEKTSV4RRFFQ69G5FAV".into())
        );
        assert_eq!(Index::Gsi2.sort_attr(), "gsi2sk");
    }
}
