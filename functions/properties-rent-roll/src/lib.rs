//! `GET /v1/properties/{id}/rent-roll?month=YYYY-MM` → each unit of the property with the lease
//! that ran in the month and what its ledger says of that month: expected, paid, credited,
//! outstanding, and the lease's balance now (the owner or an admin; others: 403). `month`
//! defaults to the current month (UTC).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::rent_roll::{self, Month};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let month = match shared::http::query_param(&req, "month")? {
        Some(raw) => Month::parse(raw),
        None => Month::of(&state.clock.timestamp()),
    }
    .map_err(|invalid| ApiError::invalid_parameter("month", invalid.0))?;
    let roll = rent_roll::rent_roll(state, &me, id, &month).await?;
    shared::http::json(StatusCode::OK, &roll)
}
