//! `PATCH /v1/leases/{id}` `{endDate?, rentChange?: {amountMinor, currency, from}}` → the lease:
//! a renewal — its end date moved (not into the past), a rent agreed from a future date, which
//! the rent schedule charges from then (the property's owner, admins; the tenant: 403). History
//! as a `lease.renewed` event and its audit entry.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::{self, Currency, Date, NewRentChange, RentAmount};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchLease {
    /// The new end date (`YYYY-MM-DD`): later or earlier, not before today or the start.
    #[serde(default)]
    pub end_date: Option<Date>,
    /// A rent from a future date on (a change of the same date replaces it).
    #[serde(default)]
    pub rent_change: Option<RentChangeBody>,
}

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RentChangeBody {
    /// In the lease's currency's minor units: 1 to 10^12.
    pub amount_minor: RentAmount,
    /// The lease's currency (ISO 4217).
    pub currency: Currency,
    /// `YYYY-MM-DD`, after today: the first day of the new rent.
    pub from: Date,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: PatchLease = shared::http::json_body(&req)?;
    let change = body.rent_change.map(|c| NewRentChange {
        amount_minor: c.amount_minor,
        currency: c.currency,
        from: c.from,
    });
    let lease = properties::renew(state, &me, id, body.end_date, change).await?;
    shared::http::json(StatusCode::OK, &lease)
}
