//! `$connect` of the WebSocket API: opens a live connection for the account whose access token
//! the client offers as a subprotocol (`Sec-WebSocket-Protocol: ferrite.v1, bearer.<token>`),
//! and answers with the subprotocol chosen (`ferrite.v1`). No token, or an expired, forged or
//! revoked one: 401; the account's connections at their cap: 429. Either refuses the
//! connection. Calls: BatchGetItem (the user and the session), Query (the account's slots),
//! TransactWriteItems (a slot and the connection).

use shared::State;
use shared::error::ApiError;
use shared::live::{self, Opened, WebSocketAnswer, WebSocketEvent};

pub async fn handle(state: &State, event: WebSocketEvent) -> WebSocketAnswer {
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    let opened = connect(state, &event)
        .await
        .map(|()| vec![("sec-websocket-protocol", live::SUBPROTOCOL)]);
    live::answer(&request_id, opened)
}

async fn connect(state: &State, event: &WebSocketEvent) -> Result<(), ApiError> {
    let connection = live::connection_of(event)?;
    let offered = event
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let token = live::offered_token(offered)?;
    let (me, expires_at) = shared::accounts::authenticate_token(state, token).await?;
    match live::open(&state.store, me.id(), &connection, expires_at).await? {
        Opened::Open(_) => Ok(()),
        Opened::Full { frees_in_secs } => Err(ApiError::TooManyRequests {
            retry_after_secs: frees_in_secs,
            rate_limit: None,
        }),
    }
}
