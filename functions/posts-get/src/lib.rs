//! `GET /v1/posts/{id}` → the post with `ETag`; `If-None-Match` with the current ETag → 304.
//! Published and anonymous: cacheable (`ITEM_CACHE`, `Vary: Authorization`); otherwise
//! `private, no-store`.
//! Drafts and hidden posts exist only for their author, moderators and admins (404 otherwise).

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = accounts::authenticate_optional(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let post = shared::posts::get(state, viewer.as_ref(), id).await?;
    let etag = shared::http::version_etag(post.version);
    let mut response = if shared::http::if_none_match(&req, &etag) {
        shared::http::not_modified(&etag)
    } else {
        shared::http::with_etag(shared::http::json(StatusCode::OK, &post)?, post.version)
    };
    // A published post read anonymously may sit in shared caches; what a signed-in caller
    // reads (drafts, hidden posts, their own) must not. The answer depends on the header.
    let policy = if post.status == shared::posts::PostStatus::Published && viewer.is_none() {
        shared::http::ITEM_CACHE
    } else {
        "private, no-store"
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(policy),
    );
    headers.insert(
        header::VARY,
        header::HeaderValue::from_static("authorization"),
    );
    Ok(response)
}
