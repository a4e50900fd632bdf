//! `GET /v1/leases/{id}/documents?limit=&cursor=` → the lease's documents, newest first, each with
//! its status (`pending`, `ready`, `rejected`); the property's owner, admins, the tenant (after the lease ended too; anyone else: 404). A download link comes with
//! `GET /v1/documents/{id}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::documents;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let page = shared::http::page_request(&req)?;
    let found = documents::of_lease(state, &me, id, &page).await?;
    shared::http::json(StatusCode::OK, &found)
}
