//! Signing in by mailed link (passwordless).
//!
//! `POST /auth/magic-link` `{email}` answers 202 whatever the address: an email with a link goes
//! out only to an account's address, with the same calls either way (see
//! [`super::recovery::offer_link`]); budgeted per source address (`SIGN_IN_LINKS_PER_IP_PER_HOUR`)
//! and per address (`LINK_EMAILS_PER_ACCOUNT_PER_HOUR`, one a minute). Links are minted by the
//! email worker when it sends them, valid [`super::SIGN_IN_TOKEN_TTL_SECS`], single use, and only the
//! newest works; setting a password voids them. The link signs in to an existing account only
//! (registering stays `POST /auth/register`).
//!
//! `POST /auth/magic-link/verify` `{token}` → the session, `amr` `["email"]`: the link is one
//! factor, like the password — with a second factor in force it answers 401 `MFA_REQUIRED` and a
//! challenge instead (then `amr` `["email","otp"]`).
//!
//! **An unconfirmed address** is confirmed by the link (whoever opened it reads the mailbox).
//! Whatever was set on the account before by someone who never proved the mailbox goes with it —
//! the password, a second factor, every session and outstanding link — so an account registered
//! in someone else's name ("pre-hijacking") is theirs alone from the first link they open. They
//! sign in without a password and can set one through the reset flow.

use crate::error::ApiError;
use crate::events::{Event, outbox_put};
use crate::limits::{Policy, Quota};
use crate::state::State;
use crate::store::Update;
use crate::validate::Email;

use super::devices::Client;
use super::items::{TokenPurpose, UserItem, UserStatus};
use super::mfa::TotpItem;
use super::recovery::{LinkOffer, invalid_token, is_newest, offer_link, take_token, void_links};
use super::sessions::{first_factor_given, sessions_after_epoch};
use super::throttle::LinkMail;
use super::{Session, find_user, token_hash};

/// What a mailed link signs in with (`amr`; RFC 8176 registers no value for it).
pub const AMR_EMAIL: &str = "email";

/// `POST /auth/magic-link`: 202, or 429 past the requests one source address may make.
pub async fn request_sign_in_link(
    state: &State,
    email: &Email,
    source_ip: &str,
) -> Result<Vec<Quota>, ApiError> {
    let offer = LinkOffer {
        per_ip: Policy::new(
            "sign-in-link-ip",
            state.config.limits.sign_in_links_per_ip_per_hour,
            3600,
        ),
        mail: LinkMail::SignIn,
        kind: "user.sign_in_link_requested",
        template: "sign-in-link",
        purpose: TokenPurpose::SignIn,
        actor: "sign-in-link",
        unsent: "sign-in-link-unsent",
    };
    offer_link(state, email, source_ip, &offer).await
}

/// `POST /auth/magic-link/verify`: the link's token → a session (or 401 `MFA_REQUIRED` and a
/// challenge). 400 `INVALID_TOKEN` for an unknown, expired, used or superseded link; 403 for a
/// disabled account.
pub async fn sign_in_with_link(
    state: &State,
    token: &str,
    client: &Client,
) -> Result<Session, ApiError> {
    let store = &state.store;
    let (item, consume) = take_token(state, token, TokenPurpose::SignIn).await?;
    let mut user = find_user(store, item.user_id)
        .await?
        .ok_or_else(invalid_token)?;
    is_newest(&user, TokenPurpose::SignIn, token)?;
    if user.status == UserStatus::Disabled {
        return Err(ApiError::Forbidden {
            detail: "This account is disabled.".into(),
        });
    }
    let mut writes = vec![consume];
    // The link goes with its token — under the condition that it is still the newest, so two
    // requests with it at once sign in once.
    let spent = Update::new(user.key()).if_equals(UserItem::SIGN_IN_TOKEN, &token_hash(token));
    let account = if user.email_verified {
        spent.remove(UserItem::SIGN_IN_TOKEN)
    } else {
        let (account, more) = claim_address(state, &mut user, spent).await?;
        writes.extend(more);
        account
    };
    first_factor_given(state, user, client, &[AMR_EMAIL], writes, Some(account))
        .await
        .map_err(|e| match e {
            // The link was used by a request at the same moment.
            ApiError::Conflict { .. } => invalid_token(),
            other => other,
        })
}

/// The first proof of the mailbox of an account that never had one: the address is confirmed,
/// and the password, the second factors, every session and every outstanding link go (the
/// session epoch moves on). `user` is changed to match; the account's update and the other
/// writes (old sessions deleted, the factor's item, the event) are returned.
async fn claim_address(
    state: &State,
    user: &mut UserItem,
    spent: Update,
) -> Result<(Update, Vec<aws_sdk_dynamodb::types::TransactWriteItem>), ApiError> {
    let store = &state.store;
    let now = state.clock.timestamp();
    let epoch = user.session_epoch + 1;
    let mut account = void_links(spent, state.clock.unix_millis())
        .set(UserItem::EMAIL_VERIFIED, &true)
        .set(UserItem::SESSION_EPOCH, &epoch)
        .set(UserItem::UPDATED_AT, &now)
        .remove(UserItem::PASSWORD_HASH)
        .bump_version(user.version);
    let mut event = Event::about_user("user.email_verified", user.actor(), user.id, now)
        .change("emailVerified", false, true)
        .change("by", (), "sign-in-link");
    if user.password_hash.is_some() {
        event = event.change("passwordCleared", (), true);
    }
    let mut writes = sessions_after_epoch(state, user.id, None, epoch).await?;
    if user.mfa.is_some() {
        account = account.remove(UserItem::MFA);
        event = event.change("factorsRemoved", (), true);
    }
    // A factor still being set up goes too (no condition: there may be none).
    writes.push(store.delete_op(&TotpItem::key(user.id), false)?);
    writes.push(outbox_put(store, event)?);
    user.email_verified = true;
    user.password_hash = None;
    user.mfa = None;
    user.session_epoch = epoch;
    user.version += 1;
    Ok((account, writes))
}
