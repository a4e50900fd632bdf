//! `POST /v1/auth/email/verify/resend` (authenticated) → 202: a new verification link;
//! 429 past one a minute / `LinkEmailsPerAccountPerHour` an hour (`RateLimit` fields on both);
//! 409 if already verified.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let quotas = accounts::resend_verification(state, &me).await?;
    let response = shared::http::json(
        StatusCode::ACCEPTED,
        &std::collections::BTreeMap::from([("message", "A new verification link is on its way.")]),
    )?;
    Ok(shared::limits::with_quotas(response, &quotas))
}
