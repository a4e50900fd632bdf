//! `DELETE /v1/users/me/sessions/{id}` → 204: that session of mine ends (its refresh token and
//! access tokens stop working at once); 404 if I have no such live session.

use lambda_http::{Body, Request, Response};
use shared::ids::SessionId;
use shared::{ApiError, State, accounts};

pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, ApiError> {
    let me = accounts::authenticate(state, &req).await?;
    let session: SessionId = shared::http::path_id(&req, "id")?;
    accounts::end_session(
        state,
        &me.actor(),
        &me.user,
        session,
        accounts::EndedBy::Owner,
    )
    .await?;
    Ok(shared::http::no_content())
}
