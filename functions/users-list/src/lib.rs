//! `GET /v1/users?limit=&cursor=&status=active|disabled&role=USER|MODERATOR|ADMIN` (admin) →
//! `{items, nextCursor}`, newest first.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::items::UserStatus;
use shared::auth::Role;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let page = shared::http::page_request(&req)?;
    let status: Option<UserStatus> = shared::http::enum_param(&req, "status")?;
    let role: Option<Role> = shared::http::enum_param(&req, "role")?;
    let users = accounts::list_users(state, status, role, &page).await?;
    shared::http::json(StatusCode::OK, &users)
}
