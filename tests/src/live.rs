//! Live connections in-process: the local WebSocket gateway (the one `make dev` runs) in front
//! of the `$connect` and `$disconnect` handlers — run as their functions' roles, behind a Lambda
//! Invoke API of the test's own — and real WebSocket clients.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Full};
use infra::gateway::websocket::{Authorizer, WebSocketGateway};
use serde_json::Value;
use shared::State;
use shared::live::WebSocketEvent;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::TestApp;
use crate::world::{placeholder_ctx, template};

/// A client's connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The WebSocket API of one test: its connection URL and how many `$disconnect`s its functions
/// have handled.
#[derive(Debug)]
pub struct Live {
    /// `ws://127.0.0.1:<port>/v1`.
    pub url: String,
    /// `ws://127.0.0.1:<port>`: the API's endpoint, as the pushing functions get it.
    pub endpoint: String,
    pub gateway: Arc<WebSocketGateway>,
    disconnects: Arc<(AtomicUsize, tokio::sync::Notify)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs a WebSocket route's handler for the Invoke API (`live-connect`, `live-disconnect`).
async fn invoke(
    connect: &'static State,
    disconnect: &'static State,
    disconnects: &(AtomicUsize, tokio::sync::Notify),
    function: &str,
    event: WebSocketEvent,
) -> Option<Value> {
    let answer = match function {
        "live-connect" => live_connect::handle(connect, event).await,
        "live-disconnect" => {
            let answer = live_disconnect::handle(disconnect, event).await;
            disconnects.0.fetch_add(1, Ordering::SeqCst);
            disconnects.1.notify_waiters();
            answer
        }
        _ => return None,
    };
    serde_json::to_value(answer).ok()
}

/// One `POST /2015-03-31/functions/<name>/invocations`: the handler's answer, 404 for a
/// function that is not a WebSocket route's.
async fn invocation(
    req: hyper::Request<hyper::body::Incoming>,
    connect: &'static State,
    disconnect: &'static State,
    counter: &(AtomicUsize, tokio::sync::Notify),
) -> hyper::Response<Full<Bytes>> {
    let function = req
        .uri()
        .path()
        .trim_start_matches("/2015-03-31/functions/")
        .trim_end_matches("/invocations")
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes);
    let answer = match body.ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(event) => invoke(connect, disconnect, counter, &function, event).await,
        None => None,
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(
        answer.as_ref().map(Value::to_string).unwrap_or_default(),
    )));
    if answer.is_none() {
        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
    }
    response
}

/// A Lambda Invoke API for the WebSocket routes' functions, on `listener`.
async fn serve_invocations(
    listener: tokio::net::TcpListener,
    connect: &'static State,
    disconnect: &'static State,
    counter: Arc<(AtomicUsize, tokio::sync::Notify)>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let counter = Arc::clone(&counter);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let counter = Arc::clone(&counter);
                async move { Ok::<_, Infallible>(invocation(req, connect, disconnect, &counter).await) }
            });
            drop(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await,
            );
        });
    }
}

impl Live {
    /// Starts the template's WebSocket API for `app`: `@connections` callers held to the IAM
    /// of `app`'s roles, as in `make dev`.
    pub async fn start(app: &TestApp) -> Self {
        let connect = app.state_of("LiveConnectFunction");
        let disconnect = app.state_of("LiveDisconnectFunction");
        let disconnects = Arc::new((AtomicUsize::new(0), tokio::sync::Notify::new()));

        // The Lambda Invoke API: `POST /2015-03-31/functions/<name>/invocations`.
        let lambda = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let lambda_url = format!("http://{}", lambda.local_addr().expect("address"));
        let lambda_task = tokio::spawn(serve_invocations(
            lambda,
            connect,
            disconnect,
            Arc::clone(&disconnects),
        ));

        let ctx = placeholder_ctx();
        let api = infra::routes::websocket_api(template(), &ctx)
            .expect("the template's WebSocket API reads")
            .expect("the template has a WebSocket API");
        let stage = api.stage.clone();
        let authorizer = Authorizer {
            endpoint: crate::endpoint(),
            principals: app
                .principals()
                .into_iter()
                .map(|p| (p.access_key_id, p.arn))
                .collect(),
            principal_secret: infra::iam::LOCAL_SECRET.to_owned(),
            operator_secret: "testing".to_owned(),
            http: crate::http(),
        };
        let gateway = Arc::new(
            WebSocketGateway::new(
                api,
                &lambda_url,
                &ctx.region,
                &ctx.account_id,
                Some(authorizer),
            )
            .expect("the gateway"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let endpoint = format!("ws://{}", listener.local_addr().expect("address"));
        let serving = Arc::clone(&gateway);
        let gateway_task = tokio::spawn(async move {
            drop(serving.serve(listener).await);
        });
        Self {
            url: format!("{endpoint}/{stage}"),
            endpoint,
            gateway,
            disconnects,
            tasks: vec![lambda_task, gateway_task],
        }
    }

    /// `WEBSOCKET_API_ENDPOINT` and `WEBSOCKET_STAGE` of the pushing functions.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("WEBSOCKET_API_ENDPOINT", self.endpoint.clone()),
            (
                "WEBSOCKET_STAGE",
                self.url.rsplit('/').next().unwrap_or_default().to_owned(),
            ),
        ]
    }

    /// Opens a connection offering `protocols` (`Sec-WebSocket-Protocol`): the socket and the
    /// subprotocol the answer chose, or the status of the refusal.
    pub async fn open(&self, protocols: Option<&str>) -> Result<(Socket, Option<String>), u16> {
        open(&self.url, protocols).await
    }

    /// Opens a connection with `token` as a client should (`ferrite.v1, bearer.<token>`).
    pub async fn connect(&self, token: &str) -> Socket {
        let (socket, chosen) = self
            .open(Some(&format!("ferrite.v1, bearer.{token}")))
            .await
            .unwrap_or_else(|status| panic!("the connection was refused: {status}"));
        assert_eq!(chosen.as_deref(), Some("ferrite.v1"));
        socket
    }

    /// Waits until the functions have handled `count` `$disconnect`s in all (each one
    /// signalled as it is handled: no time bound to guess).
    pub async fn disconnects_handled(&self, count: usize) {
        loop {
            let notified = self.disconnects.1.notified();
            if self.disconnects.0.load(Ordering::SeqCst) >= count {
                return;
            }
            notified.await;
        }
    }
}

/// Opens a connection to `url` offering `protocols`: see [`Live::open`].
pub async fn open(url: &str, protocols: Option<&str>) -> Result<(Socket, Option<String>), u16> {
    let mut request = url.into_client_request().expect("a WebSocket request");
    if let Some(protocols) = protocols {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            protocols.parse().expect("a header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, response)) => {
            let chosen = response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((socket, chosen))
        }
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("the handshake failed: {other}"),
    }
}

/// The next text message on `socket` (a push, or API Gateway's error frame), as JSON; `None`
/// when the connection closes first. A push is sent before the worker's run returns: tests
/// read it after that, so a missing message is a close or a hang, never a race.
pub async fn next_message(socket: &mut Socket) -> Option<Value> {
    while let Some(message) = socket.next().await {
        match message.ok()? {
            Message::Text(text) => {
                return Some(serde_json::from_str(&text).expect("JSON messages"));
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

/// Whether nothing was pushed on `socket` so far: it sends a message (no route takes it) and
/// reads what comes first — a push sent earlier would be ahead of API Gateway's error frame.
pub async fn nothing_pushed(socket: &mut Socket) -> bool {
    socket
        .send(Message::text("{\"action\": \"hello\"}"))
        .await
        .expect("send");
    let first = next_message(socket).await.expect("an answer");
    first["message"] == "Forbidden"
}
