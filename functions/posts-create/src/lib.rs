//! `POST /v1/posts` `{title, body, tags?, status?}` → 201 with `Location` and `ETag`.
//! `Idempotency-Key` (optional, 1–128 visible characters): a repeat with the same key and body
//! within 24 h returns the original post and creates nothing; another body → 422. Past
//! `PostsPerUserPerHour` new posts an hour, 429; a new post's answer carries the quota in the
//! `RateLimit` fields.

use lambda_http::{Body, Request, Response};
use shared::posts::{self, Markdown, NewPost, PostStatus, Tags, Title};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    pub title: Title,
    pub body: Markdown,
    /// Up to 5 slugs: 1–32 lowercase letters, digits and inner dashes.
    #[serde(default)]
    pub tags: Tags,
    /// `draft` (the default) or `published`.
    #[serde(default)]
    pub status: Option<PostStatus>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: CreatePost = shared::http::json_body_with_limit(&req, 256 * 1024)?;
    let key = shared::http::idempotency_key(&req)?;
    let input = NewPost {
        title: body.title,
        body: body.body,
        tags: body.tags,
        status: body.status.unwrap_or(PostStatus::Draft),
    };
    let created = posts::create(state, &me, input, key.as_deref()).await?;
    let post = created.value;
    Ok(shared::limits::with_quotas(
        shared::http::with_etag(
            shared::http::created(&format!("/v1/posts/{}", post.id), &post)?,
            post.version,
        ),
        &created.quotas,
    ))
}
