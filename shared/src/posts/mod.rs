//! Posts: drafts, publishing, the public feed, tag feeds, moderation, safe concurrent edits and
//! idempotent creation. Every write is one transaction with its outbox event.
//!
//! | item | `pk` | `sk` | index keys | serves |
//! | --- | --- | --- | --- | --- |
//! | post | `POST#<id>` | `POST` | `gsi1`: `AUTHOR#<authorId>` / `<id>`; `gsi2` (published only): `AUTHOR_PUBLISHED#<authorId>` / `<publishedKey>` | a post: GetItem; all of an author's posts: Query `gsi1`; an author's published posts: Query `gsi2` (sparse) |
//! | feed entry | `FEED#<yyyy-mm>` | `<publishedKey>` | – | the published feed, newest first: Query per month bucket |
//! | tag entry | `TAG#<tag>#<yyyy-mm>` | `<publishedKey>` | – | a tag's feed: Query per month bucket |
//! | idempotency record | `IDEMPOTENCY#<authorId>#<key>` | `IDEMPOTENCY` | – | replaying `POST /posts` (24 h TTL) |
//! | feed month | `FEEDMONTHS#FEED` or `FEEDMONTHS#TAG#<tag>` | `<yyyy-mm>` | – | the months in which a feed has (had) entries, newest first: where the next page is, whatever the gaps |
//!
//! `publishedKey` is `<publishedAt in ms, 13 digits>#<postId>`, so newest-first is reverse key
//! order. Feed and tag entries are written, rewritten and deleted in the same transaction as
//! the post whenever it is published, edited while published, unpublished, hidden or deleted:
//! a feed never shows a post that is not published.
//!
//! **Capacity.** All posts published in a month go to one feed partition (and one per tag).
//! DynamoDB sustains 1,000 write units per second per partition key; a feed entry is well
//! under 1 KB (a summary, not the body), so one publish costs one write unit in the feed plus
//! one per tag (at most five). The feed therefore absorbs about 1,000 publishes a second
//! (roughly 2.6 billion a month) before that partition throttles — and adaptive capacity
//! isolates a hot partition before that. Month buckets keep partitions bounded in size and
//! make old months cold; the feed is read from the newest bucket backwards (one Query per
//! bucket touched; a page crosses into an older month only at a month boundary, and finds that
//! month in the feed's month index, so gaps cost nothing). A page reads at most
//! [`MAX_BUCKETS_PER_PAGE`] buckets and answers with what it found and a cursor when that is
//! not a full page. The month markers are written with a BatchWriteItem *before* the post's
//! transaction (idempotent puts, never in a transaction: concurrent publishes would conflict
//! on them), so a committed entry always has its marker. Past
//! ~1,000 publishes per second, split each bucket into N write shards
//! (`FEED#<yyyy-mm>#<hash(id) % N>`) and merge N Queries per page. The author indexes
//! (`gsi1`, `gsi2`) are partitioned by author, so they never concentrate writes.

mod feed;
mod purge;
mod write;

pub use feed::{MAX_BUCKETS_PER_PAGE, backfill_feed_months, by_author, feed, mine};
pub use purge::{ACCOUNT_DELETED_EVENTS, Purge, purge_author};
pub use write::{NewPost, PostChange, create, delete, get, update};

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::accounts::Principal;
use crate::error::ApiError;
use crate::events::Event;
use crate::http::{PathId, QueryEnum};
use crate::ids::UserId;
use crate::store::{Key, Store, StoreError};
use crate::validate::{
    Invalid, RequestValue, line_schema, lines_schema, request_value, visible_line, visible_text,
};
use utoipa::openapi::schema::Schema;

pub use crate::http::IDEMPOTENCY_TTL_SECS;
pub const TITLE_MAX_CHARS: usize = 200;
pub const BODY_MAX_CHARS: usize = 50_000;
pub const MAX_TAGS: usize = 5;
const EXCERPT_CHARS: usize = 280;

/// A post's id: defined with the other ids (`crate::ids`), named here where posts use it.
pub use crate::ids::PostId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Draft,
    Published,
    Hidden,
}

impl QueryEnum for PostStatus {
    const VALUES: &'static [&'static str] = &["draft", "published", "hidden"];
}

impl PostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Hidden => "hidden",
        }
    }
}

/// The OpenAPI schema of a tag (the API takes and returns tags as plain strings).
#[derive(Debug)]
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"))
            .description(Some(
                "A lowercase slug: 1–32 letters, digits and inner dashes (input is trimmed and lowercased).",
            ))
            .examples(["rust"])
            .into()
    }
}

impl utoipa::ToSchema for Tag {}

/// A tag: a lowercase slug, 1–32 of `a-z`, `0-9` and inner `-`.
pub fn parse_tag(raw: &str) -> Result<String, &'static str> {
    let tag = raw.trim().to_lowercase();
    let valid = (1..=32).contains(&tag.len())
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !tag.starts_with('-')
        && !tag.ends_with('-');
    if valid {
        Ok(tag)
    } else {
        Err("must be a slug of 1-32 lowercase letters, digits and inner dashes")
    }
}

/// A post's title: one line of 1–200 visible characters, trimmed (the text policy of every
/// string others see: [`crate::validate::visible_line`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Title(String);

impl Title {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestValue for Title {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        visible_line(&raw, TITLE_MAX_CHARS).map(|title| Self(title.to_owned()))
    }
    fn schema() -> Schema {
        line_schema(TITLE_MAX_CHARS, "One line of visible characters (trimmed).").into()
    }
}

/// A post's body: up to 50,000 characters of markdown under the text policy of many lines
/// ([`crate::validate::visible_text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Markdown(String);

impl Markdown {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RequestValue for Markdown {
    type Raw = String;
    fn from_raw(raw: String) -> Result<Self, Invalid> {
        if raw.chars().count() > BODY_MAX_CHARS {
            return Err(Invalid("must be at most 50000 characters"));
        }
        visible_text(&raw, BODY_MAX_CHARS).map(|body| Self(body.to_owned()))
    }
    fn schema() -> Schema {
        lines_schema(BODY_MAX_CHARS, "Markdown.").into()
    }
}

/// A post's tags: at most 5 slugs, normalised (trimmed, lower-cased, sorted, without repeats).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tags(Vec<String>);

impl Tags {
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl RequestValue for Tags {
    type Raw = Vec<String>;
    fn from_raw(raw: Vec<String>) -> Result<Self, Invalid> {
        if raw.len() > MAX_TAGS {
            return Err(Invalid("at most 5 tags"));
        }
        let tags: BTreeSet<String> = raw
            .iter()
            .map(|tag| parse_tag(tag).map_err(Invalid))
            .collect::<Result<_, _>>()?;
        Ok(Self(tags.into_iter().collect()))
    }
    fn schema() -> Schema {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<Tag as utoipa::PartialSchema>::schema())
            .max_items(Some(MAX_TAGS))
            .into()
    }
}

request_value!(Title, Markdown, Tags);

/// The stored post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    pub id: PostId,
    pub author_id: UserId,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub status: PostStatus,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    /// Milliseconds of `publishedAt`, for the feed keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_ms: Option<u64>,
    pub version: u64,
}

crate::store::attributes! { PostItem in post_attributes {
    GSI2PK: String = gsi2pk,
    GSI2SK: String = gsi2sk,
    TITLE: String = title,
    BODY: String = body,
    TAGS: Vec<String> = tags,
    STATUS: PostStatus = status,
    UPDATED_AT: String = updated_at,
    PUBLISHED_AT: String = published_at,
    PUBLISHED_MS: u64 = published_ms,
} }

/// What the API shows of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostView {
    pub id: PostId,
    pub author_id: UserId,
    /// Who wrote it, as their account is named now.
    pub author: Author,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    pub status: PostStatus,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub published_at: Option<String>,
    pub version: u64,
}

impl PostView {
    /// The post `p` by `author` (the account `p.author_id` names).
    pub fn of(p: &PostItem, author: Author) -> Self {
        Self {
            id: p.id,
            author_id: p.author_id,
            author,
            title: p.title.clone(),
            body: p.body.clone(),
            tags: p.tags.clone(),
            status: p.status,
            created_at: p.created_at.clone(),
            updated_at: p.updated_at.clone(),
            published_at: p.published_at.clone(),
            version: p.version,
        }
    }
}

/// A feed or tag-feed entry: the summary a list shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEntry {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub summary: PostSummary,
}

/// A post in a list: no body, an excerpt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostSummary {
    pub id: PostId,
    pub author_id: UserId,
    /// Who wrote it, as their account is named now: in every answer (read with the page, one
    /// batched call; the feed's stored entries do not hold it, so a rename shows at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
    pub title: String,
    /// The first 280 characters of the body.
    pub excerpt: String,
    pub tags: Vec<String>,
    pub status: PostStatus,
    #[schema(format = DateTime)]
    pub published_at: Option<String>,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&PostItem> for PostSummary {
    fn from(p: &PostItem) -> Self {
        Self {
            id: p.id,
            author_id: p.author_id,
            title: p.title.clone(),
            author: None,
            excerpt: p.body.chars().take(EXCERPT_CHARS).collect(),
            tags: p.tags.clone(),
            status: p.status,
            published_at: p.published_at.clone(),
            updated_at: p.updated_at.clone(),
        }
    }
}

fn post_key(id: PostId) -> Key {
    Key::new(format!("POST#{id}"), "POST")
}

/// An event about post `id`, caused by `me`.
fn post_event(kind: &str, me: &Principal, id: PostId, now: String) -> Event {
    Event::new(kind, me.actor(), "post", &id.to_string(), now)
}

impl PathId for PostId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        not_found()
    }
}

fn not_found() -> ApiError {
    ApiError::no_such("post")
}

/// The author of a post, as shown with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Author {
    pub id: UserId,
    pub name: String,
}

impl Author {
    /// The caller, as the author of what they write.
    pub fn me(me: &Principal) -> Self {
        Self {
            id: me.id(),
            name: me.user.name.clone(),
        }
    }
}

/// What a post needs of its author's user item: the name.
#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
}

/// The accounts of `authors` that still exist, with their names (one BatchGetItem): posts of
/// an account being purged are shown to nobody meanwhile.
async fn authors_of(
    store: &Store,
    authors: impl IntoIterator<Item = UserId>,
) -> Result<BTreeMap<UserId, Author>, ApiError> {
    let wanted: BTreeSet<UserId> = authors.into_iter().collect();
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let keys: Vec<Key> = wanted.iter().map(|id| Key::user(*id)).collect();
    let found = store.batch_get(&keys).await?;
    Ok(wanted
        .into_iter()
        .zip(found)
        .filter_map(|(id, item)| item.map(|item| (id, item)))
        .map(|(id, item)| {
            let Named { name } = Store::parse(item)?;
            Ok((id, Author { id, name }))
        })
        .collect::<Result<_, StoreError>>()?)
}

/// `author`'s account if it still exists, named (one GetItem).
async fn find_author(store: &Store, author: UserId) -> Result<Option<Author>, ApiError> {
    let user: Option<Named> = store.get(&Key::user(author)).await?;
    Ok(user.map(|user| Author {
        id: author,
        name: user.name,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_lowercase_slugs() {
        assert_eq!(parse_tag(" Rust "), Ok("rust".into()));
        assert_eq!(parse_tag("aws-lambda"), Ok("aws-lambda".into()));
        for bad in ["", "-x", "x-", "two words", "émoji", &"x".repeat(33)] {
            assert!(parse_tag(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Tags::from_raw(vec!["Rust".into(), "rust".into(), "aws".into()]).map(Tags::into_vec),
            Ok(vec!["aws".to_owned(), "rust".to_owned()])
        );
        assert!(Tags::from_raw(vec!["a".into(); 6]).is_err());
    }
}
