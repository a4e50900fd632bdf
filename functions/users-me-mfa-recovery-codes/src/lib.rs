//! `POST /v1/users/me/mfa/recovery-codes` `{password?, code? | recoveryCode?}` → 200
//! `{recoveryCodes}`: ten new recovery codes, shown once; the old ones stop working. Needs a
//! recent sign-in or the password (401 `REAUTHENTICATION_REQUIRED`) and a second factor given
//! in this session within 10 minutes or in the request (401 `MFA_REQUIRED`); 409
//! `MFA_NOT_ENROLLED` without an authenticator app in force.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::mfa;
use shared::validate::{GivenPassword, OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegenerateRecoveryCodes {
    /// The current password: needed unless this session signed in within the last 10 minutes.
    pub password: Option<GivenPassword>,
    /// A current code of the app: needed unless this session gave one within 10 minutes.
    pub code: Option<OtpCode>,
    /// One of the old recovery codes, in place of `code`.
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let body: RegenerateRecoveryCodes = shared::http::json_body(&req)?;
    let codes = mfa::regenerate_recovery_codes(
        state,
        &me,
        body.password.as_ref().map(GivenPassword::expose),
        body.code.as_ref(),
        body.recovery_code.as_ref(),
    )
    .await?;
    shared::http::json(StatusCode::OK, &codes)
}
