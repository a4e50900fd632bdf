//! A local API Gateway (HTTP API, payload format 2.0) in front of the Lambda Invoke API.
//!
//! For each request it selects the route of template.yaml that API Gateway would, builds the
//! payload v2 event, invokes the function through `POST /2015-03-31/functions/{name}/invocations`
//! on a configurable base URL (`cargo lambda watch` by default, `sam local start-lambda` works
//! too), and turns the function's answer back into HTTP, including API Gateway's own answers:
//! 404 for no route, 413 over 10 MB, 500 for a function error, 503 for a timeout, CORS
//! preflights from the template's `CorsConfiguration`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
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

fn text_response(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// API Gateway's own error answers.
fn gateway_error(status: StatusCode) -> Response<Full<Bytes>> {
    let message = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable",
        StatusCode::GATEWAY_TIMEOUT => "Endpoint request timed out",
        _ => "Internal Server Error",
    };
    text_response(status, &json!({ "message": message }))
}

/// `dd/Mon/yyyy:HH:mm:ss +0000`, the format of `requestContext.time`.
fn clf_time(at: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let at = shared::clock::Civil::of(at);
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        at.day,
        MONTHS[usize::try_from(at.month.saturating_sub(1)).unwrap_or(0)],
        at.year,
        at.hour,
        at.minute,
        at.second
    )
}

fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-www-form-urlencoded"
        )
}

/// The request as API Gateway's payload format 2.0 event.
pub fn build_event(
    parts: &hyper::http::request::Parts,
    body: &[u8],
    matched: &routes::Match<'_>,
    source_ip: &str,
    request_id: &str,
) -> Json {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert(value);
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(name.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let now = SystemTime::now();
    let host = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".to_owned());
    let route_key = matched.route.key();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": clf_time(now),
            "timeEpoch": now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = json!(query);
    }
    if !matched.path_parameters.is_empty() {
        event["pathParameters"] = json!(matched.path_parameters);
    }
    if !body.is_empty() {
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        match std::str::from_utf8(body) {
            Ok(text) if is_text(content_type) => event["body"] = json!(text),
            _ => {
                event["body"] = json!(BASE64.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

/// Turns the function's payload v2 answer into HTTP. A payload without `statusCode` is, as in
/// API Gateway, a 200 whose body is the payload itself.
pub fn translate_response(payload: &[u8]) -> Response<Full<Bytes>> {
    let Ok(value) = serde_json::from_slice::<Json>(payload) else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let Some(status) = value.get("statusCode") else {
        return text_response(StatusCode::OK, &value);
    };
    let Some(status) = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let body = match &value["body"] {
        Json::String(text) if value["isBase64Encoded"] == json!(true) => {
            match BASE64.decode(text) {
                Ok(bytes) => Bytes::from(bytes),
                Err(_) => return gateway_error(StatusCode::INTERNAL_SERVER_ERROR),
            }
        }
        Json::String(text) => Bytes::from(text.clone()),
        Json::Null => Bytes::new(),
        other => Bytes::from(other.to_string()),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (map, joined) in [
        (&value["headers"], false),
        (&value["multiValueHeaders"], true),
    ] {
        let Some(map) = map.as_object() else { continue };
        for (name, v) in map {
            let values: Vec<String> = match v {
                Json::Array(items) if joined => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect(),
                Json::String(s) => vec![s.clone()],
                other => vec![other.to_string()],
            };
            for v in values {
                if let (Ok(name), Ok(v)) = (
                    HeaderName::try_from(name.as_str()),
                    HeaderValue::try_from(v),
                ) {
                    headers.append(name, v);
                }
            }
        }
    }
    if let Some(cookies) = value["cookies"].as_array() {
        for cookie in cookies.iter().filter_map(Json::as_str) {
            if let Ok(v) = HeaderValue::try_from(cookie) {
                headers.append("set-cookie", v);
            }
        }
    }
    response
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
        let url = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.lambda_url.trim_end_matches('/'),
            route.binary
        );
        // Beyond the function's own timeout, the time a rebuild may take (see INVOKE_ALLOWANCE).
        let timeout = Duration::from_secs(route.timeout_secs.max(1)) + crate::INVOKE_ALLOWANCE;
        let sent = self
            .client
            .post(&url)
            .json(event)
            .timeout(timeout)
            .send()
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(error) if error.is_timeout() => {
                tracing_line(&format!(
                    "function {} did not answer within {timeout:?} (an invocation in flight when cargo lambda watch restarts a function is lost)",
                    route.binary
                ));
                return gateway_error(StatusCode::SERVICE_UNAVAILABLE);
            }
            Err(error) => {
                tracing_line(&format!("invoke {url} failed: {error}"));
                return gateway_error(StatusCode::SERVICE_UNAVAILABLE);
            }
        };
        let function_error = answer.headers().contains_key("x-amz-function-error");
        let status = answer.status();
        let Ok(payload) = answer.bytes().await else {
            return gateway_error(StatusCode::INTERNAL_SERVER_ERROR);
        };
        if function_error || !status.is_success() {
            tracing_line(&format!(
                "function {} failed ({status}): {}",
                route.binary,
                String::from_utf8_lossy(&payload)
                    .chars()
                    .take(500)
                    .collect::<String>()
            ));
            let code =
                if status == StatusCode::GATEWAY_TIMEOUT || status == StatusCode::REQUEST_TIMEOUT {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
            return gateway_error(code);
        }
        translate_response(&payload)
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
        loop {
            let (stream, peer) = listener.accept().await?;
            let gateway = Arc::clone(&self);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let gateway = Arc::clone(&gateway);
                    async move { Ok::<_, Infallible>(gateway.handle(req, peer).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing_line(&format!("connection from {peer}: {error}"));
                }
            });
        }
    }
}

/// The body if it is at most `limit` bytes; `None` (after reading and discarding the rest) if
/// it is larger or the client stopped sending it.
async fn read_body(mut body: Incoming, limit: usize) -> Option<Bytes> {
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
fn tracing_line(line: &str) {
    eprintln!("gateway: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_times_use_api_gateways_format() {
        let at = UNIX_EPOCH + Duration::from_secs(1_583_348_638);
        assert_eq!(clf_time(at), "04/Mar/2020:19:03:58 +0000");
        assert_eq!(clf_time(UNIX_EPOCH), "01/Jan/1970:00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(clf_time(leap), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn a_structured_response_keeps_status_headers_cookies_and_binary_bodies() {
        let payload = json!({
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream", "x-a": "1"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": BASE64.encode([0u8, 159, 146, 150]),
            "isBase64Encoded": true
        });
        let response = translate_response(payload.to_string().as_bytes());
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-a"], "1");
        let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
        assert_eq!(cookies.len(), 2);
    }

    #[test]
    fn a_payload_without_status_code_is_a_200_with_that_json() {
        let response = translate_response(br#"{"hello":"world"}"#);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "application/json");
        let response = translate_response(b"not json");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
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
