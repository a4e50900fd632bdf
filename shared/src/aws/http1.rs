//! The SDK's HTTP client, HTTP/1.1 only: hyper-util's pooled client over rustls (ring).
//!
//! The SDK's own client (`aws-smithy-http-client`) always compiles in HTTP/2 (`h2`, hyper's and
//! hyper-util's http2 halves) and a proxy layer, though every AWS endpoint a function calls
//! (DynamoDB, SQS, Secrets Manager, SES) speaks HTTP/1.1 and the SDK opens one pooled
//! keep-alive connection per endpoint either way. This one links only what HTTP/1.1 needs.
//!
//! What it keeps of the SDK's client: connection pooling and keep-alive (hyper-util's legacy
//! client), the connect timeout (from the SDK's timeout settings), TLS 1.2/1.3 with the trust
//! store chosen by [`super::Roots`], and transport failures reported as I/O errors — which the
//! SDK's standard retry strategy retries — or as timeouts.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// How idle pooled connections may stay open: under the 60 s after which AWS's load balancers
/// close an idle connection, so a call never lands on one being closed.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

type Pool = Client<HttpsConnector<TcpConnector>, SdkBody>;
/// The connectors built so far, by the connect timeout they were built for.
type Pools = Arc<Mutex<Vec<(Option<Duration>, SharedHttpConnector)>>>;

/// The client: one pool per connect timeout the SDK asks for (in practice one).
#[derive(Debug, Clone)]
pub(super) struct Http1Client {
    tls: Option<Arc<rustls::ClientConfig>>,
    pools: Pools,
}

impl Http1Client {
    /// A client with TLS configured by `tls`, or plain HTTP (`None`: the local stack).
    pub(super) fn shared(tls: Option<rustls::ClientConfig>) -> SharedHttpClient {
        SharedHttpClient::new(Self {
            tls: tls.map(Arc::new),
            pools: Arc::default(),
        })
    }

    fn pool(&self, connect_timeout: Option<Duration>) -> Pool {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        // `http://` stays possible with TLS configured, as with the SDK's client: the admin CLI
        // trusts the system store and still talks to the local stack in plain HTTP.
        let tls = self
            .tls
            .as_deref()
            .cloned()
            .unwrap_or_else(plain_http_placeholder);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // Without a timer the idle timeout is not applied: a connection idle past it (a
            // frozen Lambda sandbox thawed later) would be reused.
            .pool_timer(TokioTimer::new())
            .build(connector)
    }
}

/// hyper-rustls wants a TLS configuration even for a connector that will only see `http://`
/// (the local stack): an empty trust store, which can verify nothing, so an `https://` call
/// through it fails rather than trusting anyone.
fn plain_http_placeholder() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

impl HttpClient for Http1Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeout = settings.connect_timeout();
        let mut pools = self
            .pools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, connector)) = pools.iter().find(|(t, _)| *t == timeout) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(Connector {
            pool: self.pool(timeout),
        });
        pools.push((timeout, connector.clone()));
        connector
    }
}

#[derive(Debug, Clone)]
struct Connector {
    pool: Pool,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let pool = self.pool.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(Box::new(e)))?;
            let response = pool.request(request).await.map_err(transport)?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

/// A failed exchange as the SDK's retry strategy reads it: a timeout, or an I/O error
/// (retried: the connection failed, was reset or closed before an answer).
fn transport(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return ConnectorError::timeout(Box::new(error));
        }
        source = cause.source();
    }
    ConnectorError::io(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A server answering every request on a connection with `200 ok`, counting connections.
    async fn server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0_u8; 4096];
                    while let Ok(n) = socket.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (format!("{address}"), connections)
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest::try_from(
            http::Request::get(url)
                .body(SdkBody::empty())
                .expect("request"),
        )
        .expect("an SDK request")
    }

    fn connector(tls: Option<rustls::ClientConfig>) -> Connector {
        let client = Http1Client {
            tls: tls.map(Arc::new),
            pools: Arc::default(),
        };
        Connector {
            pool: client.pool(Some(Duration::from_secs(2))),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn calls_share_one_kept_alive_connection() {
        let (address, connections) = server().await;
        let connector = connector(None);
        for _ in 0..3 {
            let response = connector
                .call(get(&format!("http://{address}/")))
                .await
                .expect("an answer");
            assert_eq!(response.status().as_u16(), 200);
            let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
                .collect()
                .await
                .expect("a body");
            assert_eq!(body.into_bytes().as_ref(), b"ok");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_handshake_is_a_retryable_io_error() {
        let (address, _) = server().await;
        let error = connector(Some(plain_http_placeholder()))
            .call(get(&format!("https://{address}/")))
            .await
            .expect_err("no TLS there");
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_client_with_tls_still_speaks_plain_http_to_an_http_endpoint() {
        // The admin CLI (system roots) against the local stack.
        let (address, _) = server().await;
        let response = connector(Some(plain_http_placeholder()))
            .call(get(&format!("http://{address}/")))
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 200);
    }
}
