//! `DELETE /v1/documents/{id}` → 204: the document goes (its share of the property's quota is
//! given back); the documents worker removes its file on the `document.deleted` event. Who may
//! add it may delete it — a lease's tenant only while the lease runs (after: 403); anyone else:
//! 404. Two deletions at once: one 204, the other 404.

use lambda_http::{Body, Request, Response};
use shared::properties::documents;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    documents::delete(state, &me, id).await?;
    Ok(shared::http::no_content())
}
