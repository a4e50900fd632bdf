//! `POST /v1/auth/email/verify/resend` (authenticated) → 202: a new verification link;
//! 429 past one a minute / five an hour; 409 if already verified.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::resend_verification(state, &me).await?;
    shared::http::json(
        StatusCode::ACCEPTED,
        &std::collections::BTreeMap::from([("message", "A new verification link is on its way.")]),
    )
}
