//! `GET /v1/users?limit=&cursor=&status=active|disabled&role=USER|MODERATOR|ADMIN` (admin) →
//! `{items, nextCursor}`, newest first.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::items::UserStatus;
use shared::auth::{self, Role};
use shared::error::FieldError;
use shared::{ApiError, State};

fn parse_param<T: serde::de::DeserializeOwned>(
    req: &Request,
    name: &str,
    allowed: &str,
) -> Result<Option<T>, ApiError> {
    shared::http::query_param(req, name)
        .map(|raw| {
            serde_json::from_value::<T>(serde_json::Value::String(raw.to_owned())).map_err(|_| {
                ApiError::BadRequest {
                    code: "INVALID_PARAMETER",
                    detail: format!("`{name}` must be one of {allowed}."),
                    errors: vec![FieldError::new(name, format!("must be one of {allowed}"))],
                }
            })
        })
        .transpose()
}

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = auth::authenticate(state, &req).await?;
    auth::require_role(&me, Role::Admin)?;
    let page = shared::http::page_request(&req)?;
    let status: Option<UserStatus> = parse_param(&req, "status", "active, disabled")?;
    let role: Option<Role> = parse_param(&req, "role", "USER, MODERATOR, ADMIN")?;
    let users = shared::accounts::list_users(state, status, role, &page).await?;
    shared::http::json(StatusCode::OK, &users)
}
