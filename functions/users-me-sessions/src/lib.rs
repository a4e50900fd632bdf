//! `GET /v1/users/me/sessions?limit=&cursor=` → my live sessions, newest first: when each began
//! and was last used, its device and network, and which one is this request's.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let page = shared::http::page_request(&req)?;
    let sessions = accounts::list_sessions(state, &me.user, Some(&me.session_id), &page).await?;
    shared::http::json(StatusCode::OK, &sessions)
}
