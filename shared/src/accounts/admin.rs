//! The admin operations: listing users, roles and status, deletion, and the last-admin guard.

use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::auth::Role;
use crate::error::ApiError;
use crate::events::{Actor, Event, outbox_put};
use crate::ids::UserId;
use crate::state::State;
use crate::store::{
    Key, KeyQuery, OnCondition, Page, PageRequest, Store, StoreError, Update, expect_version,
    keys::{Index, USERS_PARTITION},
};
use crate::validate::{Email, Invalid, RequestValue, request_value};
use utoipa::openapi::schema::{ArrayBuilder, Schema};

use super::items::{AdminCounter, EmailClaim, IdentityClaim, UserItem, UserStatus, UserView};
use super::{Principal, find_user, greeting, recovery::void_links, sessions::session_deletes};

/// The most roles a request may name (there are three).
const MAX_ROLES: usize = 3;

/// The roles an admin gives an account: 1 to 3 of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl RequestValue for Roles {
    type Raw = Vec<Role>;
    fn from_raw(raw: Vec<Role>) -> Result<Self, Invalid> {
        if (1..=MAX_ROLES).contains(&raw.len()) {
            Ok(Self(raw))
        } else {
            Err(Invalid("must hold 1 to 3 roles"))
        }
    }
    fn schema() -> Schema {
        ArrayBuilder::new()
            .items(<Role as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .max_items(Some(MAX_ROLES))
            .into()
    }
}

request_value!(Roles);

/// The admin counter change when `user` stops being an active admin: fails the transaction
/// (409 `LAST_ADMIN`) if it is the last one.
fn leave_admins(store: &Store) -> Result<TransactWriteItem, StoreError> {
    Update::new(AdminCounter::key())
        .add(AdminCounter::COUNT, -1)
        .if_greater(AdminCounter::COUNT, 1)
        .into_transact(store)
}

fn join_admins(store: &Store) -> Result<TransactWriteItem, StoreError> {
    Update::new(AdminCounter::key())
        .add(AdminCounter::COUNT, 1)
        .into_transact(store)
}

/// What a refused transaction that holds the admin counter at `counter_index` means: 409
/// `LAST_ADMIN` when the counter's condition failed, 412 when another one did.
fn last_admin(counter_index: Option<usize>) -> impl FnOnce(Option<usize>) -> ApiError {
    move |index| {
        if index.is_some() && index == counter_index {
            ApiError::Conflict {
                code: "LAST_ADMIN",
                detail: "This is the last active admin: promote another admin first.".into(),
            }
        } else {
            ApiError::changed_meanwhile()
        }
    }
}

/// Deletes an account (see [`super::delete_own_account`] and [`admin_delete_user`]).
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
    if user.property_count > 0 {
        return Err(ApiError::Conflict {
            code: "OWNS_PROPERTIES",
            detail: format!(
                "The account owns {} propert{} of the registry: transfer {} first.",
                user.property_count,
                if user.property_count == 1 { "y" } else { "ies" },
                if user.property_count == 1 {
                    "it"
                } else {
                    "them"
                },
            ),
        });
    }
    if user.active_lease_count > 0 {
        return Err(ApiError::Conflict {
            code: "HOLDS_LEASES",
            detail: "The account holds active leases as a tenant: they must end first.".into(),
        });
    }
    let email =
        Email::parse(&user.email).map_err(|_| ApiError::internal("stored email is invalid"))?;
    let mut writes = vec![
        // Under the condition that it still owns nothing: a property registered meanwhile
        // refuses the deletion (412; asked again, it is the 409 above).
        Update::new(user.key())
            .if_exists()
            .if_number(UserItem::PROPERTY_COUNT, 0)
            .if_number(UserItem::ACTIVE_LEASE_COUNT, 0)
            .into_delete(store)?,
        store.delete_op(&Key::email(&email), false)?,
    ];
    // Its provider identities are free again with it.
    for (provider, subject) in user.identities.iter().flatten() {
        writes.push(store.delete_op(&IdentityClaim::key(provider, subject), false)?);
    }
    writes.extend(also);
    let counter_index = (user.roles.contains(&Role::Admin) && user.status == UserStatus::Active)
        .then_some(writes.len());
    if counter_index.is_some() {
        writes.push(leave_admins(store)?);
    }
    writes.extend(session_deletes(state, user.id).await?);
    let event = Event::about_user(kind, actor, user.id, state.clock.timestamp())
        .change("email", &user.email, ())
        .change("name", &user.name, ())
        .email("account-deleted", &user.email, &greeting(user));
    writes.push(outbox_put(store, event)?);
    store
        .transact(writes)
        .await
        .on_condition(last_admin(counter_index))
}

/// `GET /users`: newest first; by status via `gsi2`, by role with a filter.
pub async fn list_users(
    state: &State,
    status: Option<UserStatus>,
    role: Option<Role>,
    page: &PageRequest,
) -> Result<Page<UserView>, ApiError> {
    let mut query = match status {
        Some(status) => KeyQuery::index(Index::Gsi2, UserItem::status_partition(status)),
        None => KeyQuery::index(Index::Gsi1, USERS_PARTITION),
    }
    .newest_first();
    if let Some(role) = role {
        query = query.contains(UserItem::ROLES, role.as_str());
    }
    let users: Page<UserItem> = state.store.query_page(&query, page).await?;
    Ok(Page {
        items: users.items.iter().map(UserView::from).collect(),
        next_cursor: users.next_cursor,
    })
}

/// What an admin may change on a user.
#[derive(Debug, Default)]
pub struct AdminChange {
    pub roles: Option<Roles>,
    pub status: Option<UserStatus>,
    /// An admin corrects a user's name (an offensive or mistaken one).
    pub name: Option<crate::validate::DisplayName>,
    pub expected_version: Option<u64>,
}

/// `PATCH /users/{id}`: roles, status and name. Disabling ends the user's sessions. The last
/// active admin cannot be demoted or disabled (409 `LAST_ADMIN`).
pub async fn admin_update_user(
    state: &State,
    me: &Principal,
    id: UserId,
    change: AdminChange,
) -> Result<UserView, ApiError> {
    let store = &state.store;
    let user = find_user(store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    let version = expect_version(change.expected_version, user.version)?;
    let mut roles = change.roles.map_or_else(|| user.roles.clone(), |r| r.0);
    roles.sort_unstable();
    roles.dedup();
    if !roles.contains(&Role::User) {
        roles.insert(0, Role::User);
    }
    let status = change.status.unwrap_or(user.status);
    let name = change
        .name
        .map_or_else(|| user.name.clone(), |n| n.as_str().to_owned());
    let was_admin = user.roles.contains(&Role::Admin) && user.status == UserStatus::Active;
    let is_admin = roles.contains(&Role::Admin) && status == UserStatus::Active;
    if roles == user.roles && status == user.status && name == user.name {
        return Ok(UserView::from(&user));
    }
    let now = state.clock.timestamp();
    let mut update = Update::new(user.key())
        .set(UserItem::ROLES, &roles)
        .set(UserItem::NAME, &name)
        .set(UserItem::STATUS, &status)
        .set(UserItem::GSI2PK, &UserItem::status_partition(status))
        .set(UserItem::UPDATED_AT, &now)
        .bump_version(version);
    let disabling = status == UserStatus::Disabled && user.status == UserStatus::Active;
    if disabling {
        // Every session and email link of the account ends, however many there are.
        update = void_links(
            update.set(UserItem::SESSION_EPOCH, &(user.session_epoch + 1)),
            state.clock.unix_millis(),
        );
    }
    let mut writes = vec![update.into_transact(store)?];
    let counter_index = match (was_admin, is_admin) {
        (true, false) => {
            writes.push(leave_admins(store)?);
            Some(writes.len() - 1)
        }
        (false, true) => {
            writes.push(join_admins(store)?);
            None
        }
        _ => None,
    };
    if disabling {
        writes.extend(session_deletes(state, user.id).await?);
    }
    let kind = if status != user.status {
        "user.status_changed"
    } else if roles != user.roles {
        "user.roles_changed"
    } else {
        "user.renamed_by_admin"
    };
    let event = Event::about_user(kind, me.actor(), user.id, now.clone())
        .change("roles", &user.roles, &roles)
        .change("status", user.status, status)
        .change("name", &user.name, &name);
    writes.push(outbox_put(store, event)?);
    store
        .transact(writes)
        .await
        .on_condition(last_admin(counter_index))?;
    let mut updated = user;
    updated.roles = roles;
    updated.status = status;
    updated.name = name;
    updated.updated_at = now;
    updated.version = version + 1;
    Ok(UserView::from(&updated))
}

/// `DELETE /users/{id}` (admin).
pub async fn admin_delete_user(state: &State, me: &Principal, id: UserId) -> Result<(), ApiError> {
    let user = find_user(&state.store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    delete_user(
        state,
        &user,
        me.actor(),
        "user.deleted_by_admin",
        Vec::new(),
    )
    .await
}

/// Gives `role` to the account of `email` — the documented way to create the first admin
/// (`ferrite-admin grant-role`), run by an operator with access to the table.
pub async fn grant_role(state: &State, email: &Email, role: Role) -> Result<UserView, ApiError> {
    let store = &state.store;
    let claim: EmailClaim =
        store
            .get(&Key::email(email))
            .await?
            .ok_or_else(|| ApiError::NotFound {
                detail: format!("No account for {email}."),
            })?;
    let user = find_user(store, claim.user_id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    if user.roles.contains(&role) {
        return Ok(UserView::from(&user));
    }
    let mut roles = user.roles.clone();
    roles.push(role);
    roles.sort_unstable();
    let now = state.clock.timestamp();
    let mut writes = vec![
        Update::new(user.key())
            .set(UserItem::ROLES, &roles)
            .set(UserItem::UPDATED_AT, &now)
            .bump_version(user.version)
            .into_transact(store)?,
    ];
    if role == Role::Admin && user.status == UserStatus::Active {
        writes.push(join_admins(store)?);
    }
    let event = Event::about_user(
        "user.roles_changed",
        Actor::system("ferrite-admin"),
        user.id,
        now.clone(),
    )
    .change("roles", &user.roles, &roles);
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await.or_stale()?;
    let mut updated = user;
    updated.roles = roles;
    updated.updated_at = now;
    updated.version += 1;
    Ok(UserView::from(&updated))
}
