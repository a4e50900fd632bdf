//! `GET /v1/users/{id}/sessions?limit=&cursor=` (admin) → that user's live sessions, newest
//! first; 404 if there is no such user.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let user = accounts::find_user(&state.store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    let current = (user.id == me.id()).then_some(me.session_id.as_str());
    let sessions = accounts::list_sessions(state, &user, current, &page).await?;
    shared::http::json(StatusCode::OK, &sessions)
}
