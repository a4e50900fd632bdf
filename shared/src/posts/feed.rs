//! The feeds: month-bucketed feed and tag entries, the month index, sealed cursors, and the
//! author listings.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::state::State;
use crate::store::{
    Key, KeyQuery, Page, PageRequest, SortKey, Store, StoreError,
    keys::{self, Index},
};

use super::{FeedEntry, PostItem, PostStatus, PostSummary, authors_of, find_author, parse_tag};

fn month_of(ms: u64) -> String {
    crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))[..7]
        .to_owned()
}

fn published_key(post: &PostItem) -> Option<String> {
    post.published_ms.map(|ms| format!("{ms:013}#{}", post.id))
}

fn feed_partition(tag: Option<&str>, month: &str) -> String {
    match tag {
        Some(tag) => format!("TAG#{tag}#{month}"),
        None => format!("FEED#{month}"),
    }
}

/// The feed and tag entries a published post has.
fn feed_keys(post: &PostItem) -> Vec<Key> {
    let (Some(sk), Some(ms)) = (published_key(post), post.published_ms) else {
        return Vec::new();
    };
    let month = month_of(ms);
    std::iter::once(None)
        .chain(post.tags.iter().map(|t| Some(t.as_str())))
        .map(|tag| Key::new(feed_partition(tag, &month), sk.clone()))
        .collect()
}

/// The transaction items that make the feeds agree with `after`, given `before`.
pub(super) fn feed_writes(
    store: &Store,
    before: Option<&PostItem>,
    after: Option<&PostItem>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let old: Vec<Key> = before
        .filter(|p| p.status == PostStatus::Published)
        .map(feed_keys)
        .unwrap_or_default();
    let new: Vec<Key> = after
        .filter(|p| p.status == PostStatus::Published)
        .map(feed_keys)
        .unwrap_or_default();
    let mut writes = Vec::new();
    for key in &old {
        if !new.contains(key) {
            writes.push(store.delete_op(key, false)?);
        }
    }
    if let Some(post) = after.filter(|p| p.status == PostStatus::Published) {
        for key in new {
            writes.push(store.put_op(&FeedEntry {
                pk: key.pk,
                sk: key.sk,
                summary: PostSummary::from(post),
            })?);
        }
    }
    Ok(writes)
}

/// Keeps the author's published index (`gsi2`) in step with the status.
pub(super) fn set_index_keys(post: &mut PostItem) {
    if post.status == PostStatus::Published {
        post.gsi2pk = Some(keys::author_published(post.author_id));
        post.gsi2sk = published_key(post);
    } else {
        post.gsi2pk = None;
        post.gsi2sk = None;
    }
}

/// A feed's month index entry: this feed has (or had) entries in month `sk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FeedMonth {
    pk: String,
    sk: String,
}

/// The partition of a feed's month index (`FEED` or `TAG#<tag>`).
fn months_partition(feed: &str) -> String {
    format!("FEEDMONTHS#{feed}")
}

/// The month markers the feed entries of `after` need that `before`'s did not have.
pub(super) fn month_markers(before: Option<&PostItem>, after: &PostItem) -> Vec<FeedMonth> {
    let old: Vec<Key> = before
        .filter(|p| p.status == PostStatus::Published)
        .map(feed_keys)
        .unwrap_or_default();
    if after.status != PostStatus::Published {
        return Vec::new();
    }
    feed_keys(after)
        .into_iter()
        .filter(|key| !old.contains(key))
        .filter_map(|key| {
            let (feed, month) = key.pk.rsplit_once('#')?;
            Some(FeedMonth {
                pk: months_partition(feed),
                sk: month.to_owned(),
            })
        })
        .collect()
}

/// Writes the month index entry of every feed and tag-feed bucket that has entries: the
/// migration for feeds written before the index existed (`ferrite-admin backfill-feed-months`).
/// Idempotent; returns how many months it recorded.
pub async fn backfill_feed_months(store: &Store) -> Result<usize, ApiError> {
    let markers: Vec<FeedMonth> = store
        .partitions_starting_with(&["FEED#", "TAG#"])
        .await?
        .into_iter()
        .filter_map(|pk| {
            let (feed, month) = pk.rsplit_once('#')?;
            valid_month(month).then(|| FeedMonth {
                pk: months_partition(feed),
                sk: month.to_owned(),
            })
        })
        .collect();
    for chunk in markers.chunks(25) {
        store.put_batch(chunk).await?;
    }
    Ok(markers.len())
}

/// Month buckets one feed page may read. With the month index a page costs at most this many
/// bucket Queries and as many index Queries (in practice one), whatever the gaps between
/// months; a page that is not full by then answers with what it has and a cursor.
pub const MAX_BUCKETS_PER_PAGE: usize = 3;

fn previous_month(month: &str) -> Option<String> {
    let year: i32 = month.get(..4)?.parse().ok()?;
    let mon: u32 = month.get(5..7)?.parse().ok()?;
    Some(if mon == 1 {
        format!("{:04}-12", year - 1)
    } else {
        format!("{year:04}-{:02}", mon - 1)
    })
}

fn valid_month(month: &str) -> bool {
    month.len() == 7
        && month.as_bytes()[4] == b'-'
        && month[..4].bytes().all(|b| b.is_ascii_digit())
        && month[5..]
            .parse::<u32>()
            .is_ok_and(|m| (1..=12).contains(&m))
}

fn bad_cursor() -> ApiError {
    StoreError::Cursor(crate::store::CursorError).into()
}

/// Where a feed page starts: a month bucket and, inside it, the bucket's own cursor.
struct FeedPosition {
    month: String,
    inner: Option<String>,
}

/// The feed's cursor is signed and bound to the feed (`feed|FEED`, `feed|TAG#rust`): a cursor
/// of one feed is refused by another, and a month cannot be forged.
fn feed_scope(feed: &str) -> String {
    format!("feed|{feed}")
}

async fn seal(store: &Store, feed: &str, position: &FeedPosition) -> Result<String, StoreError> {
    let mut fields = vec![("m", position.month.as_str())];
    if let Some(inner) = &position.inner {
        fields.push(("c", inner.as_str()));
    }
    store.seal_cursor(&feed_scope(feed), &fields).await
}

async fn open(store: &Store, feed: &str, cursor: &str) -> Result<FeedPosition, ApiError> {
    let mut fields = store.open_cursor(&feed_scope(feed), cursor).await?;
    let month = fields.remove("m").filter(|m| valid_month(m));
    let month = month.ok_or_else(bad_cursor)?;
    Ok(FeedPosition {
        month,
        inner: fields.remove("c"),
    })
}

/// Up to [`MAX_BUCKETS_PER_PAGE`] months before `month` in which `feed` has entries, newest
/// first, and whether there are more.
async fn older_months(
    store: &Store,
    feed: &str,
    month: &str,
) -> Result<(Vec<String>, bool), ApiError> {
    let Some(high) = previous_month(month) else {
        return Ok((Vec::new(), false));
    };
    let query = KeyQuery::table(months_partition(feed))
        .sort(SortKey::Between("0000-01".to_owned(), high))
        .newest_first();
    let page: Page<FeedMonth> = store
        .query_page(
            &query,
            &PageRequest::first(u16::try_from(MAX_BUCKETS_PER_PAGE).unwrap_or(1)),
        )
        .await?;
    Ok((
        page.items.into_iter().map(|m| m.sk).collect(),
        page.next_cursor.is_some(),
    ))
}

/// `GET /posts` (`tag` for a tag's feed): published posts, newest first, across month buckets,
/// without the posts of deleted accounts (whose purge may still be running): one BatchGetItem
/// of the page's authors. A page may therefore be shorter than `limit` and still have a cursor.
pub async fn feed(
    state: &State,
    tag: Option<&str>,
    page: &PageRequest,
) -> Result<Page<PostSummary>, ApiError> {
    let mut page = feed_entries(state, tag, page).await?;
    let authors = authors_of(&state.store, page.items.iter().map(|p| p.author_id)).await?;
    page.items.retain_mut(|p| {
        p.author = authors.get(&p.author_id).cloned();
        p.author.is_some()
    });
    Ok(page)
}

async fn feed_entries(
    state: &State,
    tag: Option<&str>,
    page: &PageRequest,
) -> Result<Page<PostSummary>, ApiError> {
    let store = &state.store;
    let tag = tag
        .map(|t| parse_tag(t).map_err(|m| ApiError::invalid_parameter("tag", m)))
        .transpose()?;
    let feed = match &tag {
        Some(tag) => format!("TAG#{tag}"),
        None => "FEED".to_owned(),
    };
    let mut position = match &page.cursor {
        None => FeedPosition {
            month: state.clock.timestamp()[..7].to_owned(),
            inner: None,
        },
        Some(cursor) => open(store, &feed, cursor).await?,
    };
    let limit = page.limit;
    let mut items: Vec<PostSummary> = Vec::new();
    // Older months with entries, from the month index, read when a bucket runs out.
    let mut older: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut index_has_more = true;
    let mut buckets = 0;
    loop {
        buckets += 1;
        let query = KeyQuery::table(feed_partition(tag.as_deref(), &position.month)).newest_first();
        let remaining = limit - u16::try_from(items.len()).unwrap_or(limit);
        let result: Page<FeedEntry> = store
            .query_page(
                &query,
                &PageRequest {
                    limit: remaining,
                    cursor: position.inner.take(),
                },
            )
            .await?;
        items.extend(result.items.into_iter().map(|e| e.summary));
        let next = if let Some(inner) = result.next_cursor {
            Some(FeedPosition {
                month: position.month.clone(),
                inner: Some(inner),
            })
        } else {
            if older.is_empty() && index_has_more {
                let (months, more) = older_months(store, &feed, &position.month).await?;
                older.extend(months);
                index_has_more = more;
            }
            older
                .pop_front()
                .map(|month| FeedPosition { month, inner: None })
        };
        match next {
            None => {
                return Ok(Page {
                    items,
                    next_cursor: None,
                });
            }
            Some(next) if items.len() >= usize::from(limit) || buckets >= MAX_BUCKETS_PER_PAGE => {
                return Ok(Page {
                    items,
                    next_cursor: Some(seal(store, &feed, &next).await?),
                });
            }
            Some(next) => position = next,
        }
    }
}

/// `GET /users/{id}/posts`: that author's published posts, newest first.
pub async fn by_author(
    state: &State,
    author: UserId,
    page: &PageRequest,
) -> Result<Page<PostSummary>, ApiError> {
    // The author's existence (a deleted account's posts may still be being purged) and the
    // page, read at once.
    let query = KeyQuery::index(Index::Gsi2, keys::author_published(author)).newest_first();
    let (found, posts) = tokio::join!(
        find_author(&state.store, author),
        state.store.query_page::<PostItem>(&query, page)
    );
    let Some(found) = found? else {
        return Err(ApiError::no_such_user());
    };
    let posts = posts?;
    Ok(Page {
        items: posts
            .items
            .iter()
            .map(|p| PostSummary {
                author: Some(found.clone()),
                ..PostSummary::from(p)
            })
            .collect(),
        next_cursor: posts.next_cursor,
    })
}

/// `GET /users/me/posts`: all of mine, newest first, optionally one status.
pub async fn mine(
    state: &State,
    me: &Principal,
    status: Option<PostStatus>,
    page: &PageRequest,
) -> Result<Page<PostSummary>, ApiError> {
    let mut query = KeyQuery::index(Index::Gsi1, keys::author_posts(me.id())).newest_first();
    if let Some(status) = status {
        query = query.contains(PostItem::STATUS, status.as_str());
    }
    let posts: Page<PostItem> = state.store.query_page(&query, page).await?;
    let author = super::Author::me(me);
    Ok(Page {
        items: posts
            .items
            .iter()
            .map(|p| PostSummary {
                author: Some(author.clone()),
                ..PostSummary::from(p)
            })
            .collect(),
        next_cursor: posts.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_back_across_years() {
        assert_eq!(previous_month("2026-03").as_deref(), Some("2026-02"));
        assert_eq!(previous_month("2026-01").as_deref(), Some("2025-12"));
        assert!(valid_month("2026-11") && !valid_month("2026-13") && !valid_month("26-11"));
        assert_eq!(month_of(1_795_499_093_000), "2026-11");
    }
}
