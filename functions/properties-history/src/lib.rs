//! `GET /v1/properties/{id}/ownership-history?limit=&cursor=` → the property's transfers,
//! newest first (the owner or an admin).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let history = shared::properties::history(state, &me, id, &page).await?;
    shared::http::json(StatusCode::OK, &history)
}
