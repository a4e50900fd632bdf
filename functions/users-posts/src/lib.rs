//! `GET /v1/users/{id}/posts?limit=&cursor=` → that author's published posts, newest first.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, State};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let author = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let posts = shared::posts::by_author(state, author, &page).await?;
    // Public and the same for everyone: shared caches may keep it (FEED_CACHE), and a client
    // revalidates with If-None-Match (304).
    shared::http::cacheable_json(&req, &posts, shared::http::FEED_CACHE)
}
