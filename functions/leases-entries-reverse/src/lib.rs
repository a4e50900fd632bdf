//! `POST /v1/leases/{id}/entries/{entryId}/reverse` `{note?}` → 201 with the reversal: a charge
//! or a payment is undone by a new entry of the opposite effect (entries are never edited), the
//! balance moving back in the same transaction (the property's owner, admins; the tenant: 403).
//! 404 unknown entry; 409 `ENTRY_REVERSED` (once, however many ask at once), `NOT_REVERSIBLE`
//! for a reversal.

use lambda_http::{Body, Request, Response};
use shared::ids::EntryId;
use shared::properties::ledger::{self, EntryNote};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Reverse {
    /// Why: e.g. "charged twice", "the cheque bounced".
    pub note: Option<EntryNote>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let id = shared::http::path_id(&req, "id")?;
    let entry: EntryId = shared::http::path_id(&req, "entryId")?;
    let body: Reverse = shared::http::json_body(&req)?;
    let reversal = ledger::reverse(state, &me, id, entry, body.note).await?;
    shared::http::created(&format!("/v1/leases/{id}/ledger"), &reversal)
}
