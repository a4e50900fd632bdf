//! `GET /v1/documents/{id}` → the document and, once it is `ready`, a download link valid for
//! a minute (S3 answers it with `Content-Disposition: attachment` and the document's name).
//! A property's documents: its owner, admins; a lease's: also its tenant, even after the lease
//! ended. Anyone else: 404. Never cached (`no-store`, every answer's default): the link expires.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::documents;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let detail = documents::get(state, &me, id).await?;
    shared::http::json(StatusCode::OK, &detail)
}
