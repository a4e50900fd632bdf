//! Account items of the single table (layout in [`crate::store::keys`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::Role;
use crate::events::Actor;
use crate::http::QueryEnum;
use crate::ids::UserId;
use crate::store::{Attr, Key};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl QueryEnum for UserStatus {
    const VALUES: &'static [&'static str] = &["active", "disabled"];
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// `USER#<id>` / `PROFILE`; listed in `gsi1` (`USERS`, newest first) and in `gsi2` by status
/// (`USERS#<status>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub gsi2pk: String,
    pub gsi2sk: String,
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub status: UserStatus,
    pub email_verified: bool,
    /// The password's argon2id hash; `None`: the account signs in without one (a mailed link;
    /// its password was cleared when a link proved the address, see
    /// [`super::mailed_sign_in`]) until one is set through the reset flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
    /// Bumped whenever every session and email link of the account must end (a password set,
    /// the account disabled): a session or a link of an older epoch is dead, however many
    /// there are. Checked by every authenticated request and every refresh, which read the
    /// user anyway.
    #[serde(default)]
    pub session_epoch: u64,
    /// Properties of the registry this account owns, kept in the transactions that create and
    /// transfer them: an account is deleted only under the condition that it is 0 (absent
    /// counts as 0), so no property is ever left without an owner.
    #[serde(default)]
    pub property_count: u64,
    /// Active leases this account holds as a tenant, kept in the lease transactions: an
    /// account is deleted only without one.
    #[serde(default)]
    pub active_lease_count: u64,
    /// Published posts of this account, kept in the post transactions that publish, unpublish,
    /// hide and delete them (the public profile shows it). Signed: a post published before the
    /// counter existed and deleted since takes it below its true value rather than breaking the
    /// item; shown clamped at 0.
    #[serde(default)]
    pub published_post_count: i64,
    /// Links requested before this instant (ms) are never minted: set when the password is
    /// set, so a reset or verification email still on its way carries no live link.
    #[serde(default)]
    pub links_valid_after: u64,
    /// The hash of the newest password-reset link's token: a newer link voids the older ones,
    /// and setting a password voids it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_token: Option<String>,
    /// The hash of the newest verification link's token (same rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
    /// The hash of the newest email-change link's token (same rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_email_token: Option<String>,
    /// The hash of the newest sign-in link's token (same rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_token: Option<String>,
    /// The address a change was asked for (normalised), until its link is opened: the account
    /// keeps its address and its claim until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_email: Option<String>,
    /// The session that asked for the change: the one that survives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_email_session: Option<String>,
    /// The devices the account has signed in from: fingerprint → last seen (epoch seconds), at
    /// most [`super::devices::MAX_KNOWN_DEVICES`] (see [`super::devices`]). `None` on accounts
    /// made before devices were remembered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_devices: Option<BTreeMap<String, i64>>,
    /// The second factors in force: factor (`totp`) → since when. `None` or empty: the
    /// password alone signs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<BTreeMap<String, String>>,
    /// The OIDC identities linked to the account: provider → its `sub` (each has its
    /// [`IdentityClaim`], deleted with the account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<BTreeMap<String, String>>,
}

crate::store::attributes! { UserItem in user_attributes {
    GSI2PK: String = gsi2pk,
    EMAIL: String = email,
    NAME: String = name,
    ROLES: Vec<Role> = roles,
    STATUS: UserStatus = status,
    EMAIL_VERIFIED: bool = email_verified,
    PASSWORD_HASH: String = password_hash,
    UPDATED_AT: String = updated_at,
    SESSION_EPOCH: u64 = session_epoch,
    KNOWN_DEVICES: BTreeMap<String, i64> = known_devices,
    MFA: BTreeMap<String, String> = mfa,
    IDENTITIES: BTreeMap<String, String> = identities,
    PROPERTY_COUNT: u64 = property_count,
    ACTIVE_LEASE_COUNT: u64 = active_lease_count,
    PUBLISHED_POST_COUNT: i64 = published_post_count,
    LINKS_VALID_AFTER: u64 = links_valid_after,
    RESET_TOKEN: String = reset_token,
    VERIFY_TOKEN: String = verify_token,
    CHANGE_EMAIL_TOKEN: String = change_email_token,
    SIGN_IN_TOKEN: String = sign_in_token,
    PENDING_EMAIL: String = pending_email,
    PENDING_EMAIL_SESSION: String = pending_email_session,
} }

impl UserItem {
    pub fn key(&self) -> Key {
        Key::user(self.id)
    }

    /// The account as it is once `provider`'s `subject` is linked to it.
    pub fn add_identity(&mut self, provider: &str, subject: &str) {
        self.identities
            .get_or_insert_with(BTreeMap::new)
            .insert(provider.to_owned(), subject.to_owned());
    }

    /// Whether signing in needs the second factor `factor` (`totp`).
    pub fn has_factor(&self, factor: &str) -> bool {
        self.mfa.as_ref().is_some_and(|m| m.contains_key(factor))
    }

    /// The hash of the newest link of `purpose`.
    pub fn newest_link(&self, purpose: TokenPurpose) -> Option<&str> {
        match purpose {
            TokenPurpose::VerifyEmail => self.verify_token.as_deref(),
            TokenPurpose::ResetPassword => self.reset_token.as_deref(),
            TokenPurpose::ChangeEmail => self.change_email_token.as_deref(),
            TokenPurpose::SignIn => self.sign_in_token.as_deref(),
        }
    }

    /// The attribute holding the hash of the newest link of `purpose`.
    pub fn newest_link_attr(purpose: TokenPurpose) -> Attr<Self, String> {
        match purpose {
            TokenPurpose::VerifyEmail => Self::VERIFY_TOKEN,
            TokenPurpose::ResetPassword => Self::RESET_TOKEN,
            TokenPurpose::ChangeEmail => Self::CHANGE_EMAIL_TOKEN,
            TokenPurpose::SignIn => Self::SIGN_IN_TOKEN,
        }
    }

    /// This account as the actor of an event, with its roles at the time.
    pub fn actor(&self) -> Actor {
        Actor::user(self.id, &self.roles)
    }

    pub fn status_partition(status: UserStatus) -> String {
        format!("USERS#{}", status.as_str())
    }
}

/// What the API shows of a user (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: UserId,
    #[schema(format = Email)]
    pub email: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub status: UserStatus,
    pub email_verified: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Optimistic-locking version; also the `ETag`.
    pub version: u64,
    /// The second factors signing in needs (`totp`); empty: the password alone.
    pub mfa: Vec<String>,
    /// The providers whose sign-in reaches this account (`google`, `apple`, `oidc`).
    pub identities: Vec<String>,
    /// Whether the account has a password (one that signs in by provider or mailed link may
    /// not: it can set one through the reset flow).
    pub has_password: bool,
}

impl From<&UserItem> for UserView {
    fn from(user: &UserItem) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            roles: user.roles.clone(),
            status: user.status,
            email_verified: user.email_verified,
            created_at: user.created_at.clone(),
            updated_at: user.updated_at.clone(),
            version: user.version,
            mfa: user.mfa.iter().flat_map(|m| m.keys().cloned()).collect(),
            identities: user
                .identities
                .iter()
                .flat_map(|m| m.keys().cloned())
                .collect(),
            has_password: user.password_hash.is_some(),
        }
    }
}

/// `EMAIL#<email>` / `EMAIL`: reserves an address for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailClaim {
    pub pk: String,
    pub sk: String,
    pub user_id: UserId,
}

/// `USER#<id>` / `SESSION#<sid>`: one signed-in device; a refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    pub pk: String,
    pub sk: String,
    pub session_id: String,
    pub user_id: UserId,
    pub created_at: String,
    pub expires_at: i64,
    /// The user's `session_epoch` when the session began: it lives only while they match.
    #[serde(default)]
    pub epoch: u64,
    /// When its refresh token was last rotated (none before the first refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refreshed_at: Option<String>,
    /// The User-Agent of the sign-in (bounded, see [`super::devices::Client`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The network it was last used from (sign-in or refresh): a /24 or /48, never the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// When its user signed in (epoch seconds): "recent authentication" is measured from it.
    /// Refreshing never moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticated_at: Option<i64>,
    /// When a second factor was last given in this session (its sign-in, or a code sent with
    /// a request). Refreshing never moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor_at: Option<i64>,
    /// How it signed in (RFC 8176): `pwd`, `otp`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

crate::store::attributes! { SessionItem in session_attributes {
    EPOCH: u64 = epoch,
    LAST_REFRESHED_AT: String = last_refreshed_at,
    NETWORK: String = network,
    SECOND_FACTOR_AT: i64 = second_factor_at,
    AMR: Vec<String> = amr,
} }

impl SessionItem {
    /// The sort-key prefix of a user's sessions.
    pub const PREFIX: &'static str = "SESSION#";

    pub fn key(user: UserId, session_id: &str) -> Key {
        Key::new(format!("USER#{user}"), format!("SESSION#{session_id}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefreshState {
    Active,
    Rotated,
    Revoked,
}

/// `REFRESH#<sha256(token)>` / `REFRESH`: a refresh token, stored only as its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshItem {
    pub pk: String,
    pub sk: String,
    pub user_id: UserId,
    pub session_id: String,
    pub state: RefreshState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<i64>,
    pub expires_at: i64,
}

crate::store::attributes! { RefreshItem in refresh_attributes {
    STATE: RefreshState = state,
    ROTATED_AT: i64 = rotated_at,
} }

impl RefreshItem {
    pub fn key(token_hash: &str) -> Key {
        Key::new(format!("REFRESH#{token_hash}"), "REFRESH")
    }
}

/// What a one-time token is for (the purposes of email links).
pub use crate::events::LinkPurpose as TokenPurpose;

/// `IDENTITY#<provider>#<sub>` / `IDENTITY`: the account an OIDC identity signs in to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityClaim {
    pub pk: String,
    pub sk: String,
    pub user_id: UserId,
    pub provider: String,
    pub subject: String,
    pub linked_at: String,
}

impl IdentityClaim {
    pub fn key(provider: &str, subject: &str) -> Key {
        Key::new(format!("IDENTITY#{provider}#{subject}"), "IDENTITY")
    }

    /// The claim of `provider`'s `subject` for `user`, linked at `linked_at`.
    pub fn new(user: UserId, provider: &str, subject: &str, linked_at: &str) -> Self {
        let key = Self::key(provider, subject);
        Self {
            pk: key.pk,
            sk: key.sk,
            user_id: user,
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            linked_at: linked_at.to_owned(),
        }
    }
}

/// `OIDCNONCE#<hash>` / `OIDCNONCE`: a nonce an ID token signed in with (until the token
/// expires): the same token, or another with the same nonce, never signs in again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsedNonce {
    pub pk: String,
    pub sk: String,
    pub expires_at: i64,
}

impl UsedNonce {
    pub fn key(hash: &str) -> Key {
        Key::new(format!("OIDCNONCE#{hash}"), "OIDCNONCE")
    }
}

/// `TOKEN#<sha256(token)>` / `TOKEN`: a single-use email link token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneTimeToken {
    pub pk: String,
    pub sk: String,
    pub purpose: TokenPurpose,
    pub user_id: UserId,
    pub expires_at: i64,
}

impl OneTimeToken {
    pub fn key(token_hash: &str) -> Key {
        Key::new(format!("TOKEN#{token_hash}"), "TOKEN")
    }
}

/// `STATS` / `ADMINS`: how many active admins exist (guards the last one). Written only by
/// `ADD`, never put whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminCounter {
    #[serde(default)]
    pub count: u64,
}

crate::store::attributes! { AdminCounter in admin_counter_attributes {
    COUNT: u64 = count,
} }

impl AdminCounter {
    pub fn key() -> Key {
        Key::new("STATS", "ADMINS")
    }
}

/// The second factor of an authenticator app (see [`super::mfa`]).
pub const TOTP: &str = "totp";

/// A sign-in challenge lives five minutes.
pub const CHALLENGE_TTL_SECS: i64 = 5 * 60;

/// `MFACHALLENGE#<sha256(challenge)>` / `MFACHALLENGE`: a sign-in whose password was right,
/// waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeItem {
    pub pk: String,
    pub sk: String,
    pub user_id: UserId,
    /// The account's session epoch then: a password set since voids the challenge.
    pub epoch: u64,
    pub expires_at: i64,
    /// How the first factor was given (`pwd`, `email`): the session's `amr` starts with it.
    #[serde(default = "password_first")]
    pub amr: Vec<String>,
}

fn password_first() -> Vec<String> {
    vec!["pwd".to_owned()]
}

impl ChallengeItem {
    pub fn key(challenge: &str) -> Key {
        Key::new(
            format!("MFACHALLENGE#{}", super::token_hash(challenge)),
            "MFACHALLENGE",
        )
    }
}
