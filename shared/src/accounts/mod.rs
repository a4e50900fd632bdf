//! Accounts: registration, sign-in, sessions with rotating refresh tokens, email verification,
//! password reset and change, profile, and the admin operations — every change written in one
//! transaction together with its outbox event.
//!
//! DynamoDB calls per operation (the happy path):
//!
//! | operation | calls |
//! | --- | --- |
//! | register | 1 UpdateItem (per-IP limit), 1 TransactWriteItems (user, email claim, session, refresh token, event); `silent` mode: 1 UpdateItem, 1 GetItem (email claim), 1 TransactWriteItems (the account, or the owner's notice) |
//! | login | 1 TransactWriteItems (count the attempt in both throttle windows, refused past the limit), 1 GetItem (email claim), 1 GetItem (user), 1 Query (sessions past the cap), 1 TransactWriteItems (session, the oldest ended, the attempt given back) |
//! | refresh | 1 GetItem (token), 1 BatchGetItem (user + session), 1 TransactWriteItems |
//! | logout | 1 GetItem, 1 TransactWriteItems |
//! | authenticated request | 1 BatchGetItem (user + session) before the handler's own work |
//! | public profile | 1 GetItem |
//! | email change request | 1 UpdateItem (password attempt), 1 GetItem (new address's claim), 2 UpdateItem (link budget), 1 TransactWriteItems (pending change, attempt given back, event) |
//! | email change confirmation | 2 GetItem (token, user), 1 GetItem (the asking session), 1 Query (sessions), 1 TransactWriteItems (token, both claims, user, sessions, event) |
//! | forgot password | 1 UpdateItem (per-IP limit), 1 GetItem, 2 UpdateItem (the address's windows), 1 TransactWriteItems (the event, or a count of unsent requests) |
//!
//! Refresh tokens are 256-bit random values stored only as SHA-256 hashes. Each refresh
//! rotates the token in one transaction (the old one marked `rotated` under a condition, the
//! new one written); presenting a rotated token again revokes the whole session (reuse
//! detection), unless it comes within `REFRESH_REUSE_GRACE_SECONDS` (default 0) of the
//! rotation, which answers 401 without revoking (a client's concurrent retry).

mod admin;
pub mod counts;
pub mod devices;
mod email_change;
#[cfg(feature = "oidc")]
pub mod federated;
pub mod identities;
pub mod items;
pub mod mailed_sign_in;
pub mod mfa;
mod principal;
mod profile;
mod recovery;
mod registration;
mod sessions;
mod throttle;

pub use admin::{AdminChange, Roles, admin_delete_user, admin_update_user, grant_role, list_users};
pub use devices::Client;
pub use email_change::{confirm_email_change, request_email_change};
pub use principal::{
    Principal, authenticate, authenticate_optional, authenticate_token, bearer_token,
    require_owner_or, require_role,
};
pub use profile::{
    PublicProfile, change_password, delete_own_account, public_profile, update_profile,
};
pub use recovery::{
    STRANGER_TEMPLATES, forgot_password, mint_link, resend_verification, reset_password,
    stranger_mail_allowed, verify_email,
};
pub use registration::{REGISTRATION_WINDOW_SECS, Registered, Registration, register};
#[cfg(feature = "user-agents")]
pub use sessions::list_sessions;
pub use sessions::{
    Ended, EndedBy, SessionView, end_session, end_sessions, login, logout, refresh,
};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::error::{ApiError, FieldError};
use crate::events::Event;
use crate::ids::UserId;
use crate::limits::Policy;
use crate::store::{Key, Store};
use items::{SessionItem, UserItem, UserView};

/// A session (refresh-token family) lives 30 days from sign-in; rotation does not extend it.
pub const SESSION_TTL_SECS: i64 = 30 * 24 * 3600;
/// Email verification links are valid for two days.
pub const VERIFY_TOKEN_TTL_SECS: i64 = 48 * 3600;
/// Password reset links are valid for 30 minutes.
pub const RESET_TOKEN_TTL_SECS: i64 = 30 * 60;
/// Sign-in links are valid for 15 minutes.
pub const SIGN_IN_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Email-change links (sent to the new address) are valid for 24 hours.
pub const CHANGE_EMAIL_TOKEN_TTL_SECS: i64 = 24 * 3600;
/// The window of the sign-in failure budgets (their sizes: [`crate::config::Limits`]).
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// Emails a stranger can make us send to an address ([`STRANGER_TEMPLATES`]): three an hour.
/// Past it the change still happens; its email is not sent.
const STRANGER_MAIL: Policy = Policy::new("stranger-mail", 3, 3600);
/// The email of a sign-in from a device the account has not seen ([`devices`]).
pub const NEW_SIGN_IN_TEMPLATE: &str = "new-sign-in";
/// The email that tells an account its second factors changed (set up, removed, reset by an
/// administrator, new recovery codes): [`mfa`].
pub const MFA_CHANGED_TEMPLATE: &str = "mfa-changed";
/// A sign-in this recent stands for the password where one is asked (recent authentication):
/// changing second factors, the address, deleting the account.
pub const RECENT_AUTH_SECS: i64 = 10 * 60;
/// Sessions one account may hold; signing in once more ends the oldest.
pub const MAX_SESSIONS: usize = 10;

/// `{ accessToken, refreshToken, tokenType, expiresIn }`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// An EdDSA JWT, valid for `expiresIn` seconds.
    pub access_token: String,
    /// Opaque; single use: every refresh returns a new one.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// The answer of register, login and refresh.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub user: UserView,
    #[serde(flatten)]
    pub tokens: TokenPair,
}

/// A 256-bit random token, base64url (43 characters).
pub fn random_token() -> Result<String, ApiError> {
    let bytes = crate::auth::crypto::random_bytes::<32>()
        .ok_or_else(|| ApiError::internal("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a token, hex: what the table stores instead of the token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 409 `EMAIL_TAKEN`: the address's claim belongs to another account.
fn email_taken() -> ApiError {
    ApiError::Conflict {
        code: "EMAIL_TAKEN",
        detail: "An account with this email address already exists.".into(),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: "INVALID_CREDENTIALS",
        detail: "The email or password is incorrect.".into(),
    }
}

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized {
        code: "INVALID_REFRESH_TOKEN",
        detail: "The refresh token is invalid, expired or revoked; sign in again.".into(),
    }
}

fn field(field: &str, message: &str) -> ApiError {
    ApiError::Validation {
        errors: vec![FieldError::new(field, message)],
    }
}

/// Reads a user and one of their sessions in one call (what [`authenticate`] needs).
pub async fn load_user_and_session(
    store: &Store,
    user: UserId,
    session_id: &str,
) -> Result<(Option<UserItem>, Option<SessionItem>), ApiError> {
    let mut found = store
        .batch_get(&[Key::user(user), SessionItem::key(user, session_id)])
        .await?
        .into_iter();
    let user = found
        .next()
        .flatten()
        .map(Store::parse::<UserItem>)
        .transpose()?;
    let session = found
        .next()
        .flatten()
        .map(Store::parse::<SessionItem>)
        .transpose()?;
    Ok((user, session))
}

/// Reads a user by id.
pub async fn find_user(store: &Store, id: UserId) -> Result<Option<UserItem>, ApiError> {
    Ok(store.get(&Key::user(id)).await?)
}

/// `event` with a security notice about the account (its second factors, its sign-in methods):
/// `template` with the greeting and `vars`, to a **confirmed** address only — an unconfirmed one
/// may be a stranger's, who has no business learning how the account signs in.
fn security_notice(event: Event, user: &UserItem, template: &str, vars: &[(&str, &str)]) -> Event {
    if !user.email_verified {
        return event;
    }
    let mut all = greeting(user);
    all.extend_from_slice(vars);
    event.email(template, &user.email, &all)
}

/// The greeting an email may carry: the account's name only once its owner has proved the
/// address is theirs — until then a registrant's text never reaches that mailbox.
fn greeting(user: &UserItem) -> Vec<(&'static str, &str)> {
    if user.email_verified {
        vec![("name", user.name.as_str())]
    } else {
        Vec::new()
    }
}
