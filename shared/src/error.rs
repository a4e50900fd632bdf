//! One error type for every API function, answered as RFC 9457 `application/problem+json`.
//!
//! ```json
//! { "type": "urn:ferrite:problem:validation-failed", "title": "Validation failed", "status": 422,
//!   "detail": "The request body has invalid fields.", "code": "VALIDATION_FAILED",
//!   "errors": [{ "field": "email", "message": "must be a valid email address" }],
//!   "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" }
//! ```
//!
//! 4xx answers explain themselves. 5xx answers are generic: the cause chain is logged once, by
//! [`ApiError::into_response`], and never sent to the client.

use std::error::Error as StdError;

use http::{HeaderName, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// Content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A boxed cause, kept for the log line of a 5xx.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it (camelCase, dotted for nested fields).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every way a request can fail. Each variant documents the status it answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// **400** — the request cannot be read: malformed JSON, an unknown field, a bad query or path
    /// parameter, a tampered cursor. `code` is a stable identifier such as `MALFORMED_JSON`.
    #[error("bad request ({code}): {detail}")]
    BadRequest {
        code: &'static str,
        detail: String,
        errors: Vec<FieldError>,
    },
    /// **401** — missing, invalid or expired credentials.
    #[error("unauthorized ({code}): {detail}")]
    Unauthorized { code: &'static str, detail: String },
    /// **401** `MFA_REQUIRED` — the account has a second factor and this needs it: at sign-in,
    /// with the `challenge` to answer at `POST /v1/auth/mfa/verify`.
    #[error("a second factor is required")]
    MfaRequired { challenge: Option<String> },
    /// **403** — authenticated, but not allowed to do this.
    #[error("forbidden: {detail}")]
    Forbidden { detail: String },
    /// **404** — no such resource (or one the caller may not know exists).
    #[error("not found: {detail}")]
    NotFound { detail: String },
    /// **409** — the change conflicts with the current state (a duplicate, a failed condition).
    #[error("conflict ({code}): {detail}")]
    Conflict { code: &'static str, detail: String },
    /// **412** — the `version` / `If-Match` the client sent is stale.
    #[error("precondition failed: {detail}")]
    PreconditionFailed { detail: String },
    /// **413** — the body is larger than the endpoint accepts.
    #[error("payload too large: limit {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// **413** — what the request would store does not fit its quota (a property's documents'
    /// bytes): `code` such as `DOCUMENT_BYTES_QUOTA`, `detail` says what is left.
    #[error("storage quota ({code}): {detail}")]
    StorageQuota { code: &'static str, detail: String },
    /// **415** — the body is not in a media type the endpoint reads.
    #[error("unsupported media type: expected {expected}")]
    UnsupportedMediaType { expected: &'static str },
    /// **422** — the body is well-formed but some fields are invalid; every invalid field is listed.
    #[error("validation failed: {} field error(s)", errors.len())]
    Validation { errors: Vec<FieldError> },
    /// **429** — too many requests; retry after `retry_after_secs`. `rate_limit` names the
    /// client's spent quota in the `RateLimit-Policy` / `RateLimit` fields (see
    /// [`crate::limits`]).
    #[error("too many requests: retry after {retry_after_secs}s")]
    TooManyRequests {
        retry_after_secs: u64,
        rate_limit: Option<RateLimitFields>,
    },
    /// **503** — a dependency is throttling or unavailable; retrying later should work.
    #[error("service unavailable")]
    Unavailable {
        retry_after_secs: u64,
        #[source]
        cause: Cause,
    },
    /// **500** — a bug or an unexpected failure. The client sees a generic body; the cause is logged.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The values of the `RateLimit-Policy` and `RateLimit` fields of the IETF draft
/// (draft-ietf-httpapi-ratelimit-headers-11), already written as structured-field lists, e.g.
/// `"post-create";q=30;w=3600` and `"post-create";r=0;t=1800`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitFields {
    pub policy: String,
    pub state: String,
}

impl RateLimitFields {
    /// Sets both fields on `headers` (values that are not visible ASCII are left out).
    pub fn insert_into(&self, headers: &mut http::HeaderMap) {
        for (name, value) in [(RATELIMIT_POLICY, &self.policy), (RATELIMIT, &self.state)] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
}

/// `RateLimit-Policy`: the quota policies that apply to the request.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left of each policy's quota, and when it resets.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// An RFC 9457 problem: the body of every error response (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem<'a> {
    /// `urn:ferrite:problem:<code in kebab case>`.
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What went wrong, for a human; never a stack trace or an internal cause.
    detail: String,
    /// Stable, machine-readable (`VALIDATION_FAILED`, `EMAIL_TAKEN`, …).
    code: &'a str,
    /// Every invalid field (400/422 only).
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    #[schema(required = false)]
    errors: &'a [FieldError],
    /// `MFA_REQUIRED` at sign-in: the single-use challenge (valid 5 minutes) to send with the
    /// code to `POST /v1/auth/mfa/verify`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    challenge: Option<&'a str>,
    /// API Gateway's request id, also in the `x-request-id` header and every log line.
    request_id: &'a str,
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// 400 `INVALID_PARAMETER`: the query parameter or header `name` `message` (e.g. "may
    /// appear only once"); the detail reads "`name` message.".
    pub fn invalid_parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::BadRequest {
            code: "INVALID_PARAMETER",
            detail: format!("`{name}` {message}."),
            errors: vec![FieldError::new(name, message)],
        }
    }

    /// 404 for an id that names no `what` ("No such property.").
    pub fn no_such(what: &str) -> Self {
        Self::NotFound {
            detail: format!("No such {what}."),
        }
    }

    /// 404 for a user id that names no account.
    pub fn no_such_user() -> Self {
        Self::no_such("user")
    }

    /// 412: the client sent version `expected` of a resource that is at `current`.
    pub fn stale_version(current: u64, expected: u64) -> Self {
        Self::PreconditionFailed {
            detail: format!(
                "The resource is at version {current}, not {expected}; fetch it again."
            ),
        }
    }

    /// 412: the resource changed between the read and the write conditioned on it.
    pub fn changed_meanwhile() -> Self {
        Self::PreconditionFailed {
            detail: "The resource changed while this request was processed; fetch it again.".into(),
        }
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        Self::Internal(cause.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } | Self::MfaRequired { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } | Self::StorageQuota { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Conflict { code, .. }
            | Self::StorageQuota { code, .. } => code,
            Self::MfaRequired { .. } => "MFA_REQUIRED",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::PreconditionFailed { .. } => "PRECONDITION_FAILED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType { .. } => "UNSUPPORTED_MEDIA_TYPE",
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::TooManyRequests { .. } => "RATE_LIMITED",
            Self::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "Bad request",
            Self::Unauthorized { .. } | Self::MfaRequired { .. } => "Unauthorized",
            Self::Forbidden { .. } => "Forbidden",
            Self::NotFound { .. } => "Not found",
            Self::Conflict { .. } => "Conflict",
            Self::PreconditionFailed { .. } => "Precondition failed",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::StorageQuota { .. } => "Storage quota exceeded",
            Self::UnsupportedMediaType { .. } => "Unsupported media type",
            Self::Validation { .. } => "Validation failed",
            Self::TooManyRequests { .. } => "Too many requests",
            Self::Unavailable { .. } => "Service unavailable",
            Self::Internal(_) => "Internal server error",
        }
    }

    /// What the client is told. For 5xx this is generic on purpose.
    fn detail(&self) -> String {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::Forbidden { detail }
            | Self::NotFound { detail }
            | Self::Conflict { detail, .. }
            | Self::StorageQuota { detail, .. }
            | Self::PreconditionFailed { detail } => detail.clone(),
            Self::PayloadTooLarge { limit } => {
                format!("The request body must not exceed {limit} bytes.")
            }
            Self::UnsupportedMediaType { expected } => {
                format!("The request body must be sent as {expected}.")
            }
            Self::Validation { .. } => "The request has invalid fields.".to_owned(),
            Self::MfaRequired { challenge: Some(_) } => {
                "The password is right; now a code from the authenticator app (or a recovery \
                 code) is needed: send it with the challenge to POST /v1/auth/mfa/verify."
                    .to_owned()
            }
            Self::MfaRequired { challenge: None } => {
                "This needs a second factor: a current code from the authenticator app (or a \
                 recovery code)."
                    .to_owned()
            }
            Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                format!("Too many requests. Retry after {retry_after_secs} seconds.")
            }
            Self::Unavailable { .. } => {
                "The service is temporarily unavailable. Retry later.".to_owned()
            }
            Self::Internal(_) => "An unexpected error occurred.".to_owned(),
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::BadRequest { errors, .. } | Self::Validation { errors } => errors,
            _ => &[],
        }
    }

    /// Renders the problem+json response, logging the error once: 5xx at `error` with its cause
    /// chain, 4xx at `info` with its code only (never the request body).
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                code = self.code(),
                error = %cause_chain(&self),
                "request failed"
            );
        } else {
            tracing::info!(
                status = status.as_u16(),
                code = self.code(),
                "request rejected"
            );
        }

        let code = self.code();
        let problem = Problem {
            kind: format!(
                "urn:ferrite:problem:{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            code,
            errors: self.field_errors(),
            challenge: match &self {
                Self::MfaRequired { challenge } => challenge.as_deref(),
                _ => None,
            },
            request_id,
        };
        // Serialising a struct of strings and numbers cannot fail.
        let body = serde_json::to_string(&problem).unwrap_or_default();

        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::TooManyRequests {
                retry_after_secs,
                rate_limit,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                if let Some(fields) = rate_limit {
                    fields.insert_into(headers);
                }
            }
            Self::Unavailable {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::MfaRequired { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unauthorized { code, .. } => {
                let challenge = if *code == "MISSING_CREDENTIALS" {
                    HeaderValue::from_static("Bearer")
                } else {
                    HeaderValue::from_static("Bearer error=\"invalid_token\"")
                };
                headers.insert(header::WWW_AUTHENTICATE, challenge);
            }
            _ => {}
        }
        response
    }
}

/// `error: cause: cause…` — the whole chain on one line, for the single log entry of a 5xx.
pub fn cause_chain(error: &(dyn StdError + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response<Body>) -> serde_json::Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).expect("json body"),
            other => panic!("expected a text body, got {other:?}"),
        }
    }

    #[test]
    fn every_variant_maps_to_its_documented_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::bad_request("MALFORMED_JSON", "x"),
                400,
                "MALFORMED_JSON",
            ),
            (
                ApiError::Unauthorized {
                    code: "INVALID_TOKEN",
                    detail: "x".into(),
                },
                401,
                "INVALID_TOKEN",
            ),
            (ApiError::Forbidden { detail: "x".into() }, 403, "FORBIDDEN"),
            (ApiError::NotFound { detail: "x".into() }, 404, "NOT_FOUND"),
            (
                ApiError::Conflict {
                    code: "EMAIL_TAKEN",
                    detail: "x".into(),
                },
                409,
                "EMAIL_TAKEN",
            ),
            (
                ApiError::PreconditionFailed { detail: "x".into() },
                412,
                "PRECONDITION_FAILED",
            ),
            (
                ApiError::PayloadTooLarge { limit: 10 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                ApiError::UnsupportedMediaType {
                    expected: "application/json",
                },
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                ApiError::Validation { errors: vec![] },
                422,
                "VALIDATION_FAILED",
            ),
            (
                ApiError::TooManyRequests {
                    retry_after_secs: 60,
                    rate_limit: None,
                },
                429,
                "RATE_LIMITED",
            ),
            (
                ApiError::Unavailable {
                    retry_after_secs: 1,
                    cause: "throttled".into(),
                },
                503,
                "SERVICE_UNAVAILABLE",
            ),
            (ApiError::internal("boom"), 500, "INTERNAL_ERROR"),
        ];
        for (error, status, code) in cases {
            let response = error.into_response("req-1");
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
            let json = body(&response);
            assert_eq!(json["status"], status);
            assert_eq!(json["code"], code);
            assert_eq!(json["requestId"], "req-1");
            assert!(
                json["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("urn:ferrite:problem:"))
            );
            assert!(json["title"].is_string() && json["detail"].is_string());
        }
    }

    #[test]
    fn a_server_error_never_reveals_its_cause() {
        let cause = std::io::Error::other("connection to 10.0.0.7 refused: secret-token-123");
        let response = ApiError::internal(cause).into_response("req-2");
        let text = format!("{:?}", response.body());
        assert!(!text.contains("10.0.0.7"));
        assert!(!text.contains("secret-token-123"));
        assert_eq!(body(&response)["detail"], "An unexpected error occurred.");
    }

    #[test]
    fn validation_errors_list_every_field() {
        let error = ApiError::Validation {
            errors: vec![
                FieldError::new("email", "must be a valid email address"),
                FieldError::new("name", "length is lower than 1"),
            ],
        };
        let json = body(&error.into_response("req-3"));
        assert_eq!(json["errors"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["errors"][0]["field"], "email");
        assert_eq!(json["errors"][1]["message"], "length is lower than 1");
    }

    #[test]
    fn rate_limits_and_outages_tell_the_client_when_to_retry() {
        let response = ApiError::TooManyRequests {
            retry_after_secs: 42,
            rate_limit: Some(RateLimitFields {
                policy: "\"p\";q=5;w=60".into(),
                state: "\"p\";r=0;t=42".into(),
            }),
        }
        .into_response("r");
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        assert_eq!(response.headers()["ratelimit-policy"], "\"p\";q=5;w=60");
        assert_eq!(response.headers()["ratelimit"], "\"p\";r=0;t=42");
        let response = ApiError::Unavailable {
            retry_after_secs: 2,
            cause: "x".into(),
        }
        .into_response("r");
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn unauthorized_answers_carry_a_bearer_challenge() {
        let response = ApiError::Unauthorized {
            code: "INVALID_TOKEN",
            detail: "expired".into(),
        }
        .into_response("r");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
    }

    #[test]
    fn the_cause_chain_is_one_line() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = ApiError::internal(Outer(std::io::Error::other("inner")));
        assert_eq!(cause_chain(&error), "internal error: outer: inner");
    }
}
