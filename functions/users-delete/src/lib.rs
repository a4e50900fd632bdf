//! `DELETE /v1/users/{id}` (admin) → 204; 404 if there is none; the last admin stays (409).

use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    accounts::admin_delete_user(state, &me, id).await?;
    Ok(shared::http::no_content())
}
