//! `GET /v1/users/me/notifications?limit=&cursor=&unread=` → the caller's notifications (with
//! `unread=true`, only the unread ones), newest first (`{items, nextCursor, unreadCount}`): each
//! its `id`, `type`, `data`, `occurredAt` and `read`. `unreadCount` counts every unread
//! notification, not the page's.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts, notifications};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let page = shared::http::page_request(&req)?;
    let unread_only = shared::http::flag_param(&req, "unread")?;
    let inbox = notifications::inbox(state, &me, &page, unread_only).await?;
    shared::http::json(StatusCode::OK, &inbox)
}
