//! `GET /v1/leases/{id}` → the lease, to its tenant, the property's owner and admins (404 for
//! anyone else).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let lease = shared::properties::get_lease(state, &me, id).await?;
    shared::http::json(StatusCode::OK, &lease)
}
