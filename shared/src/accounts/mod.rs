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
//! | forgot password | 1 GetItem, 2 UpdateItem (throttle windows), 1 TransactWriteItems if the account exists |
//!
//! Refresh tokens are 256-bit random values stored only as SHA-256 hashes. Each refresh
//! rotates the token in one transaction (the old one marked `rotated` under a condition, the
//! new one written); presenting a rotated token again revokes the whole session (reuse
//! detection), unless it comes within `REFRESH_REUSE_GRACE_SECONDS` (default 0) of the
//! rotation, which answers 401 without revoking (a client's concurrent retry).

pub mod items;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::State;
use crate::auth::password::{self, Check};
use crate::auth::{Principal, Role, jwt};
use crate::config::RegistrationMode;
use crate::error::{ApiError, FieldError};
use crate::events::{Actor, Event, LinkRequest, outbox_put};
use crate::ids::UserId;
use crate::store::keys::{Index, USERS_PARTITION};
use crate::store::{Key, KeyQuery, Page, PageRequest, Store, StoreError, Update};
use crate::validate::{DisplayName, Email, Password};
use items::{
    Counter, EmailClaim, OneTimeToken, RefreshItem, RefreshState, SessionItem, TokenPurpose,
    UserItem, UserStatus, UserView, admin_counter_key,
};

/// A session (refresh-token family) lives 30 days from sign-in; rotation does not extend it.
pub const SESSION_TTL_SECS: i64 = 30 * 24 * 3600;
/// Email verification links are valid for two days.
pub const VERIFY_TOKEN_TTL_SECS: i64 = 48 * 3600;
/// Password reset links are valid for 30 minutes.
pub const RESET_TOKEN_TTL_SECS: i64 = 30 * 60;
/// Failed logins allowed per account, and per source IP, in one window.
pub const LOGIN_MAX_FAILURES_PER_ACCOUNT: u64 = 5;
pub const LOGIN_MAX_FAILURES_PER_IP: u64 = 100;
pub const LOGIN_WINDOW_SECS: i64 = 15 * 60;
/// Emails (reset, verification) per account: one a minute, five an hour.
const EMAIL_LIMITS: [(i64, u64); 2] = [(60, 1), (3600, 5)];
/// Emails a stranger can make us send to an address ([`STRANGER_TEMPLATES`]): three an hour.
/// Past it the change still happens; its email is not sent.
const STRANGER_MAIL_LIMITS: [(i64, u64); 1] = [(3600, 3)];
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

/// Reads a user and one of their sessions in one call (what [`crate::auth::authenticate`] needs).
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

/// The new session's items (session + refresh token) and the token pair for the client.
fn new_session(
    state: &State,
    user: &UserItem,
) -> Result<(Vec<TransactWriteItem>, TokenPair, String), ApiError> {
    let store = &state.store;
    let session_id = crate::ids::new_id();
    let refresh = random_token()?;
    let expires_at = store.expires_in(SESSION_TTL_SECS);
    let session_key = SessionItem::key(user.id, &session_id);
    let refresh_key = RefreshItem::key(&token_hash(&refresh));
    let writes = vec![
        store.put_new_op(&SessionItem {
            pk: session_key.pk,
            sk: session_key.sk,
            session_id: session_id.clone(),
            user_id: user.id,
            created_at: state.clock.timestamp(),
            expires_at,
            epoch: user.session_epoch,
        })?,
        store.put_new_op(&RefreshItem {
            pk: refresh_key.pk,
            sk: refresh_key.sk,
            user_id: user.id,
            session_id: session_id.clone(),
            state: RefreshState::Active,
            rotated_at: None,
            expires_at,
        })?,
    ];
    let access = mint_access(state, user, &session_id)?;
    Ok((
        writes,
        TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: jwt::ACCESS_TOKEN_TTL_SECS,
        },
        session_id,
    ))
}

fn mint_access(state: &State, user: &UserItem, session_id: &str) -> Result<String, ApiError> {
    jwt::mint(
        state.auth.signer()?,
        &state.auth.tokens,
        &user.id.to_string(),
        &user.roles,
        session_id,
        state.clock.unix_seconds(),
    )
    .map_err(ApiError::internal)
}

/// Mints the token of a link an email asks for — the email worker does, when it sends it: the
/// token item (its hash only) and the user's pointer to the newest link of that purpose (which
/// voids the older ones), both under the condition that the account exists and its links were
/// not voided after the request. `None`: the request is stale (the password was set since, or
/// the account is gone): send nothing.
pub async fn mint_link(state: &State, link: &LinkRequest) -> Result<Option<String>, ApiError> {
    let store = &state.store;
    let token = random_token()?;
    let hash = token_hash(&token);
    let ttl = match link.purpose {
        TokenPurpose::VerifyEmail => VERIFY_TOKEN_TTL_SECS,
        TokenPurpose::ResetPassword => RESET_TOKEN_TTL_SECS,
    };
    let key = OneTimeToken::key(&hash);
    let writes = vec![
        store.put_new_op(&OneTimeToken {
            pk: key.pk,
            sk: key.sk,
            purpose: link.purpose,
            user_id: link.user_id,
            expires_at: store.expires_in(ttl),
        })?,
        Update::new(Key::user(link.user_id))
            .set(link.purpose.pointer(), AttributeValue::S(hash))
            .if_exists()
            .if_below("linksValidAfter", link.requested_ms)
            .into_transact(store)?,
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(Some(token)),
        Err(StoreError::ConditionFailed { index: Some(1) }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The emails anyone can make us send to an address they name (a registration, an account
/// deletion right after): budgeted per address by the email worker.
pub const STRANGER_TEMPLATES: [&str; 3] = ["welcome", "account-deleted", "account-exists"];

/// Counts one email a stranger can trigger towards `address`: false past its budget (the email
/// worker then sends nothing; the change itself has happened).
pub async fn stranger_mail_allowed(state: &State, address: &str) -> Result<bool, ApiError> {
    Ok(
        email_budget(state, "stranger-mail", address, &STRANGER_MAIL_LIMITS)
            .await?
            .is_ok(),
    )
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

/// What `POST /auth/register` carries, parsed.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub name: DisplayName,
    pub password: Password,
}

/// Creates an account. Registrations per source IP are limited in every mode (429 past
/// `REGISTRATIONS_PER_IP_PER_HOUR`). In `conflict` mode the account is signed in at once, and
/// an address with an account is 409 `EMAIL_TAKEN` — decided by the email claim written in the
/// same transaction, so two concurrent registrations can never both succeed. In `silent` mode
/// both answer [`Registered::Accepted`] after the same DynamoDB calls: a new account gets its
/// welcome with a confirmation link, the owner of a taken address a notice (with a
/// confirmation link, in case it is them and they never confirmed).
pub async fn register(
    state: &State,
    input: Registration,
    source_ip: &str,
) -> Result<Registered, ApiError> {
    let inputs = password::user_inputs(input.name.as_str(), input.email.as_str());
    password::check_strength(&input.password, &inputs).map_err(|e| e.at("password"))?;
    let store = &state.store;
    count_registration(state, source_ip).await?;
    let hash = password::hash(&input.password).map_err(ApiError::internal)?;
    let id = UserId::generate();
    let now = state.clock.timestamp();
    let key = Key::user(id);
    let user = UserItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: USERS_PARTITION.to_owned(),
        gsi1sk: id.to_string(),
        gsi2pk: UserItem::status_partition(UserStatus::Active),
        gsi2sk: id.to_string(),
        id,
        email: input.email.to_string(),
        name: input.name.as_str().to_owned(),
        roles: vec![Role::User],
        status: UserStatus::Active,
        email_verified: false,
        password_hash: hash,
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 1,
        session_epoch: 0,
        links_valid_after: 0,
        reset_token: None,
        verify_token: None,
    };
    let claim_key = Key::email(&input.email);
    let event = Event::about_user(
        "user.registered",
        Actor::user(id, &user.roles),
        id,
        now.clone(),
    )
    .change("email", (), &user.email)
    .change("name", (), &user.name)
    .change("roles", (), &user.roles)
    .change("status", (), user.status)
    // The welcome carries the verification link (minted by the email worker) and none of the
    // registrant's own words: the address is not proved to be theirs yet.
    .email("welcome", &user.email, &greeting(&user))
    .link(LinkRequest {
        purpose: TokenPurpose::VerifyEmail,
        user_id: id,
        requested_ms: state.clock.unix_millis(),
    });
    let mut writes = vec![
        store.put_new_op(&user)?,
        store.put_new_op(&EmailClaim {
            pk: claim_key.pk.clone(),
            sk: claim_key.sk.clone(),
            user_id: id,
        })?,
    ];

    if state.config.registration_mode == RegistrationMode::Silent {
        return register_silently(state, &input.email, writes, event).await;
    }

    let (session_writes, tokens, _) = new_session(state, &user)?;
    writes.extend(session_writes);
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { index: Some(1) } => ApiError::Conflict {
            code: "EMAIL_TAKEN",
            detail: "An account with this email address already exists.".into(),
        },
        other => other.into(),
    })?;
    Ok(Registered::SignedIn(Box::new(Session {
        user: UserView::from(&user),
        tokens,
    })))
}

/// Every mode: registrations per source IP, counted before any work (an argon2 hash and an
/// email each), refused past the limit with 429.
async fn count_registration(state: &State, source_ip: &str) -> Result<(), ApiError> {
    let now = state.clock.unix_seconds();
    let window = window_start(now, REGISTRATION_WINDOW_SECS);
    state
        .store
        .update(attempt_in(
            counter_key("register-ip", source_ip, window),
            window,
            REGISTRATION_WINDOW_SECS,
            state.config.registrations_per_ip_per_hour,
        ))
        .await
        .map_err(|e| match e {
            StoreError::ConditionFailed { .. } => {
                throttled_until(window + REGISTRATION_WINDOW_SECS, now)
            }
            other => other.into(),
        })?;
    Ok(())
}

/// `silent` mode: the same calls whether or not the address is taken — read the claim, then
/// one transaction: the new account (`writes` and its `event`), or the owner's notice.
async fn register_silently(
    state: &State,
    email: &Email,
    mut writes: Vec<TransactWriteItem>,
    event: Event,
) -> Result<Registered, ApiError> {
    let store = &state.store;
    let claim_key = Key::email(email);
    let claim: Option<EmailClaim> = store.get(&claim_key).await?;
    let writes = match &claim {
        None => {
            writes.push(outbox_put(store, event)?);
            writes
        }
        Some(claim) => {
            let notice = Event::about_user(
                "user.registration_attempted",
                Actor::system("registration"),
                claim.user_id,
                state.clock.timestamp(),
            )
            .email("account-exists", email.as_str(), &[])
            .link(LinkRequest {
                purpose: TokenPurpose::VerifyEmail,
                user_id: claim.user_id,
                requested_ms: state.clock.unix_millis(),
            });
            vec![
                Update::new(claim_key).if_exists().into_check(store)?,
                outbox_put(store, notice)?,
            ]
        }
    };
    match store.transact(writes).await {
        Ok(()) => Ok(Registered::Accepted),
        // The address was registered, or its account deleted, between the read and the
        // write: the same answer (the registrant learns nothing either way).
        Err(StoreError::ConditionFailed { .. }) => {
            tracing::info!("registration raced another change of the same address");
            Ok(Registered::Accepted)
        }
        Err(other) => Err(other.into()),
    }
}

/// What `POST /auth/register` answers.
#[derive(Debug)]
pub enum Registered {
    /// `conflict` mode: the new account, signed in (201).
    SignedIn(Box<Session>),
    /// `silent` mode: accepted (202), the same whether or not the address had an account.
    Accepted,
}

/// The window of the per-IP registration limit.
pub const REGISTRATION_WINDOW_SECS: i64 = 3600;

fn window_start(now: i64, window: i64) -> i64 {
    now - now.rem_euclid(window)
}

fn counter_key(scope: &str, subject: &str, window_start: i64) -> Key {
    Key::new(
        format!("THROTTLE#{scope}#{subject}"),
        window_start.to_string(),
    )
}

/// 429 until the throttle window starting at `window` ends.
fn throttled(window: i64, now: i64) -> ApiError {
    throttled_until(window + LOGIN_WINDOW_SECS, now)
}

/// 429 until `end` (epoch seconds).
fn throttled_until(end: i64, now: i64) -> ApiError {
    ApiError::TooManyRequests {
        retry_after_secs: u64::try_from(end - now).unwrap_or(1).max(1),
    }
}

/// One more attempt in the throttle window starting at `window`, refused (the transaction or
/// the update fails its condition) when `limit` attempts are already counted. An attempt is
/// counted *before* the password is checked and given back when it was right, so parallel
/// guesses cannot all be checked against the same count: at most `limit` failures per window,
/// however many arrive at once. The counter expires (TTL) a minute after the window ends.
fn attempt(counter: Key, window: i64, limit: u64) -> Update {
    attempt_in(counter, window, LOGIN_WINDOW_SECS, limit)
}

/// [`attempt`] in a window of `window_secs`.
fn attempt_in(counter: Key, window: i64, window_secs: i64, limit: u64) -> Update {
    let expires = window + window_secs + 60;
    Update::new(counter)
        .add("count", 1)
        .set("expiresAt", AttributeValue::N(expires.to_string()))
        .if_below("count", limit)
}

/// Gives back an attempt that turned out right (see [`attempt`]).
fn give_back(store: &Store, counter: Key) -> Result<TransactWriteItem, StoreError> {
    Update::new(counter).add("count", -1).into_transact(store)
}

/// A counted attempt refused because the budget is spent: 429.
fn spent(error: StoreError, window: i64, now: i64) -> ApiError {
    match error {
        StoreError::ConditionFailed { .. } => throttled(window, now),
        other => other.into(),
    }
}

/// Checks the signed-in user's password (password change, account deletion). A wrong one is a
/// 422 on `field`. Attempts count against the same per-account budget as sign-in, so a stolen
/// access token does not make these routes an unthrottled password oracle: past the limit the
/// answer is 429 with `Retry-After`, even for the right password. Returns the writes that give
/// the attempt back.
async fn confirm_password(
    state: &State,
    me: &Principal,
    field_name: &str,
    text: &str,
) -> Result<GiveBack, ApiError> {
    let store = &state.store;
    let now = state.clock.unix_seconds();
    let window = window_start(now, LOGIN_WINDOW_SECS);
    let subject =
        Email::parse(&me.user.email).map_or_else(|_| me.user.email.clone(), |e| e.to_string());
    let counter = counter_key("login-account", &subject, window);
    store
        .update(attempt(
            counter.clone(),
            window,
            LOGIN_MAX_FAILURES_PER_ACCOUNT,
        ))
        .await
        .map_err(|e| spent(e, window, now))?;
    if password::verify(text, &me.user.password_hash) == Check::Mismatch {
        return Err(field(field_name, "is incorrect"));
    }
    Ok(GiveBack {
        op: give_back(store, counter.clone())?,
        update: Update::new(counter).add("count", -1),
    })
}

/// A right password's attempt to give back: in the caller's transaction (`op`), or on its own
/// (`update`) when that transaction is refused.
struct GiveBack {
    op: TransactWriteItem,
    update: Update,
}

/// Signs in with email and password. Unknown emails cost the same as wrong passwords and
/// answer the same 401; a disabled account is revealed only after the right password. Past
/// the failure limit (per account and per source IP, per 15-minute window) the answer is 429
/// with `Retry-After`, even for the right password.
pub async fn login(
    state: &State,
    email: &str,
    password_text: &str,
    source_ip: &str,
) -> Result<Session, ApiError> {
    let store = &state.store;
    // A malformed address cannot have an account: same answer, same cost.
    let email = Email::parse(email).ok();
    // Throttle subject: the normalised address (malformed ones share one bucket).
    let subject = email
        .as_ref()
        .map_or_else(|| "invalid-address".to_owned(), ToString::to_string);
    let now = state.clock.unix_seconds();
    let window = window_start(now, LOGIN_WINDOW_SECS);
    let account_counter = counter_key("login-account", &subject, window);
    let ip_counter = counter_key("login-ip", source_ip, window);
    let claim_key = email
        .as_ref()
        .map_or_else(|| Key::new("EMAIL#", "EMAIL"), Key::email);

    // The attempt is counted first, atomically (see `attempt`).
    store
        .transact(vec![
            attempt(
                account_counter.clone(),
                window,
                LOGIN_MAX_FAILURES_PER_ACCOUNT,
            )
            .into_transact(store)?,
            attempt(ip_counter.clone(), window, LOGIN_MAX_FAILURES_PER_IP).into_transact(store)?,
        ])
        .await
        .map_err(|e| spent(e, window, now))?;
    let claim: Option<EmailClaim> = store.get(&claim_key).await?;
    let user = match &claim {
        Some(claim) => find_user(store, claim.user_id).await?,
        None => None,
    };
    let check = if let Some(user) = &user {
        password::verify(password_text, &user.password_hash)
    } else {
        password::verify_dummy(password_text);
        Check::Mismatch
    };
    let silent = state.config.registration_mode == RegistrationMode::Silent;
    let refused = || {
        if silent {
            // One answer for a wrong password and an unconfirmed account: a registration
            // cannot be followed by a sign-in to learn whether it created the account.
            ApiError::Unauthorized {
                code: "INVALID_CREDENTIALS",
                detail: "The email or password is incorrect, or the address is not confirmed yet \
                         (the link is in the email we sent)."
                    .into(),
            }
        } else {
            invalid_credentials()
        }
    };
    let (Check::Match { rehash }, Some(user)) = (check, user) else {
        // The counted attempt stays: a failure.
        return Err(refused());
    };
    if silent && !user.email_verified {
        // Counted like a failure, answered like one.
        return Err(refused());
    }
    if user.status == UserStatus::Disabled {
        return Err(ApiError::Forbidden {
            detail: "This account is disabled.".into(),
        });
    }

    let (mut writes, tokens, session_id) = new_session(state, &user)?;
    writes.extend(evictions(state, user.id).await?);
    writes.push(give_back(store, account_counter)?);
    writes.push(give_back(store, ip_counter)?);
    let mut user = user;
    if rehash {
        // Parameters changed since this hash was made: store one with the current parameters.
        let password = Password::parse(password_text).map_err(|_| invalid_credentials())?;
        let new_hash = password::hash(&password).map_err(ApiError::internal)?;
        writes.push(
            Update::new(user.key())
                .set("passwordHash", AttributeValue::S(new_hash.clone()))
                .bump_version(user.version)
                .into_transact(store)?,
        );
        user.password_hash = new_hash;
        user.version += 1;
    }
    let event = Event::about_user(
        "user.logged_in",
        Actor::user(user.id, &user.roles),
        user.id,
        state.clock.timestamp(),
    )
    .change("sessionId", (), &session_id);
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await?;
    Ok(Session {
        user: UserView::from(&user),
        tokens,
    })
}

/// Exchanges a refresh token for a new pair (rotation with reuse detection).
pub async fn refresh(state: &State, refresh_token: &str) -> Result<Session, ApiError> {
    let store = &state.store;
    let key = RefreshItem::key(&token_hash(refresh_token));
    let item: RefreshItem = store.get(&key).await?.ok_or_else(invalid_refresh)?;
    match item.state {
        RefreshState::Active => {}
        RefreshState::Revoked => return Err(invalid_refresh()),
        RefreshState::Rotated => {
            let now = state.clock.unix_seconds();
            let in_grace = item
                .rotated_at
                .is_some_and(|at| now - at < state.auth.refresh_reuse_grace_secs);
            if !in_grace {
                // Someone presented a token that was already exchanged: the family is compromised.
                revoke_session(
                    state,
                    item.user_id,
                    &item.session_id,
                    "refresh_token_reused",
                    None,
                )
                .await?;
                tracing::warn!(userId = %item.user_id, sessionId = %item.session_id, "refresh token reuse: session revoked");
            }
            return Err(invalid_refresh());
        }
    }

    let (user, session) = load_user_and_session(store, item.user_id, &item.session_id).await?;
    let (Some(user), Some(session)) = (user, session) else {
        return Err(invalid_refresh());
    };
    if user.status != UserStatus::Active || session.epoch != user.session_epoch {
        // Disabled, or every session ended (a password set) since this one began.
        return Err(invalid_refresh());
    }

    let new_token = random_token()?;
    let new_key = RefreshItem::key(&token_hash(&new_token));
    let writes = vec![
        Update::new(key)
            .set("state", AttributeValue::S("rotated".into()))
            .set(
                "rotatedAt",
                AttributeValue::N(state.clock.unix_seconds().to_string()),
            )
            .if_equals("state", AttributeValue::S("active".into()))
            .into_transact(store)?,
        store.put_new_op(&RefreshItem {
            pk: new_key.pk,
            sk: new_key.sk,
            user_id: user.id,
            session_id: item.session_id.clone(),
            state: RefreshState::Active,
            rotated_at: None,
            expires_at: item.expires_at,
        })?,
        // The session must still exist (not revoked meanwhile)...
        Update::new(SessionItem::key(user.id, &item.session_id))
            .set(
                "lastRefreshedAt",
                AttributeValue::S(state.clock.timestamp()),
            )
            .if_exists()
            .into_transact(store)?,
        // ...and every session must not have ended meanwhile.
        Update::new(user.key())
            .if_number("sessionEpoch", user.session_epoch)
            .into_check(store)?,
    ];
    store.transact(writes).await.map_err(|error| match error {
        // A concurrent refresh of the same token won, or the session was revoked meanwhile.
        StoreError::ConditionFailed { .. } => invalid_refresh(),
        other => other.into(),
    })?;
    let access = mint_access(state, &user, &item.session_id)?;
    Ok(Session {
        user: UserView::from(&user),
        tokens: TokenPair {
            access_token: access,
            refresh_token: new_token,
            token_type: "Bearer",
            expires_in: jwt::ACCESS_TOKEN_TTL_SECS,
        },
    })
}

/// Ends one session: its refresh tokens stop working at once, its access tokens at once too
/// (they are checked against the session). Idempotent.
async fn revoke_session(
    state: &State,
    user: UserId,
    session_id: &str,
    reason: &str,
    refresh_key: Option<Key>,
) -> Result<(), ApiError> {
    let store = &state.store;
    let event = Event::new(
        "session.revoked",
        Actor::user(user, &[]),
        "session",
        session_id,
        state.clock.timestamp(),
    )
    .change("reason", (), reason);
    let mut writes = vec![store.delete_op(&SessionItem::key(user, session_id), false)?];
    if let Some(key) = refresh_key {
        writes.push(
            Update::new(key)
                .set("state", AttributeValue::S("revoked".into()))
                .if_exists()
                .into_transact(store)?,
        );
    }
    writes.push(outbox_put(store, event)?);
    match store.transact(writes).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /auth/logout`: revokes the refresh token's session. Unknown tokens are fine (204).
pub async fn logout(state: &State, refresh_token: &str) -> Result<(), ApiError> {
    let key = RefreshItem::key(&token_hash(refresh_token));
    let Some(item) = state.store.get::<RefreshItem>(&key).await? else {
        return Ok(());
    };
    if item.state == RefreshState::Revoked {
        return Ok(());
    }
    revoke_session(state, item.user_id, &item.session_id, "logout", Some(key)).await
}

/// Counts one more email for `subject` in each window; `Err(retry_after)` past a limit.
async fn email_allowance(
    state: &State,
    scope: &str,
    subject: &str,
) -> Result<Result<(), u64>, ApiError> {
    email_budget(state, scope, subject, &EMAIL_LIMITS).await
}

/// Counts one email of `scope` to `subject` in each of `limits`' windows (seconds, most
/// allowed): `Err(seconds until allowed again)` past any of them.
async fn email_budget(
    state: &State,
    scope: &str,
    subject: &str,
    limits: &[(i64, u64)],
) -> Result<Result<(), u64>, ApiError> {
    let now = state.clock.unix_seconds();
    // Every window is counted, whatever the first one says: the same calls on every path.
    let mut wait = None;
    for &(window, max) in limits {
        let start = window_start(now, window);
        let item = state
            .store
            .update(
                Update::new(counter_key(scope, subject, start))
                    .add("count", 1)
                    .set(
                        "expiresAt",
                        AttributeValue::N((start + window + 60).to_string()),
                    ),
            )
            .await?;
        let counter: Counter = Store::parse(item)?;
        if counter.count > max {
            let until = u64::try_from(start + window - now).unwrap_or(1).max(1);
            wait = Some(wait.map_or(until, |w: u64| w.max(until)));
        }
    }
    Ok(wait.map_or(Ok(()), Err))
}

/// `POST /auth/password/forgot`: always 202. An email with a 30-minute single-use link goes
/// out only if the account exists and its email allowance is not used up; the caller cannot
/// tell the difference, by the answer or by the work done: every path makes the same calls
/// (GetItem, the allowance's `UpdateItem`s, one TransactWriteItems — the event, or a count of
/// requests that sent nothing).
pub async fn forgot_password(state: &State, email: &Email) -> Result<(), ApiError> {
    let store = &state.store;
    let claim: Option<EmailClaim> = store.get(&Key::email(email)).await?;
    let allowed = email_allowance(state, "reset-email", email.as_str())
        .await?
        .is_ok();
    let write = match claim {
        Some(claim) if allowed => {
            let event = Event::about_user(
                "user.password_reset_requested",
                Actor::system("password-reset"),
                claim.user_id,
                state.clock.timestamp(),
            )
            .email("password-reset", email.as_str(), &[])
            .link(LinkRequest {
                purpose: TokenPurpose::ResetPassword,
                user_id: claim.user_id,
                requested_ms: state.clock.unix_millis(),
            });
            outbox_put(store, event)?
        }
        claim => {
            if let Some(claim) = claim {
                tracing::info!(userId = %claim.user_id, "password reset email suppressed by rate limit");
            }
            let now = state.clock.unix_seconds();
            let window = window_start(now, LOGIN_WINDOW_SECS);
            Update::new(counter_key("reset-unsent", "all", window))
                .add("count", 1)
                .set(
                    "expiresAt",
                    AttributeValue::N((window + LOGIN_WINDOW_SECS + 60).to_string()),
                )
                .into_transact(store)?
        }
    };
    store.transact(vec![write]).await?;
    Ok(())
}

/// Consumes a one-time token of `purpose`; 400 `INVALID_TOKEN` if unknown, used, expired or
/// of another purpose. Returns the item and the delete to put in the consuming transaction.
async fn take_token(
    state: &State,
    token: &str,
    purpose: TokenPurpose,
) -> Result<(OneTimeToken, TransactWriteItem), ApiError> {
    let key = OneTimeToken::key(&token_hash(token));
    let item: OneTimeToken = state
        .store
        .get(&key)
        .await?
        .filter(|t: &OneTimeToken| t.purpose == purpose)
        .ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_TOKEN",
                "The link is invalid, expired or already used.",
            )
        })?;
    let delete = state.store.delete_op(&key, true)?;
    Ok((item, delete))
}

/// The token must be the newest link of its purpose the account has (a newer one, or a
/// password set since, voids it).
fn is_newest(user: &UserItem, purpose: TokenPurpose, token: &str) -> Result<(), ApiError> {
    let pointer = match purpose {
        TokenPurpose::VerifyEmail => &user.verify_token,
        TokenPurpose::ResetPassword => &user.reset_token,
    };
    if pointer.as_deref() == Some(token_hash(token).as_str()) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "INVALID_TOKEN",
            "The link is invalid, expired or already used.",
        ))
    }
}

fn token_race(error: StoreError) -> ApiError {
    match error {
        StoreError::ConditionFailed { .. } => ApiError::bad_request(
            "INVALID_TOKEN",
            "The link is invalid, expired or already used.",
        ),
        other => other.into(),
    }
}

/// Deletes of the oldest sessions of `user` beyond [`MAX_SESSIONS`] - 1, so that one more fits
/// (one Query; sessions are keyed by time-ordered ids, oldest first).
async fn evictions(state: &State, user: UserId) -> Result<Vec<TransactWriteItem>, ApiError> {
    let cap = i32::try_from(MAX_SESSIONS).unwrap_or(i32::MAX);
    let sessions = state
        .store
        .query_first(&format!("USER#{user}"), "SESSION#", cap + 5)
        .await?;
    let excess = (sessions.len() + 1).saturating_sub(MAX_SESSIONS);
    sessions
        .into_iter()
        .take(excess)
        .map(|item| {
            let session: SessionItem = Store::parse(item)?;
            Ok(state
                .store
                .delete_op(&SessionItem::key(user, &session.session_id), false)?)
        })
        .collect()
}

/// Deletes of the sessions of `user` but `keep`, for tidiness: they are already over (their
/// epoch is past), so bounded is enough (a transaction holds 100 items).
async fn session_deletes(
    state: &State,
    user: UserId,
    keep: Option<&str>,
) -> Result<Vec<TransactWriteItem>, ApiError> {
    let sessions = state
        .store
        .query_all(&format!("USER#{user}"), "SESSION#")
        .await?;
    sessions
        .into_iter()
        .map(Store::parse::<SessionItem>)
        .filter(|s| {
            s.as_ref()
                .map_or(true, |s| Some(s.session_id.as_str()) != keep)
        })
        .take(80)
        .map(|s| {
            Ok(state
                .store
                .delete_op(&SessionItem::key(user, &s?.session_id), false)?)
        })
        .collect()
}

/// `POST /auth/password/reset`: sets a new password from a reset link and ends every session.
pub async fn reset_password(
    state: &State,
    token: &str,
    new_password: &Password,
) -> Result<(), ApiError> {
    let (item, consume) = take_token(state, token, TokenPurpose::ResetPassword).await?;
    let user = find_user(&state.store, item.user_id)
        .await?
        .ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_TOKEN",
                "The link is invalid, expired or already used.",
            )
        })?;
    is_newest(&user, TokenPurpose::ResetPassword, token)?;
    set_password(
        state,
        &user,
        new_password,
        PasswordSet {
            also: vec![consume],
            keep_session: None,
            link: Some(token),
            kind: "user.password_reset",
            actor: Actor::system("password-reset"),
        },
    )
    .await
}

/// How a password is being set: with what else in the transaction, which session survives, by
/// which reset link, as which event.
struct PasswordSet<'a> {
    also: Vec<TransactWriteItem>,
    keep_session: Option<&'a str>,
    /// The reset link's token: it must still be the account's newest.
    link: Option<&'a str>,
    kind: &'a str,
    actor: Actor,
}

/// Sets a password and ends everything the old one opened: every session but `keep_session`
/// (the session epoch moves on; the kept session moves with it) and every outstanding email
/// link (both pointers go, and links requested before now will never be minted).
async fn set_password(
    state: &State,
    user: &UserItem,
    new_password: &Password,
    how: PasswordSet<'_>,
) -> Result<(), ApiError> {
    let store = &state.store;
    password::check_strength(
        new_password,
        &password::user_inputs(&user.name, &user.email),
    )
    .map_err(|e| e.at("newPassword"))?;
    let hash = password::hash(new_password).map_err(ApiError::internal)?;
    let epoch = user.session_epoch + 1;
    let mut update = Update::new(user.key())
        .set("passwordHash", AttributeValue::S(hash))
        .set("updatedAt", AttributeValue::S(state.clock.timestamp()))
        .set("sessionEpoch", AttributeValue::N(epoch.to_string()))
        .set(
            "linksValidAfter",
            AttributeValue::N(state.clock.unix_millis().to_string()),
        )
        .remove(TokenPurpose::ResetPassword.pointer())
        .remove(TokenPurpose::VerifyEmail.pointer())
        .bump_version(user.version);
    if let Some(token) = how.link {
        update = update.if_equals(
            TokenPurpose::ResetPassword.pointer(),
            AttributeValue::S(token_hash(token)),
        );
    }
    let mut writes = how.also;
    writes.push(update.into_transact(store)?);
    if let Some(session) = how.keep_session {
        writes.push(
            Update::new(SessionItem::key(user.id, session))
                .set("epoch", AttributeValue::N(epoch.to_string()))
                .if_exists()
                .into_transact(store)?,
        );
    }
    writes.extend(session_deletes(state, user.id, how.keep_session).await?);
    let event = Event::about_user(how.kind, how.actor, user.id, state.clock.timestamp())
        .change("passwordChanged", false, true)
        .email("password-changed", &user.email, &greeting(user));
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await.map_err(token_race)
}

/// `POST /auth/email/verify`: marks the address verified. Only the account's newest link works,
/// once; it is void after a password set.
pub async fn verify_email(state: &State, token: &str) -> Result<(), ApiError> {
    let store = &state.store;
    let (item, consume) = take_token(state, token, TokenPurpose::VerifyEmail).await?;
    let user = find_user(store, item.user_id).await?.ok_or_else(|| {
        ApiError::bad_request(
            "INVALID_TOKEN",
            "The link is invalid, expired or already used.",
        )
    })?;
    is_newest(&user, TokenPurpose::VerifyEmail, token)?;
    let pointer = TokenPurpose::VerifyEmail.pointer();
    let mut writes = vec![
        consume,
        Update::new(user.key())
            .set("emailVerified", AttributeValue::Bool(true))
            .set("updatedAt", AttributeValue::S(state.clock.timestamp()))
            .remove(pointer)
            .if_equals(pointer, AttributeValue::S(token_hash(token)))
            .bump_version(user.version)
            .into_transact(store)?,
    ];
    if !user.email_verified {
        let event = Event::about_user(
            "user.email_verified",
            Actor::user(user.id, &user.roles),
            user.id,
            state.clock.timestamp(),
        )
        .change("emailVerified", false, true);
        writes.push(outbox_put(store, event)?);
    }
    store.transact(writes).await.map_err(token_race)
}

/// `POST /auth/email/verify/resend`: a new verification link (one a minute, five an hour).
pub async fn resend_verification(state: &State, me: &Principal) -> Result<(), ApiError> {
    if me.user.email_verified {
        return Err(ApiError::Conflict {
            code: "ALREADY_VERIFIED",
            detail: "This email address is already verified.".into(),
        });
    }
    if let Err(retry_after_secs) = email_allowance(state, "verify-email", &me.user.email).await? {
        return Err(ApiError::TooManyRequests { retry_after_secs });
    }
    let store = &state.store;
    let event = Event::about_user(
        "user.verification_requested",
        Actor::user(me.id(), me.roles()),
        me.id(),
        state.clock.timestamp(),
    )
    .email("verify-email", &me.user.email, &greeting(&me.user))
    .link(LinkRequest {
        purpose: TokenPurpose::VerifyEmail,
        user_id: me.id(),
        requested_ms: state.clock.unix_millis(),
    });
    store.transact(vec![outbox_put(store, event)?]).await?;
    Ok(())
}

fn precondition(expected: Option<u64>, current: u64) -> Result<u64, ApiError> {
    match expected {
        Some(version) if version != current => Err(ApiError::PreconditionFailed {
            detail: format!("The resource is at version {current}, not {version}; fetch it again."),
        }),
        _ => Ok(current),
    }
}

fn version_conflict(error: StoreError) -> ApiError {
    match error {
        StoreError::ConditionFailed { .. } => ApiError::PreconditionFailed {
            detail: "The resource changed while this request was processed; fetch it again.".into(),
        },
        other => other.into(),
    }
}

/// `PATCH /users/me`: profile fields only.
pub async fn update_profile(
    state: &State,
    me: &Principal,
    name: Option<DisplayName>,
    expected: Option<u64>,
) -> Result<UserView, ApiError> {
    let store = &state.store;
    let user = &me.user;
    let version = precondition(expected, user.version)?;
    let Some(name) = name.filter(|n| n.as_str() != user.name) else {
        return Ok(UserView::from(user));
    };
    let now = state.clock.timestamp();
    let event = Event::about_user(
        "user.profile_updated",
        Actor::user(user.id, &user.roles),
        user.id,
        now.clone(),
    )
    .change("name", &user.name, name.as_str());
    store
        .transact(vec![
            Update::new(user.key())
                .set("name", AttributeValue::S(name.as_str().to_owned()))
                .set("updatedAt", AttributeValue::S(now.clone()))
                .bump_version(version)
                .into_transact(store)?,
            outbox_put(store, event)?,
        ])
        .await
        .map_err(version_conflict)?;
    let mut updated = user.clone();
    name.as_str().clone_into(&mut updated.name);
    updated.updated_at = now;
    updated.version = version + 1;
    Ok(UserView::from(&updated))
}

/// `PUT /users/me/password`: needs the current password (throttled like sign-in); ends every
/// other session.
pub async fn change_password(
    state: &State,
    me: &Principal,
    current: &str,
    new_password: &Password,
) -> Result<(), ApiError> {
    let give_back = confirm_password(state, me, "currentPassword", current)
        .await?
        .op;
    set_password(
        state,
        &me.user,
        new_password,
        PasswordSet {
            also: vec![give_back],
            keep_session: Some(&me.session_id),
            link: None,
            kind: "user.password_changed",
            actor: Actor::user(me.id(), me.roles()),
        },
    )
    .await
}

/// The admin counter change when `user` stops being an active admin: fails the transaction
/// (409 `LAST_ADMIN`) if it is the last one.
fn leave_admins(store: &Store) -> Result<TransactWriteItem, StoreError> {
    Update::new(admin_counter_key())
        .add("count", -1)
        .if_greater("count", 1)
        .into_transact(store)
}

fn join_admins(store: &Store) -> Result<TransactWriteItem, StoreError> {
    Update::new(admin_counter_key())
        .add("count", 1)
        .into_transact(store)
}

fn last_admin(error: StoreError, counter_index: Option<usize>) -> ApiError {
    match error {
        StoreError::ConditionFailed { index } if index.is_some() && index == counter_index => {
            ApiError::Conflict {
                code: "LAST_ADMIN",
                detail: "This is the last active admin: promote another admin first.".into(),
            }
        }
        other => version_conflict(other),
    }
}

/// Deletes an account (see [`delete_own_account`] and [`admin_delete_user`]).
async fn delete_user(
    state: &State,
    user: &UserItem,
    actor: Actor,
    kind: &str,
    also: Vec<TransactWriteItem>,
) -> Result<(), ApiError> {
    let store = &state.store;
    // One transaction, whatever the account wrote: the account, its email claim and sessions
    // go, and the last-admin rule is its condition — a refused deletion changes nothing. The
    // account's posts are purged in the background from this event (`posts::purge_author`,
    // the purge worker) and hidden from every read from the moment the account is gone.
    let email =
        Email::parse(&user.email).map_err(|_| ApiError::internal("stored email is invalid"))?;
    let mut writes = vec![
        store.delete_op(&user.key(), true)?,
        store.delete_op(&Key::email(&email), false)?,
    ];
    writes.extend(also);
    let counter_index = (user.roles.contains(&Role::Admin) && user.status == UserStatus::Active)
        .then_some(writes.len());
    if counter_index.is_some() {
        writes.push(leave_admins(store)?);
    }
    writes.extend(session_deletes(state, user.id, None).await?);
    let event = Event::about_user(kind, actor, user.id, state.clock.timestamp())
        .change("email", &user.email, ())
        .change("name", &user.name, ())
        .email("account-deleted", &user.email, &greeting(user));
    writes.push(outbox_put(store, event)?);
    store
        .transact(writes)
        .await
        .map_err(|e| last_admin(e, counter_index))
}

/// `DELETE /users/me`: needs the password (throttled like sign-in). Removes the user, the email
/// claim and every session.
pub async fn delete_own_account(
    state: &State,
    me: &Principal,
    password_text: &str,
) -> Result<(), ApiError> {
    let give_back = confirm_password(state, me, "password", password_text).await?;
    let deleted = delete_user(
        state,
        &me.user,
        Actor::user(me.id(), me.roles()),
        "user.deleted",
        vec![give_back.op],
    )
    .await;
    if deleted.is_err() {
        // Refused (the last admin) or failed: the right password's attempt is given back all the
        // same, so a refused request leaves nothing behind.
        state.store.update(give_back.update).await?;
    }
    deleted
}

/// `GET /users`: newest first; by status via `gsi2`, by role with a filter.
pub async fn list_users(
    state: &State,
    status: Option<UserStatus>,
    role: Option<Role>,
    page: &PageRequest,
) -> Result<Page<UserView>, ApiError> {
    let mut query = match status {
        Some(status) => KeyQuery::index(Index::Gsi2, UserItem::status_partition(status)),
        None => KeyQuery::index(Index::Gsi1, USERS_PARTITION),
    }
    .newest_first();
    if let Some(role) = role {
        query = query.contains("roles", role.as_str());
    }
    let users: Page<UserItem> = state.store.query_page(&query, page).await?;
    Ok(Page {
        items: users.items.iter().map(UserView::from).collect(),
        next_cursor: users.next_cursor,
    })
}

/// What an admin may change on a user.
#[derive(Debug, Default)]
pub struct AdminChange {
    pub roles: Option<Vec<Role>>,
    pub status: Option<UserStatus>,
    pub expected_version: Option<u64>,
}

/// `PATCH /users/{id}`: roles and status. Disabling ends the user's sessions. The last active
/// admin cannot be demoted or disabled (409 `LAST_ADMIN`).
pub async fn admin_update_user(
    state: &State,
    me: &Principal,
    id: UserId,
    change: AdminChange,
) -> Result<UserView, ApiError> {
    let store = &state.store;
    let user = find_user(store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    let version = precondition(change.expected_version, user.version)?;
    let mut roles = change.roles.unwrap_or_else(|| user.roles.clone());
    roles.sort_unstable();
    roles.dedup();
    if !roles.contains(&Role::User) {
        roles.insert(0, Role::User);
    }
    let status = change.status.unwrap_or(user.status);
    let was_admin = user.roles.contains(&Role::Admin) && user.status == UserStatus::Active;
    let is_admin = roles.contains(&Role::Admin) && status == UserStatus::Active;
    if roles == user.roles && status == user.status {
        return Ok(UserView::from(&user));
    }
    let now = state.clock.timestamp();
    let mut update = Update::new(user.key())
        .set_value("roles", &roles)?
        .set("status", AttributeValue::S(status.as_str().to_owned()))
        .set(
            "gsi2pk",
            AttributeValue::S(UserItem::status_partition(status)),
        )
        .set("updatedAt", AttributeValue::S(now.clone()))
        .bump_version(version);
    let disabling = status == UserStatus::Disabled && user.status == UserStatus::Active;
    if disabling {
        // Every session and email link of the account ends, however many there are.
        update = update
            .set(
                "sessionEpoch",
                AttributeValue::N((user.session_epoch + 1).to_string()),
            )
            .set(
                "linksValidAfter",
                AttributeValue::N(state.clock.unix_millis().to_string()),
            )
            .remove(TokenPurpose::ResetPassword.pointer())
            .remove(TokenPurpose::VerifyEmail.pointer());
    }
    let mut writes = vec![update.into_transact(store)?];
    let counter_index = match (was_admin, is_admin) {
        (true, false) => {
            writes.push(leave_admins(store)?);
            Some(writes.len() - 1)
        }
        (false, true) => {
            writes.push(join_admins(store)?);
            None
        }
        _ => None,
    };
    if disabling {
        writes.extend(session_deletes(state, user.id, None).await?);
    }
    let kind = if status == user.status {
        "user.roles_changed"
    } else {
        "user.status_changed"
    };
    let event = Event::about_user(kind, Actor::user(me.id(), me.roles()), user.id, now.clone())
        .change("roles", &user.roles, &roles)
        .change("status", user.status, status);
    writes.push(outbox_put(store, event)?);
    store
        .transact(writes)
        .await
        .map_err(|e| last_admin(e, counter_index))?;
    let mut updated = user;
    updated.roles = roles;
    updated.status = status;
    updated.updated_at = now;
    updated.version = version + 1;
    Ok(UserView::from(&updated))
}

/// `DELETE /users/{id}` (admin).
pub async fn admin_delete_user(state: &State, me: &Principal, id: UserId) -> Result<(), ApiError> {
    let user = find_user(&state.store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    delete_user(
        state,
        &user,
        Actor::user(me.id(), me.roles()),
        "user.deleted_by_admin",
        Vec::new(),
    )
    .await
}

/// Gives `role` to the account of `email` — the documented way to create the first admin
/// (`ferrite-admin grant-role`), run by an operator with access to the table.
pub async fn grant_role(state: &State, email: &Email, role: Role) -> Result<UserView, ApiError> {
    let store = &state.store;
    let claim: EmailClaim =
        store
            .get(&Key::email(email))
            .await?
            .ok_or_else(|| ApiError::NotFound {
                detail: format!("No account for {email}."),
            })?;
    let user = find_user(store, claim.user_id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    if user.roles.contains(&role) {
        return Ok(UserView::from(&user));
    }
    let mut roles = user.roles.clone();
    roles.push(role);
    roles.sort_unstable();
    let now = state.clock.timestamp();
    let mut writes = vec![
        Update::new(user.key())
            .set_value("roles", &roles)?
            .set("updatedAt", AttributeValue::S(now.clone()))
            .bump_version(user.version)
            .into_transact(store)?,
    ];
    if role == Role::Admin && user.status == UserStatus::Active {
        writes.push(join_admins(store)?);
    }
    let event = Event::about_user(
        "user.roles_changed",
        Actor::system("ferrite-admin"),
        user.id,
        now.clone(),
    )
    .change("roles", &user.roles, &roles);
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await.map_err(version_conflict)?;
    let mut updated = user;
    updated.roles = roles;
    updated.updated_at = now;
    updated.version += 1;
    Ok(UserView::from(&updated))
}
