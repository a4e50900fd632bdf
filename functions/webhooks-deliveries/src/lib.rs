//! `GET /v1/webhooks/{id}/deliveries?limit=&cursor=` (admin) → `{items, nextCursor}`: each
//! event's delivery to the endpoint as of its last attempt (status, attempts, the endpoint's
//! HTTP status or why there was none), newest first; 404 if there is no such endpoint.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::{ApiError, State, accounts, webhooks};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let found = webhooks::deliveries(state, id, &page).await?;
    shared::http::json(StatusCode::OK, &found)
}
