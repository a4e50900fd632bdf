//! `DELETE /v1/users/me/identities/{provider}` `{password?}` → 204: the provider's identity no
//! longer signs in to my account (sessions it began go on). Needs a recent sign-in or the
//! password. 404 when no identity of `provider` is linked; 409 `LAST_SIGN_IN_METHOD` when it is
//! the account's only way in (no password, no other identity, no confirmed address).

use lambda_http::{Body, Request, Response};
use shared::validate::GivenPassword;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UnlinkIdentity {
    /// The current password: needed unless this session signed in within the last 10 minutes.
    pub password: Option<GivenPassword>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let provider = shared::http::path_param(&req, "provider")?;
    let body: UnlinkIdentity = shared::http::json_body(&req)?;
    let password = body.password.as_ref().map(GivenPassword::expose);
    accounts::identities::unlink_identity(state, &me, &provider, password).await?;
    Ok(shared::http::no_content())
}
