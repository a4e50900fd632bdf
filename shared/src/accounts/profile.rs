//! The signed-in user's own account: profile, password change, deletion.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::ApiError;
use crate::events::{Event, outbox_put};
use crate::state::State;
use crate::store::{OnCondition, Update, expect_version};
use crate::validate::{DisplayName, Password};

use super::items::UserView;
use super::{
    Principal, admin::delete_user, recovery::PasswordSet, recovery::set_password,
    throttle::confirm_password,
};

/// `PATCH /users/me`: profile fields only.
pub async fn update_profile(
    state: &State,
    me: &Principal,
    name: Option<DisplayName>,
    expected: Option<u64>,
) -> Result<UserView, ApiError> {
    let store = &state.store;
    let user = &me.user;
    let version = expect_version(expected, user.version)?;
    let Some(name) = name.filter(|n| n.as_str() != user.name) else {
        return Ok(UserView::from(user));
    };
    let now = state.clock.timestamp();
    let event = Event::about_user("user.profile_updated", user.actor(), user.id, now.clone())
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
        .or_stale()?;
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
            actor: me.actor(),
        },
    )
    .await
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
        me.actor(),
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
