//! The signed-in user's own account (profile, password change, deletion) and anyone's public
//! profile.

use serde::Serialize;

use crate::error::ApiError;
use crate::events::{Event, outbox_put};
use crate::ids::UserId;
use crate::state::State;
use crate::store::{OnCondition, Update, expect_version};
use crate::validate::{DisplayName, Password};

use super::items::{UserItem, UserView};
use super::{
    Principal,
    admin::delete_user,
    recovery::PasswordSet,
    recovery::set_password,
    throttle::{confirm_password, reauthenticate},
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
                .set(UserItem::NAME, &name.as_str().to_owned())
                .set(UserItem::UPDATED_AT, &now)
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
    password: Option<&str>,
) -> Result<(), ApiError> {
    let give_back = reauthenticate(state, me, "password", password).await?;
    let (op, update) = give_back.map(|g| (g.op, g.update)).unzip();
    let deleted = delete_user(
        state,
        &me.user,
        me.actor(),
        "user.deleted",
        op.into_iter().collect(),
    )
    .await;
    if let (Err(_), Some(update)) = (&deleted, update) {
        // Refused (the last admin) or failed: the right password's attempt is given back all the
        // same, so a refused request leaves nothing behind.
        state.store.update(update).await?;
    }
    deleted
}

/// What anyone may see of an account: no address, no roles, no status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicProfile {
    pub id: UserId,
    pub name: String,
    /// When the account was created.
    #[schema(format = DateTime)]
    pub member_since: String,
    /// Posts of this account that are published now (drafts and hidden posts do not count).
    pub published_posts: u64,
}

impl From<&UserItem> for PublicProfile {
    fn from(user: &UserItem) -> Self {
        Self {
            id: user.id,
            name: user.name.clone(),
            member_since: user.created_at.clone(),
            published_posts: u64::try_from(user.published_post_count).unwrap_or(0),
        }
    }
}

/// `GET /users/{id}/profile`: anyone's public profile (one GetItem; the published-post count
/// is kept on the account by the post transactions, so no post is read). 404 for an account
/// that does not exist — or is deleted, though its posts are still being purged.
pub async fn public_profile(state: &State, id: UserId) -> Result<PublicProfile, ApiError> {
    let user: UserItem = state
        .store
        .get(&crate::store::Key::user(id))
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    Ok(PublicProfile::from(&user))
}
