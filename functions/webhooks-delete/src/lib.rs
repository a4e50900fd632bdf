//! `DELETE /v1/webhooks/{id}` (admin; `If-Match` optional) → 204: nothing more is delivered to
//! the endpoint; its delivery records expire (30 days). 404 if there is none; 412 when stale.

use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::{ApiError, State, accounts, webhooks};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id = shared::http::path_id(&req, "id")?;
    let expected = shared::http::if_match_version(&req)?;
    webhooks::delete(state, &me, id, expected).await?;
    Ok(shared::http::no_content())
}
