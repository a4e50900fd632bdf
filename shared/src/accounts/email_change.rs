//! Changing an account's email address: asked for with the password, confirmed by a link sent
//! to the new address. The address (and its uniqueness claim) moves only when the link is
//! opened, in one transaction; every session but the one that asked ends then.

use crate::config::RegistrationMode;
use crate::error::ApiError;
use crate::events::{Event, LinkRequest, outbox_put};
use crate::limits::Quota;
use crate::notices::{EmailChangedNotice, Notice};
use crate::state::State;
use crate::store::{Key, OnCondition, Update};
use crate::validate::Email;

use super::items::{EmailClaim, SessionItem, TokenPurpose, UserItem};
use super::recovery::{invalid_token, is_newest, take_token, void_links};
use super::sessions::sessions_after_epoch;
use super::throttle::{LinkMail, link_mail_budget, reauthenticate, transact_giving_back};
use super::{Principal, email_taken, field, find_user, greeting, token_hash};

/// `POST /users/me/email`: asks to move the account to `new_email`. Needs the password
/// (throttled like sign-in: 422 when wrong, 429 past the budget) or a sign-in of this session
/// in the last 10 minutes (401 `REAUTHENTICATION_REQUIRED`); link emails are budgeted
/// (`LINK_EMAILS_PER_ACCOUNT_PER_HOUR`, one a minute: 429). The new address gets a 24-hour
/// confirmation link, the current one a notice; nothing else changes until the link is opened
/// ([`confirm_email_change`]). A newer request replaces an older one (its link dies). An
/// address that has an account is 409 `EMAIL_TAKEN` in `conflict` mode; in `silent` mode the
/// answer is the same as for a free address, and no link is sent. Returns the quotas counted.
pub async fn request_email_change(
    state: &State,
    me: &Principal,
    new_email: &Email,
    password: Option<&str>,
) -> Result<Vec<Quota>, ApiError> {
    let store = &state.store;
    let user = &me.user;
    if Email::parse(&user.email).is_ok_and(|current| current == *new_email) {
        return Err(field("newEmail", "is already the account's address"));
    }
    let give_back = reauthenticate(state, me, "password", password).await?;
    let outcome = async {
        // A taken address is refused before the budget is counted: a 409 sends nothing.
        let taken = store
            .get::<EmailClaim>(&Key::email(new_email))
            .await?
            .is_some();
        if taken && state.config.registration_mode == RegistrationMode::Conflict {
            return Err(email_taken());
        }
        let quotas = link_mail_budget(state, LinkMail::Change, &user.email)
            .await?
            .allowed()?;
        Ok((quotas, taken))
    }
    .await;
    let (quotas, taken) = match outcome {
        Ok(outcome) => outcome,
        Err(refused) => {
            // The right password's attempt is given back even when the request is refused.
            if let Some(give_back) = give_back {
                store.update(give_back.update).await?;
            }
            return Err(refused);
        }
    };

    let now = state.clock.timestamp();
    let mut event = Event::about_user(
        "user.email_change_requested",
        me.actor(),
        me.id(),
        now.clone(),
    )
    .change("pendingEmail", (), new_email.as_str());
    if !taken {
        event = event
            .email("confirm-email-change", new_email.as_str(), &greeting(user))
            .link(LinkRequest {
                purpose: TokenPurpose::ChangeEmail,
                user_id: me.id(),
                requested_ms: state.clock.unix_millis(),
            });
    }
    let event = event.email_also("email-change-requested", &user.email, &greeting(user));
    let changed = transact_giving_back(
        store,
        give_back,
        vec![
            Update::new(user.key())
                .set(UserItem::PENDING_EMAIL, &new_email.to_string())
                .set(UserItem::PENDING_EMAIL_SESSION, &me.session_id)
                // An older request's link dies with its pointer.
                .remove(UserItem::CHANGE_EMAIL_TOKEN)
                .set(UserItem::UPDATED_AT, &now)
                // The account changed meanwhile: 412.
                .bump_version(user.version)
                .into_transact(store)?,
            outbox_put(store, event)?,
        ],
    )
    .await?;
    changed.or_stale()?;
    Ok(quotas)
}

/// `POST /auth/email/change/confirm`: opens an email-change link. In one transaction: the link
/// is consumed (it must be the account's newest), the new address's claim is written (409
/// `EMAIL_TAKEN` if it was taken meanwhile) and the old one's deleted, the account moves to the
/// new address (verified: the link proved it), every other email link dies, and every session
/// but the one that asked ends. The old address is told.
pub async fn confirm_email_change(state: &State, token: &str) -> Result<(), ApiError> {
    let store = &state.store;
    let (item, consume) = take_token(state, token, TokenPurpose::ChangeEmail).await?;
    let user = find_user(store, item.user_id)
        .await?
        .ok_or_else(invalid_token)?;
    is_newest(&user, TokenPurpose::ChangeEmail, token)?;
    let new_email = user
        .pending_email
        .as_deref()
        .and_then(|raw| Email::parse(raw).ok())
        .ok_or_else(invalid_token)?;
    let old_claim = Email::parse(&user.email).map_or_else(
        |_| Key::new(format!("EMAIL#{}", user.email), "EMAIL"),
        |old| Key::email(&old),
    );
    let new_claim = Key::email(&new_email);
    let epoch = user.session_epoch + 1;
    // The session that asked survives, if it still exists (it may have signed out since).
    let keep = match &user.pending_email_session {
        Some(session) => store
            .get::<SessionItem>(&SessionItem::key(user.id, session))
            .await?
            .map(|s| s.session_id),
        None => None,
    };

    let mut writes = vec![
        consume,
        store.put_new_op(&EmailClaim {
            pk: new_claim.pk,
            sk: new_claim.sk,
            user_id: user.id,
        })?,
        store.delete_op(&old_claim, true)?,
        void_links(
            Update::new(user.key())
                .set(UserItem::EMAIL, &new_email.to_string())
                .set(UserItem::EMAIL_VERIFIED, &true)
                .set(UserItem::SESSION_EPOCH, &epoch)
                .set(UserItem::UPDATED_AT, &state.clock.timestamp()),
            state.clock.unix_millis(),
        )
        .if_equals(UserItem::CHANGE_EMAIL_TOKEN, &token_hash(token))
        .bump_version(user.version)
        .into_transact(store)?,
    ];
    writes.extend(sessions_after_epoch(state, user.id, keep.as_deref(), epoch).await?);
    let event = Event::about_user(
        "user.email_changed",
        user.actor(),
        user.id,
        state.clock.timestamp(),
    )
    .change("email", &user.email, new_email.as_str())
    .email("email-changed", &user.email, &greeting(&user))
    .alert(user.id, Notice::EmailChanged(EmailChangedNotice {}));
    writes.push(outbox_put(store, event)?);
    store
        .transact(writes)
        .await
        .on_condition(|index| match index {
            Some(1) => email_taken(),
            _ => invalid_token(),
        })
}
