//! `POST /v1/properties/{id}/transfer` `{newOwnerId, note?, version?}` (or `If-Match`) → 201
//! with the history entry: the property's new owner (the owner or an admin). 412 when the
//! property changed since the version given; 422 when the new owner is the current one or not
//! an active account; 401 `MFA_REQUIRED` for a caller with a second factor in force and none
//! recent (send `code`).

use lambda_http::{Body, Request, Response};
use shared::ids::UserId;
use shared::properties::Note;
use shared::validate::{OtpCode, RecoveryCode};
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransferProperty {
    pub new_owner_id: UserId,
    /// Up to 1,000 characters, for the history.
    #[serde(default)]
    pub note: Option<Note>,
    /// The version the caller saw (or `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
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
    let id = shared::http::path_id(&req, "id")?;
    let body: TransferProperty = shared::http::json_body(&req)?;
    let expected = shared::http::if_match_version(&req)?.or(body.version);
    accounts::mfa::step_up(state, &me, body.code.as_ref(), body.recovery_code.as_ref()).await?;
    let entry =
        shared::properties::transfer(state, &me, id, body.new_owner_id, body.note, expected)
            .await?;
    shared::http::created(&format!("/v1/properties/{id}/ownership-history"), &entry)
}
