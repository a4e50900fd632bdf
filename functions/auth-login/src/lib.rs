//! `POST /v1/auth/login` `{email, password}` → 200 with a token pair and the user.
//! 401 `INVALID_CREDENTIALS` for an unknown email or a wrong password alike; 429 past the
//! failure limit; 403 for a disabled account (only after the right password).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::validate::{SignInEmail, SignInPassword};
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    // Only bounded here: an unknown or malformed address must answer like a wrong password.
    pub email: SignInEmail,
    pub password: SignInPassword,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Login = shared::http::json_body(&req)?;
    let client = shared::accounts::Client::of(&req);
    let session =
        shared::accounts::login(state, body.email.as_str(), body.password.expose(), &client)
            .await?;
    shared::http::json(StatusCode::OK, &session)
}
