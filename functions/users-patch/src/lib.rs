//! `PATCH /v1/users/{id}` `{roles?, status?, name?, version?}` (admin) → 200 with the user.
//! The last active admin cannot be demoted or disabled (409 `LAST_ADMIN`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::items::UserStatus;
use shared::accounts::{AdminChange, Roles};
use shared::auth::Role;
use shared::ids::UserId;
use shared::validate::DisplayName;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub roles: Option<Roles>,
    pub status: Option<UserStatus>,
    /// A correction of the user's name.
    pub name: Option<DisplayName>,
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let body: UserPatch = shared::http::json_body(&req)?;
    let change = AdminChange {
        roles: body.roles,
        status: body.status,
        name: body.name,
        expected_version: shared::http::if_match_version(&req)?.or(body.version),
    };
    let view = accounts::admin_update_user(state, &me, id, change).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &view)?,
        view.version,
    ))
}
