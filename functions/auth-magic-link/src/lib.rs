//! `POST /v1/auth/magic-link` `{email}` → 202, whether or not the account exists: an email with
//! a single-use sign-in link (15 minutes) goes to an account's address. 429 past the requests
//! one source address may make (`RateLimit` fields on both).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::Email;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInLink {
    /// The account's address: the link is mailed there.
    pub email: Email,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: SignInLink = shared::http::json_body(&req)?;
    let quotas = shared::accounts::mailed_sign_in::request_sign_in_link(
        state,
        &body.email,
        &shared::http::source_ip(&req),
    )
    .await?;
    let response = shared::http::json(
        StatusCode::ACCEPTED,
        &std::collections::BTreeMap::from([(
            "message",
            "If an account exists for this address, a sign-in link is on its way.",
        )]),
    )?;
    Ok(shared::limits::with_quotas(response, &quotas))
}
