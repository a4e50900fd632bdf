//! `PUT /v1/users/me/password` `{currentPassword, newPassword}` → 204; every other session ends.

use lambda_http::{Body, Request, Response};
use shared::validate::{GivenPassword, Password};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePassword {
    pub current_password: GivenPassword,
    pub new_password: Password,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ChangePassword = shared::http::json_body(&req)?;
    accounts::change_password(
        state,
        &me,
        body.current_password.expose(),
        &body.new_password,
    )
    .await?;
    Ok(shared::http::no_content())
}
