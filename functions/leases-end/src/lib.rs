//! `POST /v1/leases/{id}/end` `{endDate}` → the ended lease (the property's owner or an admin);
//! its unit is vacant again. 409 `LEASE_ENDED` when it has ended already.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::Date;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndLease {
    /// Not before the lease's start.
    pub end_date: Date,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: EndLease = shared::http::json_body(&req)?;
    let lease = shared::properties::end_lease(state, &me, id, &body.end_date).await?;
    shared::http::json(StatusCode::OK, &lease)
}
