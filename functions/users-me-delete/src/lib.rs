//! `DELETE /v1/users/me` `{password}` → 204: the account, its email claim and its sessions are
//! removed (the user's content: see docs/api.md).

use lambda_http::{Body, Request, Response};
use shared::validate::GivenPassword;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    /// The current password, to confirm.
    pub password: GivenPassword,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: DeleteMe = shared::http::json_body(&req)?;
    accounts::delete_own_account(state, &me, body.password.expose()).await?;
    Ok(shared::http::no_content())
}
