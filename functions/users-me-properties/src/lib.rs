//! `GET /v1/users/me/properties?limit=&cursor=` → the properties I own, oldest first.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::properties::{self, PropertyFilter};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let page = shared::http::page_request(&req)?;
    let mine = properties::list(state, &PropertyFilter::Owner(me.id()), &page).await?;
    shared::http::json(StatusCode::OK, &mine)
}
