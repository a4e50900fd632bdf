//! `PUT /v1/users/me/password` `{currentPassword, newPassword}` → 204; every other session ends.

use lambda_http::{Body, Request, Response};
use shared::validate::Password;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePassword {
    #[garde(length(chars, min = 1, max = 128))]
    #[schema(min_length = 1, max_length = 128, format = Password)]
    pub current_password: String,
    #[garde(custom(shared::validate::password))]
    #[schema(min_length = 8, max_length = 128, format = Password)]
    pub new_password: String,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ChangePassword = shared::http::json_body(&req)?;
    let new_password = Password::parse(&body.new_password).map_err(|e| e.at("newPassword"))?;
    accounts::change_password(state, &me, &body.current_password, &new_password).await?;
    Ok(shared::http::no_content())
}
