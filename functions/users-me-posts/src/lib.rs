//! `GET /v1/users/me/posts?status=draft|published|hidden&limit=&cursor=` → all of mine.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::posts::PostStatus;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let page = shared::http::page_request(&req)?;
    let status: Option<PostStatus> = shared::http::enum_param(&req, "status")?;
    let posts = shared::posts::mine(state, &me, status, &page).await?;
    shared::http::json(StatusCode::OK, &posts)
}
