//! The signed-in user's own account: profile, password change, deletion.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};

use crate::auth::Role;
use crate::error::ApiError;
use crate::events::{Actor, Event, outbox_put};
use crate::state::State;
use crate::store::{Key, StoreError, Update};
use crate::validate::{DisplayName, Email, Password};

use super::items::{UserItem, UserStatus, UserView};
use super::{
    Principal, admin::last_admin, admin::leave_admins, greeting, recovery::PasswordSet,
    recovery::set_password, sessions::session_deletes, throttle::confirm_password,
};

pub(super) fn precondition(expected: Option<u64>, current: u64) -> Result<u64, ApiError> {
    match expected {
        Some(version) if version != current => Err(ApiError::PreconditionFailed {
            detail: format!("The resource is at version {current}, not {version}; fetch it again."),
        }),
        _ => Ok(current),
    }
}

pub(super) fn version_conflict(error: StoreError) -> ApiError {
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

/// Deletes an account (see [`delete_own_account`] and [`admin_delete_user`]).
pub(super) async fn delete_user(
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
