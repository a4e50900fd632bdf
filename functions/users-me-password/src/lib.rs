//! `PUT /v1/users/me/password` `{currentPassword, newPassword}` → 204; every other session ends.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::validate::Password;
use shared::{ApiError, State, auth};

#[derive(Debug, Deserialize, garde::Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePassword {
    #[garde(length(chars, min = 1, max = 128))]
    pub current_password: String,
    #[garde(custom(shared::validate::password))]
    pub new_password: String,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = auth::authenticate(state, &req).await?;
    let body: ChangePassword = shared::http::json_body(&req)?;
    let new_password = Password::parse(&body.new_password).map_err(|e| e.at("newPassword"))?;
    shared::accounts::change_password(state, &me, &body.current_password, &new_password).await?;
    Ok(shared::http::no_content())
}
