//! `DELETE /v1/users/{id}/sessions/{sessionId}` (admin) → 204: that session of the user ends;
//! 404 if there is no such user or live session.

use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::ids::{SessionId, UserId};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let session: SessionId = shared::http::path_id(&req, "sessionId")?;
    let user = accounts::find_user(&state.store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    accounts::end_session(state, &me.actor(), &user, session, accounts::EndedBy::Admin).await?;
    Ok(shared::http::no_content())
}
