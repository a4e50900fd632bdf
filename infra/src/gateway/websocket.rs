//! A local API Gateway WebSocket API, read from the template: connections at
//! `ws://127.0.0.1:<port>/<stage>`, its routes' functions invoked through the Lambda Invoke API,
//! and the `@connections` management API at `http://127.0.0.1:<port>/<stage>/@connections/{id}`.
//!
//! What API Gateway does, and so this does:
//! - **`$connect`** gets the handshake's headers and query string; a 2xx answer accepts the
//!   connection and its headers go into the `101 Switching Protocols` (the chosen
//!   `Sec-WebSocket-Protocol`); any other status refuses the connection with that status. A
//!   function error refuses it with 500; a route whose function's resource policy does not let
//!   API Gateway invoke it, too (`AWS::Lambda::Permission`).
//! - **Messages** are routed by the API's `RouteSelectionExpression` (`$request.body.action`),
//!   then `$default`; with neither, the client gets API Gateway's error frame
//!   (`{"message": "Forbidden", "connectionId": …, "requestId": …}`).
//! - **`$disconnect`** is invoked once a connection has closed, from either side (the client, a
//!   `DELETE @connections/{id}`, the idle timeout of 10 minutes without a message in either
//!   direction — WebSocket pings do not count — or the 2-hour limit on a connection's life).
//! - **`@connections`** (`POST` sends data, 128 KB at most; `GET` describes; `DELETE` closes)
//!   needs a `SigV4` signature of service `execute-api`, checked here against the caller's key,
//!   and IAM's `execute-api:ManageConnections` on `…:<api>/<stage>/<METHOD>/@connections/<id>`,
//!   decided by the local endpoint's IAM (the caller's role from the expanded template). A
//!   connection that is gone answers `410 GoneException` — moto answers 200 for any id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::{read_body, tracing_line};
use crate::routes::{WebSocketApi, WebSocketRoute};

/// API Gateway closes a connection after this long without a message in either direction.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// …and after this long in any case.
pub const MAX_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);
/// The most a `POST @connections/{id}` may send (API Gateway's message size quota).
pub const MAX_MESSAGE: usize = 128 * 1024;
/// How far a signature's time may be from ours (AWS's limit).
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// How the `@connections` callers are held to IAM: the local endpoint decides for the keys of
/// the template's principals; any other key is the operator's (unrestricted, as on the
/// endpoint), signing with the operator's secret.
#[derive(Debug, Clone)]
pub struct Authorizer {
    /// The local endpoint (`/_ferrite/iam/authorize`).
    pub endpoint: String,
    /// Access key → the principal's ARN (for AWS's denial message).
    pub principals: HashMap<String, String>,
    pub principal_secret: String,
    pub operator_secret: String,
    pub http: reqwest::Client,
}

/// One open connection.
#[derive(Debug)]
struct Connection {
    outbox: mpsc::UnboundedSender<Outgoing>,
    connected_at_ms: i64,
    last_active_ms: AtomicI64,
    source_ip: String,
    user_agent: String,
}

#[derive(Debug)]
enum Outgoing {
    Message(Message),
    /// `DELETE @connections/{id}`: close it.
    Close,
}

/// The WebSocket API, its routes and open connections; shared by every connection's task.
#[derive(Debug)]
pub struct WebSocketGateway {
    pub api: WebSocketApi,
    /// Base URL of the Lambda Invoke API.
    pub lambda_url: String,
    pub client: reqwest::Client,
    pub region: String,
    pub account_id: String,
    /// `None`: any correctly signed `@connections` call is let through (the gateway's own tests).
    pub authorizer: Option<Authorizer>,
    pub idle_timeout: Duration,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn rfc3339_ms(ms: i64) -> String {
    shared::clock::rfc3339(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

/// A connection id shaped like API Gateway's (`L0SM9cOFvHcCIhw=`: 11 random bytes, base64).
fn new_connection_id() -> String {
    use base64::Engine as _;
    let bytes = ulid::Ulid::new().to_bytes();
    base64::engine::general_purpose::STANDARD.encode(&bytes[5..16])
}

fn answer(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// An error of the management API: its status, `x-amzn-ErrorType` and message.
fn service_error(status: StatusCode, kind: &'static str, message: &str) -> Response<Full<Bytes>> {
    let mut response = answer(status, &json!({ "message": message }));
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(kind));
    response
}

impl WebSocketGateway {
    pub fn new(
        api: WebSocketApi,
        lambda_url: &str,
        region: &str,
        account_id: &str,
        authorizer: Option<Authorizer>,
    ) -> Result<Self> {
        Ok(Self {
            api,
            lambda_url: lambda_url.to_owned(),
            client: crate::http_client().build()?,
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            authorizer,
            idle_timeout: IDLE_TIMEOUT,
            connections: Mutex::new(HashMap::new()),
        })
    }

    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections.lock().ok()?.get(id).cloned()
    }

    fn forget(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections.lock().ok()?.remove(id)
    }

    /// The number of open connections.
    pub fn open_connections(&self) -> usize {
        self.connections.lock().map_or(0, |c| c.len())
    }

    fn domain(&self) -> String {
        format!(
            "{}.execute-api.{}.amazonaws.com",
            self.api.api_id, self.region
        )
    }

    /// The event API Gateway hands a route's function (Lambda proxy, WebSocket).
    fn event(&self, route_key: &str, connection_id: &str, extra: Json) -> Json {
        let now = now_ms();
        let (event_type, direction) = match route_key {
            "$connect" => ("CONNECT", "IN"),
            "$disconnect" => ("DISCONNECT", "IN"),
            _ => ("MESSAGE", "IN"),
        };
        let request_id = ulid::Ulid::new().to_string();
        let connected_at = self
            .connection(connection_id)
            .map_or(now, |c| c.connected_at_ms);
        let mut event = json!({
            "requestContext": {
                "routeKey": route_key,
                "eventType": event_type,
                "extendedRequestId": request_id,
                "requestTime": rfc3339_ms(now),
                "messageDirection": direction,
                "stage": self.api.stage,
                "connectedAt": connected_at,
                "requestTimeEpoch": now,
                "requestId": request_id,
                "domainName": self.domain(),
                "connectionId": connection_id,
                "apiId": self.api.api_id,
                "identity": {},
            },
            "isBase64Encoded": false,
        });
        if let (Some(event), Json::Object(extra)) = (event.as_object_mut(), extra) {
            for (key, value) in extra {
                if key == "requestContext" {
                    if let (Some(context), Json::Object(more)) =
                        (event["requestContext"].as_object_mut(), value)
                    {
                        context.extend(more);
                    }
                } else {
                    event.insert(key, value);
                }
            }
        }
        event
    }

    /// Invokes `route`'s function with `event`: its answer, or the status API Gateway answers
    /// when the invocation fails.
    async fn invoke(&self, route: &WebSocketRoute, event: &Json) -> Result<Json, StatusCode> {
        if !route.invocable() {
            tracing_line(&format!(
                "{}: no AWS::Lambda::Permission lets API Gateway invoke {} from {} (AWS answers 500)",
                route.key, route.function, route.arn
            ));
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
        // A WebSocket API answers 500 however the integration failed.
        let payload = super::invoke_function(
            &self.client,
            &self.lambda_url,
            &route.binary,
            route.timeout_secs,
            event,
        )
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        serde_json::from_slice(&payload).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Answers one HTTP request: a WebSocket handshake on the stage's path, a call of the
    /// management API, or API Gateway's 403.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let stage = format!("/{}", self.api.stage);
        let started = Instant::now();
        let response = if path == stage || path == format!("{stage}/") {
            self.connect(req, peer).await
        } else if let Some(id) = path.strip_prefix(&format!("{stage}/@connections/")) {
            let id = percent_encoding::percent_decode_str(id)
                .decode_utf8_lossy()
                .into_owned();
            self.manage(req, &id).await
        } else {
            answer(StatusCode::FORBIDDEN, &json!({"message": "Forbidden"}))
        };
        tracing_line(&format!(
            "websocket {path} status={} {:.1}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
        response
    }

    /// A handshake: `$connect` decides, then the connection is served until it closes.
    async fn connect(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        let headers = req.headers();
        let upgrade = headers
            .get("upgrade")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let Some(key) = headers
            .get("sec-websocket-key")
            .filter(|_| upgrade)
            .map(HeaderValue::as_bytes)
        else {
            return answer(
                StatusCode::UPGRADE_REQUIRED,
                &json!({"message": "Upgrade Required"}),
            );
        };
        if headers
            .get("sec-websocket-version")
            .and_then(|v| v.to_str().ok())
            != Some("13")
        {
            return answer(StatusCode::BAD_REQUEST, &json!({"message": "Bad Request"}));
        }
        let accept = derive_accept_key(key);
        let id = new_connection_id();
        let user_agent = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let (single, multi) = event_headers(headers);
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let mut accepted_headers = Vec::new();
        if let Some(route) = self.api.route("$connect") {
            let event = self.event(
                "$connect",
                &id,
                json!({
                    "headers": single,
                    "multiValueHeaders": multi,
                    "queryStringParameters": if query.is_empty() { Json::Null } else { json!(query) },
                    "requestContext": {
                        "identity": {"sourceIp": peer.ip().to_string(), "userAgent": user_agent},
                    },
                }),
            );
            let decision = match self.invoke(route, &event).await {
                Ok(decision) => decision,
                Err(status) => {
                    return answer(status, &json!({"message": "Internal server error"}));
                }
            };
            let status = decision["statusCode"].as_u64().unwrap_or(200);
            if !(200..300).contains(&status) {
                let status = u16::try_from(status)
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let body = decision["body"].as_str().unwrap_or_default().to_owned();
                let mut refused = Response::new(Full::new(Bytes::from(body)));
                *refused.status_mut() = status;
                copy_headers(&decision, refused.headers_mut());
                return refused;
            }
            accepted_headers.push(decision);
        }
        let (outbox, inbox) = mpsc::unbounded_channel();
        let connection = Arc::new(Connection {
            outbox,
            connected_at_ms: now_ms(),
            last_active_ms: AtomicI64::new(now_ms()),
            source_ip: peer.ip().to_string(),
            user_agent,
        });
        // Known before the 101 goes out: a push may follow `$connect`'s write at once.
        if let Ok(mut connections) = self.connections.lock() {
            connections.insert(id.clone(), Arc::clone(&connection));
        }
        let upgraded = hyper::upgrade::on(&mut req);
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            gateway
                .serve_connection(id, connection, upgraded, inbox)
                .await;
        });
        switching_protocols(&accept, &accepted_headers)
    }

    /// Serves one accepted connection until it closes, then invokes `$disconnect`.
    async fn serve_connection(
        self: Arc<Self>,
        id: String,
        connection: Arc<Connection>,
        upgraded: hyper::upgrade::OnUpgrade,
        mut inbox: mpsc::UnboundedReceiver<Outgoing>,
    ) {
        let (code, reason) = match upgraded.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    hyper_util::rt::TokioIo::new(upgraded),
                    Role::Server,
                    None,
                )
                .await;
                self.pump(&id, &connection, socket, &mut inbox).await
            }
            Err(error) => {
                tracing_line(&format!("websocket {id}: upgrade failed: {error}"));
                (1006, "Going away")
            }
        };
        // Only if it is still this connection (a DELETE forgot it already).
        if let Ok(mut connections) = self.connections.lock()
            && connections
                .get(&id)
                .is_some_and(|c| Arc::ptr_eq(c, &connection))
        {
            connections.remove(&id);
        }
        if let Some(route) = self.api.route("$disconnect") {
            let event = self.event(
                "$disconnect",
                &id,
                json!({
                    "headers": {"Host": self.domain()},
                    "requestContext": {
                        "connectedAt": connection.connected_at_ms,
                        "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                        "disconnectStatusCode": code,
                        "disconnectReason": reason,
                    },
                }),
            );
            // API Gateway ignores `$disconnect`'s answer.
            drop(self.invoke(route, &event).await);
        }
    }

    /// Moves messages both ways until the connection closes: the close code and reason
    /// `$disconnect` is told.
    async fn pump<S>(
        &self,
        id: &str,
        connection: &Connection,
        socket: WebSocketStream<S>,
        inbox: &mut mpsc::UnboundedReceiver<Outgoing>,
    ) -> (u16, &'static str)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut sink, mut stream) = socket.split();
        let opened = Instant::now();
        let mut last_active = Instant::now();
        loop {
            let idle = tokio::time::sleep_until((last_active + self.idle_timeout).into());
            let life = tokio::time::sleep_until((opened + MAX_LIFETIME).into());
            tokio::select! {
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        last_active = Instant::now();
                        connection.last_active_ms.store(now_ms(), Ordering::Relaxed);
                        if let Some(reply) = self.message(id, text.as_bytes()).await
                            && sink.send(reply).await.is_err()
                        {
                            return (1006, "Going away");
                        }
                    }
                    Some(Ok(Message::Binary(data))) => {
                        last_active = Instant::now();
                        connection.last_active_ms.store(now_ms(), Ordering::Relaxed);
                        if let Some(reply) = self.message(id, &data).await
                            && sink.send(reply).await.is_err()
                        {
                            return (1006, "Going away");
                        }
                    }
                    // Control frames are answered by the protocol and keep nothing alive.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        return (
                            frame.map_or(1005, |f| u16::from(f.code)),
                            "Client-side close frame status code",
                        );
                    }
                    Some(Err(_)) | None => return (1006, "Going away"),
                },
                outgoing = inbox.recv() => match outgoing {
                    Some(Outgoing::Message(message)) => {
                        last_active = Instant::now();
                        connection.last_active_ms.store(now_ms(), Ordering::Relaxed);
                        if sink.send(message).await.is_err() {
                            return (1006, "Going away");
                        }
                    }
                    Some(Outgoing::Close) | None => {
                        drop(sink.send(close(CloseCode::Normal, "Connection was closed normally")).await);
                        return (1000, "Connection was closed normally");
                    }
                },
                () = idle => {
                    drop(sink.send(close(CloseCode::Away, "Going away")).await);
                    return (1001, "Going away");
                }
                () = life => {
                    drop(sink.send(close(CloseCode::Away, "Going away")).await);
                    return (1001, "Going away");
                }
            }
        }
    }

    /// A client's message: invokes its route's function; the error frame when none matches.
    async fn message(&self, id: &str, data: &[u8]) -> Option<Message> {
        let key = self.select_route(data);
        let Some(route) = key.and_then(|k| self.api.route(&k)) else {
            return Some(Message::text(
                json!({
                    "message": "Forbidden",
                    "connectionId": id,
                    "requestId": ulid::Ulid::new().to_string(),
                })
                .to_string(),
            ));
        };
        let event = self.event(
            &route.key,
            id,
            json!({
                "body": String::from_utf8_lossy(data),
                "requestContext": {"messageId": ulid::Ulid::new().to_string()},
            }),
        );
        // Without a route response (none of the template's routes has one), API Gateway sends
        // nothing back: the function answers through `@connections`.
        drop(self.invoke(route, &event).await);
        None
    }

    /// The route a message selects: the value at the expression's `$request.body.<path>`, if a
    /// route has that key; else `$default`, if there is one.
    fn select_route(&self, data: &[u8]) -> Option<String> {
        let selected = self
            .api
            .route_selection
            .strip_prefix("$request.body.")
            .and_then(|path| {
                let body: Json = serde_json::from_slice(data).ok()?;
                let value = path.split('.').try_fold(&body, |v, field| v.get(field))?;
                value.as_str().map(str::to_owned)
            })
            .filter(|key| !key.starts_with('$') && self.api.route(key).is_some());
        selected.or_else(|| self.api.route("$default").map(|r| r.key.clone()))
    }

    /// `@connections/{id}`: signed, authorised, then POST / GET / DELETE.
    async fn manage(&self, req: Request<Incoming>, id: &str) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let Some(body) = read_body(body, MAX_MESSAGE).await else {
            return service_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                "Payload too large",
            );
        };
        let method = parts.method.as_str().to_owned();
        if !matches!(method.as_str(), "POST" | "GET" | "DELETE") {
            return answer(StatusCode::FORBIDDEN, &json!({"message": "Forbidden"}));
        }
        let access_key = match self.authenticate(&parts, &body) {
            Ok(key) => key,
            Err(denied) => return *denied,
        };
        let resource = format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{method}/@connections/{id}",
            self.region, self.account_id, self.api.api_id, self.api.stage
        );
        if let Err(denied) = self.authorize(&access_key, &resource).await {
            return *denied;
        }
        let Some(connection) = self.connection(id) else {
            return service_error(StatusCode::GONE, "GoneException", "");
        };
        match method.as_str() {
            "POST" => {
                let message = match String::from_utf8(body.to_vec()) {
                    Ok(text) => Message::text(text),
                    Err(_) => Message::binary(body),
                };
                if connection.outbox.send(Outgoing::Message(message)).is_err() {
                    return service_error(StatusCode::GONE, "GoneException", "");
                }
                Response::new(Full::new(Bytes::new()))
            }
            "DELETE" => {
                self.forget(id);
                drop(connection.outbox.send(Outgoing::Close));
                let mut done = Response::new(Full::new(Bytes::new()));
                *done.status_mut() = StatusCode::NO_CONTENT;
                done
            }
            _ => answer(
                StatusCode::OK,
                &json!({
                    "connectedAt": rfc3339_ms(connection.connected_at_ms),
                    "lastActiveAt": rfc3339_ms(connection.last_active_ms.load(Ordering::Relaxed)),
                    "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                }),
            ),
        }
    }

    /// The access key of a correctly signed request (`SigV4`, service `execute-api`, this
    /// region), or AWS's 403.
    fn authenticate(
        &self,
        parts: &hyper::http::request::Parts,
        body: &[u8],
    ) -> Result<String, Box<Response<Full<Bytes>>>> {
        let missing = || {
            Box::new(service_error(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ))
        };
        let authorization = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(missing)?;
        let signed = sigv4::Authorization::parse(authorization).ok_or_else(missing)?;
        if signed.service != "execute-api" || signed.region != self.region {
            return Err(Box::new(service_error(
                StatusCode::FORBIDDEN,
                "InvalidSignatureException",
                "Credential should be scoped to a valid region and service execute-api.",
            )));
        }
        let secret = match &self.authorizer {
            Some(authorizer) if authorizer.principals.contains_key(&signed.access_key) => {
                authorizer.principal_secret.clone()
            }
            Some(authorizer) => authorizer.operator_secret.clone(),
            None => "testing".to_owned(),
        };
        match sigv4::verify(&signed, parts, body, &secret, SystemTime::now(), MAX_SKEW) {
            Ok(()) => Ok(signed.access_key),
            Err(problem) => Err(Box::new(service_error(
                StatusCode::FORBIDDEN,
                "InvalidSignatureException",
                &problem,
            ))),
        }
    }

    /// IAM's decision on `execute-api:ManageConnections` for the caller's key.
    async fn authorize(
        &self,
        access_key: &str,
        resource: &str,
    ) -> Result<(), Box<Response<Full<Bytes>>>> {
        let Some(authorizer) = &self.authorizer else {
            return Ok(());
        };
        let Some(arn) = authorizer.principals.get(access_key) else {
            return Ok(()); // the operator's key
        };
        let decision = crate::iam::decide(
            &authorizer.http,
            &authorizer.endpoint,
            access_key,
            "execute-api:ManageConnections",
            resource,
            &self.region,
        )
        .await;
        match decision {
            Ok(decision) if decision == "Allow" => Ok(()),
            Ok(_) => Err(Box::new(service_error(
                StatusCode::FORBIDDEN,
                "ForbiddenException",
                &format!(
                    "User: {arn} is not authorized to perform: execute-api:ManageConnections on resource: {resource}"
                ),
            ))),
            Err(error) => {
                tracing_line(&format!("asking the endpoint's IAM failed: {error:#}"));
                Err(Box::new(answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"message": "Internal server error"}),
                )))
            }
        }
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> Result<()> {
        super::accept(listener, true, move |req, peer| {
            let gateway = Arc::clone(&self);
            async move { gateway.handle(req, peer).await }
        })
        .await
    }
}

fn close(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: tokio_tungstenite::tungstenite::Utf8Bytes::from_static(reason),
    }))
}

/// The `101` of an accepted handshake, with the headers of `$connect`'s answers (the chosen
/// `Sec-WebSocket-Protocol`).
fn switching_protocols(accept: &str, decisions: &[Json]) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for decision in decisions {
        copy_headers(decision, response.headers_mut());
    }
    let h = response.headers_mut();
    h.remove("content-type");
    h.remove("content-length");
    h.insert("upgrade", HeaderValue::from_static("websocket"));
    h.insert("connection", HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::try_from(accept) {
        h.insert("sec-websocket-accept", v);
    }
    response
}

/// A handshake's headers as API Gateway hands them on: `headers` and `multiValueHeaders`.
fn event_headers(headers: &hyper::HeaderMap) -> (Json, Json) {
    let mut single = serde_json::Map::new();
    let mut multi: serde_json::Map<String, Json> = serde_json::Map::new();
    for (name, value) in headers {
        // API Gateway hands the headers on with the case the client gave; HTTP/1 clients
        // mostly send canonical case, which hyper does not keep: send it canonical.
        let name = canonical_case(name.as_str());
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.clone(), Json::String(value.clone()));
        if let Some(Json::Array(values)) = multi.get_mut(&name) {
            values.push(Json::String(value));
        } else {
            multi.insert(name, json!([value]));
        }
    }
    (Json::Object(single), Json::Object(multi))
}

/// `sec-websocket-protocol` → `Sec-WebSocket-Protocol`.
fn canonical_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            if part == "websocket" {
                return "WebSocket".to_owned();
            }
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `headers` and `multiValueHeaders` of a function's answer into `target`.
fn copy_headers(decision: &Json, target: &mut hyper::HeaderMap) {
    if let Some(headers) = decision["headers"].as_object() {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                hyper::header::HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::try_from),
            ) {
                target.insert(name, value);
            }
        }
    }
    if let Some(headers) = decision["multiValueHeaders"].as_object() {
        for (name, values) in headers {
            let Ok(name) = hyper::header::HeaderName::try_from(name.as_str()) else {
                continue;
            };
            for value in values.as_array().into_iter().flatten() {
                if let Some(Ok(value)) = value.as_str().map(HeaderValue::try_from) {
                    target.append(name.clone(), value);
                }
            }
        }
    }
}

/// Checking a `SigV4` signature the way AWS does: the canonical request rebuilt from what was
/// received, signed again with the caller's secret (aws-sigv4, as the SDK signs), compared.
mod sigv4 {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;

    /// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
    #[derive(Debug)]
    pub(super) struct Authorization {
        pub access_key: String,
        pub region: String,
        pub service: String,
        pub signed_headers: Vec<String>,
        pub signature: String,
    }

    impl Authorization {
        pub fn parse(header: &str) -> Option<Self> {
            let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
            let mut credential = None;
            let mut signed_headers = None;
            let mut signature = None;
            for part in rest.split(',') {
                let (name, value) = part.trim().split_once('=')?;
                match name {
                    "Credential" => credential = Some(value),
                    "SignedHeaders" => signed_headers = Some(value),
                    "Signature" => signature = Some(value),
                    _ => {}
                }
            }
            let mut scope = credential?.split('/');
            let access_key = scope.next()?.to_owned();
            let _date = scope.next()?;
            let region = scope.next()?.to_owned();
            let service = scope.next()?.to_owned();
            Some(Self {
                access_key,
                region,
                service,
                signed_headers: signed_headers?
                    .split(';')
                    .map(str::to_ascii_lowercase)
                    .collect(),
                signature: signature?.to_owned(),
            })
        }
    }

    /// `20240102T030405Z` → the instant.
    fn amz_date(text: &str) -> Option<SystemTime> {
        let digits =
            |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
        if text.len() != 16 || text.as_bytes()[8] != b'T' || !text.ends_with('Z') {
            return None;
        }
        let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
        let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
        // Days from the civil date (Howard Hinnant), proleptic Gregorian calendar.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
    }

    /// Whether `signed` is the signature of the request with `secret`, made within `skew` of
    /// `now`; AWS's message when it is not.
    pub(super) fn verify(
        signed: &Authorization,
        parts: &hyper::http::request::Parts,
        body: &[u8],
        secret: &str,
        now: SystemTime,
        skew: Duration,
    ) -> Result<(), String> {
        let mismatch = || {
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .to_owned()
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let at = header("x-amz-date")
            .and_then(amz_date)
            .ok_or_else(mismatch)?;
        let off = now.duration_since(at).unwrap_or_else(|e| e.duration());
        if off > skew {
            return Err("Signature expired".to_owned());
        }
        if !signed.signed_headers.iter().any(|h| h == "host") {
            return Err(mismatch());
        }
        let mut headers = Vec::new();
        for name in &signed.signed_headers {
            let values: Vec<&str> = parts
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if values.is_empty() {
                return Err(mismatch());
            }
            headers.push((name.as_str(), values.join(",")));
        }
        let host = header("host").ok_or_else(mismatch)?;
        let uri = format!(
            "http://{host}{}",
            parts
                .uri
                .path_and_query()
                .map_or("/", hyper::http::uri::PathAndQuery::as_str)
        );
        let identity = Credentials::new(&signed.access_key, secret, None, None, "local").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&signed.region)
            .name(&signed.service)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| mismatch())?
            .into();
        let signable = SignableRequest::new(
            parts.method.as_str(),
            &uri,
            headers.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|_| mismatch())?;
        let (_, signature) = sign(signable, &params)
            .map_err(|_| mismatch())?
            .into_parts();
        if signature == signed.signature {
            Ok(())
        } else {
            Err(mismatch())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn amz_dates_are_read_as_utc_instants() {
            let at = amz_date("20240229T235959Z").expect("date");
            assert_eq!(shared::clock::rfc3339(at), "2024-02-29T23:59:59.000Z");
            assert_eq!(amz_date("19700101T000000Z"), Some(UNIX_EPOCH));
            assert_eq!(amz_date("2024-02-29T23:59"), None);
        }

        #[test]
        fn an_authorization_header_is_read_into_its_scope() {
            let parsed = Authorization::parse(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
            )
            .expect("parsed");
            assert_eq!(parsed.access_key, "AKID");
            assert_eq!(parsed.region, "us-east-1");
            assert_eq!(parsed.service, "execute-api");
            assert_eq!(parsed.signed_headers, ["host", "x-amz-date"]);
            assert_eq!(parsed.signature, "abc");
            assert!(Authorization::parse("Bearer x").is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_handed_on_in_canonical_case() {
        assert_eq!(
            canonical_case("sec-websocket-protocol"),
            "Sec-WebSocket-Protocol"
        );
        assert_eq!(canonical_case("host"), "Host");
        assert_eq!(canonical_case("x-forwarded-for"), "X-Forwarded-For");
    }

    #[test]
    fn connection_ids_look_like_api_gateways() {
        let id = new_connection_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_ne!(id, new_connection_id());
    }
}
