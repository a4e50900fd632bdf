//! What an account counts of what it holds elsewhere (properties, leases, published posts):
//! each kept on the user item in the transactions that change it, never recomputed.

use crate::ids::UserId;
use crate::store::{Key, Update};

use super::items::{UserItem, UserStatus};

/// A count on the user item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountCount {
    /// Properties of the registry it owns: 0 for the account to be deleted.
    Properties,
    /// Leases it holds as a tenant that are active: 0 for the account to be deleted.
    ActiveLeases,
    /// Posts it has published (its public profile shows it).
    PublishedPosts,
}

/// `user`'s `count` moves by `delta`, under the condition that the account exists — and, for
/// an increase of what guards its deletion, that it is active: nothing is given to a disabled
/// account.
pub fn change(user: UserId, count: AccountCount, delta: i64) -> Update {
    let update = Update::new(Key::user(user));
    let update = match count {
        AccountCount::Properties => update.add(UserItem::PROPERTY_COUNT, delta),
        AccountCount::ActiveLeases => update.add(UserItem::ACTIVE_LEASE_COUNT, delta),
        AccountCount::PublishedPosts => update.add(UserItem::PUBLISHED_POST_COUNT, delta),
    }
    .if_exists();
    if delta > 0 && count != AccountCount::PublishedPosts {
        update.if_equals(UserItem::STATUS, &UserStatus::Active)
    } else {
        update
    }
}
