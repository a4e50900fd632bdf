//! `GET /v1/properties/{id}/leases?limit=&cursor=` → the property's leases, newest first (the
//! owner or an admin).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let leases = shared::properties::property_leases(state, &me, id, &page).await?;
    shared::http::json(StatusCode::OK, &leases)
}
