//! `GET /v1/users?limit=&cursor=&status=active|disabled&role=USER|MODERATOR|ADMIN` (admin) →
//! `{items, nextCursor}`, newest first.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::items::UserStatus;
use shared::auth::{self, Role};
use shared::{ApiError, State};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = auth::authenticate(state, &req).await?;
    auth::require_role(&me, Role::Admin)?;
    let page = shared::http::page_request(&req)?;
    let status: Option<UserStatus> = shared::http::enum_param(&req, "status", "active, disabled")?;
    let role: Option<Role> = shared::http::enum_param(&req, "role", "USER, MODERATOR, ADMIN")?;
    let users = shared::accounts::list_users(state, status, role, &page).await?;
    shared::http::json(StatusCode::OK, &users)
}
