//! `DELETE /v1/posts/{id}` (author, moderator, admin) → 204; its feed and tag entries go too.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    shared::posts::delete(state, &me, id).await?;
    Ok(shared::http::no_content())
}
