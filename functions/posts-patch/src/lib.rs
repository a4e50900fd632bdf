//! `PATCH /v1/posts/{id}` `{title?, body?, tags?, status?, version?}` → 200 with the post.
//! `If-Match` or `version` → 412 when stale; unknown fields → 400.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::posts::{Markdown, PostChange, PostStatus, Tags, Title};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPost {
    pub title: Option<Title>,
    pub body: Option<Markdown>,
    pub tags: Option<Tags>,
    pub status: Option<PostStatus>,
    /// The version read; or send it as `If-Match`. Stale → 412.
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: PatchPost = shared::http::json_body_with_limit(&req, 256 * 1024)?;
    let change = PostChange {
        title: body.title,
        body: body.body,
        tags: body.tags,
        status: body.status,
        expected_version: shared::http::if_match_version(&req)?.or(body.version),
    };
    // After the body, as before: a bad body is answered before an unknown post.
    let id = shared::http::path_id(&req, "id")?;
    let post = shared::posts::update(state, &me, id, change).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &post)?,
        post.version,
    ))
}
