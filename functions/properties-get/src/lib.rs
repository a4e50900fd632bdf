//! `GET /v1/properties/{id}` → the property with its owner `{id, name}`, with `ETag`; to any
//! signed-in user (the registry is open to its members).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let property = shared::properties::get(state, id).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &property)?,
        property.version,
    ))
}
