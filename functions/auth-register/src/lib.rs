//! `POST /v1/auth/register` `{email, name, password}`. In `conflict` mode (the default): 201
//! `{user, accessToken, refreshToken, tokenType, expiresIn}`, 409 `EMAIL_TAKEN`. In `silent`
//! mode: 202 `{status: "pending", detail}` whether or not the address had an account. Every
//! mode: 422 for invalid or weak input, 429 past the per-IP registration limit.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::{self, Registered, Registration};
use shared::limits;
use shared::validate::{DisplayName, Email, Password};
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    pub email: Email,
    pub name: DisplayName,
    pub password: Password,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Register = shared::http::json_body(&req)?;
    let input = Registration {
        email: body.email,
        name: body.name,
        password: body.password,
    };
    let registered = accounts::register(state, input, &accounts::Client::of(&req)).await?;
    let response = match registered.value {
        Registered::SignedIn(session) => {
            shared::http::created(&format!("/v1/users/{}", session.user.id), &session)?
        }
        Registered::Accepted => shared::http::json(StatusCode::ACCEPTED, &Pending::default())?,
    };
    Ok(limits::with_quotas(response, &registered.quotas))
}

/// The answer of a registration in `silent` mode: the same for a new and a taken address.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Pending {
    #[schema(example = "pending")]
    pub status: &'static str,
    pub detail: &'static str,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            status: "pending",
            detail: "Check your email: the link in it confirms your address, then you can sign in.",
        }
    }
}
