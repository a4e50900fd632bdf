//! `GET /v1/openapi.json` — the OpenAPI 3.1 document (`openapi.json`, generated from the Rust
//! types by `make openapi`, checked against them by a test);
//! `GET /v1/docs` — the API reference rendered by Redoc;
//! `GET /v1/docs/redoc.standalone.js` — Redoc itself (2.5.4, MIT, bundled: nothing is loaded
//! from a CDN, and the page's Content-Security-Policy allows nothing but this origin).
//!
//! Static content compiled into the binary: no configuration, no AWS client.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::ApiError;

/// The committed document.
pub const OPENAPI: &str = include_str!("../../../openapi.json");
const PAGE: &str = include_str!("../assets/docs.html");
const REDOC: &str = include_str!("../assets/redoc.standalone.js");

/// The page may run its own script (Redoc, which renders in a blob: worker) and read the
/// document from this origin; nothing else, in particular no third-party fonts or scripts.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; worker-src blob:; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str, cache: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_owned()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

// Every handler has the same async signature, whether or not it awaits anything.
#[allow(clippy::unused_async)]
pub async fn handle(_state: &(), req: Request) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path();
    if path.ends_with("/openapi.json") {
        Ok(asset(OPENAPI, "application/json", "public, max-age=300"))
    } else if path.ends_with("/redoc.standalone.js") {
        // The file changes only with a deployment of this function.
        Ok(asset(
            REDOC,
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ))
    } else if path.ends_with("/docs") {
        let mut response = asset(PAGE, "text/html; charset=utf-8", "public, max-age=300");
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        Ok(response)
    } else {
        Err(ApiError::NotFound {
            detail: "No such document.".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri(path)
            .body(Body::Empty)
            .expect("request")
    }

    #[tokio::test]
    async fn the_document_page_and_script_are_served_with_their_types() {
        for (path, content_type, starts) in [
            ("/v1/openapi.json", "application/json", "{"),
            ("/v1/docs", "text/html; charset=utf-8", "<!doctype html>"),
            (
                "/v1/docs/redoc.standalone.js",
                "text/javascript; charset=utf-8",
                "/*!",
            ),
        ] {
            let response = shared::http::dispatch(&(), handle, get(path)).await;
            assert_eq!(response.status(), 200, "{path}");
            assert_eq!(response.headers()["content-type"], content_type, "{path}");
            let Body::Text(body) = response.body() else {
                panic!("text body expected")
            };
            assert!(body.starts_with(starts), "{path}");
        }
        let document: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(document["openapi"], "3.1.0");
    }

    #[tokio::test]
    async fn the_page_forbids_every_origin_but_its_own() {
        let response = shared::http::dispatch(&(), handle, get("/v1/docs")).await;
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(policy.contains("default-src 'none'"));
        assert!(policy.contains("script-src 'self'"));
        assert!(!policy.contains("http"), "no third-party origin: {policy}");
    }
}
