//! What happens to posts when their author's account is deleted: purged in the background
//! (worker-purge), hidden meanwhile.

use crate::error::ApiError;
use crate::events::{Actor, Event, outbox_put};
use crate::ids::UserId;
use crate::state::State;
use crate::store::{
    KeyQuery, StoreError,
    keys::{self, Index},
};

use super::{PostItem, feed::feed_writes, post_key};

/// The events whose account is gone: its posts are purged in the background
/// ([`purge_author`]), and hidden from every read meanwhile.
pub const ACCOUNT_DELETED_EVENTS: [&str; 2] = ["user.deleted", "user.deleted_by_admin"];

/// Posts deleted per transaction by [`purge_author`] (each with up to six feed entries and its
/// event: at most 80 of the 100 items a transaction may hold).
const PURGE_BATCH: u16 = 10;

/// How a purge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purge {
    /// Posts deleted by this call.
    pub deleted: usize,
    /// Whether the author has no post left (false: `until` came first; call again).
    pub done: bool,
}

/// Deletes every post of `author` (with its feed and tag entries and a `post.deleted` event),
/// a few posts per transaction, until none is left or `until` has passed. Run by the purge
/// worker from the account's deletion event, so deleting an account costs the same whatever
/// it wrote. Idempotent: each post's delete is conditional on the version read, so a post
/// already deleted (an index entry that lags behind) or changed meanwhile is read again
/// rather than deleted twice or with stale feed keys, and a redelivered event finds only what
/// is left.
pub async fn purge_author(
    state: &State,
    author: UserId,
    actor: &Actor,
    until: std::time::SystemTime,
) -> Result<Purge, ApiError> {
    let store = &state.store;
    let mut deleted = 0;
    while std::time::SystemTime::now() < until {
        let mut posts: Vec<PostItem> = store
            .query_head(
                &KeyQuery::index(Index::Gsi1, keys::author_posts(author)),
                PURGE_BATCH,
            )
            .await?;
        if posts.is_empty() {
            return Ok(Purge {
                deleted,
                done: true,
            });
        }
        while !posts.is_empty() {
            let mut writes = Vec::new();
            // Index in `writes` of each post's delete, to know which one a failed condition names.
            let mut firsts = Vec::new();
            for post in &posts {
                firsts.push(writes.len());
                writes.push(store.delete_versioned_op(&post_key(post.id), post.version)?);
                writes.extend(feed_writes(store, Some(post), None)?);
                let event = Event::new(
                    "post.deleted",
                    actor.clone(),
                    "post",
                    &post.id.to_string(),
                    state.clock.timestamp(),
                )
                .change("title", &post.title, ())
                .change("status", post.status, ())
                .change("reason", (), "account deleted");
                writes.push(outbox_put(store, event)?);
            }
            match store.transact(writes).await {
                Ok(()) => {
                    deleted += posts.len();
                    posts.clear();
                }
                // Gone already, or changed since the index was read: leave it to the next read.
                Err(StoreError::ConditionFailed { index: Some(index) }) => {
                    let Some(lagging) = firsts.iter().position(|first| *first == index) else {
                        return Err(ApiError::internal(
                            "a feed entry's delete failed a condition",
                        ));
                    };
                    posts.remove(lagging);
                }
                Err(other) => return Err(other.into()),
            }
        }
        // Only stale index entries on this page: give the index a moment to catch up.
        if deleted == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    Ok(Purge {
        deleted,
        done: false,
    })
}
