//! `POST /v1/leases` `{unitId, tenantId, startDate, endDate?, rent}` → 201 with the lease (the
//! property's owner or an admin). 409 `UNIT_NOT_VACANT` when the unit is leased or unavailable
//! — of concurrent leases of one unit, exactly one succeeds.

use lambda_http::{Body, Request, Response};
use shared::ids::{UnitId, UserId};
use shared::properties::{self, Date, NewLease, NewRent};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateLease {
    pub unit_id: UnitId,
    /// An active account.
    pub tenant_id: UserId,
    pub start_date: Date,
    /// After `startDate`.
    #[serde(default)]
    pub end_date: Option<Date>,
    pub rent: NewRent,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: CreateLease = shared::http::json_body(&req)?;
    let input = NewLease {
        unit_id: body.unit_id,
        tenant_id: body.tenant_id,
        start_date: body.start_date,
        end_date: body.end_date,
        rent: body.rent,
    };
    let lease = properties::create_lease(state, &me, &input).await?;
    shared::http::created(&format!("/v1/leases/{}", lease.id), &lease)
}
