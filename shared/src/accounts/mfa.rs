//! Second factors: TOTP (RFC 6238) with recovery codes, recent authentication, and the
//! sign-in challenge.
//!
//! **The factor.** `USER#<id>` / `MFA#TOTP` holds the factor: its secret (20 random bytes) and
//! the key of its recovery codes (32 random bytes), sealed together with KMS (`MFA_KEY_ARN`,
//! encryption context `purpose=mfa-totp`, `userId`: see [`crate::sealing`]) — the table never
//! holds either in the clear; the step of the last code accepted (a code is accepted once: a
//! later code must be of a later step); and the recovery codes, as HMAC-SHA-256 hashes under
//! that key (they are random: a slow hash would buy nothing). Enrolment writes it `pending`;
//! a valid code makes it `active` and puts `totp` in the account's `mfa` map, in one
//! transaction. Codes are 6 digits, 30-second steps, SHA-1 (what every authenticator app
//! reads from an `otpauth://` URI), one step of clock skew either way.
//!
//! **Signing in** with a factor: the password (or a mailed link) answers 401 `MFA_REQUIRED` with
//! a challenge (`MFACHALLENGE#<sha256>`: 256 random bits, 5 minutes, single use: consumed in the
//! transaction that creates the session); `POST /auth/mfa/verify` with the challenge and a code
//! or a recovery code signs in, `amr` `["pwd","otp"]` (`["email","otp"]` after a mailed link).
//! Wrong codes are counted per account like wrong passwords (`LoginFailuresPerAccount` per 15
//! minutes, 429 past it, the right code included); the attempt is counted before the code is
//! checked and given back when it was right. Two requests with the same code at once: one
//! session, the other is refused (the step's condition).
//!
//! **Recent authentication** (enrolling, disabling): the password in the request, or a sign-in
//! within the last [`RECENT_AUTH_SECS`] in this session — so an account without a password is
//! never locked out of its own security settings.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::Principal;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::State;
use crate::store::Key;

pub use super::RECENT_AUTH_SECS;
pub use super::items::{ChallengeItem, TOTP};
/// Recovery codes issued at once (each single use).
pub const RECOVERY_CODES: usize = 10;
/// With a second factor in force, what matters (a transfer, an email or password change, an
/// account deletion) needs one given within this long in the session — or one in the request.
pub const STEP_UP_SECS: i64 = 10 * 60;

/// Whether an enrolled factor is in force yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorState {
    /// Enrolled, not yet confirmed with a code: signing in does not ask for it.
    Pending,
    /// Confirmed: signing in asks for it.
    Active,
}

/// `USER#<userId>` / `MFA#TOTP`: an account's authenticator-app factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpItem {
    pub pk: String,
    pub sk: String,
    pub user_id: UserId,
    /// The secret and the recovery-code key, sealed with KMS (base64).
    pub sealed: String,
    pub state: FactorState,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    /// The TOTP step (unix time / 30) of the last code accepted: no code of it or before
    /// is accepted again.
    #[serde(default)]
    pub last_step: u64,
    /// HMAC-SHA-256 (hex) of each unused recovery code → when it was issued.
    #[serde(default)]
    pub recovery: BTreeMap<String, String>,
    pub version: u64,
}

crate::store::attributes! { TotpItem in totp_attributes {
    STATE: FactorState = state,
    CONFIRMED_AT: String = confirmed_at,
    LAST_STEP: u64 = last_step,
    RECOVERY: BTreeMap<String, String> = recovery,
} }

impl TotpItem {
    pub fn key(user: UserId) -> Key {
        Key::new(format!("USER#{user}"), "MFA#TOTP")
    }
}

/// Recent authentication ([`super::throttle::reauthenticate`]): the writes the caller's
/// transaction carries with it (the password's give-back, if one was given).
#[cfg_attr(not(feature = "mfa"), allow(dead_code))]
pub(super) async fn recently_authenticated(
    state: &State,
    me: &Principal,
    password: Option<&str>,
) -> Result<Vec<TransactWriteItem>, ApiError> {
    let given = super::throttle::reauthenticate(state, me, "password", password).await?;
    Ok(given.map(|g| g.op).into_iter().collect())
}

#[cfg(feature = "mfa")]
pub use enabled::*;

#[cfg(feature = "mfa")]
mod enabled {
    use std::collections::BTreeMap;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac as _};
    use serde::Serialize;
    use sha2::Sha256;
    use totp_rs::{Algorithm, Builder, Totp};

    use super::{
        ChallengeItem, FactorState, RECOVERY_CODES, TOTP, TotpItem, recently_authenticated,
    };
    use crate::accounts::devices::Client;
    use crate::accounts::items::UserItem;
    use crate::accounts::throttle::{give_back, spent};
    use crate::accounts::{MFA_CHANGED_TEMPLATE, Principal, Session, find_user, security_notice};
    use crate::error::{ApiError, FieldError};
    use crate::events::{Event, outbox_put};
    use crate::limits::Policy;
    use crate::sealing::Context;
    use crate::state::State;
    use crate::store::{StoreError, Update};

    const PURPOSE: &str = "mfa-totp";
    const SECRET_BYTES: usize = 20;
    const STEP_SECS: u64 = 30;

    /// What enrolment answers: the secret for the authenticator app, as text and as the
    /// `otpauth://` URI its QR code carries.
    #[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct Enrolment {
        /// The secret, base32 (for typing into an app).
        pub secret: String,
        /// `otpauth://totp/<app>:<email>?secret=…&issuer=<app>` (for a QR code).
        pub otpauth_uri: String,
    }

    /// The recovery codes, shown once.
    #[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct RecoveryCodes {
        /// Ten single-use codes (80 random bits each); each signs in once in place of a code.
        pub recovery_codes: Vec<String>,
    }

    /// The second factor a request gives: a current code or a recovery code.
    #[derive(Debug, Clone)]
    pub enum SecondFactor {
        Code(String),
        RecoveryCode(String),
    }

    impl SecondFactor {
        /// Exactly one of `code` and `recoveryCode` (422 naming both otherwise).
        pub fn from_request(
            code: Option<&crate::validate::OtpCode>,
            recovery: Option<&crate::validate::RecoveryCode>,
        ) -> Result<Self, ApiError> {
            match (code, recovery) {
                (Some(code), None) => Ok(Self::Code(code.expose().to_owned())),
                (None, Some(recovery)) => Ok(Self::RecoveryCode(recovery.expose().to_owned())),
                _ => {
                    let message = "give exactly one of `code` and `recoveryCode`";
                    Err(ApiError::Validation {
                        errors: vec![
                            FieldError::new("code", message),
                            FieldError::new("recoveryCode", message),
                        ],
                    })
                }
            }
        }
    }

    /// The opened factor: its secret and its recovery-code key.
    struct Opened {
        secret: Vec<u8>,
        recovery_key: Vec<u8>,
    }

    async fn open(state: &State, item: &TotpItem) -> Result<Opened, ApiError> {
        let sealed = STANDARD
            .decode(&item.sealed)
            .map_err(|_| ApiError::internal("a sealed factor is not base64"))?;
        let user = item.user_id.to_string();
        let mut plain = state
            .require_sealer()?
            .open(&sealed, Context::of_user(PURPOSE, &user))
            .await?;
        if plain.len() <= SECRET_BYTES {
            return Err(ApiError::internal("a sealed factor is too short"));
        }
        let recovery_key = plain.split_off(SECRET_BYTES);
        Ok(Opened {
            secret: plain,
            recovery_key,
        })
    }

    fn totp(state: &State, secret: &[u8], account: &str) -> Result<Totp, ApiError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_secret(secret)
            .with_account_name(account)
            .with_issuer(Some(state.config.app_name.replace(':', " ")))
            .build()
            .map_err(|e| ApiError::internal(format!("TOTP: {e}")))
    }

    /// The step of `code` if it is the code of the current step or of one step either side,
    /// and later than `after` (a code is accepted once).
    fn matching_step(totp: &Totp, code: &str, now: u64, after: u64) -> Option<u64> {
        let current = now / STEP_SECS;
        [current.saturating_sub(1), current, current + 1]
            .into_iter()
            .filter(|&step| step > after)
            .find(|&step| {
                constant_time_eq(
                    totp.generate(step * STEP_SECS).to_string().as_bytes(),
                    code.as_bytes(),
                )
            })
    }

    fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    fn recovery_hash(key: &[u8], code: &str) -> Result<String, ApiError> {
        let normalised: String = code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let mut mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| ApiError::internal("an HMAC key of no length"))?;
        mac.update(normalised.as_bytes());
        Ok(mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect())
    }

    /// Ten codes of 80 random bits: 16 base32 characters, shown in groups of four.
    fn new_recovery_codes(
        key: &[u8],
        now: &str,
    ) -> Result<(Vec<String>, BTreeMap<String, String>), ApiError> {
        const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        let mut hashes = BTreeMap::new();
        for _ in 0..RECOVERY_CODES {
            let bytes = crate::auth::crypto::random_bytes::<10>()
                .ok_or_else(|| ApiError::internal("no randomness"))?;
            // 80 bits, five at a time.
            let mut bits: u128 = 0;
            for b in bytes {
                bits = (bits << 8) | u128::from(b);
            }
            let chars: String = (0..16)
                .map(|i| {
                    char::from(ALPHABET[usize::try_from((bits >> (75 - 5 * i)) & 31).unwrap_or(0)])
                })
                .collect();
            let code = format!(
                "{}-{}-{}-{}",
                &chars[0..4],
                &chars[4..8],
                &chars[8..12],
                &chars[12..16]
            );
            hashes.insert(recovery_hash(key, &code)?, now.to_owned());
            codes.push(code);
        }
        Ok((codes, hashes))
    }

    /// The budget of second-factor attempts of an account (as wrong passwords).
    fn attempts(state: &State) -> Policy {
        Policy::new(
            "mfa-account",
            state.config.limits.login_failures_per_account,
            crate::accounts::LOGIN_WINDOW_SECS,
        )
    }

    /// Counts one second-factor attempt of `user` (refused past the budget): the give-back of
    /// a right one.
    async fn count_attempt(
        state: &State,
        user: UserId,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, ApiError> {
        let store = &state.store;
        let now = state.clock.unix_seconds();
        let policy = attempts(state);
        let subject = user.to_string();
        store
            .transact(vec![policy.attempt(&subject, now).into_transact(store)?])
            .await
            .map_err(|e| spent(e, &[policy], now))?;
        Ok(give_back(store, policy.counter(&subject, now))?)
    }

    use crate::ids::UserId;

    fn wrong_code(field: &str) -> ApiError {
        ApiError::Validation {
            errors: vec![FieldError::new(
                field,
                "is not a current code of this account's authenticator (or was used already)",
            )],
        }
    }

    /// What a second factor that was right uses up: the step of its code (no code of it or
    /// before is accepted again), or the recovery code (single use).
    enum Spent {
        Step(u64),
        Recovery(String),
    }

    impl Spent {
        /// The change to the factor's item that uses it up.
        fn update(&self, item: &TotpItem) -> Update {
            let update = Update::new(TotpItem::key(item.user_id)).bump_version(item.version);
            match self {
                Self::Step(step) => update.set(TotpItem::LAST_STEP, step),
                Self::Recovery(hash) => update.remove_entry(TotpItem::RECOVERY, hash),
            }
        }
    }

    /// Whether `factor` is right for the opened factor `item` (422 naming the field if not).
    fn check(
        state: &State,
        item: &TotpItem,
        opened: &Opened,
        account: &str,
        factor: &SecondFactor,
    ) -> Result<Spent, ApiError> {
        match factor {
            SecondFactor::Code(code) => {
                let totp = totp(state, &opened.secret, account)?;
                let now = u64::try_from(state.clock.unix_seconds()).unwrap_or(0);
                matching_step(&totp, code.trim(), now, item.last_step)
                    .map(Spent::Step)
                    .ok_or_else(|| wrong_code("code"))
            }
            SecondFactor::RecoveryCode(code) => {
                let hash = recovery_hash(&opened.recovery_key, code)?;
                if item.recovery.contains_key(&hash) {
                    Ok(Spent::Recovery(hash))
                } else {
                    Err(wrong_code("recoveryCode"))
                }
            }
        }
    }

    /// The change the second factor makes to its item: the step it used up, or the recovery
    /// code it spent.
    fn checked(
        state: &State,
        item: &TotpItem,
        opened: &Opened,
        account: &str,
        factor: &SecondFactor,
    ) -> Result<Update, ApiError> {
        Ok(check(state, item, opened, account, factor)?.update(item))
    }

    /// The account's factor in force (409 `MFA_NOT_ENROLLED` without one).
    async fn active_factor(state: &State, user: UserId) -> Result<TotpItem, ApiError> {
        state
            .store
            .get::<TotpItem>(&TotpItem::key(user))
            .await?
            .filter(|i| i.state == FactorState::Active)
            .ok_or_else(not_enrolled)
    }

    /// The second factor a step-up must check: `None` when the session gave one within
    /// [`STEP_UP_SECS`](super::STEP_UP_SECS) and the request gives none; 401 `MFA_REQUIRED`
    /// when neither.
    fn stepping_up(
        state: &State,
        me: &Principal,
        code: Option<&crate::validate::OtpCode>,
        recovery: Option<&crate::validate::RecoveryCode>,
    ) -> Result<Option<SecondFactor>, ApiError> {
        if code.is_some() || recovery.is_some() {
            return SecondFactor::from_request(code, recovery).map(Some);
        }
        let now = state.clock.unix_seconds();
        if me
            .second_factor_at
            .is_some_and(|at| now - at <= super::STEP_UP_SECS)
        {
            return Ok(None);
        }
        Err(ApiError::MfaRequired { challenge: None })
    }

    /// The session `me` gave its second factor now.
    fn second_factor_now(
        state: &State,
        me: &Principal,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, ApiError> {
        Ok(Update::new(crate::accounts::items::SessionItem::key(
            me.id(),
            &me.session_id,
        ))
        .set(
            crate::accounts::items::SessionItem::SECOND_FACTOR_AT,
            &state.clock.unix_seconds(),
        )
        .if_exists()
        .into_transact(&state.store)?)
    }

    /// The email that tells an account its second factors changed (`change`: `enabled`,
    /// `disabled`, `reset` by an administrator, or `recovery-codes` regenerated) — to a
    /// confirmed address only.
    fn told(event: Event, user: &UserItem, change: &str) -> Event {
        security_notice(event, user, MFA_CHANGED_TEMPLATE, &[("change", change)])
    }

    /// `POST /users/me/mfa/totp`: recent authentication, then a new secret (201), pending until
    /// confirmed with a code. 409 `MFA_ALREADY_ENABLED` when the factor is in force.
    pub async fn begin_totp(
        state: &State,
        me: &Principal,
        password: Option<&str>,
    ) -> Result<Enrolment, ApiError> {
        let store = &state.store;
        if me.user.has_factor(TOTP) {
            return Err(already_enabled());
        }
        let mut writes = recently_authenticated(state, me, password).await?;
        let secret = crate::auth::crypto::random_bytes::<SECRET_BYTES>()
            .ok_or_else(|| ApiError::internal("no randomness"))?;
        let recovery_key = crate::auth::crypto::random_bytes::<32>()
            .ok_or_else(|| ApiError::internal("no randomness"))?;
        let user = me.id().to_string();
        let mut plain = secret.to_vec();
        plain.extend_from_slice(&recovery_key);
        let sealed = state
            .require_sealer()?
            .seal(&plain, Context::of_user(PURPOSE, &user))
            .await?;
        let key = TotpItem::key(me.id());
        writes.push(store.put_op(&TotpItem {
            pk: key.pk,
            sk: key.sk,
            user_id: me.id(),
            sealed: STANDARD.encode(sealed),
            state: FactorState::Pending,
            created_at: state.clock.timestamp(),
            confirmed_at: None,
            last_step: 0,
            recovery: BTreeMap::new(),
            version: 1,
        })?);
        // Not over a factor confirmed meanwhile.
        writes.push(
            Update::new(me.user.key())
                .if_no_entry(UserItem::MFA, TOTP)
                .into_check(store)?,
        );
        store.transact(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => already_enabled(),
            other => other.into(),
        })?;
        let totp = totp(state, &secret, &me.user.email)?;
        Ok(Enrolment {
            secret: totp.secret().to_base32(),
            otpauth_uri: totp
                .to_url()
                .map_err(|e| ApiError::internal(format!("otpauth URI: {e}")))?,
        })
    }

    fn already_enabled() -> ApiError {
        ApiError::Conflict {
            code: "MFA_ALREADY_ENABLED",
            detail: "An authenticator app is already set up: disable it first.".into(),
        }
    }

    /// What a transaction over a factor answers when its condition failed: the factor (or the
    /// code given) changed meanwhile — 409 `MFA_CHANGED` saying `detail`.
    fn changed_meanwhile(error: StoreError, detail: &str) -> ApiError {
        match error {
            StoreError::ConditionFailed { .. } => ApiError::Conflict {
                code: "MFA_CHANGED",
                detail: detail.to_owned(),
            },
            other => other.into(),
        }
    }

    fn not_enrolled() -> ApiError {
        ApiError::Conflict {
            code: "MFA_NOT_ENROLLED",
            detail: "Set up an authenticator app first (POST /v1/users/me/mfa/totp).".into(),
        }
    }

    /// `POST /users/me/mfa/totp/confirm`: a valid code puts the factor in force and returns
    /// the recovery codes, once. This session counts as having given its second factor now.
    pub async fn confirm_totp(
        state: &State,
        me: &Principal,
        code: &str,
    ) -> Result<RecoveryCodes, ApiError> {
        let store = &state.store;
        let item: TotpItem = store
            .get(&TotpItem::key(me.id()))
            .await?
            .ok_or_else(not_enrolled)?;
        if item.state == FactorState::Active {
            return Err(already_enabled());
        }
        let give_back = count_attempt(state, me.id()).await?;
        let opened = open(state, &item).await?;
        let now = state.clock.timestamp();
        let (codes, hashes) = new_recovery_codes(&opened.recovery_key, &now)?;
        let factor = checked(
            state,
            &item,
            &opened,
            &me.user.email,
            &SecondFactor::Code(code.to_owned()),
        )?;
        let enabled = match &me.user.mfa {
            Some(_) => Update::new(me.user.key()).set_entry(UserItem::MFA, TOTP, &now),
            None => Update::new(me.user.key()).set(
                UserItem::MFA,
                &BTreeMap::from([(TOTP.to_owned(), now.clone())]),
            ),
        };
        let event = Event::about_user("user.mfa_enabled", me.actor(), me.id(), now.clone()).change(
            "factor",
            (),
            TOTP,
        );
        let event = told(event, &me.user, "enabled");
        let writes = vec![
            factor
                .set(TotpItem::STATE, &FactorState::Active)
                .set(TotpItem::CONFIRMED_AT, &now)
                .set(TotpItem::RECOVERY, &hashes)
                .if_equals(TotpItem::STATE, &FactorState::Pending)
                .into_transact(store)?,
            enabled
                .set(UserItem::UPDATED_AT, &now)
                .if_exists()
                .into_transact(store)?,
            second_factor_now(state, me)?,
            give_back,
            outbox_put(store, event)?,
        ];
        // Enrolled again, or confirmed by another request, meanwhile.
        store
            .transact(writes)
            .await
            .map_err(|e| changed_meanwhile(e, "The enrolment changed meanwhile; start again."))?;
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// `DELETE /users/me/mfa/totp`: recent authentication and a current code (or a recovery
    /// code): the factor is removed; signing in needs the password alone again.
    pub async fn disable_totp(
        state: &State,
        me: &Principal,
        password: Option<&str>,
        factor: &SecondFactor,
    ) -> Result<(), ApiError> {
        let store = &state.store;
        let item = active_factor(state, me.id()).await?;
        let mut writes = recently_authenticated(state, me, password).await?;
        writes.push(count_attempt(state, me.id()).await?);
        let opened = open(state, &item).await?;
        // The code is checked (and spent) though the item goes: a wrong one must fail.
        checked(state, &item, &opened, &me.user.email, factor)?;
        let now = state.clock.timestamp();
        writes.push(store.delete_versioned_op(&TotpItem::key(me.id()), item.version)?);
        writes.push(
            Update::new(me.user.key())
                .remove_entry(UserItem::MFA, TOTP)
                .set(UserItem::UPDATED_AT, &now)
                .if_exists()
                .into_transact(store)?,
        );
        let event = Event::about_user("user.mfa_disabled", me.actor(), me.id(), now).change(
            "factor",
            TOTP,
            (),
        );
        let event = told(event, &me.user, "disabled");
        writes.push(outbox_put(store, event)?);
        store.transact(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => wrong_code("code"),
            other => other.into(),
        })?;
        Ok(())
    }

    /// Step-up: with a second factor in force, a request that changes what matters needs one
    /// given in this session within [`STEP_UP_SECS`](super::STEP_UP_SECS) (its sign-in's, or a
    /// code sent with an earlier request), or a code (or a recovery code) in the request itself —
    /// checked, spent and recorded on the session here, before the change. 401 `MFA_REQUIRED`
    /// (no challenge) otherwise. Refreshing never renews it: only `/auth/mfa/verify` and codes
    /// in requests move the session's time of second factor. Accounts without one: nothing.
    pub async fn step_up(
        state: &State,
        me: &Principal,
        code: Option<&crate::validate::OtpCode>,
        recovery: Option<&crate::validate::RecoveryCode>,
    ) -> Result<(), ApiError> {
        if !me.user.has_factor(TOTP) {
            return Ok(());
        }
        let Some(factor) = stepping_up(state, me, code, recovery)? else {
            return Ok(());
        };
        let store = &state.store;
        let item = active_factor(state, me.id())
            .await
            .map_err(|_| ApiError::internal("the account's factor in force is missing"))?;
        let give_back = count_attempt(state, me.id()).await?;
        let opened = open(state, &item).await?;
        let spent = checked(state, &item, &opened, &me.user.email, &factor)?;
        let writes = vec![
            give_back,
            spent.into_transact(store)?,
            second_factor_now(state, me)?,
        ];
        store.transact(writes).await.map_err(|e| match e {
            // The same code used by another request meanwhile.
            StoreError::ConditionFailed { .. } => wrong_code("code"),
            other => other.into(),
        })
    }

    /// `POST /users/me/mfa/recovery-codes`: ten new recovery codes, shown once; the old ones
    /// stop working. Needs recent authentication (as removing the app) and a step-up (a second
    /// factor in this session within [`STEP_UP_SECS`](super::STEP_UP_SECS), or a code — or one of
    /// the old recovery codes — in the request).
    pub async fn regenerate_recovery_codes(
        state: &State,
        me: &Principal,
        password: Option<&str>,
        code: Option<&crate::validate::OtpCode>,
        recovery: Option<&crate::validate::RecoveryCode>,
    ) -> Result<RecoveryCodes, ApiError> {
        let store = &state.store;
        let item = active_factor(state, me.id()).await?;
        let mut writes = recently_authenticated(state, me, password).await?;
        let given = stepping_up(state, me, code, recovery)?;
        if given.is_some() {
            writes.push(count_attempt(state, me.id()).await?);
        }
        let opened = open(state, &item).await?;
        let mut update = Update::new(TotpItem::key(me.id())).bump_version(item.version);
        if let Some(factor) = &given {
            // A recovery code given here goes with the others it replaces.
            if let Spent::Step(step) = check(state, &item, &opened, &me.user.email, factor)? {
                update = update.set(TotpItem::LAST_STEP, &step);
            }
            writes.push(second_factor_now(state, me)?);
        }
        let now = state.clock.timestamp();
        let (codes, hashes) = new_recovery_codes(&opened.recovery_key, &now)?;
        writes.push(
            update
                .set(TotpItem::RECOVERY, &hashes)
                .if_equals(TotpItem::STATE, &FactorState::Active)
                .into_transact(store)?,
        );
        let event = Event::about_user(
            "user.mfa_recovery_codes_regenerated",
            me.actor(),
            me.id(),
            now,
        )
        .change("recoveryCodes", (), RECOVERY_CODES);
        writes.push(outbox_put(store, told(event, &me.user, "recovery-codes"))?);
        // The factor changed, or the same code was used, meanwhile.
        store.transact(writes).await.map_err(|e| {
            changed_meanwhile(e, "The authenticator app changed meanwhile; try again.")
        })?;
        Ok(RecoveryCodes {
            recovery_codes: codes,
        })
    }

    /// `DELETE /users/{id}/mfa` (admin): the user's authenticator app (in force or being set up)
    /// and recovery codes are removed — for a user who lost them — and the user is told by email.
    /// The admin needs recent authentication and, with a second factor of their own, a step-up:
    /// stripping another account's second factor is what a stolen admin token would do first.
    /// The user's sessions are left as they are (ending them is its own route). 404 for no such
    /// user; 409 `MFA_NOT_ENROLLED` when there is nothing to remove.
    pub async fn reset(
        state: &State,
        admin: &Principal,
        user: UserId,
        password: Option<&str>,
        code: Option<&crate::validate::OtpCode>,
        recovery: Option<&crate::validate::RecoveryCode>,
    ) -> Result<(), ApiError> {
        let store = &state.store;
        let mut writes = recently_authenticated(state, admin, password).await?;
        step_up(state, admin, code, recovery).await?;
        let target = find_user(store, user)
            .await?
            .ok_or_else(ApiError::no_such_user)?;
        let item: TotpItem =
            store
                .get(&TotpItem::key(user))
                .await?
                .ok_or_else(|| ApiError::Conflict {
                    code: "MFA_NOT_ENROLLED",
                    detail: "This user has no authenticator app to remove.".into(),
                })?;
        let now = state.clock.timestamp();
        writes.push(store.delete_versioned_op(&TotpItem::key(user), item.version)?);
        let mut account = Update::new(target.key()).set(UserItem::UPDATED_AT, &now);
        if target.mfa.is_some() {
            account = account.remove_entry(UserItem::MFA, TOTP);
        }
        writes.push(account.if_exists().into_transact(store)?);
        let event = Event::about_user("user.mfa_reset", admin.actor(), user, now).change(
            "factor",
            TOTP,
            (),
        );
        writes.push(outbox_put(store, told(event, &target, "reset"))?);
        store.transact(writes).await.map_err(|e| {
            changed_meanwhile(
                e,
                "The user's authenticator app changed meanwhile; look again.",
            )
        })
    }

    /// `POST /auth/mfa/verify`: the challenge of a sign-in and its second factor → the session.
    /// 401 `INVALID_CHALLENGE` for an unknown, expired or spent challenge; 422 for a wrong code;
    /// 429 past the account's budget of attempts.
    pub async fn verify_sign_in(
        state: &State,
        challenge: &str,
        factor: &SecondFactor,
        client: &Client,
    ) -> Result<Session, ApiError> {
        let store = &state.store;
        let invalid = || ApiError::Unauthorized {
            code: "INVALID_CHALLENGE",
            detail: "The sign-in challenge is unknown, expired or used: sign in again.".into(),
        };
        let key = ChallengeItem::key(challenge);
        let pending: ChallengeItem = store.get(&key).await?.ok_or_else(invalid)?;
        let user = find_user(store, pending.user_id)
            .await?
            .filter(|u| {
                u.status == crate::accounts::items::UserStatus::Active
                    && u.session_epoch == pending.epoch
            })
            .ok_or_else(invalid)?;
        let give_back = count_attempt(state, user.id).await?;
        let item: TotpItem = store
            .get::<TotpItem>(&TotpItem::key(user.id))
            .await?
            .filter(|i| i.state == FactorState::Active)
            .ok_or_else(invalid)?;
        let opened = open(state, &item).await?;
        let spent = checked(state, &item, &opened, &user.email, factor)?;
        let writes = vec![
            give_back,
            store.delete_op(&key, true)?,
            spent.into_transact(store)?,
        ];
        // The first factor the challenge records (the password, a mailed link), then this one.
        let mut amr: Vec<&str> = pending.amr.iter().map(String::as_str).collect();
        amr.push("otp");
        crate::accounts::sessions::complete_sign_in(state, user, client, &amr, writes, None)
            .await
            .map_err(|e| match e {
                // The challenge or the code was used by a request at the same moment.
                ApiError::Conflict { .. } => invalid(),
                other => other,
            })
    }
}

#[cfg(all(test, feature = "mfa"))]
mod tests {
    use totp_rs::{Algorithm, Builder};

    #[test]
    fn codes_are_rfc_6238s_sha1_codes_cut_to_six_digits() {
        // RFC 6238, appendix B: the SHA-1 seed, T = 59 s → 94287082 (8 digits): 287082 in 6.
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_secret(b"12345678901234567890".as_slice())
            .with_account_name("ada@example.com")
            .build()
            .expect("a valid TOTP");
        assert_eq!(totp.generate(59).to_string(), "287082");
        assert_eq!(totp.generate(1_111_111_109).to_string(), "081804");
    }
}
