//! HTTP helpers for API functions: reading requests, building responses, and the [`serve`] loop
//! that turns every handler result — `Ok` or `Err` — into an API Gateway response.

mod body;
mod request;

pub use body::{json_body, json_body_with_limit};
pub use request::{
    IDEMPOTENCY_TTL_SECS, PathId, QueryEnum, enum_param, flag_param, idempotency_key,
    if_match_version, page_request, path_id, path_param, query_param, request_fingerprint,
    same_request, source_ip, user_agent,
};

use std::future::Future;
use std::time::Instant;

use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::Instrument;

use crate::error::ApiError;
use crate::telemetry::metric;

/// The media type every JSON endpoint reads and writes.
pub const JSON: &str = "application/json";

/// Default request-body limit of JSON endpoints: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Header echoing the request id, so a client can quote it in a support request.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The API Gateway request id (what API Gateway's access logs show), or the Lambda request id
/// when the event has none (direct invocations).
pub fn request_id(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(id) = &ctx.request_id
    {
        return id.clone();
    }
    req.lambda_context_ref()
        .map(|ctx| ctx.request_id.clone())
        .unwrap_or_default()
}

/// A client's `X-Request-Id` we log: 1 to 128 visible ASCII characters.
pub fn valid_client_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The route key API Gateway matched (`GET /v1/health`), for logs.
fn route_key(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// How long caches may keep the public feeds (the whole feed, a tag's, an author's): a new or
/// changed post shows within a minute at worst.
pub const FEED_CACHE: &str = "public, max-age=30, s-maxage=60, stale-while-revalidate=30";

/// How long caches may keep one public resource read anonymously (a published post, a public
/// profile): a change shows within a minute at worst.
pub const ITEM_CACHE: &str = "public, max-age=60, s-maxage=60";

/// Whether the request's `If-None-Match` names `etag` (or `*`); weak comparison, as RFC 9110
/// asks for `If-None-Match`.
pub fn if_none_match(req: &Request, etag: &str) -> bool {
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || strip(t) == strip(etag))
        })
}

/// `304 Not Modified` with the `ETag` it confirms.
pub fn not_modified(etag: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A public, cacheable JSON answer: `Cache-Control: policy`, a strong `ETag` of the body, and
/// 304 when `If-None-Match` names it (lists have no version: the body's digest is their tag).
pub fn cacheable_json<T: Serialize + ?Sized>(
    req: &Request,
    value: &T,
    policy: &'static str,
) -> Result<Response<Body>, ApiError> {
    use sha2::Digest as _;
    let body = serde_json::to_string(value).map_err(ApiError::internal)?;
    let digest = sha2::Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{hex}\"");
    let mut response = if if_none_match(req, &etag) {
        not_modified(&etag)
    } else {
        let mut response = json_text(StatusCode::OK, body);
        response.headers_mut().insert(
            header::ETAG,
            HeaderValue::from_str(&etag).map_err(ApiError::internal)?,
        );
        response
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    Ok(response)
}

/// The `ETag` of a resource at `version`: `"<version>"`.
pub fn version_etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// Sets `ETag: "<version>"` on a response.
pub fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&version_etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(ApiError::internal)?;
    Ok(json_text(status, body))
}

/// A response with `status` whose body is the JSON text `body`.
fn json_text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `201 Created` with `Location: location` (the new resource's path) and the JSON body.
pub fn created<T: Serialize + ?Sized>(
    location: &str,
    value: &T,
) -> Result<Response<Body>, ApiError> {
    let mut response = json(StatusCode::CREATED, value)?;
    let location = HeaderValue::from_str(location).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// `204 No Content`.
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The headers helmet (the default of the Node backends Ferrite competes with) sets, on every
/// answer unless the handler set its own (the docs page sets its own Content-Security-Policy).
/// An API answer is never a document to frame, render or embed: its policy allows nothing.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-opener-policy", "same-origin"),
    ("origin-agent-cluster", "?1"),
    ("x-dns-prefetch-control", "off"),
    ("x-download-options", "noopen"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-xss-protection", "0"),
];

/// Turns a handler's result into the response sent to API Gateway: an `Err` becomes its
/// problem+json (logged once), and every response gets `X-Content-Type-Options: nosniff`,
/// [`SECURITY_HEADERS`], `Cache-Control: no-store` unless the handler chose a policy, and the
/// request id.
pub fn finish(request_id: &str, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    let mut response = result.unwrap_or_else(|error| error.into_response(request_id));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(*name) {
            headers.insert(*name, HeaderValue::from_static(value));
        }
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Runs one request through `handler` inside a span carrying the request id and route, and
/// logs one line with the outcome. Never fails: errors are answered, not returned.
pub async fn dispatch<S, F, Fut>(state: &'static S, handler: F, req: Request) -> Response<Body>
where
    S: Sync,
    F: Fn(&'static S, Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let request_id = request_id(&req);
    let route = route_key(&req);
    // A client's own request id (bounded, visible ASCII) is logged beside ours, so that either
    // finds the other; an unusable one is ignored, never echoed.
    let client_request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| valid_client_request_id(id))
        .unwrap_or_default()
        .to_owned();
    let invocation = req
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    crate::telemetry::invocation_started(&invocation);
    let span = tracing::info_span!(
        "request",
        apigwRequestId = %request_id,
        route = %route,
        clientRequestId = tracing::field::Empty
    );
    if !client_request_id.is_empty() {
        span.record("clientRequestId", client_request_id.as_str());
    }
    async move {
        let started = Instant::now();
        let response = finish(&request_id, handler(state, req).await);
        let status = response.status().as_u16();
        tracing::info!(
            status,
            durationMs = started.elapsed().as_secs_f64() * 1000.0,
            "request handled"
        );
        let class = crate::telemetry::status_class(status);
        metrics::counter!(metric::REQUEST, "statusClass" => class).increment(1);
        if status >= 500 {
            crate::telemetry::count_failure();
        }
        metrics::counter!(metric::REQUEST_BY_ROUTE, "route" => route, "statusClass" => class)
            .increment(1);
        crate::telemetry::flush_metrics();
        response
    }
    .instrument(span)
    .await
}

/// The Lambda loop of an API function: `main.rs` builds the state once (per cold start) and
/// hands it here with the handler.
pub async fn serve<S, F, Fut>(state: S, handler: F) -> Result<(), lambda_http::Error>
where
    S: crate::secrets::StartReads,
    F: Fn(&'static S, Request) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
{
    // The state lives as long as the process: leaking it gives handlers a `&'static` borrow
    // instead of an `Arc` clone per request.
    let state: &'static S = Box::leak(Box::new(state));
    lambda_http::run(lambda_http::service_fn(move |req: Request| async move {
        // Keys read on first use travel while the handler makes its own first call.
        state.start_reads();
        Ok::<_, std::convert::Infallible>(AsBuilt(dispatch(state, handler, req).await))
    }))
    .await
}

/// A response handed to API Gateway as the handler built it. `lambda_http`'s own conversion
/// of a `Response<Body>` re-reads every body and decodes it by the charset of its
/// `Content-Type` through `encoding_rs`, whose tables of every legacy encoding are ~150 KB of
/// each function binary (BENCHMARKS.md, "What changed the numbers"). Every body here is
/// already what API Gateway should get: UTF-8 text ([`Body::Text`]) or nothing ([`Body::Empty`]).
struct AsBuilt(Response<Body>);

impl lambda_http::IntoResponse for AsBuilt {
    fn into_response(self) -> std::pin::Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(std::future::ready(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_gets_the_helmet_headers_unless_the_handler_set_its_own() {
        let ok = finish("req-1", json(StatusCode::OK, &serde_json::json!({})));
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(ok.headers()[*name], *value, "{name}");
        }
        assert!(
            ok.headers()["strict-transport-security"]
                .to_str()
                .is_ok_and(|v| v.starts_with("max-age=31536000"))
        );
        let mut page = Response::new(Body::Text("<html>".into()));
        page.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        let page = finish("req-2", Ok(page));
        assert_eq!(
            page.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'"
        );
        assert_eq!(page.headers()["x-frame-options"], "DENY");
    }

    #[test]
    fn a_public_list_has_an_etag_of_its_body_and_answers_304_when_it_is_named() {
        let body = serde_json::json!({"items": [1, 2, 3]});
        let plain = http::Request::builder()
            .uri("/v1/posts")
            .body(Body::Empty)
            .expect("request");
        let first = cacheable_json(&plain, &body, FEED_CACHE).expect("answer");
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CACHE_CONTROL], FEED_CACHE);
        let etag = first.headers()[header::ETAG]
            .to_str()
            .expect("etag")
            .to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        for named in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let again = http::Request::builder()
                .uri("/v1/posts")
                .header(header::IF_NONE_MATCH, named.as_str())
                .body(Body::Empty)
                .expect("request");
            let again = cacheable_json(&again, &body, FEED_CACHE).expect("answer");
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{named}");
            assert_eq!(again.headers()[header::ETAG], etag.as_str());
            assert_eq!(again.headers()[header::CACHE_CONTROL], FEED_CACHE);
        }
        let changed = serde_json::json!({"items": [1, 2, 3, 4]});
        let stale = http::Request::builder()
            .uri("/v1/posts")
            .header(header::IF_NONE_MATCH, etag.as_str())
            .body(Body::Empty)
            .expect("request");
        let fresh = cacheable_json(&stale, &changed, FEED_CACHE).expect("answer");
        assert_eq!(
            fresh.status(),
            StatusCode::OK,
            "a changed list is sent again"
        );
        assert_ne!(fresh.headers()[header::ETAG], etag.as_str());
    }

    #[test]
    fn a_client_request_id_is_logged_only_when_short_visible_ascii() {
        assert!(valid_client_request_id("web-7f3a/42"));
        assert!(!valid_client_request_id(""));
        assert!(!valid_client_request_id("has space"));
        assert!(!valid_client_request_id("newline\ninjected"));
        assert!(!valid_client_request_id("é"));
        assert!(!valid_client_request_id(&"x".repeat(129)));
    }

    #[test]
    fn every_response_gets_the_security_and_request_id_headers() {
        let ok = finish("req-9", json(StatusCode::OK, &serde_json::json!({"a": 1})));
        assert_eq!(ok.headers()[header::CONTENT_TYPE], JSON);
        assert_eq!(ok.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(ok.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(ok.headers()[REQUEST_ID_HEADER], "req-9");

        let err = finish(
            "req-9",
            Err(ApiError::NotFound {
                detail: "gone".into(),
            }),
        );
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            err.headers()[header::CONTENT_TYPE],
            crate::error::PROBLEM_JSON
        );
        assert_eq!(err.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

        let mut cached = no_content();
        cached.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        let cached = finish("r", Ok(cached));
        assert_eq!(
            cached.headers()[header::CACHE_CONTROL],
            "public, max-age=300"
        );
    }
}
