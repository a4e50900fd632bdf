//! A local API Gateway (HTTP API, payload format 2.0) in front of the Lambda Invoke API.
//!
//! For each request it selects the route of template.yaml that API Gateway would, builds the
//! payload v2 event, invokes the function through `POST /2015-03-31/functions/{name}/invocations`
//! on a configurable base URL (`cargo lambda watch` by default, `sam local start-lambda` works
//! too), and turns the function's answer back into HTTP, including API Gateway's own answers:
//! 404 for no route, 413 over 10 MB, 500 for a function error, 503 for a timeout, CORS
//! preflights from the template's `CorsConfiguration`.

mod event;
pub mod websocket;

use event::gateway_error;

pub use event::{build_event, translate_response};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value as Json, json};

use crate::routes::{self, Route};

/// API Gateway's payload limit for HTTP APIs.
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// The template's `CorsConfiguration` of the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

impl Cors {
    /// Reads an evaluated `CorsConfiguration` (None when the API has none).
    pub fn from_config(config: &Json) -> Option<Self> {
        let list = |field: &str| -> Vec<String> {
            match &config[field] {
                Json::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                Json::String(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
                _ => Vec::new(),
            }
        };
        if !config.is_object() {
            return None;
        }
        Some(Self {
            allow_origins: list("AllowOrigins"),
            allow_methods: list("AllowMethods"),
            allow_headers: list("AllowHeaders"),
            expose_headers: list("ExposeHeaders"),
            max_age: config["MaxAge"]
                .as_u64()
                .or_else(|| config["MaxAge"].as_str().and_then(|s| s.parse().ok())),
            allow_credentials: config["AllowCredentials"] == json!(true),
        })
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.allow_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }

    fn origin_value(&self, origin: &str) -> String {
        if self.allow_origins.iter().any(|o| o == "*") && !self.allow_credentials {
            "*".to_owned()
        } else {
            origin.to_owned()
        }
    }
}

/// Everything the gateway needs; cheap to share between connections.
#[derive(Debug)]
pub struct Gateway {
    pub routes: Vec<Route>,
    pub cors: Option<Cors>,
    /// Base URL of the Lambda Invoke API (`http://127.0.0.1:9000`).
    pub lambda_url: String,
    pub client: reqwest::Client,
}

impl Gateway {
    fn request_id() -> String {
        // API Gateway's ids look like `JKJaXmPLvHcESHA=`; a ULID is as unique and sorts by time.
        ulid::Ulid::new().to_string()
    }

    fn preflight(&self, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
        let cors = self.cors.as_ref()?;
        let origin = headers.get("origin")?.to_str().ok()?;
        headers.get("access-control-request-method")?;
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        if cors.allows_origin(origin) {
            let h = response.headers_mut();
            let mut set = |name: &'static str, value: String| {
                if let Ok(v) = HeaderValue::try_from(value) {
                    h.insert(name, v);
                }
            };
            set("access-control-allow-origin", cors.origin_value(origin));
            set("access-control-allow-methods", cors.allow_methods.join(","));
            set("access-control-allow-headers", cors.allow_headers.join(","));
            if let Some(max_age) = cors.max_age {
                set("access-control-max-age", max_age.to_string());
            }
            if cors.allow_credentials {
                set("access-control-allow-credentials", "true".to_owned());
            }
        }
        Some(response)
    }

    fn add_cors(&self, request_headers: &HeaderMap, response: &mut Response<Full<Bytes>>) {
        let Some(cors) = &self.cors else { return };
        let Some(origin) = request_headers.get("origin").and_then(|o| o.to_str().ok()) else {
            return;
        };
        if !cors.allows_origin(origin) {
            return;
        }
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::try_from(cors.origin_value(origin)) {
            h.insert("access-control-allow-origin", v);
        }
        if !cors.expose_headers.is_empty()
            && let Ok(v) = HeaderValue::try_from(cors.expose_headers.join(","))
        {
            h.insert("access-control-expose-headers", v);
        }
        if cors.allow_credentials {
            h.insert(
                "access-control-allow-credentials",
                HeaderValue::from_static("true"),
            );
        }
    }

    async fn invoke(&self, route: &Route, event: &Json) -> Response<Full<Bytes>> {
        match invoke_function(
            &self.client,
            &self.lambda_url,
            &route.binary,
            route.timeout_secs,
            event,
        )
        .await
        {
            Ok(payload) => translate_response(&payload),
            Err(Invocation::Unanswered) => gateway_error(StatusCode::SERVICE_UNAVAILABLE),
            Err(Invocation::Failed) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// Answers one request as API Gateway would.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        let request_id = Self::request_id();
        let path = parts.uri.path().to_owned();
        let method = parts.method.as_str().to_owned();
        let (mut response, route_key, function) = 'answer: {
            if method == "OPTIONS"
                && let Some(preflight) = self.preflight(&parts.headers)
                && routes::select(&self.routes, "OPTIONS", &path)
                    .is_none_or(|m| m.route.method.is_none())
            {
                break 'answer (preflight, "(cors preflight)".to_owned(), "-".to_owned());
            }
            // Read (or, past the limit, drain) the whole body before answering: answering early
            // and closing would reset the connection under a client that is still sending.
            let body = read_body(body, MAX_PAYLOAD).await;
            let Some(matched) = routes::select(&self.routes, &method, &path) else {
                break 'answer (
                    gateway_error(StatusCode::NOT_FOUND),
                    "-".to_owned(),
                    "-".to_owned(),
                );
            };
            let Some(body) = body else {
                break 'answer (
                    gateway_error(StatusCode::PAYLOAD_TOO_LARGE),
                    matched.route.key(),
                    matched.route.binary.clone(),
                );
            };
            if !matched.route.invocable(&method, &path) {
                // AWS checks the function's resource policy when it invokes: a route without an
                // `AWS::Lambda::Permission` for it deploys, and answers 500 on every call.
                tracing_line(&format!(
                    "{}: no AWS::Lambda::Permission lets API Gateway invoke {} from {}{method}{path} (AWS answers 500)",
                    matched.route.key(),
                    matched.route.function,
                    matched.route.arn_prefix
                ));
                break 'answer (
                    gateway_error(StatusCode::INTERNAL_SERVER_ERROR),
                    matched.route.key(),
                    matched.route.binary.clone(),
                );
            }
            let event = build_event(&parts, &body, &matched, &peer.ip().to_string(), &request_id);
            (
                self.invoke(matched.route, &event).await,
                matched.route.key(),
                matched.route.binary.clone(),
            )
        };
        self.add_cors(&parts.headers, &mut response);
        if let Ok(v) = HeaderValue::try_from(request_id.as_str()) {
            response.headers_mut().insert("apigw-requestid", v);
        }
        tracing_line(&format!(
            "{method} {path} route={route_key:?} function={function} status={} {:.1}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
        response
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> Result<()> {
        accept(listener, false, move |req, peer| {
            let gateway = Arc::clone(&self);
            async move { gateway.handle(req, peer).await }
        })
        .await
    }
}

/// Why an invocation gave no answer to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// The function could not be reached or did not answer in time (an HTTP API answers 503).
    Unanswered,
    /// The function failed (an error, or the Invoke API refused it).
    Failed,
}

/// Invokes `binary` with `event` through the Lambda Invoke API at `lambda_url`, allowing its
/// `timeout_secs` and the time a rebuild may take ([`crate::INVOKE_ALLOWANCE`]): its answer's
/// payload. Failures are logged here, once.
pub(crate) async fn invoke_function(
    client: &reqwest::Client,
    lambda_url: &str,
    binary: &str,
    timeout_secs: u64,
    event: &Json,
) -> Result<Bytes, Invocation> {
    let url = format!(
        "{}/2015-03-31/functions/{binary}/invocations",
        lambda_url.trim_end_matches('/')
    );
    let timeout = Duration::from_secs(timeout_secs.max(1)) + crate::INVOKE_ALLOWANCE;
    let answer = match client.post(&url).json(event).timeout(timeout).send().await {
        Ok(answer) => answer,
        Err(error) if error.is_timeout() => {
            tracing_line(&format!(
                "function {binary} did not answer within {timeout:?} (an invocation in flight when cargo lambda watch restarts a function is lost)"
            ));
            return Err(Invocation::Unanswered);
        }
        Err(error) => {
            tracing_line(&format!("invoke {url} failed: {error}"));
            return Err(Invocation::Unanswered);
        }
    };
    let function_error = answer.headers().contains_key("x-amz-function-error");
    let status = answer.status();
    let payload = answer.bytes().await.map_err(|_| Invocation::Failed)?;
    if function_error || !status.is_success() {
        tracing_line(&format!(
            "function {binary} failed ({status}): {}",
            String::from_utf8_lossy(&payload)
                .chars()
                .take(500)
                .collect::<String>()
        ));
        let timed_out =
            status == StatusCode::GATEWAY_TIMEOUT || status == StatusCode::REQUEST_TIMEOUT;
        return Err(if timed_out {
            Invocation::Unanswered
        } else {
            Invocation::Failed
        });
    }
    Ok(payload)
}

/// Accepts HTTP/1.1 connections on `listener` until the task is dropped, answering each request
/// with `answer` (with `upgrades`, a connection may switch protocols: a WebSocket handshake).
pub(crate) async fn accept<F, Fut>(
    listener: tokio::net::TcpListener,
    upgrades: bool,
    answer: F,
) -> Result<()>
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    loop {
        let (stream, peer) = listener.accept().await?;
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let answered = answer(req, peer);
                async move { Ok::<_, Infallible>(answered.await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let connection =
                hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            let served = if upgrades {
                connection.with_upgrades().await
            } else {
                connection.await
            };
            if let Err(error) = served {
                tracing_line(&format!("connection from {peer}: {error}"));
            }
        });
    }
}

/// The body if it is at most `limit` bytes; `None` (after reading and discarding the rest) if
/// it is larger or the client stopped sending it.
pub(crate) async fn read_body(mut body: Incoming, limit: usize) -> Option<Bytes> {
    let mut buffer = Vec::new();
    let mut too_large = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        if let Some(data) = frame.data_ref() {
            if too_large || buffer.len() + data.len() > limit {
                too_large = true;
                buffer = Vec::new();
            } else {
                buffer.extend_from_slice(data);
            }
        }
    }
    (!too_large).then(|| Bytes::from(buffer))
}

/// One log line on stderr (the gateway is a dev tool; its stdout is the route table).
pub(crate) fn tracing_line(line: &str) {
    eprintln!("gateway: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function, its integration and route, and (unless `permission` is None) the permission
    /// that lets API Gateway invoke it from `permission` (a `SourceArn` pattern).
    fn one_route(permission: Option<&str>) -> crate::template::Template {
        let permission = permission.map_or_else(String::new, |source| {
            format!(
                r#"
  HealthPermission:
    Type: AWS::Lambda::Permission
    Properties:
      Action: lambda:InvokeFunction
      FunctionName: !Ref HealthFunction.Alias
      Principal: apigateway.amazonaws.com
      SourceArn: !Sub "{source}"
"#
            )
        });
        crate::template::Template::parse(&format!(
            r#"
Resources:
  HttpApi:
    Type: AWS::ApiGatewayV2::Api
  HealthFunction:
    Type: AWS::Serverless::Function
    Metadata: {{ BuildProperties: {{ Binary: health }} }}
  HealthIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref HttpApi
      IntegrationType: AWS_PROXY
      IntegrationUri: !Ref HealthFunction.Alias
      PayloadFormatVersion: "2.0"
  HealthRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref HttpApi
      RouteKey: GET /v1/things/{{id}}
      Target: !Sub "integrations/${{HealthIntegration}}"
{permission}"#
        ))
        .expect("template")
    }

    #[tokio::test]
    async fn a_route_whose_function_does_not_let_api_gateway_invoke_it_answers_500_without_invoking()
     {
        let ctx = crate::template::Context::local("t", "us-east-1");
        let api = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}";
        for (permission, invoked) in [
            (None, false),
            (Some(format!("{api}/*/POST/v1/things/*")), false),
            (Some(format!("{api}/*/GET/v1/other/*")), false),
            (Some(format!("{api}/*/GET/v1/things/*")), true),
            (Some(format!("{api}/*")), true),
        ] {
            // Nothing listens at the Lambda URL: an invocation is a 503, a refusal a 500.
            let (address, routes, task) = crate::stack::start_gateway(
                &one_route(permission.as_deref()),
                &ctx,
                "http://127.0.0.1:9",
                0,
            )
            .await
            .expect("gateway");
            assert_eq!(routes.len(), 1);
            let answer = crate::http_client()
                .build()
                .expect("client")
                .get(format!("http://{address}/v1/things/42"))
                .send()
                .await
                .expect("answer");
            let expected = if invoked { 503 } else { 500 };
            assert_eq!(answer.status().as_u16(), expected, "{permission:?}");
            if !invoked {
                let body: Json = answer.json().await.expect("json");
                assert_eq!(body, json!({"message": "Internal Server Error"}));
            }
            task.abort();
        }
    }

    #[test]
    fn cors_configuration_is_read_from_the_template_shape() {
        let cors = Cors::from_config(&json!({
            "AllowOrigins": ["http://localhost:5173"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["authorization"],
            "MaxAge": 600
        }))
        .expect("cors");
        assert!(cors.allows_origin("http://localhost:5173"));
        assert!(!cors.allows_origin("https://evil.example"));
        assert_eq!(cors.max_age, Some(600));
        assert_eq!(Cors::from_config(&Json::Null), None);
    }
}
