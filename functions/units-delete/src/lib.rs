//! `DELETE /v1/properties/{id}/units/{unitId}` → 204 (the owner or an admin); a leased unit
//! cannot go (409 `UNIT_LEASED`).

use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let unit = shared::http::path_id(&req, "unitId")?;
    shared::properties::remove_unit(state, &me, id, unit).await?;
    Ok(shared::http::no_content())
}
