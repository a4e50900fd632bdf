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

use std::collections::BTreeSet;
use std::fmt;

use aws_sdk_dynamodb::types::TransactWriteItem;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::State;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, FieldError};
use crate::events::{Actor, Event, outbox_put};
use crate::ids::UserId;
use crate::store::keys::Index;
use crate::store::{Key, KeyQuery, Page, PageRequest, SortKey, Store, StoreError, Update};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;
pub const TITLE_MAX_CHARS: usize = 200;
pub const BODY_MAX_CHARS: usize = 50_000;
pub const MAX_TAGS: usize = 5;
const EXCERPT_CHARS: usize = 280;

/// A post's id (time-ordered ULID).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostId(ulid::Ulid);

impl PostId {
    pub fn generate() -> Self {
        Self(ulid::Ulid::new())
    }

    pub fn parse(value: &str) -> Option<Self> {
        let id = ulid::Ulid::from_string(value).ok()?;
        (id.to_string().eq_ignore_ascii_case(value)).then_some(Self(id))
    }
}

impl TryFrom<String> for PostId {
    type Error = crate::ids::InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or(crate::ids::InvalidId)
    }
}

impl From<PostId> for String {
    fn from(id: PostId) -> String {
        id.0.to_string()
    }
}

impl fmt::Display for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

crate::ids::ulid_schema!(
    PostId,
    "A post's id: a ULID (26 Crockford base32 characters)."
);

impl fmt::Debug for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostId({})", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostStatus {
    Draft,
    Published,
    Hidden,
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
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
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

/// `#[garde(custom(shared::posts::tags))]`.
pub fn tags(value: &[String], _context: &()) -> garde::Result {
    if value.len() > MAX_TAGS {
        return Err(garde::Error::new("at most 5 tags"));
    }
    for tag in value {
        parse_tag(tag).map_err(garde::Error::new)?;
    }
    Ok(())
}

/// `#[garde(custom(shared::posts::title))]`: one line of 1–200 visible characters (the text
/// policy of every string others see: [`crate::validate::visible_line`]).
pub fn title(value: &str, _context: &()) -> garde::Result {
    crate::validate::visible_line(value, TITLE_MAX_CHARS)
        .map(drop)
        .map_err(|e| garde::Error::new(e.0))
}

/// `#[garde(custom(shared::posts::body))]`: up to 50,000 characters of markdown, under the same
/// text policy ([`crate::validate::visible_text`]).
pub fn body(value: &str, _context: &()) -> garde::Result {
    if value.chars().count() > BODY_MAX_CHARS {
        return Err(garde::Error::new("must be at most 50000 characters"));
    }
    crate::validate::visible_text(value, BODY_MAX_CHARS)
        .map(drop)
        .map_err(|e| garde::Error::new(e.0))
}

fn normalise_tags(tags: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = tags.iter().filter_map(|t| parse_tag(t).ok()).collect();
    set.into_iter().collect()
}

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

/// What the API shows of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostView {
    pub id: PostId,
    pub author_id: UserId,
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

impl From<&PostItem> for PostView {
    fn from(p: &PostItem) -> Self {
        Self {
            id: p.id,
            author_id: p.author_id,
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
fn feed_writes(
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
fn set_index_keys(post: &mut PostItem) {
    if post.status == PostStatus::Published {
        post.gsi2pk = Some(format!("AUTHOR_PUBLISHED#{}", post.author_id));
        post.gsi2sk = published_key(post);
    } else {
        post.gsi2pk = None;
        post.gsi2sk = None;
    }
}

/// A feed's month index entry: this feed has (or had) entries in month `sk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FeedMonth {
    pk: String,
    sk: String,
}

/// The partition of a feed's month index (`FEED` or `TAG#<tag>`).
fn months_partition(feed: &str) -> String {
    format!("FEEDMONTHS#{feed}")
}

/// The month markers the feed entries of `after` need that `before`'s did not have.
fn month_markers(before: Option<&PostItem>, after: &PostItem) -> Vec<FeedMonth> {
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

/// What `POST /posts` carries, validated.
#[derive(Debug, Clone, Serialize)]
pub struct NewPost {
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub status: PostStatus,
}

/// The stored answer of an idempotent create.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecord {
    pk: String,
    sk: String,
    request_hash: String,
    post_id: PostId,
    expires_at: i64,
}

fn request_hash(input: &NewPost) -> String {
    let json = serde_json::to_vec(input).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(Sha256::digest(json))
}

/// `POST /posts`: creates a post (a draft unless `status` is `published`). With an
/// `Idempotency-Key`, a repeat of the same request within 24 hours returns the post created the
/// first time and creates nothing; the same key with another body is a 422.
/// Returns the post and whether it was created now (201) or replayed (also 201, same body).
pub async fn create(
    state: &State,
    me: &Principal,
    input: NewPost,
    idempotency_key: Option<&str>,
) -> Result<PostView, ApiError> {
    if input.status == PostStatus::Hidden {
        return Err(ApiError::Validation {
            errors: vec![FieldError::new("status", "must be draft or published")],
        });
    }
    let store = &state.store;
    let idempotency = idempotency_key
        .map(|key| Key::new(format!("IDEMPOTENCY#{}#{key}", me.id()), "IDEMPOTENCY"));
    let hash = request_hash(&input);
    if let Some(key) = &idempotency
        && let Some(replayed) = replay(store, key, &hash).await?
    {
        return Ok(replayed);
    }

    let now = state.clock.timestamp();
    let now_ms = state.clock.unix_millis();
    let id = PostId::generate();
    let published = input.status == PostStatus::Published;
    let key = post_key(id);
    let mut post = PostItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: format!("AUTHOR#{}", me.id()),
        gsi1sk: id.to_string(),
        gsi2pk: None,
        gsi2sk: None,
        id,
        author_id: me.id(),
        title: input.title.trim().to_owned(),
        body: input.body.clone(),
        tags: normalise_tags(&input.tags),
        status: input.status,
        created_at: now.clone(),
        updated_at: now.clone(),
        published_at: published.then(|| now.clone()),
        published_ms: published.then_some(now_ms),
        version: 1,
    };
    set_index_keys(&mut post);
    let mut writes = vec![store.put_new_op(&post)?];
    let idempotency_index = idempotency.as_ref().map(|_| writes.len());
    if let Some(key) = &idempotency {
        writes.push(store.put_new_op(&IdempotencyRecord {
            pk: key.pk.clone(),
            sk: key.sk.clone(),
            request_hash: hash.clone(),
            post_id: id,
            expires_at: store.expires_in(IDEMPOTENCY_TTL_SECS),
        })?);
    }
    writes.extend(feed_writes(store, None, Some(&post))?);
    let kind = if published {
        "post.published"
    } else {
        "post.created"
    };
    let event = Event::new(
        kind,
        Actor::user(me.id(), me.roles()),
        "post",
        &id.to_string(),
        now,
    )
    .change("title", (), &post.title)
    .change("tags", (), &post.tags)
    .change("status", (), post.status);
    writes.push(outbox_put(store, event)?);
    store.put_batch(&month_markers(None, &post)).await?;
    match store.transact(writes).await {
        Ok(()) => Ok(PostView::from(&post)),
        // The same key raced us: answer what the winner stored.
        Err(StoreError::ConditionFailed { index })
            if index.is_some() && index == idempotency_index =>
        {
            let key = idempotency
                .as_ref()
                .ok_or_else(|| ApiError::internal("idempotency key vanished"))?;
            replay(store, key, &hash)
                .await?
                .ok_or_else(|| ApiError::internal("idempotency record missing after a conflict"))
        }
        Err(other) => Err(other.into()),
    }
}

async fn replay(store: &Store, key: &Key, hash: &str) -> Result<Option<PostView>, ApiError> {
    let Some(record) = store.get::<IdempotencyRecord>(key).await? else {
        return Ok(None);
    };
    if record.request_hash != hash {
        return Err(ApiError::Validation {
            errors: vec![FieldError::new(
                "Idempotency-Key",
                "was already used with a different request body",
            )],
        });
    }
    let post: PostItem =
        store
            .get(&post_key(record.post_id))
            .await?
            .ok_or_else(|| ApiError::Conflict {
                code: "POST_GONE",
                detail: "The post created with this key was deleted.".into(),
            })?;
    Ok(Some(PostView::from(&post)))
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        detail: "No such post.".into(),
    }
}

fn can_see(post: &PostItem, viewer: Option<&Principal>) -> bool {
    post.status == PostStatus::Published
        || viewer.is_some_and(|v| {
            v.id() == post.author_id || v.has_role(Role::Moderator) || v.has_role(Role::Admin)
        })
}

/// `GET /posts/{id}`: published posts to anyone; drafts and hidden posts only to their author,
/// moderators and admins — 404 for everyone else.
pub async fn get(
    state: &State,
    viewer: Option<&Principal>,
    id: &str,
) -> Result<PostView, ApiError> {
    let id = PostId::parse(id).ok_or_else(not_found)?;
    let post: PostItem = state
        .store
        .get(&post_key(id))
        .await?
        .ok_or_else(not_found)?;
    if !can_see(&post, viewer) {
        return Err(not_found());
    }
    // A deleted account's posts are gone for readers from the moment the account is, though
    // the purge removes them a little later. The author reading their own post exists.
    let by_viewer = viewer.is_some_and(|v| v.id() == post.author_id);
    if !by_viewer && !author_exists(&state.store, post.author_id).await? {
        return Err(not_found());
    }
    Ok(PostView::from(&post))
}

/// What `PATCH /posts/{id}` may change.
#[derive(Debug, Default, Clone)]
pub struct PostChange {
    pub title: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub status: Option<PostStatus>,
    pub expected_version: Option<u64>,
}

fn forbidden(detail: &str) -> ApiError {
    ApiError::Forbidden {
        detail: detail.to_owned(),
    }
}

/// Who may make `change` to `before`: the author edits content and moves draft <-> published;
/// moderators and admins move published <-> hidden. Returns the status after the change.
fn check_change(
    before: &PostItem,
    me: &Principal,
    change: &PostChange,
) -> Result<PostStatus, ApiError> {
    let is_author = before.author_id == me.id();
    let is_moderator = me.has_role(Role::Moderator) || me.has_role(Role::Admin);
    let edits_content = change.title.is_some() || change.body.is_some() || change.tags.is_some();
    if edits_content && !is_author {
        return Err(forbidden("Only the author may edit a post's content."));
    }
    if let Some(expected) = change.expected_version
        && expected != before.version
    {
        return Err(ApiError::PreconditionFailed {
            detail: format!(
                "The post is at version {}, not {expected}; fetch it again.",
                before.version
            ),
        });
    }
    let next_status = change.status.unwrap_or(before.status);
    let allowed = match (before.status, next_status) {
        (a, b) if a == b => true,
        (PostStatus::Draft, PostStatus::Published) | (PostStatus::Published, PostStatus::Draft) => {
            is_author
        }
        (PostStatus::Published, PostStatus::Hidden)
        | (PostStatus::Hidden, PostStatus::Published) => is_moderator,
        _ => false,
    };
    if !allowed {
        return Err(forbidden(&format!(
            "Moving a post from {} to {} is not allowed for you.",
            before.status.as_str(),
            next_status.as_str()
        )));
    }
    Ok(next_status)
}

/// `PATCH /posts/{id}`. The author edits content and moves draft ↔ published; moderators and
/// admins move published ↔ hidden but cannot edit content. Conditional on the version read
/// (or the client's `If-Match`/`version`): of two concurrent edits exactly one wins, the
/// other gets 412.
pub async fn update(
    state: &State,
    me: &Principal,
    id: &str,
    change: PostChange,
) -> Result<PostView, ApiError> {
    let store = &state.store;
    let id = PostId::parse(id).ok_or_else(not_found)?;
    let before: PostItem = store.get(&post_key(id)).await?.ok_or_else(not_found)?;
    if !can_see(&before, Some(me)) {
        return Err(not_found());
    }
    let next_status = check_change(&before, me, &change)?;
    let transition = (before.status, next_status);

    let now = state.clock.timestamp();
    let now_ms = state.clock.unix_millis();
    let mut after = before.clone();
    if let Some(title) = &change.title {
        title.trim().clone_into(&mut after.title);
    }
    if let Some(body) = &change.body {
        body.clone_into(&mut after.body);
    }
    if let Some(tags) = &change.tags {
        after.tags = normalise_tags(tags);
    }
    after.status = next_status;
    if transition == (PostStatus::Draft, PostStatus::Published) {
        after.published_at = Some(now.clone());
        after.published_ms = Some(now_ms);
    }
    if after == before {
        return Ok(PostView::from(&before));
    }
    after.updated_at = now.clone();
    after.version = before.version + 1;
    set_index_keys(&mut after);

    let mut writes = vec![
        Update::new(post_key(id))
            .set_value("title", &after.title)?
            .set_value("body", &after.body)?
            .set_value("tags", &after.tags)?
            .set_value("status", &after.status)?
            .set_value("updatedAt", &after.updated_at)?
            .set_or_remove("publishedAt", after.published_at.as_ref())?
            .set_or_remove("publishedMs", after.published_ms.as_ref())?
            .set_or_remove("gsi2pk", after.gsi2pk.as_ref())?
            .set_or_remove("gsi2sk", after.gsi2sk.as_ref())?
            .bump_version(before.version)
            .into_transact(store)?,
    ];
    writes.extend(feed_writes(store, Some(&before), Some(&after))?);
    let kind = match transition {
        (PostStatus::Draft, PostStatus::Published) => "post.published",
        (PostStatus::Published, PostStatus::Draft) => "post.unpublished",
        (_, PostStatus::Hidden) => "post.hidden",
        (PostStatus::Hidden, PostStatus::Published) => "post.unhidden",
        _ => "post.updated",
    };
    let event = Event::new(
        kind,
        Actor::user(me.id(), me.roles()),
        "post",
        &id.to_string(),
        now,
    )
    .change("title", &before.title, &after.title)
    .change(
        "bodyLength",
        before.body.chars().count(),
        after.body.chars().count(),
    )
    .change("tags", &before.tags, &after.tags)
    .change("status", before.status, after.status);
    writes.push(outbox_put(store, event)?);
    store
        .put_batch(&month_markers(Some(&before), &after))
        .await?;
    store.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { .. } => ApiError::PreconditionFailed {
            detail: "The post changed while this edit was made; fetch it again.".into(),
        },
        other => other.into(),
    })?;
    Ok(PostView::from(&after))
}

/// `DELETE /posts/{id}`: the author, a moderator or an admin; feed and tag entries go with it.
pub async fn delete(state: &State, me: &Principal, id: &str) -> Result<(), ApiError> {
    let store = &state.store;
    let id = PostId::parse(id).ok_or_else(not_found)?;
    let post: PostItem = store.get(&post_key(id)).await?.ok_or_else(not_found)?;
    if !can_see(&post, Some(me)) {
        return Err(not_found());
    }
    crate::auth::require_owner_or(me, post.author_id, Role::Moderator)?;
    // Conditional on the version read: a concurrent edit (say, a retag) cannot leave entries behind.
    let mut writes = vec![store.delete_versioned_op(&post_key(id), post.version)?];
    writes.extend(feed_writes(store, Some(&post), None)?);
    let event = Event::new(
        "post.deleted",
        Actor::user(me.id(), me.roles()),
        "post",
        &id.to_string(),
        state.clock.timestamp(),
    )
    .change("title", &post.title, ())
    .change("status", post.status, ());
    writes.push(outbox_put(store, event)?);
    store.transact(writes).await.map_err(|error| match error {
        StoreError::ConditionFailed { .. } => ApiError::PreconditionFailed {
            detail: "The post changed meanwhile; fetch it again.".into(),
        },
        other => other.into(),
    })
}

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
        let page: Page<PostItem> = store
            .query_page(
                &KeyQuery::index(Index::Gsi1, format!("AUTHOR#{author}")),
                &PageRequest::first(PURGE_BATCH),
            )
            .await?;
        if page.items.is_empty() {
            return Ok(Purge {
                deleted,
                done: true,
            });
        }
        let mut posts = page.items;
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

/// The authors among `authors` whose account still exists (one BatchGetItem): posts of an
/// account being purged are shown to nobody meanwhile.
async fn living_authors(
    store: &Store,
    authors: impl IntoIterator<Item = UserId>,
) -> Result<BTreeSet<UserId>, ApiError> {
    let wanted: BTreeSet<UserId> = authors.into_iter().collect();
    if wanted.is_empty() {
        return Ok(wanted);
    }
    let keys: Vec<Key> = wanted.iter().map(|id| Key::user(*id)).collect();
    let found = store.batch_get(&keys).await?;
    Ok(wanted
        .into_iter()
        .zip(found)
        .filter_map(|(id, item)| item.map(|_| id))
        .collect())
}

/// Whether `author`'s account still exists (one GetItem).
async fn author_exists(store: &Store, author: UserId) -> Result<bool, ApiError> {
    let user: Option<serde_json::Value> = store.get(&Key::user(author)).await?;
    Ok(user.is_some())
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

fn seal(store: &Store, feed: &str, position: &FeedPosition) -> String {
    let mut fields = vec![("m", position.month.as_str())];
    if let Some(inner) = &position.inner {
        fields.push(("c", inner.as_str()));
    }
    store.seal_cursor(&feed_scope(feed), &fields)
}

fn open(store: &Store, feed: &str, cursor: &str) -> Result<FeedPosition, ApiError> {
    let mut fields = store.open_cursor(&feed_scope(feed), cursor)?;
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
    let living = living_authors(&state.store, page.items.iter().map(|p| p.author_id)).await?;
    page.items.retain(|p| living.contains(&p.author_id));
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
        Some(cursor) => open(store, &feed, cursor)?,
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
                    next_cursor: Some(seal(store, &feed, &next)),
                });
            }
            Some(next) => position = next,
        }
    }
}

/// `GET /users/{id}/posts`: that author's published posts, newest first.
pub async fn by_author(
    state: &State,
    author: &str,
    page: &PageRequest,
) -> Result<Page<PostSummary>, ApiError> {
    let author = UserId::parse(author).map_err(|_| ApiError::no_such_user())?;
    // The author's existence (a deleted account's posts may still be being purged) and the
    // page, read at once.
    let query = KeyQuery::index(Index::Gsi2, format!("AUTHOR_PUBLISHED#{author}")).newest_first();
    let (exists, posts) = tokio::join!(
        author_exists(&state.store, author),
        state.store.query_page::<PostItem>(&query, page)
    );
    if !exists? {
        return Err(ApiError::no_such_user());
    }
    let posts = posts?;
    Ok(Page {
        items: posts.items.iter().map(PostSummary::from).collect(),
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
    let mut query = KeyQuery::index(Index::Gsi1, format!("AUTHOR#{}", me.id())).newest_first();
    if let Some(status) = status {
        query = query.contains("status", status.as_str());
    }
    let posts: Page<PostItem> = state.store.query_page(&query, page).await?;
    Ok(Page {
        items: posts.items.iter().map(PostSummary::from).collect(),
        next_cursor: posts.next_cursor,
    })
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
            normalise_tags(&["Rust".into(), "rust".into(), "aws".into()]),
            ["aws", "rust"]
        );
    }

    #[test]
    fn months_step_back_across_years() {
        assert_eq!(previous_month("2026-03").as_deref(), Some("2026-02"));
        assert_eq!(previous_month("2026-01").as_deref(), Some("2025-12"));
        assert!(valid_month("2026-11") && !valid_month("2026-13") && !valid_month("26-11"));
        assert_eq!(month_of(1_795_499_093_000), "2026-11");
    }
}
