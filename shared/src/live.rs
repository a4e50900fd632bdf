//! Live connections: the WebSocket connections an account holds open to be told of its new
//! notifications the moment they are written, instead of polling the inbox.
//!
//! **Opening** (`$connect`, the function `ws-connect`). A browser cannot set headers on a
//! WebSocket, and a query string is written to API Gateway's access logs: the access token
//! travels in `Sec-WebSocket-Protocol`, as a second subprotocol beside [`SUBPROTOCOL`] —
//! `new WebSocket(url, ["ferrite.v1", "bearer." + accessToken])`. It is checked as on every
//! request (signature, expiry, a live session of an active account); the answer picks
//! `ferrite.v1` (a browser drops a connection whose answer names no subprotocol it offered, or
//! one it did not offer). No token, an expired, forged or revoked one: 401, and no connection.
//!
//! **How long.** A connection lives as long as the token it opened with: its items expire with
//! the token (`exp` is their `expiresAt`), nothing is pushed to it after that, and the next
//! push to its account closes it (`DELETE @connections/{id}`); the client then refreshes its
//! token and reconnects. There is no refresh message: a connection never outlives a revoked
//! session by more than one token lifetime (15 minutes), and a client reconnects anyway — API
//! Gateway closes a connection after 10 minutes without a message in either direction and
//! after 2 hours in any case. A client that reconnects reads the inbox for what it missed.
//!
//! **Capped.** An account holds at most [`MAX_CONNECTIONS`] at once. Each connection takes one
//! of its account's slots (`USER#<id>` / `LIVE#<n>`) with a conditional write — the slot is
//! free, or its connection's token has expired — in the transaction that records the
//! connection (`LIVE#<connectionId>` / `LIVE`), so concurrent connects cannot exceed the cap;
//! the one over it is refused (429).
//!
//! **Closing** (`$disconnect`, `ws-disconnect`): both items are deleted. API Gateway delivers
//! `$disconnect` on a best-effort basis: a connection that vanished without one is removed when
//! a push to it answers 410 Gone, or frees its slot when its token expires.
//!
//! **Pushing** (the notifications worker, feature `push`): each new notification is posted, as
//! a [`Push`] message, to every live connection of its account through API Gateway's
//! `@connections` management API. Delivery is at least once: a push that fails for a reason
//! that may pass (a throttle, a 5xx) fails the record, and its redelivery pushes again —
//! clients tell repeats by the notification's id.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::UserId;
use crate::notifications::NotificationView;
use crate::store::{Key, KeyQuery, SortKey, Store, StoreError, Update};

/// The subprotocol of Ferrite's push messages, version 1: offered by the client, chosen by the
/// answer to `$connect`.
pub const SUBPROTOCOL: &str = "ferrite.v1";
/// The prefix of the subprotocol that carries the access token (`bearer.<jwt>`).
pub const BEARER_PREFIX: &str = "bearer.";
/// The most connections one account holds open at once.
pub const MAX_CONNECTIONS: u8 = 5;
/// How many times a connect reads the slots again when concurrent connects took every one it
/// saw free.
const SLOT_ATTEMPTS: usize = 3;

const SLOT_PREFIX: &str = "LIVE#";

/// What API Gateway calls a connection: an opaque id (`L0SM9cOFvHcCIhw=`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConnectionId(String);

impl ConnectionId {
    /// At most 128 characters of base64 and `-`/`_` (what API Gateway's ids are made of).
    pub fn parse(value: &str) -> Result<Self, InvalidConnectionId> {
        let fits = !value.is_empty()
            && value.len() <= 128
            && value.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
            });
        if fits {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidConnectionId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ConnectionId {
    type Error = InvalidConnectionId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ConnectionId> for String {
    fn from(id: ConnectionId) -> Self {
        id.0
    }
}

/// Not a connection id API Gateway would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a WebSocket connection id")]
pub struct InvalidConnectionId;

/// The access token a `$connect` offers in its `Sec-WebSocket-Protocol` header (a
/// comma-separated list): 401 unless it offers [`SUBPROTOCOL`] and exactly one `bearer.<token>`.
pub fn offered_token(protocols: Option<&str>) -> Result<&str, ApiError> {
    let offered: Vec<&str> = protocols
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let tokens: Vec<&str> = offered
        .iter()
        .filter_map(|p| p.strip_prefix(BEARER_PREFIX))
        .collect();
    let missing = || ApiError::Unauthorized {
        code: "MISSING_CREDENTIALS",
        detail: format!(
            "Offer the subprotocols `{SUBPROTOCOL}` and `{BEARER_PREFIX}<access token>` (Sec-WebSocket-Protocol)."
        ),
    };
    if !offered.contains(&SUBPROTOCOL) {
        return Err(missing());
    }
    match tokens.as_slice() {
        [token] if !token.is_empty() => Ok(token),
        _ => Err(missing()),
    }
}

/// An account's slot, held by one connection until it closes or its token expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlotItem {
    pk: String,
    sk: String,
    connection_id: ConnectionId,
    /// The token's expiry (epoch seconds): the slot is free again after it.
    expires_at: i64,
}

crate::store::attributes! { SlotItem in slot_attributes {
    CONNECTION_ID: ConnectionId = connection_id,
    EXPIRES_AT: i64 = expires_at,
} }

/// A connection: whose, and which slot it holds (what `$disconnect`, which knows only the
/// connection id, needs to free it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionItem {
    pk: String,
    sk: String,
    connection_id: ConnectionId,
    user_id: UserId,
    slot: u8,
    expires_at: i64,
}

fn slot_key(user: UserId, slot: u8) -> Key {
    Key::new(Key::user(user).pk, format!("{SLOT_PREFIX}{slot}"))
}

fn connection_key(id: &ConnectionId) -> Key {
    Key::new(format!("LIVE#{id}"), "LIVE")
}

fn slot_number(sk: &str) -> Option<u8> {
    sk.strip_prefix(SLOT_PREFIX)?.parse().ok()
}

/// The result of [`open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Recorded, in slot `n`.
    Open(u8),
    /// The account holds [`MAX_CONNECTIONS`] live connections already; the first of them
    /// expires in this many seconds.
    Full { frees_in_secs: u64 },
}

/// Records connection `id` of `user`, alive until `expires_at` (epoch seconds), in a free slot:
/// a Query of the account's slots, then one TransactWriteItems (the slot taken under
/// "free or expired", the connection recorded). A slot taken meanwhile by a concurrent connect
/// sends it to the next one that looked free; when none is left, the slots are read again (a
/// few times at most).
pub async fn open(
    store: &Store,
    user: UserId,
    id: &ConnectionId,
    expires_at: i64,
) -> Result<Opened, StoreError> {
    let mut busy = None;
    for _ in 0..SLOT_ATTEMPTS {
        let now = store.clock().unix_seconds();
        let live: Vec<SlotItem> = slots(store, user)
            .await?
            .into_iter()
            .filter(|s| s.expires_at > now)
            .collect();
        let held: BTreeSet<u8> = live.iter().filter_map(|s| slot_number(&s.sk)).collect();
        let free: Vec<u8> = (0..MAX_CONNECTIONS).filter(|n| !held.contains(n)).collect();
        if free.is_empty() {
            let first = live.iter().map(|s| s.expires_at).min().unwrap_or(now);
            let frees_in_secs = u64::try_from(first - now).unwrap_or(1).max(1);
            return Ok(Opened::Full { frees_in_secs });
        }
        // Every slot that looked free, in turn: connects at once each win one, none two.
        for slot in free {
            match take(store, user, slot, id, expires_at, now).await {
                Ok(()) => return Ok(Opened::Open(slot)),
                // Taken meanwhile by a concurrent connect: the next one.
                Err(StoreError::ConditionFailed { index: Some(0) }) => {}
                // That connect's transaction is still on it (a conflict), or the table is
                // throttling: the next one too, and a 503 if no slot is had in the end.
                Err(error @ StoreError::Unavailable(_)) => busy = Some(error),
                Err(other) => return Err(other),
            }
        }
    }
    // Every slot that looked free was taken by the time it was tried, every time.
    match busy {
        Some(error) => Err(error),
        // Lost to concurrent connects, not to held slots: try again in a second.
        None => Ok(Opened::Full { frees_in_secs: 1 }),
    }
}

/// Takes `slot` of `user` for connection `id` (it is free, or its connection's token expired
/// by `now`) and records the connection: one TransactWriteItems.
async fn take(
    store: &Store,
    user: UserId,
    slot: u8,
    id: &ConnectionId,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    let key = connection_key(id);
    let connection = ConnectionItem {
        pk: key.pk,
        sk: key.sk,
        connection_id: id.clone(),
        user_id: user,
        slot,
        expires_at,
    };
    let now = u64::try_from(now).unwrap_or_default();
    store
        .transact(vec![
            Update::new(slot_key(user, slot))
                .set(SlotItem::CONNECTION_ID, id)
                .set(SlotItem::EXPIRES_AT, &expires_at)
                .if_below(SlotItem::EXPIRES_AT, now.saturating_add(1))
                .into_transact(store)?,
            store.put_op(&connection)?,
        ])
        .await
}

/// The slots of `user`, expired ones too (a Query, at most [`MAX_CONNECTIONS`] items).
async fn slots(store: &Store, user: UserId) -> Result<Vec<SlotItem>, StoreError> {
    let query = KeyQuery::table(Key::user(user).pk)
        .sort(SortKey::BeginsWith(SLOT_PREFIX.to_owned()))
        .expired_too();
    store.query_every(&query).await
}

/// Forgets connection `id` (`$disconnect`): its item and, if it still holds it, its slot. Calls:
/// GetItem, then TransactWriteItems (both; or the connection's item alone when the slot holds
/// another connection by now). Nothing to forget is not an error: `$disconnect` may come twice.
pub async fn close(store: &Store, id: &ConnectionId) -> Result<bool, StoreError> {
    let key = connection_key(id);
    // Past its token's expiry the item reads as absent: its slot is free already, and TTL
    // deletes both.
    let Some(connection) = store.get::<ConnectionItem>(&key).await? else {
        return Ok(false);
    };
    forget(store, connection.user_id, connection.slot, id).await?;
    Ok(true)
}

/// Deletes connection `id` and frees slot `slot` of `user` if `id` still holds it.
async fn forget(
    store: &Store,
    user: UserId,
    slot: u8,
    id: &ConnectionId,
) -> Result<(), StoreError> {
    let both = vec![
        store.delete_op(&connection_key(id), false)?,
        Update::new(slot_key(user, slot))
            .if_equals(SlotItem::CONNECTION_ID, id)
            .into_delete(store)?,
    ];
    match store.transact(both).await {
        Ok(()) => Ok(()),
        // The slot is another connection's now (or gone): the connection's item alone.
        Err(StoreError::ConditionFailed { index: Some(1) }) => {
            store
                .transact(vec![store.delete_op(&connection_key(id), false)?])
                .await
        }
        Err(other) => Err(other),
    }
}

/// One connection of an account, as a push finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnectionId,
    /// Its token has expired: close it instead of pushing to it.
    pub expired: bool,
    slot: u8,
}

/// The connections `user` holds (expired ones too: they are to be closed). One Query.
pub async fn connections(store: &Store, user: UserId) -> Result<Vec<Connection>, StoreError> {
    let now = store.clock().unix_seconds();
    Ok(slots(store, user)
        .await?
        .into_iter()
        .filter_map(|s| {
            Some(Connection {
                slot: slot_number(&s.sk)?,
                expired: s.expires_at <= now,
                id: s.connection_id,
            })
        })
        .collect())
}

/// Forgets `connection` of `user` (it answered 410 Gone, or it expired and was closed).
pub async fn remove(
    store: &Store,
    user: UserId,
    connection: &Connection,
) -> Result<(), StoreError> {
    forget(store, user, connection.slot, &connection.id).await
}

/// Forgets every connection of `user` (its account was deleted): the slots, expired ones too,
/// and their connections' items — one Query, then a TransactWriteItems per connection. The
/// sockets themselves stay open until their tokens expire or API Gateway closes them: nothing
/// is pushed to a deleted account. The number forgotten.
pub async fn forget_all(store: &Store, user: UserId) -> Result<usize, StoreError> {
    let held = connections(store, user).await?;
    for connection in &held {
        remove(store, user, connection).await?;
    }
    Ok(held.len())
}

/// A message pushed on a connection (JSON text): `{"type": "notification", "notification":
/// {…}}` — the notification as `GET /v1/users/me/notifications` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Push {
    Notification { notification: NotificationView },
}

#[cfg(feature = "live")]
pub use gateway::{Error, WebSocketAnswer, WebSocketEvent, answer, connection_of, serve};

#[cfg(feature = "live")]
mod gateway {
    use std::future::Future;

    use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
    use aws_lambda_events::encodings::Body;
    use http::HeaderValue;
    pub use lambda_runtime::Error;
    use lambda_runtime::{LambdaEvent, service_fn};
    use tracing::Instrument as _;

    use super::ConnectionId;
    use crate::error::ApiError;
    use crate::state::State;

    /// What API Gateway hands a WebSocket route's function.
    pub type WebSocketEvent = ApiGatewayWebsocketProxyRequest;
    /// What the function answers (for `$connect`: 2xx accepts the connection, anything else
    /// refuses it with that status).
    pub type WebSocketAnswer = ApiGatewayProxyResponse;

    /// The connection an event is about.
    pub fn connection_of(event: &WebSocketEvent) -> Result<ConnectionId, ApiError> {
        event
            .request_context
            .connection_id
            .as_deref()
            .and_then(|id| ConnectionId::parse(id).ok())
            .ok_or_else(|| ApiError::internal("the WebSocket event names no usable connection id"))
    }

    /// 200 with `headers`, or the problem+json of `error` (logged once, as for HTTP).
    pub fn answer(
        request_id: &str,
        result: Result<Vec<(&'static str, &'static str)>, ApiError>,
    ) -> WebSocketAnswer {
        let mut response = ApiGatewayProxyResponse::default();
        match result {
            Ok(headers) => {
                response.status_code = 200;
                for (name, value) in headers {
                    response
                        .headers
                        .insert(name, HeaderValue::from_static(value));
                }
            }
            Err(error) => {
                let problem = error.into_response(request_id);
                response.status_code = i64::from(problem.status().as_u16());
                response.headers = problem.headers().clone();
                if let Body::Text(text) = problem.body() {
                    response.body = Some(Body::Text(text.clone()));
                }
            }
        }
        response
    }

    /// The Lambda loop of a WebSocket route's function: `main.rs` builds the state once (per
    /// cold start) and hands it here with the handler.
    pub async fn serve<F, Fut>(state: State, handler: F) -> Result<(), Error>
    where
        F: Fn(&'static State, WebSocketEvent) -> Fut,
        Fut: Future<Output = WebSocketAnswer>,
    {
        let state: &'static State = Box::leak(Box::new(state));
        lambda_runtime::run(service_fn(move |event: LambdaEvent<WebSocketEvent>| {
            crate::telemetry::invocation_started(&event.context.request_id);
            let context = &event.payload.request_context;
            let span = tracing::info_span!(
                "request",
                apigwRequestId = %context.request_id.as_deref().unwrap_or_default(),
                route = %context.route_key.as_deref().unwrap_or_default(),
            );
            // Boxed, as the workers' futures are (SDK calls several deep).
            let response = Box::pin(handler(state, event.payload));
            async move {
                let response = response.await;
                tracing::info!(status = response.status_code, "request handled");
                if response.status_code >= 500 {
                    crate::telemetry::count_failure();
                }
                crate::telemetry::flush_metrics();
                Ok::<_, Error>(response)
            }
            .instrument(span)
        }))
        .await
    }
}

#[cfg(feature = "push")]
pub use push::{Delivery, PushError, Pushed, Pusher, callback_url, push};

#[cfg(feature = "push")]
mod push {
    use aws_sdk_apigatewaymanagement::error::SdkError;
    use aws_sdk_apigatewaymanagement::primitives::Blob;

    use super::{ConnectionId, Push, connections, remove};
    use crate::ids::UserId;
    use crate::store::{Store, StoreError};

    /// Why a push failed: the management API refused or could not be reached (a throttle, a
    /// 5xx, the network — or for good: permissions, a wrong endpoint), or the table did.
    #[derive(Debug, thiserror::Error)]
    pub enum PushError {
        #[error("@connections {operation} failed: {cause}")]
        Api {
            operation: &'static str,
            cause: String,
        },
        #[error(transparent)]
        Store(#[from] StoreError),
    }

    /// What became of one push.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Delivery {
        Sent,
        /// The connection is gone (410): forget it.
        Gone,
    }

    /// The `@connections` URL of a WebSocket stage: the API's endpoint (`wss://<api>.execute-api.
    /// <region>.amazonaws.com`, the API's `ApiEndpoint`) as HTTPS, and the stage's name.
    pub fn callback_url(api_endpoint: &str, stage: &str) -> Option<String> {
        let host = api_endpoint
            .strip_prefix("wss://")
            .map(|h| ("https", h))
            .or_else(|| api_endpoint.strip_prefix("ws://").map(|h| ("http", h)))?;
        let (scheme, host) = host;
        let host = host.trim_end_matches('/');
        (!host.is_empty() && !stage.is_empty() && !stage.contains('/'))
            .then(|| format!("{scheme}://{host}/{stage}"))
    }

    /// API Gateway's `@connections` management API of one WebSocket stage.
    #[derive(Debug, Clone)]
    pub struct Pusher {
        client: aws_sdk_apigatewaymanagement::Client,
    }

    impl Pusher {
        /// The client for the stage at `callback_url` ([`callback_url`]), with this function's
        /// SDK configuration. No I/O.
        pub fn new(sdk: &crate::aws::SdkConfig, callback_url: &str) -> Self {
            let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
                .endpoint_url(callback_url)
                .build();
            Self {
                client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
            }
        }

        /// `POST @connections/{id}`: sends `message` on connection `id`.
        pub async fn send(
            &self,
            id: &ConnectionId,
            message: Vec<u8>,
        ) -> Result<Delivery, PushError> {
            match self
                .client
                .post_to_connection()
                .connection_id(id.as_str())
                .data(Blob::new(message))
                .send()
                .await
            {
                Ok(_) => Ok(Delivery::Sent),
                Err(error) if is_gone(&error) => Ok(Delivery::Gone),
                Err(error) => Err(PushError::Api {
                    operation: "POST",
                    cause: crate::error::cause_chain(&error),
                }),
            }
        }

        /// `DELETE @connections/{id}`: closes connection `id` (one already gone is closed).
        pub async fn close(&self, id: &ConnectionId) -> Result<(), PushError> {
            match self
                .client
                .delete_connection()
                .connection_id(id.as_str())
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) if is_gone(&error) => Ok(()),
                Err(error) => Err(PushError::Api {
                    operation: "DELETE",
                    cause: crate::error::cause_chain(&error),
                }),
            }
        }
    }

    fn is_gone<E, R>(error: &SdkError<E, R>) -> bool
    where
        E: aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata,
    {
        matches!(error, SdkError::ServiceError(e) if e.err().code() == Some("GoneException"))
    }

    /// What one [`push`] did.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Pushed {
        /// Connections the message was sent on.
        pub sent: usize,
        /// Connections found gone (410) and forgotten.
        pub gone: usize,
        /// Connections whose token had expired: closed and forgotten, nothing sent.
        pub closed: usize,
    }

    /// Sends `message` on every live connection of `user`; forgets the ones gone and closes the
    /// expired ones. Every connection is tried; the first failure is then the answer (the
    /// caller retries the whole push: clients tell repeats by the notification's id). Calls:
    /// Query (the account's slots), then per connection `POST @connections/{id}` (or `DELETE`
    /// for an expired one) and, for one gone or closed, TransactWriteItems.
    pub async fn push(
        store: &Store,
        pusher: &Pusher,
        user: UserId,
        message: &Push,
    ) -> Result<Pushed, PushError> {
        let body = serde_json::to_vec(message).map_err(|e| PushError::Api {
            operation: "POST",
            cause: e.to_string(),
        })?;
        let mut done = Pushed::default();
        let mut failure = None;
        for connection in connections(store, user).await? {
            let outcome = async {
                if connection.expired {
                    pusher.close(&connection.id).await?;
                    remove(store, user, &connection).await?;
                    done.closed += 1;
                    return Ok(());
                }
                match pusher.send(&connection.id, body.clone()).await? {
                    Delivery::Sent => done.sent += 1,
                    Delivery::Gone => {
                        remove(store, user, &connection).await?;
                        done.gone += 1;
                    }
                }
                Ok::<_, PushError>(())
            }
            .await;
            if let Err(error) = outcome {
                failure.get_or_insert(error);
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(done),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_the_one_bearer_subprotocol_beside_ferrite_v1() {
        assert_eq!(
            offered_token(Some("ferrite.v1, bearer.abc.def.ghi")).ok(),
            Some("abc.def.ghi")
        );
        assert_eq!(
            offered_token(Some("bearer.abc,ferrite.v1")).ok(),
            Some("abc")
        );
        for refused in [
            None,
            Some(""),
            Some("ferrite.v1"),
            Some("bearer.abc"),
            Some("ferrite.v2, bearer.abc"),
            Some("ferrite.v1, bearer."),
            Some("ferrite.v1, bearer.a, bearer.b"),
        ] {
            let error = offered_token(refused).expect_err("refused");
            assert_eq!(error.status().as_u16(), 401, "{refused:?}");
        }
    }

    #[test]
    fn connection_ids_are_what_api_gateway_gives() {
        assert!(ConnectionId::parse("L0SM9cOFvHcCIhw=").is_ok());
        for bad in ["", "a b", "LIVE#x", &"a".repeat(129), "é"] {
            assert!(ConnectionId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
