//! `POST /v1/leases/{id}/payments` `{amountMinor, currency, effectiveDate, note?}` with an
//! `Idempotency-Key` header (required, 1–128 visible characters) → 201 with the entry: the
//! property's owner (or an admin) records a payment received; the balance falls by the amount in
//! the same transaction. A retry with the same key and request within 24 hours answers the
//! payment recorded the first time (200) and records nothing; the same key with another
//! request is a 422. The tenant: 403.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::ledger::{self, EntryNote, NewEntry};
use shared::properties::{Currency, Date, RentAmount};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewPayment {
    /// In the lease's currency's minor units: 1 to 10^12.
    pub amount_minor: RentAmount,
    /// The lease's currency (ISO 4217).
    pub currency: Currency,
    /// `YYYY-MM-DD`: the day it was received.
    pub effective_date: Date,
    pub note: Option<EntryNote>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let body: NewPayment = shared::http::json_body(&req)?;
    let key = shared::http::idempotency_key(&req)?.ok_or_else(|| {
        ApiError::invalid_parameter(
            "Idempotency-Key",
            "is required: a payment is recorded once per key",
        )
    })?;
    let recorded = ledger::record_payment(
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
        &key,
    )
    .await?;
    if recorded.replayed {
        return shared::http::json(StatusCode::OK, &recorded.entry);
    }
    shared::http::created(&format!("/v1/leases/{id}/ledger"), &recorded.entry)
}
