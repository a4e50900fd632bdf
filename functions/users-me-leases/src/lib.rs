//! `GET /v1/users/me/leases?limit=&cursor=` → my leases as a tenant, newest first.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let page = shared::http::page_request(&req)?;
    let leases = shared::properties::my_leases(state, &me, &page).await?;
    shared::http::json(StatusCode::OK, &leases)
}
