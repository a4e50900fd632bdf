//! Post writes: idempotent creation, reads with visibility, edits under optimistic locking,
//! deletion — each one transaction with its feed entries and its outbox event.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use crate::accounts::{self, Principal};
use crate::auth::Role;
use crate::error::{ApiError, FieldError};
use crate::events::outbox_put;
use crate::limits::{self, Limited, Policy};
use crate::notices::{Notice, PostNotice};
use crate::state::State;
use crate::store::{Key, OnCondition, Store, StoreError, Update, expect_version, keys};

use super::{
    Author, IDEMPOTENCY_TTL_SECS, Markdown, PostId, PostItem, PostStatus, PostView, Tags, Title,
    feed::feed_writes, feed::month_markers, feed::set_index_keys, find_author, not_found,
    post_event, post_key,
};

/// What `POST /posts` carries, validated.
#[derive(Debug, Clone, Serialize)]
pub struct NewPost {
    pub title: Title,
    pub body: Markdown,
    pub tags: Tags,
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

/// `POST /posts`: creates a post (a draft unless `status` is `published`). With an
/// `Idempotency-Key`, a repeat of the same request within 24 hours returns the post created the
/// first time and creates nothing; the same key with another body is a 422.
/// Posts one account may create per hour (`POSTS_PER_USER_PER_HOUR`) are counted once the
/// request is known not to be a replay: past the quota, 429. Returns the post, with the quota
/// when it was created now (a replay counts nothing and carries none).
pub async fn create(
    state: &State,
    me: &Principal,
    input: NewPost,
    idempotency_key: Option<&str>,
) -> Result<Limited<PostView>, ApiError> {
    if input.status == PostStatus::Hidden {
        return Err(ApiError::Validation {
            errors: vec![FieldError::new("status", "must be draft or published")],
        });
    }
    let store = &state.store;
    let idempotency = idempotency_key
        .map(|key| Key::new(format!("IDEMPOTENCY#{}#{key}", me.id()), "IDEMPOTENCY"));
    let hash = crate::http::request_fingerprint(&input);
    if let Some(key) = &idempotency
        && let Some(replayed) = replay(store, key, &hash, me).await?
    {
        return Ok(Limited {
            value: replayed,
            quotas: Vec::new(),
        });
    }
    let quota = limits::consume(
        store,
        state.clock.unix_seconds(),
        post_policy(state),
        &me.id().to_string(),
    )
    .await?;

    let post = new_item(state, me, &input);
    let (id, now) = (post.id, post.created_at.clone());
    let published = post.status == PostStatus::Published;
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
    let count_index = writes.len();
    writes.extend(published_count(store, None, Some(&post))?);
    let kind = if published {
        "post.published"
    } else {
        "post.created"
    };
    let event = post_event(kind, me, id, now)
        .change("title", (), &post.title)
        .change("tags", (), &post.tags)
        .change("status", (), post.status);
    writes.push(outbox_put(store, event)?);
    store.put_batch(&month_markers(None, &post)).await?;
    match store.transact(writes).await {
        Ok(()) => Ok(Limited {
            value: PostView::of(&post, Author::me(me)),
            quotas: vec![quota],
        }),
        Err(StoreError::ConditionFailed { index: Some(index) }) if index == count_index => {
            Err(author_gone())
        }
        // The same key raced us: answer what the winner stored.
        Err(StoreError::ConditionFailed { index })
            if index.is_some() && index == idempotency_index =>
        {
            let key = idempotency
                .as_ref()
                .ok_or_else(|| ApiError::internal("idempotency key vanished"))?;
            let value = replay(store, key, &hash, me)
                .await?
                .ok_or_else(|| ApiError::internal("idempotency record missing after a conflict"))?;
            Ok(Limited {
                value,
                quotas: vec![quota],
            })
        }
        Err(other) => Err(other.into()),
    }
}

/// The item of a new post of `me`'s, with its index keys.
fn new_item(state: &State, me: &Principal, input: &NewPost) -> PostItem {
    let now = state.clock.timestamp();
    let now_ms = state.clock.unix_millis();
    let id = PostId::generate();
    let published = input.status == PostStatus::Published;
    let key = post_key(id);
    let mut post = PostItem {
        pk: key.pk,
        sk: key.sk,
        gsi1pk: keys::author_posts(me.id()),
        gsi1sk: id.to_string(),
        gsi2pk: None,
        gsi2sk: None,
        id,
        author_id: me.id(),
        title: input.title.as_str().to_owned(),
        body: input.body.as_str().to_owned(),
        tags: input.tags.clone().into_vec(),
        status: input.status,
        created_at: now.clone(),
        updated_at: now.clone(),
        published_at: published.then(|| now.clone()),
        published_ms: published.then_some(now_ms),
        version: 1,
    };
    set_index_keys(&mut post);
    post
}

/// Posts one account may create per hour (`POSTS_PER_USER_PER_HOUR`).
fn post_policy(state: &State) -> Policy {
    Policy::new(
        "post-create",
        state.config.limits.posts_per_user_per_hour,
        3600,
    )
}

/// The post an earlier request with this key created (`me` wrote it: keys are per author).
async fn replay(
    store: &Store,
    key: &Key,
    hash: &str,
    me: &Principal,
) -> Result<Option<PostView>, ApiError> {
    let Some(record) = store.get::<IdempotencyRecord>(key).await? else {
        return Ok(None);
    };
    crate::http::same_request(&record.request_hash, hash)?;
    let post: PostItem =
        store
            .get(&post_key(record.post_id))
            .await?
            .ok_or_else(|| ApiError::Conflict {
                code: "POST_GONE",
                detail: "The post created with this key was deleted.".into(),
            })?;
    Ok(Some(PostView::of(&post, Author::me(me))))
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
    id: PostId,
) -> Result<PostView, ApiError> {
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
    let author = match viewer.filter(|v| v.id() == post.author_id) {
        Some(me) => Author::me(me),
        None => find_author(&state.store, post.author_id)
            .await?
            .ok_or_else(not_found)?,
    };
    Ok(PostView::of(&post, author))
}

/// What `PATCH /posts/{id}` may change.
#[derive(Debug, Default, Clone)]
pub struct PostChange {
    pub title: Option<Title>,
    pub body: Option<Markdown>,
    pub tags: Option<Tags>,
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
    expect_version(change.expected_version, before.version)?;
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
    id: PostId,
    change: PostChange,
) -> Result<PostView, ApiError> {
    let store = &state.store;
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
        title.as_str().clone_into(&mut after.title);
    }
    if let Some(body) = &change.body {
        body.as_str().clone_into(&mut after.body);
    }
    if let Some(tags) = &change.tags {
        after.tags = tags.clone().into_vec();
    }
    after.status = next_status;
    if transition == (PostStatus::Draft, PostStatus::Published) {
        after.published_at = Some(now.clone());
        after.published_ms = Some(now_ms);
    }
    if after == before {
        return Ok(PostView::of(&before, author_for(state, me, &before).await?));
    }
    after.updated_at = now.clone();
    after.version = before.version + 1;
    set_index_keys(&mut after);

    let mut writes = vec![
        Update::new(post_key(id))
            .set(PostItem::TITLE, &after.title)
            .set(PostItem::BODY, &after.body)
            .set(PostItem::TAGS, &after.tags)
            .set(PostItem::STATUS, &after.status)
            .set(PostItem::UPDATED_AT, &after.updated_at)
            .set_or_remove(PostItem::PUBLISHED_AT, after.published_at.as_ref())
            .set_or_remove(PostItem::PUBLISHED_MS, after.published_ms.as_ref())
            .set_or_remove(PostItem::GSI2PK, after.gsi2pk.as_ref())
            .set_or_remove(PostItem::GSI2SK, after.gsi2sk.as_ref())
            .bump_version(before.version)
            .into_transact(store)?,
    ];
    writes.extend(feed_writes(store, Some(&before), Some(&after))?);
    let count_index = writes.len();
    writes.extend(published_count(store, Some(&before), Some(&after))?);
    let kind = match transition {
        (PostStatus::Draft, PostStatus::Published) => "post.published",
        (PostStatus::Published, PostStatus::Draft) => "post.unpublished",
        (_, PostStatus::Hidden) => "post.hidden",
        (PostStatus::Hidden, PostStatus::Published) => "post.unhidden",
        _ => "post.updated",
    };
    let event = post_event(kind, me, id, now)
        .change("title", &before.title, &after.title)
        .change(
            "bodyLength",
            before.body.chars().count(),
            after.body.chars().count(),
        )
        .change("tags", &before.tags, &after.tags)
        .change("status", before.status, after.status);
    let notice = PostNotice {
        post_id: id,
        title: after.title.clone(),
    };
    // Its author is told when a moderator hides or restores a post (not when they do it).
    let event = match kind {
        "post.hidden" => event.notify(after.author_id, Notice::PostHidden(notice)),
        "post.unhidden" => event.notify(after.author_id, Notice::PostUnhidden(notice)),
        _ => event,
    };
    writes.push(outbox_put(store, event)?);
    store
        .put_batch(&month_markers(Some(&before), &after))
        .await?;
    store
        .transact(writes)
        .await
        .on_condition(|index| changed_or_gone(index, count_index))?;
    Ok(PostView::of(&after, author_for(state, me, &after).await?))
}

/// The author of `post` as `me` sees it: me (no call), or the account read (one GetItem: a
/// moderator's or an admin's change); a deleted author's post is not found.
async fn author_for(state: &State, me: &Principal, post: &PostItem) -> Result<Author, ApiError> {
    if me.id() == post.author_id {
        return Ok(Author::me(me));
    }
    find_author(&state.store, post.author_id)
        .await?
        .ok_or_else(not_found)
}

/// `DELETE /posts/{id}`: the author, a moderator or an admin; feed and tag entries go with it.
pub async fn delete(state: &State, me: &Principal, id: PostId) -> Result<(), ApiError> {
    let store = &state.store;
    let post: PostItem = store.get(&post_key(id)).await?.ok_or_else(not_found)?;
    if !can_see(&post, Some(me)) {
        return Err(not_found());
    }
    accounts::require_owner_or(me, post.author_id, Role::Moderator)?;
    // Conditional on the version read: a concurrent edit (say, a retag) cannot leave entries behind.
    let mut writes = vec![store.delete_versioned_op(&post_key(id), post.version)?];
    writes.extend(feed_writes(store, Some(&post), None)?);
    let count_index = writes.len();
    writes.extend(published_count(store, Some(&post), None)?);
    let event = post_event("post.deleted", me, id, state.clock.timestamp())
        .change("title", &post.title, ())
        .change("status", post.status, ());
    writes.push(outbox_put(store, event)?);
    store
        .transact(writes)
        .await
        .on_condition(|index| changed_or_gone(index, count_index))
}

/// The author's published-post count moved by a change from `before` to `after` (none when
/// the post neither starts nor stops being published), under the condition that the account
/// exists: a post never counts for an account deleted meanwhile (its purge is on its way).
fn published_count(
    store: &Store,
    before: Option<&PostItem>,
    after: Option<&PostItem>,
) -> Result<Option<TransactWriteItem>, StoreError> {
    let published =
        |p: Option<&PostItem>| i64::from(p.is_some_and(|p| p.status == PostStatus::Published));
    let delta = published(after) - published(before);
    let Some(author) = after.or(before).map(|p| p.author_id) else {
        return Ok(None);
    };
    if delta == 0 {
        return Ok(None);
    }
    accounts::counts::change(
        author,
        accounts::counts::AccountCount::PublishedPosts,
        delta,
    )
    .into_transact(store)
    .map(Some)
}

/// A post change's failed condition: the author's account, when it is the count's (`count_index`)
/// that failed; otherwise the post changed meanwhile (412).
fn changed_or_gone(index: Option<usize>, count_index: usize) -> ApiError {
    if index == Some(count_index) {
        author_gone()
    } else {
        ApiError::changed_meanwhile()
    }
}

/// The post's author's account was deleted meanwhile: its posts are being purged.
fn author_gone() -> ApiError {
    ApiError::Conflict {
        code: "AUTHOR_GONE",
        detail: "The author's account was deleted; its posts are being removed.".into(),
    }
}
