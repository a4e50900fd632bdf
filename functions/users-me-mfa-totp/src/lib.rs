//! `POST /v1/users/me/mfa/totp` `{password?}` → 201 `{secret, otpauthUri}`: a new authenticator
//! secret, in force once confirmed with a code. Needs a recent sign-in or the password (401
//! `REAUTHENTICATION_REQUIRED`); 409 `MFA_ALREADY_ENABLED` when one is in force.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::mfa;
use shared::validate::GivenPassword;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeginTotp {
    /// The current password: needed unless this session signed in within the last 10 minutes.
    pub password: Option<GivenPassword>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: BeginTotp = shared::http::json_body(&req)?;
    let password = body.password.as_ref().map(GivenPassword::expose);
    let enrolment = mfa::begin_totp(state, &me, password).await?;
    shared::http::json(StatusCode::CREATED, &enrolment)
}
