//! Signing in with an OIDC provider's ID token (Google, Apple, a generic issuer).
//!
//! The token is verified by [`crate::oidc`]; its nonce is then spent — remembered
//! (`OIDCNONCE#…`) until the token expires, in a write of its own before anything else, so a
//! token signs in at most once even when the rest is refused. The nonce is the client's: it
//! makes one per sign-in (at least 16 characters, e.g. 128 random bits), gives it (or, for
//! Apple, its SHA-256) to the provider and the same value here.
//!
//! Then, in order:
//! - an **identity already linked** (`IDENTITY#<provider>#<sub>`) signs in to its account;
//! - an **address with an account** is linked to the identity only when both sides vouch for
//!   it — the provider asserts `email_verified` and the account confirmed its address — and
//!   signs in; otherwise 409 `ACCOUNT_EXISTS`: sign in to that account and link from there.
//!   An unverified claim never takes an account over;
//! - otherwise a **new account**: no password, the provider's name for the user (Apple sends
//!   none in the token: the request's `name` then), the address confirmed only if the provider
//!   asserts it (if not, the welcome email carries the confirmation link).
//!
//! The identity claim is written in the same transaction as the account or the link, under the
//! condition that it does not exist: two first sign-ins at once make one account (the second
//! finds the identity and signs in to it). The session's `amr` is `["oidc"]` (RFC 8176 names
//! no value for federation); with a second factor in force the answer is 401 `MFA_REQUIRED` and
//! a challenge, as after a password.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::error::{ApiError, FieldError};
use crate::events::{Event, LinkRequest, outbox_put};
use crate::oidc::{Identity, SKEW_SECS};
use crate::state::State;
use crate::store::{Key, StoreError, Update};
use crate::validate::{DisplayName, Email};

use super::devices::Client;
use super::items::{EmailClaim, IdentityClaim, TokenPurpose, UsedNonce, UserItem, UserStatus};
use super::registration::new_account;
use super::sessions::{first_factor_given, new_session};
use super::{Session, find_user, greeting};

/// What a provider sign-in records as its method.
pub const AMR_OIDC: &str = "oidc";

/// Why one attempt did not finish: another request changed the same identity or address.
enum Attempt {
    Done(Box<Result<Session, ApiError>>),
    Raced,
}

/// `POST /auth/oidc/{provider}` after the token was verified: the session (or 401
/// `MFA_REQUIRED`). 401 `ID_TOKEN_USED` for a nonce that signed in before; 409
/// `ACCOUNT_EXISTS`; 422 when the token has no usable address, or no name and the request
/// gives none; 403 for a disabled account.
pub async fn sign_in_with_identity(
    state: &State,
    identity: &Identity,
    name: Option<&DisplayName>,
    client: &Client,
) -> Result<Session, ApiError> {
    spend_nonce(state, identity).await?;
    // Losing a race to the same identity or address once is expected; twice is not.
    for _ in 0..2 {
        if let Attempt::Done(answer) = attempt(state, identity, name, client).await? {
            return *answer;
        }
    }
    Err(ApiError::Conflict {
        code: "CONCURRENT_CHANGE",
        detail: "The account was changing at the same moment; sign in again.".into(),
    })
}

async fn spend_nonce(state: &State, identity: &Identity) -> Result<(), ApiError> {
    let store = &state.store;
    let key = UsedNonce::key(&identity.nonce_key());
    let used = UsedNonce {
        pk: key.pk,
        sk: key.sk,
        expires_at: identity.expires_at + SKEW_SECS,
    };
    store.put_new(&used).await.map_err(|e| match e {
        StoreError::ConditionFailed { .. } => ApiError::Unauthorized {
            code: "ID_TOKEN_USED",
            detail: "This ID token (or its nonce) signed in already: sign in with the provider \
                     again, with a new nonce."
                .into(),
        },
        other => other.into(),
    })
}

async fn attempt(
    state: &State,
    identity: &Identity,
    name: Option<&DisplayName>,
    client: &Client,
) -> Result<Attempt, ApiError> {
    let store = &state.store;
    let claim_key = IdentityClaim::key(identity.provider, &identity.subject);
    if let Some(claim) = store.get::<IdentityClaim>(&claim_key).await? {
        let user = find_user(store, claim.user_id)
            .await?
            .ok_or_else(|| ApiError::internal("an identity claim names no account"))?;
        let answer = finish(state, user, client, Vec::new(), None).await;
        return Ok(Attempt::Done(Box::new(answer)));
    }
    let email = identity
        .email
        .as_deref()
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| ApiError::Validation {
            errors: vec![FieldError::new(
                "idToken",
                "carries no usable email address (ask the provider for the `email` scope)",
            )],
        })?;
    if let Some(owner) = store.get::<EmailClaim>(&Key::email(&email)).await? {
        let user = find_user(store, owner.user_id)
            .await?
            .ok_or_else(|| ApiError::internal("an email claim names no account"))?;
        if !(identity.email_verified && user.email_verified) {
            return Err(ApiError::Conflict {
                code: "ACCOUNT_EXISTS",
                detail: format!(
                    "An account uses this address. Sign in to it (password or mailed link) \
                     and link {} from there.",
                    identity.provider
                ),
            });
        }
        let (writes, account) = link(state, &user, identity)?;
        let mut user = user;
        user.identities
            .get_or_insert_with(BTreeMap::new)
            .insert(identity.provider.to_owned(), identity.subject.clone());
        return Ok(
            match finish(state, user, client, writes, Some(account)).await {
                Err(ApiError::Conflict { .. }) => Attempt::Raced,
                answer => Attempt::Done(Box::new(answer)),
            },
        );
    }
    create(state, identity, &email, name, client).await
}

/// The identity linked to `user`: its claim (new, conditionally) and the account's map entry,
/// with the event.
fn link(
    state: &State,
    user: &UserItem,
    identity: &Identity,
) -> Result<(Vec<TransactWriteItem>, Update), ApiError> {
    let store = &state.store;
    let now = state.clock.timestamp();
    let key = IdentityClaim::key(identity.provider, &identity.subject);
    let claim = store.put_new_op(&IdentityClaim {
        pk: key.pk,
        sk: key.sk,
        user_id: user.id,
        provider: identity.provider.to_owned(),
        subject: identity.subject.clone(),
        linked_at: now.clone(),
    })?;
    let account = match &user.identities {
        Some(_) => Update::new(user.key()).set_entry(
            UserItem::IDENTITIES,
            identity.provider,
            &identity.subject,
        ),
        None => Update::new(user.key()).set(
            UserItem::IDENTITIES,
            &BTreeMap::from([(identity.provider.to_owned(), identity.subject.clone())]),
        ),
    }
    .set(UserItem::UPDATED_AT, &now)
    .if_exists();
    let event = Event::about_user("user.identity_linked", user.actor(), user.id, now).change(
        "provider",
        (),
        identity.provider,
    );
    Ok((vec![claim, outbox_put(store, event)?], account))
}

/// The sign-in of an existing account: the session, or the second factor's challenge.
async fn finish(
    state: &State,
    user: UserItem,
    client: &Client,
    writes: Vec<TransactWriteItem>,
    account: Option<Update>,
) -> Result<Session, ApiError> {
    if user.status == UserStatus::Disabled {
        return Err(ApiError::Forbidden {
            detail: "This account is disabled.".into(),
        });
    }
    first_factor_given(state, user, client, &[AMR_OIDC], writes, account).await
}

/// A new account for the identity, signed in: the account, its address's claim, the identity's
/// claim and the session in one transaction (a lost race to the address or the identity:
/// [`Attempt::Raced`]).
async fn create(
    state: &State,
    identity: &Identity,
    email: &Email,
    name: Option<&DisplayName>,
    client: &Client,
) -> Result<Attempt, ApiError> {
    let store = &state.store;
    let from_token = identity
        .name
        .as_deref()
        .and_then(|n| DisplayName::parse(n).ok());
    let name = from_token
        .as_ref()
        .or(name)
        .ok_or_else(|| ApiError::Validation {
            errors: vec![FieldError::new(
                "name",
                "is required: the provider gave no name for a new account",
            )],
        })?;
    let mut user = new_account(state, email, name, None, identity.email_verified, client);
    user.identities = Some(BTreeMap::from([(
        identity.provider.to_owned(),
        identity.subject.clone(),
    )]));
    let claim_key = IdentityClaim::key(identity.provider, &identity.subject);
    let email_key = Key::email(email);
    let mut event = Event::about_user(
        "user.registered",
        user.actor(),
        user.id,
        user.created_at.clone(),
    )
    .change("email", (), &user.email)
    .change("name", (), &user.name)
    .change("roles", (), &user.roles)
    .change("status", (), user.status)
    .change("provider", (), identity.provider)
    .change("emailVerified", (), user.email_verified);
    if !user.email_verified {
        // As a registration: the welcome carries the confirmation link.
        event = event
            .email("welcome", &user.email, &greeting(&user))
            .link(LinkRequest {
                purpose: TokenPurpose::VerifyEmail,
                user_id: user.id,
                requested_ms: state.clock.unix_millis(),
            });
    }
    let mut writes = vec![
        store.put_new_op(&user)?,
        store.put_new_op(&EmailClaim {
            pk: email_key.pk,
            sk: email_key.sk,
            user_id: user.id,
        })?,
        store.put_new_op(&IdentityClaim {
            pk: claim_key.pk,
            sk: claim_key.sk,
            user_id: user.id,
            provider: identity.provider.to_owned(),
            subject: identity.subject.clone(),
            linked_at: user.created_at.clone(),
        })?,
    ];
    let (session_writes, tokens, _) = new_session(state, &user, client, &[AMR_OIDC]).await?;
    writes.extend(session_writes);
    writes.push(outbox_put(store, event)?);
    match store.transact(writes).await {
        Ok(()) => Ok(Attempt::Done(Box::new(Ok(Session {
            user: (&user).into(),
            tokens,
        })))),
        Err(StoreError::ConditionFailed { .. }) => Ok(Attempt::Raced),
        Err(other) => Err(other.into()),
    }
}
