use super::{Auth, Body, HttpMethod, ObjectBuilder, Route, Type, json};

/// Health, readiness, the keys that verify tokens and this document.
#[allow(clippy::too_many_lines)] // one row per route, read top to bottom
pub(super) fn ops() -> Vec<Route> {
    use HttpMethod::Get;
    vec![
        Route {
            method: Get,
            path: "/v1/health",
            id: "health",
            tag: "ops",
            summary: "Liveness and the deployed version (touches no AWS service)",
            auth: Auth::None,
            store: false,
            body: None,
            params: vec![],
            ok: vec![(200, "Alive", json::<health::Health>())],
            errors: &[],
        },
        Route {
            method: Get,
            path: "/v1/health/ready",
            id: "healthReady",
            tag: "ops",
            summary: "Readiness: the table answers (one cheap read, no data); 503 when it does not",
            auth: Auth::None,
            store: true,
            body: None,
            params: vec![],
            ok: vec![(200, "Ready", json::<health_ready::Readiness>())],
            errors: &[],
        },
        Route {
            method: Get,
            path: "/v1/openapi.json",
            id: "openapi",
            tag: "ops",
            summary: "This document",
            auth: Auth::None,
            store: false,
            body: None,
            params: vec![],
            ok: vec![(
                200,
                "The OpenAPI 3.1 document",
                Some(Body::Json(Box::new(
                    ObjectBuilder::new().schema_type(Type::Object).into(),
                ))),
            )],
            errors: &[],
        },
        Route {
            method: Get,
            path: "/v1/docs",
            id: "docs",
            tag: "ops",
            summary: "The API reference, rendered (Redoc, bundled: no CDN)",
            auth: Auth::None,
            store: false,
            body: None,
            params: vec![],
            ok: vec![(200, "An HTML page", Some(Body::Html))],
            errors: &[],
        },
        Route {
            method: Get,
            path: "/v1/docs/redoc.standalone.js",
            id: "docsScript",
            tag: "ops",
            summary: "The Redoc bundle the reference page loads (immutable, cached for a year)",
            auth: Auth::None,
            store: false,
            body: None,
            params: vec![],
            ok: vec![(200, "JavaScript", Some(Body::Script))],
            errors: &[],
        },
    ]
}
