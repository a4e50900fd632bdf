//! `POST /v1/auth/password/forgot` `{email}` → 202, whether or not the account exists; 429
//! past the requests one source address may make (`RateLimit` fields on both).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::Email;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Forgot {
    pub email: Email,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Forgot = shared::http::json_body(&req)?;
    let email = body.email;
    let quotas =
        shared::accounts::forgot_password(state, &email, &shared::http::source_ip(&req)).await?;
    let response = shared::http::json(
        StatusCode::ACCEPTED,
        &std::collections::BTreeMap::from([(
            "message",
            "If an account exists for this address, a reset link is on its way.",
        )]),
    )?;
    Ok(shared::limits::with_quotas(response, &quotas))
}
