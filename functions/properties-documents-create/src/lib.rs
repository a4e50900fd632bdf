//! `POST /v1/properties/{id}/documents` `{name, contentType, size}` → 201 with the document
//! (`pending`) and the form that uploads it straight to S3 (a presigned POST valid for ten
//! minutes, pinned to the document's key, type and size). The property's owner and admins; 409
//! `DOCUMENT_QUOTA` / 413 `DOCUMENT_BYTES_QUOTA` when the property's documents are full.

use lambda_http::{Body, Request, Response};
use shared::properties::documents::{self, NewDocument};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: NewDocument = shared::http::json_body(&req)?;
    let answer = documents::add_to_property(state, &me, id, body).await?;
    shared::http::created(&format!("/v1/documents/{}", answer.document.id), &answer)
}
