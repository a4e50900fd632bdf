//! Time-ordered identifiers (ULID): 26 Crockford base32 characters, sortable by creation time,
//! which makes them good sort keys ("newest first" is a reverse key order).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// A fresh time-ordered id, as its canonical string.
pub fn new_id() -> String {
    Ulid::new().to_string()
}

/// Why an id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a 26-character ULID")]
pub struct InvalidId;

/// The OpenAPI schema of a ULID newtype: a 26-character string of Crockford base32.
macro_rules! ulid_schema {
    ($name:ident, $description:literal) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some("^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$"))
                    .min_length(Some(26))
                    .max_length(Some(26))
                    .description(Some($description))
                    .examples(["01JDX3M5Q6T7V8W9XAYBZC0D1E"])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Ulid);

        impl $name {
            /// A new id for an entity created now.
            pub fn generate() -> Self {
                Self(Ulid::new())
            }

            /// Parses the canonical (upper-case) form; lower-case input is accepted and normalised.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                if value.len() != ulid::ULID_LEN {
                    return Err(InvalidId);
                }
                // `from_string` wraps values above 2^128 ("8ZZZ…"): accept only canonical input.
                let ulid = Ulid::from_string(value).map_err(|_| InvalidId)?;
                if ulid.to_string().eq_ignore_ascii_case(value) {
                    Ok(Self(ulid))
                } else {
                    Err(InvalidId)
                }
            }
        }

        ulid_schema!($name, "A ULID: 26 Crockford base32 characters, time-ordered.");

        // In a request body, an id is one value: it parses whole or is one problem of the body.
        eserde::impl_edeserialize_compat!($name);

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(value: &str) -> Result<Self, InvalidId> {
                Self::parse(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// The id of a user account.
    UserId
);
id_type!(
    /// The id of a post.
    PostId
);
id_type!(
    /// The id of a property of the registry.
    PropertyId
);
id_type!(
    /// The id of a unit of a property.
    UnitId
);
id_type!(
    /// The id of a lease of a unit.
    LeaseId
);
id_type!(
    /// The id of an entry of a lease's ledger (time-ordered: the ledger sorts by it).
    EntryId
);
id_type!(
    /// The id of one ownership transfer (time-ordered: a property's history sorts by it).
    TransferId
);
id_type!(
    /// The id of a session (a refresh-token family), time-ordered: a user's sessions sort by it.
    SessionId
);
id_type!(
    /// The id of a document of a property or a lease (time-ordered: listings sort by it).
    DocumentId
);
id_type!(
    /// The id of an event (outbox item, audit entry): time-ordered, the idempotency key of workers.
    EventId
);
id_type!(
    /// The id of a webhook endpoint.
    WebhookId
);
id_type!(
    /// The id of a notification: its event's (time-ordered: an inbox sorts by it).
    NotificationId
);

impl From<EventId> for NotificationId {
    fn from(event: EventId) -> Self {
        Self(event.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_time_ordered_and_round_trip() {
        let first = UserId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = UserId::generate();
        assert!(first.to_string() < second.to_string());
        assert_eq!(UserId::parse(&first.to_string()), Ok(first));
        assert_eq!(new_id().len(), 26);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "abc",
            "01HZZZZZZZZZZZZZZZZZZZZZZZZ",
            "01ARZ3NDEKTSV4RRFFQ69G5FA!",
            "8ZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ] {
            assert_eq!(UserId::parse(bad), Err(InvalidId), "{bad}");
        }
    }

    #[test]
    fn lower_case_ids_are_normalised() {
        let id = UserId::parse("01arz3ndektsv4rrffq69g5fav").expect("valid");
        assert_eq!(id.to_string(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    }

    #[test]
    fn ids_serialise_as_plain_strings() {
        let id = UserId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").expect("valid");
        assert_eq!(
            serde_json::to_string(&id).expect("json"),
            "\"01ARZ3NDEKTSV4RRFFQ69G5FAV\""
        );
        let back: UserId = serde_json::from_str("\"01ARZ3NDEKTSV4RRFFQ69G5FAV\"").expect("json");
        assert_eq!(back, id);
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}
