//! `GET /v1/users/{id}` (admin) → the user, with `ETag`; 404 if there is none.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::items::UserView;
use shared::auth::Role;
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let user = accounts::find_user(&state.store, id)
        .await?
        .ok_or_else(ApiError::no_such_user)?;
    let view = UserView::from(&user);
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &view)?,
        view.version,
    ))
}
