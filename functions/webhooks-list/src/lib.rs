//! `GET /v1/webhooks?limit=&cursor=` (admin) → `{items, nextCursor}`: the webhook endpoints,
//! newest first (never their secrets).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::{ApiError, State, accounts, webhooks};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let page = shared::http::page_request(&req)?;
    let found = webhooks::list(state, &page).await?;
    shared::http::json(StatusCode::OK, &found)
}
