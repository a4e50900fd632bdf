//! `GET /v1/posts?tag=&limit=&cursor=` → published posts, newest first: the whole feed, or
//! one tag's. Public.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, State};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let page = shared::http::page_request(&req)?;
    let tag = shared::http::query_param(&req, "tag")?;
    let feed = shared::posts::feed(state, tag, &page).await?;
    // Public and the same for everyone: shared caches may keep it (FEED_CACHE), and a client
    // revalidates with If-None-Match (304).
    shared::http::cacheable_json(&req, &feed, shared::http::FEED_CACHE)
}
