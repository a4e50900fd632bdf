//! `DELETE /v1/users/{id}` (admin) → 204; 404 if there is none; the last admin stays (409).

use lambda_http::{Body, Request, Response};
use shared::auth::{self, Role};
use shared::ids::UserId;
use shared::{ApiError, State};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = auth::authenticate(state, &req).await?;
    auth::require_role(&me, Role::Admin)?;
    let id = UserId::parse(&shared::http::path_param(&req, "id")?)
        .map_err(|_| ApiError::no_such_user())?;
    shared::accounts::admin_delete_user(state, &me, id).await?;
    Ok(shared::http::no_content())
}
