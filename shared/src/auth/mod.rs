//! Credentials, below every domain: access tokens (EdDSA JWT, [`jwt`], [`keys`], [`crypto`]),
//! passwords (argon2id, [`password`]) and [`Role`]s. Nothing here reads the table: who is
//! calling — a token checked against the account and its session — is
//! [`crate::accounts::authenticate`], one layer up.

pub mod crypto;
pub mod jwt;
pub mod keys;
pub mod password;

use std::fmt;

use serde::Serialize;

/// Lifetime of an access token: what it is signed for ([`jwt`]) and how long a retired key
/// must still verify ([`keys::RETIRE_AFTER_SECS`]).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;

/// What a user may do. Serialised as `USER`, `MODERATOR`, `ADMIN`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    eserde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "USER",
            Self::Moderator => "MODERATOR",
            Self::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_serialise_in_upper_case() {
        assert_eq!(
            serde_json::to_string(&Role::Moderator).expect("json"),
            "\"MODERATOR\""
        );
        assert_eq!(
            serde_json::from_str::<Role>("\"ADMIN\"").expect("json"),
            Role::Admin
        );
        assert!(serde_json::from_str::<Role>("\"ROOT\"").is_err());
    }
}
