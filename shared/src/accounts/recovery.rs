//! Email links and recovery: links minted when the email is sent, password reset, email
//! verification, and setting a password (which ends everything the old one opened).

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::auth::password::{self};
use crate::error::ApiError;
use crate::events::{Actor, Event, LinkRequest, outbox_put};
use crate::limits::{self, Policy, Quota};
use crate::state::State;
use crate::store::{Key, StoreError, Update};
use crate::validate::{Email, Password};

use super::items::{EmailClaim, OneTimeToken, TokenPurpose, UserItem};
use super::{
    CHANGE_EMAIL_TOKEN_TTL_SECS, LOGIN_WINDOW_SECS, Principal, RESET_TOKEN_TTL_SECS,
    SIGN_IN_TOKEN_TTL_SECS, STRANGER_MAIL, VERIFY_TOKEN_TTL_SECS, find_user, greeting,
    random_token, sessions::sessions_after_epoch, throttle::LinkMail, throttle::link_mail_budget,
    token_hash,
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
        TokenPurpose::ChangeEmail => CHANGE_EMAIL_TOKEN_TTL_SECS,
        TokenPurpose::SignIn => SIGN_IN_TOKEN_TTL_SECS,
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
            .set(UserItem::newest_link_attr(link.purpose), &hash)
            .if_exists()
            .if_below(UserItem::LINKS_VALID_AFTER, link.requested_ms)
            .into_transact(store)?,
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(Some(token)),
        Err(StoreError::ConditionFailed { index: Some(1) }) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The emails anyone can make us send to an address they name (a registration, an account
/// deletion right after, an email change to it), and the one whoever holds the password can
/// make us send again and again (a sign-in from a new device): budgeted per address by the
/// email worker.
pub const STRANGER_TEMPLATES: [&str; 5] = [
    "welcome",
    "account-deleted",
    "account-exists",
    "confirm-email-change",
    super::NEW_SIGN_IN_TEMPLATE,
];

/// Counts one email a stranger can trigger towards `address`: false past its budget (the email
/// worker then sends nothing; the change itself has happened).
pub async fn stranger_mail_allowed(state: &State, address: &str) -> Result<bool, ApiError> {
    let counted = limits::count_all(
        &state.store,
        state.clock.unix_seconds(),
        &[STRANGER_MAIL],
        address,
    )
    .await?;
    Ok(!counted.exceeded)
}

/// `POST /auth/password/forgot`: 202, or 429 past the requests one source address may make
/// (`PASSWORD_RESETS_PER_IP_PER_HOUR`); an email with a 30-minute single-use link goes out only
/// if the account exists (see [`offer_link`]).
pub async fn forgot_password(
    state: &State,
    email: &Email,
    source_ip: &str,
) -> Result<Vec<Quota>, ApiError> {
    let offer = LinkOffer {
        per_ip: Policy::new(
            "password-reset-ip",
            state.config.limits.password_resets_per_ip_per_hour,
            3600,
        ),
        mail: LinkMail::Reset,
        kind: "user.password_reset_requested",
        template: "password-reset",
        purpose: TokenPurpose::ResetPassword,
        actor: "password-reset",
        unsent: "reset-unsent",
    };
    offer_link(state, email, source_ip, &offer).await
}

/// An email with a one-time link that anyone may ask to be sent to an address (a password
/// reset, a sign-in link).
pub(super) struct LinkOffer {
    /// Requests per source address (counted first; its quota is answered).
    pub(super) per_ip: Policy,
    /// The emails of this kind an address may get.
    pub(super) mail: LinkMail,
    /// The event that asks for the email.
    pub(super) kind: &'static str,
    pub(super) template: &'static str,
    pub(super) purpose: TokenPurpose,
    /// The system actor of the event.
    pub(super) actor: &'static str,
    /// The counter a request that sends nothing writes instead (same calls either way).
    pub(super) unsent: &'static str,
}

/// 202, or 429 past `offer.per_ip`. The email goes out only if the account exists and the
/// address's allowance of such emails is not used up; the caller cannot tell the difference,
/// by the answer or by the work done: every path makes the same calls (the per-IP `UpdateItem`,
/// GetItem, the allowance's `UpdateItem`s, one TransactWriteItems — the event, or a count of
/// requests that sent nothing).
pub(super) async fn offer_link(
    state: &State,
    email: &Email,
    source_ip: &str,
    offer: &LinkOffer,
) -> Result<Vec<Quota>, ApiError> {
    let store = &state.store;
    let now = state.clock.unix_seconds();
    let quota = limits::consume(store, now, offer.per_ip, source_ip).await?;
    let claim: Option<EmailClaim> = store.get(&Key::email(email)).await?;
    let allowed = !link_mail_budget(state, offer.mail, email.as_str())
        .await?
        .exceeded;
    let write = match claim {
        Some(claim) if allowed => {
            let event = Event::about_user(
                offer.kind,
                Actor::system(offer.actor),
                claim.user_id,
                state.clock.timestamp(),
            )
            .email(offer.template, email.as_str(), &[])
            .link(LinkRequest {
                purpose: offer.purpose,
                user_id: claim.user_id,
                requested_ms: state.clock.unix_millis(),
            });
            outbox_put(store, event)?
        }
        claim => {
            if let Some(claim) = claim {
                tracing::info!(userId = %claim.user_id, kind = offer.kind, "link email suppressed by rate limit");
            }
            Policy::new(offer.unsent, u64::MAX, LOGIN_WINDOW_SECS)
                .count("all", now)
                .into_transact(store)?
        }
    };
    store.transact(vec![write]).await?;
    Ok(vec![quota])
}

/// Consumes a one-time token of `purpose`; 400 `INVALID_TOKEN` if unknown, used, expired or
/// of another purpose. Returns the item and the delete to put in the consuming transaction.
pub(super) async fn take_token(
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
        .ok_or_else(invalid_token)?;
    let delete = state.store.delete_op(&key, true)?;
    Ok((item, delete))
}

/// The token must be the newest link of its purpose the account has (a newer one, or a
/// password set since, voids it).
pub(super) fn is_newest(
    user: &UserItem,
    purpose: TokenPurpose,
    token: &str,
) -> Result<(), ApiError> {
    if user.newest_link(purpose) == Some(token_hash(token).as_str()) {
        Ok(())
    } else {
        Err(invalid_token())
    }
}

/// 400 `INVALID_TOKEN`: what every unusable link answers, whatever the reason.
pub(super) fn invalid_token() -> ApiError {
    ApiError::bad_request(
        "INVALID_TOKEN",
        "The link is invalid, expired or already used.",
    )
}

fn token_race(error: StoreError) -> ApiError {
    match error {
        StoreError::ConditionFailed { .. } => invalid_token(),
        other => other.into(),
    }
}

/// Ends every email link of the account: links requested before `now_ms` are never minted,
/// the pointers to the newest ones go (so minted ones are void), and so does a pending email
/// change.
pub(super) fn void_links(update: Update, now_ms: u64) -> Update {
    update
        .set(UserItem::LINKS_VALID_AFTER, &now_ms)
        .remove(UserItem::RESET_TOKEN)
        .remove(UserItem::VERIFY_TOKEN)
        .remove(UserItem::CHANGE_EMAIL_TOKEN)
        .remove(UserItem::SIGN_IN_TOKEN)
        .remove(UserItem::PENDING_EMAIL)
        .remove(UserItem::PENDING_EMAIL_SESSION)
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
        .ok_or_else(invalid_token)?;
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
    let mut update = void_links(
        Update::new(user.key())
            .set(UserItem::PASSWORD_HASH, &hash)
            .set(UserItem::UPDATED_AT, &state.clock.timestamp())
            .set(UserItem::SESSION_EPOCH, &epoch),
        state.clock.unix_millis(),
    )
    .bump_version(user.version);
    if let Some(token) = how.link {
        update = update.if_equals(UserItem::RESET_TOKEN, &token_hash(token));
    }
    let mut writes = how.also;
    writes.push(update.into_transact(store)?);
    writes.extend(sessions_after_epoch(state, user.id, how.keep_session, epoch).await?);
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
    let user = find_user(store, item.user_id)
        .await?
        .ok_or_else(invalid_token)?;
    is_newest(&user, TokenPurpose::VerifyEmail, token)?;
    let mut writes = vec![
        consume,
        Update::new(user.key())
            .set(UserItem::EMAIL_VERIFIED, &true)
            .set(UserItem::UPDATED_AT, &state.clock.timestamp())
            .remove(UserItem::VERIFY_TOKEN)
            .if_equals(UserItem::VERIFY_TOKEN, &token_hash(token))
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

/// `POST /auth/email/verify/resend`: a new verification link (one a minute,
/// `LINK_EMAILS_PER_ACCOUNT_PER_HOUR` an hour: 429 past either). Returns the quotas counted.
pub async fn resend_verification(state: &State, me: &Principal) -> Result<Vec<Quota>, ApiError> {
    if me.user.email_verified {
        return Err(ApiError::Conflict {
            code: "ALREADY_VERIFIED",
            detail: "This email address is already verified.".into(),
        });
    }
    let quotas = link_mail_budget(state, LinkMail::Verify, &me.user.email)
        .await?
        .allowed()?;
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
    Ok(quotas)
}
