//! `POST /v1/leases/{id}/credits` `{amountMinor, currency, effectiveDate, note?}` → 201 with the
//! entry: a credit (a concession, a discount) lowers the lease's balance like a payment without
//! being one, in the same transaction as its month's totals (the property's owner, admins; the
//! tenant: 403). 422 for another currency than the lease's.

use lambda_http::{Body, Request, Response};
use shared::properties::ledger::{self, EntryNote, NewEntry};
use shared::properties::{Currency, Date, RentAmount};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewCredit {
    /// In the lease's currency's minor units: 1 to 10^12.
    pub amount_minor: RentAmount,
    /// The lease's currency (ISO 4217).
    pub currency: Currency,
    /// `YYYY-MM-DD`: the day it counts for (its month is the rent roll's).
    pub effective_date: Date,
    /// Why the tenant owes less.
    pub note: Option<EntryNote>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: NewCredit = shared::http::json_body(&req)?;
    let entry = ledger::credit(
        state,
        &me,
        id,
        NewEntry {
            category: None,
            amount_minor: body.amount_minor,
            currency: body.currency,
            effective_date: body.effective_date,
            note: body.note,
        },
    )
    .await?;
    shared::http::created(&format!("/v1/leases/{id}/ledger"), &entry)
}
