//! `GET /v1/users/me/identities` → 200 `{items: [{provider, subject, linkedAt, canUnlink}]}`: the
//! provider identities that sign in to my account (at most one per provider).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let identities = accounts::identities::list_identities(state, &me).await?;
    shared::http::json(StatusCode::OK, &identities)
}
