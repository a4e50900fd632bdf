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

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::config::OidcProvider;
use crate::error::{ApiError, FieldError};
use crate::events::{Event, LinkRequest, outbox_put};
use crate::oidc::{Identity, OidcError, SKEW_SECS};
use crate::state::State;
use crate::store::{Key, OnCondition, StoreError, Update};
use crate::validate::{DisplayName, Email, IdToken, Nonce};

use super::devices::Client;
use super::identities::{LinkedIdentity, changed_meanwhile, link_writes, view};
use super::items::{EmailClaim, IdentityClaim, TokenPurpose, UsedNonce, UserItem, UserStatus};
use super::registration::new_account;
use super::sessions::{first_factor_given, new_session};
use super::throttle::{reauthenticate, transact_giving_back};
use super::{Principal, Session, find_user, greeting};

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
    state
        .store
        .put_new(&used_nonce(identity))
        .await
        .on_condition(|_| token_used())
}

/// The memory of `identity`'s nonce, until its token expires.
fn used_nonce(identity: &Identity) -> UsedNonce {
    let key = UsedNonce::key(&identity.nonce_key());
    UsedNonce {
        pk: key.pk,
        sk: key.sk,
        expires_at: identity.expires_at + SKEW_SECS,
    }
}

/// 401 `ID_TOKEN_USED`.
fn token_used() -> ApiError {
    ApiError::Unauthorized {
        code: "ID_TOKEN_USED",
        detail: "This ID token (or its nonce) was used before: sign in with the provider again, \
                 with a new nonce."
            .into(),
    }
}

/// `POST /users/me/identities/{provider}` after the token was verified (and the step-up
/// passed): recent authentication, then the identity is linked to the signed-in account, whatever
/// address the provider gives (its owner proved both sides: the account by signing in, the
/// provider's account by its token). 409 `IDENTITY_ALREADY_LINKED` (to this account),
/// `PROVIDER_ALREADY_LINKED` (another identity of the provider: unlink it first),
/// `IDENTITY_LINKED_ELSEWHERE` (it signs in to another account), 401 `ID_TOKEN_USED`.
pub async fn link_while_signed_in(
    state: &State,
    me: &Principal,
    identity: &Identity,
    password: Option<&str>,
) -> Result<LinkedIdentity, ApiError> {
    let store = &state.store;
    let user = &me.user;
    if let Some(linked) = user
        .identities
        .as_ref()
        .and_then(|m| m.get(identity.provider))
    {
        return Err(if *linked == identity.subject {
            ApiError::Conflict {
                code: "IDENTITY_ALREADY_LINKED",
                detail: "This identity is linked to your account already.".into(),
            }
        } else {
            ApiError::Conflict {
                code: "PROVIDER_ALREADY_LINKED",
                detail: format!(
                    "Another {} identity is linked to your account: unlink it first.",
                    identity.provider
                ),
            }
        });
    }
    if store
        .get::<IdentityClaim>(&IdentityClaim::key(identity.provider, &identity.subject))
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict {
            code: "IDENTITY_LINKED_ELSEWHERE",
            detail: format!(
                "This {} identity signs in to another account. Sign in to that one and unlink it \
                 there (or delete that account) first.",
                identity.provider
            ),
        });
    }
    let give_back = reauthenticate(state, me, "password", password).await?;
    let now = state.clock.timestamp();
    let (links, account) = link_writes(
        state,
        user,
        me.actor(),
        identity.provider,
        &identity.subject,
        &now,
    )?;
    // The nonce is spent in the same transaction: a token links once, and a token that linked
    // never signs in.
    let mut writes = vec![store.put_new_op(&used_nonce(identity))?];
    writes.extend(links);
    writes.push(account.into_transact(store)?);
    transact_giving_back(store, give_back, writes)
        .await?
        .on_condition(|index| match index {
            Some(0) => token_used(),
            _ => changed_meanwhile(),
        })?;
    let mut linked = user.clone();
    linked.add_identity(identity.provider, &identity.subject);
    Ok(view(&linked, identity.provider, &identity.subject, now))
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
        if user
            .identities
            .as_ref()
            .is_some_and(|m| m.contains_key(identity.provider))
        {
            return Err(ApiError::Conflict {
                code: "ACCOUNT_EXISTS",
                detail: format!(
                    "The account of this address has another {} identity linked. Sign in to it \
                     and unlink that one first.",
                    identity.provider
                ),
            });
        }
        let now = state.clock.timestamp();
        let (writes, account) = link_writes(
            state,
            &user,
            user.actor(),
            identity.provider,
            &identity.subject,
            &now,
        )?;
        let mut user = user;
        user.add_identity(identity.provider, &identity.subject);
        return Ok(
            match finish(state, user, client, writes, Some(account)).await {
                Err(ApiError::Conflict { .. }) => Attempt::Raced,
                answer => Attempt::Done(Box::new(answer)),
            },
        );
    }
    create(state, identity, &email, name, client).await
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
    user.add_identity(identity.provider, &identity.subject);
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
        store.put_new_op(&IdentityClaim::new(
            user.id,
            identity.provider,
            &identity.subject,
            &user.created_at,
        ))?,
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

/// The provider of the path's `{provider}`: 404 when this deployment does not accept it.
pub fn provider<'a>(state: &'a State, name: &str) -> Result<&'a OidcProvider, ApiError> {
    verifier(state)?
        .provider(name)
        .ok_or_else(|| ApiError::no_such("provider"))
}

fn verifier(state: &State) -> Result<&crate::oidc::Verifier, ApiError> {
    state
        .oidc()
        .ok_or_else(|| ApiError::internal("this function was built without a verifier"))
}

/// `token` verified as `provider`'s ID token for `nonce`, now (see [`crate::oidc`]); [`refused`]
/// otherwise.
pub async fn verify(
    state: &State,
    provider: &OidcProvider,
    token: &IdToken,
    nonce: &Nonce,
) -> Result<Identity, ApiError> {
    verifier(state)?
        .verify(
            provider,
            token.expose(),
            nonce.expose(),
            state.clock.unix_seconds(),
        )
        .await
        .map_err(refused)
}

/// The answer to an ID token that did not verify: 401 `INVALID_ID_TOKEN` (the reason logged,
/// never the token), or 503 when the provider's keys could not be fetched.
fn refused(error: OidcError) -> ApiError {
    match error {
        OidcError::Invalid(reason) => {
            tracing::info!(reason, "ID token refused");
            ApiError::Unauthorized {
                code: "INVALID_ID_TOKEN",
                detail: "The ID token is not valid for this app (signature, issuer, audience, \
                         expiry or nonce)."
                    .into(),
            }
        }
        OidcError::Unavailable(_) => ApiError::Unavailable {
            retry_after_secs: 5,
            cause: Box::new(error),
        },
    }
}
