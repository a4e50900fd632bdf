//! `GET /v1/users/{id}/profile` → anyone's public profile `{id, name, memberSince,
//! publishedPosts}`; 404 if there is no such account. Public and cacheable (`ITEM_CACHE`,
//! `ETag`, `If-None-Match` → 304): the answer is the same for every caller, so no
//! `Authorization` is read.

use lambda_http::{Body, Request, Response};
use shared::ids::UserId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let id: UserId = shared::http::path_id(&req, "id")?;
    let profile = accounts::public_profile(state, id).await?;
    shared::http::cacheable_json(&req, &profile, shared::http::ITEM_CACHE)
}
