//! `POST /v1/leases/{id}/documents` `{name, contentType, size}` → 201 with the document
//! (`pending`) and the form that uploads it straight to S3 (see properties-documents-create).
//! The property's owner, admins, and the tenant while the lease runs (a signed contract); after
//! it ended, the tenant may read its documents but not add one (403).

use lambda_http::{Body, Request, Response};
use shared::properties::documents::{self, NewDocument};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: NewDocument = shared::http::json_body(&req)?;
    let answer = documents::add_to_lease(state, &me, id, body).await?;
    shared::http::created(&format!("/v1/documents/{}", answer.document.id), &answer)
}
