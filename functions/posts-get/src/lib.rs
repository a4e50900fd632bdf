//! `GET /v1/posts/{id}` → the post with `ETag`; `If-None-Match` with the current ETag → 304.
//! Drafts and hidden posts exist only for their author, moderators and admins (404 otherwise).

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = accounts::authenticate_optional(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let post = shared::posts::get(state, viewer.as_ref(), id).await?;
    let etag = format!("\"{}\"", post.version);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        });
    let mut response = if fresh {
        let mut response = shared::http::no_content();
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        shared::http::json(StatusCode::OK, &post)?
    };
    response = shared::http::with_etag(response, post.version);
    // Drafts and hidden posts must not sit in shared caches.
    let policy = if post.status == shared::posts::PostStatus::Published {
        "no-cache"
    } else {
        "private, no-store"
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(policy),
    );
    Ok(response)
}
