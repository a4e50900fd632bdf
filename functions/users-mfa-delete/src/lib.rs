//! `DELETE /v1/users/{id}/mfa` (admin) `{password?, code? | recoveryCode?}` → 204: the user's
//! authenticator app and recovery codes are removed (for a user who lost them), the change is
//! audited and the user is told by email. The admin needs a recent sign-in or their password
//! and, with a second factor of their own, one from the last 10 minutes or in the request.
//! 404 for no such user; 409 `MFA_NOT_ENROLLED` when the user has none.

use lambda_http::{Body, Request, Response};
use shared::auth::Role;
use shared::ids::UserId;
use shared::validate::{GivenPassword, OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetMfa {
    /// The admin's password: needed unless their session signed in within the last 10 minutes.
    pub password: Option<GivenPassword>,
    /// A current code of the admin's own app: needed, when they have one, unless their session
    /// gave one within 10 minutes.
    pub code: Option<OtpCode>,
    /// One of the admin's recovery codes, in place of `code`.
    pub recovery_code: Option<RecoveryCode>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let body: ResetMfa = shared::http::json_body(&req)?;
    accounts::mfa::reset(
        state,
        &me,
        id,
        body.password.as_ref().map(GivenPassword::expose),
        body.code.as_ref(),
        body.recovery_code.as_ref(),
    )
    .await?;
    Ok(shared::http::no_content())
}
