//! Email links and recovery: links minted when the email is sent, password reset, email
//! verification, and setting a password (which ends everything the old one opened).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use crate::auth::password::{self};
use crate::error::ApiError;
use crate::events::{Actor, Event, LinkRequest, outbox_put};
use crate::state::State;
use crate::store::{Key, StoreError, Update};
use crate::validate::{Email, Password};

use super::items::{EmailClaim, OneTimeToken, SessionItem, TokenPurpose, UserItem};
use super::{
    LOGIN_WINDOW_SECS, Principal, RESET_TOKEN_TTL_SECS, STRANGER_MAIL_LIMITS,
    VERIFY_TOKEN_TTL_SECS, find_user, greeting, random_token, sessions::session_deletes,
    throttle::counter_key, throttle::email_allowance, throttle::email_budget,
    throttle::window_start, token_hash,
};

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
pub(super) struct PasswordSet<'a> {
    pub(super) also: Vec<TransactWriteItem>,
    pub(super) keep_session: Option<&'a str>,
    /// The reset link's token: it must still be the account's newest.
    pub(super) link: Option<&'a str>,
    pub(super) kind: &'a str,
    pub(super) actor: Actor,
}

/// Sets a password and ends everything the old one opened: every session but `keep_session`
/// (the session epoch moves on; the kept session moves with it) and every outstanding email
/// link (both pointers go, and links requested before now will never be minted).
pub(super) async fn set_password(
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
            user.actor(),
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
        me.actor(),
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
