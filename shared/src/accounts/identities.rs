//! The OIDC identities linked to an account — its ways in besides the password and the mailed
//! link: listing, the writes of a link (provider sign-in by a verified address, or linking while
//! signed in: [`super::federated`]) and unlinking.
//!
//! An identity is two records kept together: its claim (`IDENTITY#<provider>#<sub>`, one account
//! per identity) and the account's `identities` entry (provider → `sub`, one identity per
//! provider). Every link and unlink writes both in one transaction with its event (`user.
//! identity_linked` / `user.identity_unlinked`, so the audit trail has it) and, to a confirmed
//! address, an `identity-changed` email.
//!
//! **Never without a way in:** unlinking is refused (409 `LAST_SIGN_IN_METHOD`) unless, after
//! it, the account still has a password, another identity, or a confirmed address (a mailed
//! link signs in to it). An unconfirmed address does not count: it may be a stranger's. The
//! transaction is conditional on the way in it counted on, so two unlinks at once (or an unlink
//! and a password being cleared) cannot both leave.
//!
//! Sessions signed in through an identity outlive its unlinking (ending them is
//! `DELETE /users/me/sessions/{id}`); the identity no longer signs in.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ApiError;
use crate::events::{Event, outbox_put};
use crate::state::State;
use crate::store::{OnCondition, Store, Update};

use super::items::{IdentityClaim, UserItem};
use super::throttle::{reauthenticate, transact_giving_back};
use super::{Principal, security_notice};

/// The email that tells an account a provider's sign-in was linked to it or unlinked.
pub const IDENTITY_CHANGED_TEMPLATE: &str = "identity-changed";

/// One linked identity, as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedIdentity {
    /// `google`, `apple` or `oidc`.
    pub provider: String,
    /// The user's id at the provider (`sub`).
    pub subject: String,
    #[schema(format = DateTime)]
    pub linked_at: String,
    /// Whether unlinking it would leave a way in (a password, another identity, a confirmed
    /// address); if not, `DELETE` answers 409 `LAST_SIGN_IN_METHOD`.
    pub can_unlink: bool,
}

/// `GET /users/me/identities`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkedIdentities {
    pub items: Vec<LinkedIdentity>,
}

/// What a provider is called in an email.
fn label(provider: &str) -> &str {
    match provider {
        "google" => "Google",
        "apple" => "Apple",
        "oidc" => "your organisation's account",
        other => other,
    }
}

/// The way in that lets `provider`'s identity go, if there is one: the condition the unlinking
/// is written under.
fn other_way_in(user: &UserItem, provider: &str) -> Option<Update> {
    let check = Update::new(user.key());
    if user.password_hash.is_some() {
        return Some(check.if_present(UserItem::PASSWORD_HASH));
    }
    if let Some(other) = user
        .identities
        .iter()
        .flat_map(BTreeMap::keys)
        .find(|p| p.as_str() != provider)
    {
        return Some(check.if_entry(UserItem::IDENTITIES, other));
    }
    user.email_verified
        .then(|| check.if_equals(UserItem::EMAIL_VERIFIED, &true))
}

/// `user`'s identity of `provider` as its owner sees it.
pub(super) fn view(
    user: &UserItem,
    provider: &str,
    subject: &str,
    linked_at: String,
) -> LinkedIdentity {
    LinkedIdentity {
        provider: provider.to_owned(),
        subject: subject.to_owned(),
        linked_at,
        can_unlink: other_way_in(user, provider).is_some(),
    }
}

/// `GET /users/me/identities`: one BatchGetItem for the claims (when there are any).
pub async fn list_identities(state: &State, me: &Principal) -> Result<LinkedIdentities, ApiError> {
    let user = &me.user;
    let linked: Vec<(&String, &String)> = user.identities.iter().flatten().collect();
    if linked.is_empty() {
        return Ok(LinkedIdentities { items: Vec::new() });
    }
    let keys: Vec<_> = linked
        .iter()
        .map(|(provider, subject)| IdentityClaim::key(provider, subject))
        .collect();
    let claims = state.store.batch_get(&keys).await?;
    let items = linked
        .into_iter()
        .zip(claims)
        .map(|((provider, subject), claim)| {
            let claim: IdentityClaim = claim
                .map(Store::parse)
                .transpose()?
                .filter(|c: &IdentityClaim| c.user_id == user.id)
                .ok_or_else(|| ApiError::internal("a linked identity has no claim"))?;
            Ok(view(user, provider, subject, claim.linked_at))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(LinkedIdentities { items })
}

/// The writes that link `provider`'s `subject` to `user` (by `actor`, at `now`): its claim
/// (new), the account's entry (absent), the event and the notice. A claim or entry written meanwhile fails
/// the transaction's condition. The account's update is returned apart, for the caller to add
/// its own changes.
#[cfg(feature = "oidc")]
pub(super) fn link_writes(
    state: &State,
    user: &UserItem,
    actor: crate::events::Actor,
    provider: &'static str,
    subject: &str,
    now: &str,
) -> Result<(Vec<aws_sdk_dynamodb::types::TransactWriteItem>, Update), ApiError> {
    let store = &state.store;
    let claim = store.put_new_op(&IdentityClaim::new(user.id, provider, subject, now))?;
    let account = match &user.identities {
        Some(_) => Update::new(user.key())
            .set_entry(UserItem::IDENTITIES, provider, &subject.to_owned())
            .if_no_entry(UserItem::IDENTITIES, provider),
        None => Update::new(user.key())
            .set(
                UserItem::IDENTITIES,
                &BTreeMap::from([(provider.to_owned(), subject.to_owned())]),
            )
            .if_absent(UserItem::IDENTITIES),
    }
    .set(UserItem::UPDATED_AT, &now.to_owned())
    .if_exists();
    let event = Event::about_user("user.identity_linked", actor, user.id, now.to_owned()).change(
        "provider",
        (),
        provider,
    );
    let event = told(event, user, "linked", provider);
    Ok((vec![claim, outbox_put(store, event)?], account))
}

fn told(event: Event, user: &UserItem, change: &str, provider: &str) -> Event {
    security_notice(
        event,
        user,
        IDENTITY_CHANGED_TEMPLATE,
        &[("change", change), ("provider", label(provider))],
    )
}

/// `DELETE /users/me/identities/{provider}` `{password?}`: recent authentication (see
/// [`reauthenticate`]), then the identity goes. 404 when none of `provider` is linked; 409
/// `LAST_SIGN_IN_METHOD` when it is the account's last way in; 409 `CONCURRENT_CHANGE` when
/// the account changed meanwhile.
pub async fn unlink_identity(
    state: &State,
    me: &Principal,
    provider: &str,
    password: Option<&str>,
) -> Result<(), ApiError> {
    let store = &state.store;
    let user = &me.user;
    let subject = user
        .identities
        .as_ref()
        .and_then(|m| m.get(provider))
        .ok_or_else(|| ApiError::no_such("identity"))?;
    let Some(way_in) = other_way_in(user, provider) else {
        return Err(ApiError::Conflict {
            code: "LAST_SIGN_IN_METHOD",
            detail: format!(
                "{} is this account's only way in. Set a password (through the reset flow) or \
                 link another provider first.",
                label(provider)
            ),
        });
    };
    let give_back = reauthenticate(state, me, "password", password).await?;
    let now = state.clock.timestamp();
    let event = Event::about_user("user.identity_unlinked", me.actor(), user.id, now.clone())
        .change("provider", provider, ());
    let event = told(event, user, "unlinked", provider);
    let writes = vec![
        store.delete_op(&IdentityClaim::key(provider, subject), true)?,
        way_in
            .remove_entry(UserItem::IDENTITIES, provider)
            .if_entry_equals(UserItem::IDENTITIES, provider, subject)
            .set(UserItem::UPDATED_AT, &now)
            .if_exists()
            .into_transact(store)?,
        outbox_put(store, event)?,
    ];
    transact_giving_back(store, give_back, writes)
        .await?
        .on_condition(|_| changed_meanwhile())
}

/// 409 `CONCURRENT_CHANGE`: the account's sign-in methods changed while the request ran.
pub(super) fn changed_meanwhile() -> ApiError {
    ApiError::Conflict {
        code: "CONCURRENT_CHANGE",
        detail: "The account's sign-in methods changed at the same moment; look again.".into(),
    }
}
