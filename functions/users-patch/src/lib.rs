//! `PATCH /v1/users/{id}` `{roles?, status?, name?, version?}` (admin) → 200 with the user.
//! The last active admin cannot be demoted or disabled (409 `LAST_ADMIN`).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::AdminChange;
use shared::accounts::items::UserStatus;
use shared::auth::Role;
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

#[derive(Debug, eserde::Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[garde(inner(length(min = 1, max = 3)))]
    #[schema(min_items = 1, max_items = 3)]
    pub roles: Option<Vec<Role>>,
    #[garde(skip)]
    pub status: Option<UserStatus>,
    /// A correction of the user's name.
    #[garde(inner(custom(shared::validate::display_name)))]
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[garde(skip)]
    pub version: Option<u64>,
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    accounts::require_role(&me, Role::Admin)?;
    let id: UserId = shared::http::path_id(&req, "id")?;
    let body: UserPatch = shared::http::json_body(&req)?;
    let name = body
        .name
        .as_deref()
        .map(shared::validate::DisplayName::parse)
        .transpose()
        .map_err(|e| e.at("name"))?;
    let change = AdminChange {
        roles: body.roles,
        status: body.status,
        name,
        expected_version: shared::http::if_match_version(&req)?.or(body.version),
    };
    let view = accounts::admin_update_user(state, &me, id, change).await?;
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &view)?,
        view.version,
    ))
}
