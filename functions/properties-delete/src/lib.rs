//! `DELETE /v1/properties/{id}` → 204 (the owner or an admin): the property and its file
//! number's claim go; its ownership history stays.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    shared::properties::delete(state, &me, id).await?;
    Ok(shared::http::no_content())
}
