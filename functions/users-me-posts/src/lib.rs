//! `GET /v1/users/me/posts?status=draft|published|hidden&limit=&cursor=` → all of mine.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::error::FieldError;
use shared::posts::PostStatus;
use shared::{ApiError, State, auth};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = auth::authenticate(state, &req).await?;
    let page = shared::http::page_request(&req)?;
    let status = match shared::http::query_param(&req, "status") {
        None => None,
        Some("draft") => Some(PostStatus::Draft),
        Some("published") => Some(PostStatus::Published),
        Some("hidden") => Some(PostStatus::Hidden),
        Some(_) => {
            return Err(ApiError::BadRequest {
                code: "INVALID_PARAMETER",
                detail: "`status` must be draft, published or hidden.".into(),
                errors: vec![FieldError::new(
                    "status",
                    "must be draft, published or hidden",
                )],
            });
        }
    };
    let posts = shared::posts::mine(state, &me, status, &page).await?;
    shared::http::json(StatusCode::OK, &posts)
}
