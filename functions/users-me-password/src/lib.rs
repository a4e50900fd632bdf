//! `PUT /v1/users/me/password` `{currentPassword, newPassword, code?}` → 204; every other session
//! ends. 401 `MFA_REQUIRED` with a second factor in force and none recent (send `code`).

use lambda_http::{Body, Request, Response};
use shared::validate::{GivenPassword, OtpCode, Password, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePassword {
    pub current_password: GivenPassword,
    pub new_password: Password,
    /// With a second factor in force and none given in this session within 10 minutes: a
    /// current code of the authenticator app (or give `recoveryCode`).
    #[serde(default)]
    pub code: Option<OtpCode>,
    /// One of the recovery codes, in place of `code`.
    #[serde(default)]
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: ChangePassword = shared::http::json_body(&req)?;
    accounts::mfa::step_up(state, &me, body.code.as_ref(), body.recovery_code.as_ref()).await?;
    accounts::change_password(
        state,
        &me,
        body.current_password.expose(),
        &body.new_password,
    )
    .await?;
    Ok(shared::http::no_content())
}
