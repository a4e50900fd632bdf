//! Sessions: sign-in, refresh-token rotation with reuse detection, logout, and the cap on
//! sessions per account.

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::auth::password::{self, Check};
use crate::auth::{self, jwt};
use crate::config::RegistrationMode;
use crate::error::ApiError;
use crate::events::{Actor, Event, outbox_put};
use crate::ids::{SessionId, UserId};
use crate::notices::{Notice, SignInNotice};
use crate::state::State;
use crate::store::{Key, Store, StoreError, Update};
use crate::telemetry::metric;
use crate::validate::{Email, Password};

use super::devices::{Client, Sighting};
use super::items::{
    EmailClaim, RefreshItem, RefreshState, SessionItem, UserItem, UserStatus, UserView,
};
use super::{
    MAX_SESSIONS, NEW_SIGN_IN_TEMPLATE, SESSION_TTL_SECS, Session, TokenPair, find_user, greeting,
    invalid_credentials, invalid_refresh, load_user_and_session, random_token, throttle::give_back,
    throttle::login_policies, throttle::spent, token_hash,
};

/// The new session's items (session + refresh token) and the token pair for the client. The
/// signing key is had before any write is made, so a key that cannot be read fails the request
/// before it changes anything.
pub(super) async fn new_session(
    state: &State,
    user: &UserItem,
    client: &Client,
    amr: &[&str],
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
            last_refreshed_at: None,
            user_agent: client.user_agent.clone(),
            network: client.network(),
            authenticated_at: Some(state.clock.unix_seconds()),
            second_factor_at: amr.contains(&"otp").then(|| state.clock.unix_seconds()),
            amr: amr.iter().map(|&m| m.to_owned()).collect(),
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
    let access = mint_access(state, user, &session_id, amr).await?;
    Ok((
        writes,
        TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: auth::ACCESS_TOKEN_TTL_SECS,
        },
        session_id,
    ))
}

async fn mint_access(
    state: &State,
    user: &UserItem,
    session_id: &str,
    amr: &[&str],
) -> Result<String, ApiError> {
    jwt::mint_with(
        state.auth.signer().await?,
        &state.auth.tokens,
        &user.id.to_string(),
        &user.roles,
        session_id,
        amr,
        state.clock.unix_seconds(),
    )
    .map_err(ApiError::internal)
}

/// Signs in with email and password. Unknown emails cost the same as wrong passwords and
/// answer the same 401; a disabled account is revealed only after the right password. Past
/// the failure limit (per account and per source IP, per 15-minute window) the answer is 429
/// with `Retry-After`, even for the right password.
pub async fn login(
    state: &State,
    email: &str,
    password_text: &str,
    client: &Client,
) -> Result<Session, ApiError> {
    let result = sign_in(state, email, password_text, client).await;
    let outcome = match &result {
        Ok(_) => Some("ok"),
        Err(ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }) => Some("failed"),
        Err(ApiError::TooManyRequests { .. }) => Some("throttled"),
        Err(ApiError::MfaRequired { .. }) => Some("second_factor"),
        Err(_) => None,
    };
    if let Some(outcome) = outcome {
        metrics::counter!(metric::SIGN_IN, "outcome" => outcome).increment(1);
    }
    result
}

async fn sign_in(
    state: &State,
    email: &str,
    password_text: &str,
    client: &Client,
) -> Result<Session, ApiError> {
    let source_ip = client.ip.as_str();
    let store = &state.store;
    // A malformed address cannot have an account: same answer, same cost.
    let email = Email::parse(email).ok();
    // Throttle subject: the normalised address (malformed ones share one bucket).
    let subject = email
        .as_ref()
        .map_or_else(|| "invalid-address".to_owned(), ToString::to_string);
    let now = state.clock.unix_seconds();
    let policies = login_policies(&state.config.limits);
    let [account_policy, ip_policy] = policies;
    let account_counter = account_policy.counter(&subject, now);
    let ip_counter = ip_policy.counter(source_ip, now);
    let claim_key = email
        .as_ref()
        .map_or_else(|| Key::new("EMAIL#", "EMAIL"), Key::email);

    // The attempt is counted first, atomically (see `give_back`).
    store
        .transact(vec![
            account_policy.attempt(&subject, now).into_transact(store)?,
            ip_policy.attempt(source_ip, now).into_transact(store)?,
        ])
        .await
        .map_err(|e| spent(e, &policies, now))?;
    let claim: Option<EmailClaim> = store.get(&claim_key).await?;
    let user = match &claim {
        Some(claim) => find_user(store, claim.user_id).await?,
        None => None,
    };
    let check = if let Some(user) = &user {
        password::verify_stored(password_text, user.password_hash.as_deref())
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

    let mut user = user;
    let mut account = None;
    if rehash {
        // Parameters changed since this hash was made: store one with the current parameters.
        let password = Password::parse(password_text).map_err(|_| invalid_credentials())?;
        let new_hash = password::hash(&password).map_err(ApiError::internal)?;
        account = Some(
            Update::new(user.key())
                .set(UserItem::PASSWORD_HASH, &new_hash)
                .bump_version(user.version),
        );
        user.password_hash = Some(new_hash);
        user.version += 1;
    }
    let given_back = vec![
        give_back(store, account_counter)?,
        give_back(store, ip_counter)?,
    ];
    first_factor_given(state, user, client, &["pwd"], given_back, account).await
}

/// The end of a sign-in whose first factor (`amr`: the password, a mailed link, a provider's
/// token) was right: the session ([`complete_sign_in`]) — or, with a second factor in force,
/// 401 `MFA_REQUIRED` and a challenge written with the same `writes` and `account` (the second
/// factor decides, at `POST /auth/mfa/verify`).
pub(super) async fn first_factor_given(
    state: &State,
    user: UserItem,
    client: &Client,
    amr: &[&str],
    writes: Vec<TransactWriteItem>,
    account: Option<Update>,
) -> Result<Session, ApiError> {
    if user.has_factor(super::items::TOTP) {
        return Err(mfa_challenge(state, &user, writes, account, amr)
            .await
            .unwrap_or_else(|failed| failed));
    }
    complete_sign_in(state, user, client, amr, writes, account).await
}

/// 401 `MFA_REQUIRED` with a new challenge for `user`, whose first factor (`amr`: the password,
/// a mailed link) was right: the challenge is written with `writes` (attempts given back, a
/// link spent) and `account` (a rehash), one transaction.
async fn mfa_challenge(
    state: &State,
    user: &UserItem,
    mut writes: Vec<TransactWriteItem>,
    account: Option<Update>,
    amr: &[&str],
) -> Result<ApiError, ApiError> {
    let store = &state.store;
    let challenge = random_token()?;
    let key = super::items::ChallengeItem::key(&challenge);
    writes.push(store.put_new_op(&super::items::ChallengeItem {
        pk: key.pk,
        sk: key.sk,
        user_id: user.id,
        epoch: user.session_epoch,
        expires_at: store.expires_in(super::items::CHALLENGE_TTL_SECS),
        amr: amr.iter().map(|&method| method.to_owned()).collect(),
    })?);
    if let Some(update) = account {
        writes.push(update.into_transact(store)?);
    }
    store.transact(writes).await?;
    Ok(ApiError::MfaRequired {
        challenge: Some(challenge),
    })
}

/// The end of every sign-in, once each factor it needs was given: the new session (the oldest
/// ended past the cap), the device's sighting, the event, and `writes` (attempts given back, a
/// challenge spent), in one transaction. `account` is an update of the user item the caller
/// needs (one per transaction: the device map joins it).
pub(super) async fn complete_sign_in(
    state: &State,
    mut user: UserItem,
    client: &Client,
    amr: &[&str],
    mut writes: Vec<TransactWriteItem>,
    mut account: Option<Update>,
) -> Result<Session, ApiError> {
    let store = &state.store;
    let now = state.clock.unix_seconds();
    let (session_writes, tokens, session_id) = new_session(state, &user, client, amr).await?;
    writes.extend(session_writes);
    writes.extend(evictions(state, user.id).await?);
    let sighting = Sighting::of(&user, client, now);
    if sighting.writes() {
        // Never an update that would make an account deleted meanwhile exist again.
        let update = account.unwrap_or_else(|| Update::new(user.key()).if_exists());
        account = Some(sighting.apply(update, now));
    }
    if let Some(update) = account {
        writes.push(update.into_transact(store)?);
    }
    let event = sign_in_event(state, &user, client, &session_id, &sighting).change("amr", (), amr);
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await?;
    if let Some(known) = &mut user.known_devices {
        known.insert(client.fingerprint(), now);
    }
    Ok(Session {
        user: UserView::from(&user),
        tokens,
    })
}

/// The `user.logged_in` event of a sign-in: with the "new sign-in" email when the device is new
/// to the account — only to an address its owner confirmed, and not while the account is
/// learning its devices (made before they were remembered: its first sign-ins are not news).
fn sign_in_event(
    state: &State,
    user: &UserItem,
    client: &Client,
    session_id: &str,
    sighting: &Sighting,
) -> Event {
    let signed_in_at = state.clock.timestamp();
    let event = Event::about_user(
        "user.logged_in",
        user.actor(),
        user.id,
        signed_in_at.clone(),
    )
    .change("sessionId", (), session_id);
    if !sighting.new {
        return event;
    }
    let event = event.change("newDevice", (), true);
    if user.known_devices.is_none() {
        return event;
    }
    // Its owner's inbox is told whatever the address (it is the account's own).
    let event = event.alert(
        user.id,
        Notice::SignedIn(SignInNotice {
            session_id: session_id.to_owned(),
            device: client.user_agent.clone(),
            network: client.network(),
        }),
    );
    if !user.email_verified {
        return event;
    }
    let network = client.network().unwrap_or_else(|| "unknown".to_owned());
    let device = client.user_agent.as_deref().unwrap_or("unknown");
    let mut vars = greeting(user);
    vars.extend([
        ("signedInAt", signed_in_at.as_str()),
        ("device", device),
        ("network", network.as_str()),
    ]);
    event.email(NEW_SIGN_IN_TEMPLATE, &user.email, &vars)
}

/// Exchanges a refresh token for a new pair (rotation with reuse detection).
pub async fn refresh(
    state: &State,
    refresh_token: &str,
    client: &Client,
) -> Result<Session, ApiError> {
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
                metrics::counter!(metric::REFRESH_REUSE).increment(1);
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
            .set(RefreshItem::STATE, &RefreshState::Rotated)
            .set(RefreshItem::ROTATED_AT, &state.clock.unix_seconds())
            .if_equals(RefreshItem::STATE, &RefreshState::Active)
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
            .set(SessionItem::LAST_REFRESHED_AT, &state.clock.timestamp())
            .set_or_remove(SessionItem::NETWORK, client.network().as_ref())
            .if_exists()
            .into_transact(store)?,
        // ...and every session must not have ended meanwhile.
        Update::new(user.key())
            .if_number(UserItem::SESSION_EPOCH, user.session_epoch)
            .into_check(store)?,
    ];
    // Minted before the rotation is written: a signing key that cannot be read must not cost
    // the client its session.
    let amr: Vec<&str> = session.amr.iter().map(String::as_str).collect();
    let amr = if amr.is_empty() { vec!["pwd"] } else { amr };
    let access = mint_access(state, &user, &item.session_id, &amr).await?;
    store.transact(writes).await.map_err(|error| match error {
        // A concurrent refresh of the same token won, or the session was revoked meanwhile.
        StoreError::ConditionFailed { .. } => invalid_refresh(),
        other => other.into(),
    })?;
    Ok(Session {
        user: UserView::from(&user),
        tokens: TokenPair {
            access_token: access,
            refresh_token: new_token,
            token_type: "Bearer",
            expires_in: auth::ACCESS_TOKEN_TTL_SECS,
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
                .set(RefreshItem::STATE, &RefreshState::Revoked)
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

/// Deletes of the oldest sessions of `user` beyond [`MAX_SESSIONS`] - 1, so that one more fits
/// (one Query; sessions are keyed by time-ordered ids, oldest first).
async fn evictions(state: &State, user: UserId) -> Result<Vec<TransactWriteItem>, ApiError> {
    let cap = i32::try_from(MAX_SESSIONS).unwrap_or(i32::MAX);
    let sessions = state
        .store
        .query_first(&Key::user(user).pk, "SESSION#", cap + 5)
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

/// Ends every session of `user` but `keep` when the account's session epoch moves to `epoch`:
/// the kept session moves with it, the others are deleted.
pub(super) async fn sessions_after_epoch(
    state: &State,
    user: UserId,
    keep: Option<&str>,
    epoch: u64,
) -> Result<Vec<TransactWriteItem>, ApiError> {
    let sessions = sessions_of(state, user).await?;
    let kept = keep.map(|session| (session, epoch));
    Ok(epoch_moved(&state.store, user, &sessions, kept, TIDY_AT_ONCE)?.0)
}

/// Deletes of every session of `user` (an account deleted or disabled: they are over already).
pub(super) async fn session_deletes(
    state: &State,
    user: UserId,
) -> Result<Vec<TransactWriteItem>, ApiError> {
    let sessions = sessions_of(state, user).await?;
    Ok(epoch_moved(&state.store, user, &sessions, None, TIDY_AT_ONCE)?.0)
}

/// Sessions deleted for tidiness in a transaction that has ended them already (their epoch is
/// past), so bounded is enough: a transaction holds 100 items.
const TIDY_AT_ONCE: usize = 80;

/// Every session of `user`, oldest first.
async fn sessions_of(state: &State, user: UserId) -> Result<Vec<SessionItem>, ApiError> {
    let items = state
        .store
        .query_all(&Key::user(user).pk, SessionItem::PREFIX)
        .await?;
    Ok(items
        .into_iter()
        .map(Store::parse::<SessionItem>)
        .collect::<Result<Vec<_>, _>>()?)
}

/// The writes that go with a move of the account's session epoch: `kept` — a session and the
/// new epoch — moves with it (if it is among `sessions`), and up to `limit` of the others are
/// deleted; those are returned too.
fn epoch_moved<'a>(
    store: &Store,
    user: UserId,
    sessions: &'a [SessionItem],
    kept: Option<(&str, u64)>,
    limit: usize,
) -> Result<(Vec<TransactWriteItem>, Vec<&'a SessionItem>), ApiError> {
    let mut writes = Vec::new();
    let (keep, others): (Vec<_>, Vec<_>) = sessions
        .iter()
        .partition(|s| kept.is_some_and(|(id, _)| id == s.session_id));
    if let (Some(session), Some((_, epoch))) = (keep.first(), kept) {
        writes.push(
            Update::new(SessionItem::key(user, &session.session_id))
                .set(SessionItem::EPOCH, &epoch)
                .if_exists()
                .into_transact(store)?,
        );
    }
    let deleted: Vec<_> = others.into_iter().take(limit).collect();
    for session in &deleted {
        writes.push(store.delete_op(&SessionItem::key(user, &session.session_id), false)?);
    }
    Ok((writes, deleted))
}

/// A session as its owner (or an admin) sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: SessionId,
    /// The session of the access token of this request.
    pub current: bool,
    /// When it began: the sign-in (or registration).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it was last used: its last refresh, else its sign-in (requests that only use an
    /// access token are not recorded: no write per request).
    #[schema(format = DateTime)]
    pub last_used_at: String,
    /// When it ends at the latest (refreshing does not extend it).
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// The device, as far as its User-Agent tells.
    pub device: super::devices::Device,
    /// The User-Agent it signed in with (at most 256 characters).
    pub user_agent: Option<String>,
    /// The network it was last used from: the /24 of an IPv4 address, the /48 of an IPv6 one.
    #[schema(example = "203.0.113.0/24")]
    pub network: Option<String>,
}

/// `GET /users/me/sessions`, `GET /users/{id}/sessions`: the live sessions of `user`, newest
/// first (one Query per page). `current` marks the caller's own.
#[cfg(feature = "user-agents")]
pub async fn list_sessions(
    state: &State,
    user: &UserItem,
    current: Option<&str>,
    page: &crate::store::PageRequest,
) -> Result<crate::store::Page<SessionView>, ApiError> {
    let query = crate::store::KeyQuery::table(Key::user(user.id).pk)
        .sort(crate::store::SortKey::BeginsWith(
            SessionItem::PREFIX.to_owned(),
        ))
        .newest_first();
    let sessions: crate::store::Page<SessionItem> = state.store.query_page(&query, page).await?;
    let items = sessions
        .items
        .into_iter()
        // A session of an older epoch ended with it (its item goes at the next epoch change).
        .filter(|s| s.epoch == user.session_epoch)
        .map(|s| {
            let id = SessionId::parse(&s.session_id).map_err(|_| {
                ApiError::internal(format!("stored session id {:?} is not an id", s.session_id))
            })?;
            Ok(SessionView {
                id,
                current: current == Some(s.session_id.as_str()),
                last_used_at: s
                    .last_refreshed_at
                    .clone()
                    .unwrap_or_else(|| s.created_at.clone()),
                created_at: s.created_at,
                expires_at: crate::clock::rfc3339(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(u64::try_from(s.expires_at).unwrap_or(0)),
                ),
                device: super::devices::describe(s.user_agent.as_deref()),
                user_agent: s.user_agent,
                network: s.network,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(crate::store::Page {
        items,
        next_cursor: sessions.next_cursor,
    })
}

impl crate::http::PathId for SessionId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        ApiError::no_such("session")
    }
}

/// Why a session was ended by hand (the `reason` of its `session.revoked` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// Its owner ended it.
    Owner,
    /// An admin ended it.
    Admin,
}

impl EndedBy {
    fn reason(self) -> &'static str {
        match self {
            Self::Owner => "ended_by_user",
            Self::Admin => "ended_by_admin",
        }
    }
}

fn session_ended(
    state: &State,
    actor: &Actor,
    user: UserId,
    session_id: &str,
    by: EndedBy,
) -> Event {
    Event::new(
        "session.revoked",
        actor.clone(),
        "session",
        session_id,
        state.clock.timestamp(),
    )
    .change("reason", (), by.reason())
    .change("userId", (), user)
}

/// `DELETE /users/me/sessions/{id}`, `DELETE /users/{id}/sessions/{sessionId}`: ends one session
/// of `user` — its refresh token and its access tokens stop working at once (both are checked
/// against the session item, which goes). 404 when `user` has no such live session.
pub async fn end_session(
    state: &State,
    actor: &Actor,
    user: &UserItem,
    session: SessionId,
    by: EndedBy,
) -> Result<(), ApiError> {
    let store = &state.store;
    let session_id = session.to_string();
    let key = SessionItem::key(user.id, &session_id);
    let live = store
        .get::<SessionItem>(&key)
        .await?
        .filter(|s| s.epoch == user.session_epoch);
    if live.is_none() {
        return Err(ApiError::no_such("session"));
    }
    let writes = vec![
        store.delete_op(&key, true)?,
        outbox_put(store, session_ended(state, actor, user.id, &session_id, by))?,
    ];
    store.transact(writes).await.map_err(|error| match error {
        // Ended meanwhile (another request, a sign-out): it is not there any more.
        StoreError::ConditionFailed { .. } => ApiError::no_such("session"),
        other => other.into(),
    })
}

/// How many sessions a request ended: `{ "ended": 3 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Ended {
    pub ended: usize,
}

/// Events (and deletes) of one transaction: a transaction holds 100 items.
const MAX_ENDED_AT_ONCE: usize = 45;

/// `DELETE /users/me/sessions` (every session but the caller's) and `DELETE /users/{id}/sessions`
/// (every one): the account's session epoch moves on, so every session of the old epoch —
/// including one a sign-in is creating at this very moment — is over at once, whatever their
/// number; `keep` moves to the new epoch. Each live session ended gets its `session.revoked`
/// event (and so its audit entry). 404 for an account that does not exist.
pub async fn end_sessions(
    state: &State,
    actor: &Actor,
    user: UserId,
    keep: Option<&str>,
    by: EndedBy,
) -> Result<Ended, ApiError> {
    let store = &state.store;
    // The epoch moves under the condition that nothing else moved it: on a race, read again.
    for _ in 0..3 {
        let account = find_user(store, user)
            .await?
            .ok_or_else(ApiError::no_such_user)?;
        let epoch = account.session_epoch + 1;
        let sessions = sessions_of(state, user).await?;
        let mut writes = vec![
            Update::new(account.key())
                .set(UserItem::SESSION_EPOCH, &epoch)
                .if_number(UserItem::SESSION_EPOCH, account.session_epoch)
                .into_transact(store)?,
        ];
        let kept = keep.map(|session| (session, epoch));
        let (moved, deleted) = epoch_moved(store, user, &sessions, kept, MAX_ENDED_AT_ONCE)?;
        writes.extend(moved);
        let mut ended = 0;
        // Only the live ones were ended here (the others were over already).
        for session in deleted.iter().filter(|s| s.epoch == account.session_epoch) {
            ended += 1;
            writes.push(outbox_put(
                store,
                session_ended(state, actor, user, &session.session_id, by),
            )?);
        }
        match store.transact(writes).await {
            Ok(()) => return Ok(Ended { ended }),
            Err(StoreError::ConditionFailed { index: Some(0) }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict {
        code: "CONCURRENT_CHANGE",
        detail: "The account's sessions kept changing; try again.".into(),
    })
}
