//! `POST /v1/auth/password/reset` `{token, newPassword}` → 204: the link's token is spent and
//! every session of the user ends. 400 `INVALID_TOKEN` for an unknown, used or expired link.

use lambda_http::{Body, Request, Response};
use shared::validate::Password;
use shared::{ApiError, State};

#[derive(Debug, eserde::Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Reset {
    /// The token from the reset email's link.
    #[garde(length(min = 1, max = 256))]
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
    #[garde(custom(shared::validate::password))]
    #[schema(min_length = 8, max_length = 128, format = Password)]
    pub new_password: String,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let body: Reset = shared::http::json_body(&req)?;
    let password = Password::parse(&body.new_password).map_err(|e| e.at("newPassword"))?;
    shared::accounts::reset_password(state, &body.token, &password).await?;
    Ok(shared::http::no_content())
}
