//! `DELETE /v1/users/{id}` (admin) → 204; 404 if there is none; the last admin stays (409).

use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id = UserId::parse(&shared::http::path_param(&req, "id")?)
        .map_err(|_| ApiError::no_such_user())?;
    accounts::admin_delete_user(state, &me, id).await?;
    Ok(shared::http::no_content())
}
