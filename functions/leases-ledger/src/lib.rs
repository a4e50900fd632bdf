//! `GET /v1/leases/{id}/ledger?limit=&cursor=` → the lease's ledger entries, newest first (its
//! tenant, the property's owner, admins; anyone else: 404). The balance is on the lease
//! (`balanceMinor`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let entries = shared::properties::ledger::ledger(state, &me, id, &page).await?;
    shared::http::json(StatusCode::OK, &entries)
}
