//! `$disconnect` of the WebSocket API: forgets the connection (its item and its account's
//! slot). API Gateway sends it on a best-effort basis and ignores the answer; a connection
//! that closed without one is forgotten when a push finds it gone. Calls: GetItem, then
//! TransactWriteItems.

use shared::State;
use shared::live::{self, WebSocketAnswer, WebSocketEvent};

pub async fn handle(state: &State, event: WebSocketEvent) -> WebSocketAnswer {
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    let closed = async {
        let connection = live::connection_of(&event)?;
        live::close(&state.store, &connection).await?;
        Ok(Vec::new())
    }
    .await;
    live::answer(&request_id, closed)
}
