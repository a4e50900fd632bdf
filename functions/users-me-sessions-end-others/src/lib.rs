//! `DELETE /v1/users/me/sessions` → 200 `{ended}`: every session of mine but this request's
//! ends ("sign out everywhere else").

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let ended = accounts::end_sessions(
        state,
        &me.actor(),
        me.id(),
        Some(&me.session_id),
        accounts::EndedBy::Owner,
    )
    .await?;
    shared::http::json(StatusCode::OK, &ended)
}
