//! `GET /v1/users/me` → the signed-in user, with `ETag`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::accounts::items::UserView;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let view = UserView::from(&me.user);
    Ok(shared::http::with_etag(
        shared::http::json(StatusCode::OK, &view)?,
        view.version,
    ))
}
