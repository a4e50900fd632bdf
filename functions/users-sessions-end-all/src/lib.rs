//! `DELETE /v1/users/{id}/sessions` (admin) → 200 `{ended}`: every session of the user ends
//! (the admin's own too, when it is their own account); 404 if there is no such user.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let ended =
        accounts::end_sessions(state, &me.actor(), id, None, accounts::EndedBy::Admin).await?;
    shared::http::json(StatusCode::OK, &ended)
}
