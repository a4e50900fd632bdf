//! Reading a request besides its body (`body.rs`): path ids, query parameters (each at most
//! once), `If-Match`, the page asked for, the caller's address.

use http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;

use crate::auth::Role;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::store::PageRequest;

/// A path parameter of the matched route (`/users/{id}` → `path_param(req, "id")`).
pub fn path_param(req: &Request, name: &str) -> Result<String, ApiError> {
    req.path_parameters_ref()
        .and_then(|params| params.first(name))
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::NotFound {
            detail: format!("No resource matches this path (missing `{name}`)."),
        })
}

/// A resource id in a path (`/users/{id}`): how it parses, and the 404 that a path naming no
/// such resource answers — an id that cannot be one names nothing, so it is not found either.
pub trait PathId: Sized {
    fn parse_path(raw: &str) -> Option<Self>;
    fn not_found() -> ApiError;
}

impl PathId for UserId {
    fn parse_path(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn not_found() -> ApiError {
        ApiError::no_such_user()
    }
}

/// The typed id of path parameter `name`: `let id: UserId = path_id(&req, "id")?`.
pub fn path_id<T: PathId>(req: &Request, name: &str) -> Result<T, ApiError> {
    T::parse_path(&path_param(req, name)?).ok_or_else(T::not_found)
}

/// A query-string parameter, if present. Every parameter of the API may appear once: a repeated
/// one (`?limit=1&limit=50`, which API Gateway hands over joined by a comma) is a 400, never a
/// silent choice of one of the values.
pub fn query_param<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, ApiError> {
    let Some(values) = req
        .query_string_parameters_ref()
        .and_then(|params| params.all(name))
    else {
        return Ok(None);
    };
    match values.as_slice() {
        [] => Ok(None),
        [value] => Ok(Some(value)),
        _ => Err(ApiError::invalid_parameter(name, "may appear only once")),
    }
}

/// An enum that a query parameter names by its JSON spelling (`?status=draft`): every value,
/// as the 400 for any other lists them.
pub trait QueryEnum: DeserializeOwned {
    const VALUES: &'static [&'static str];
}

impl QueryEnum for Role {
    const VALUES: &'static [&'static str] = &["USER", "MODERATOR", "ADMIN"];
}

/// A query-string parameter naming one value of `T`; any other value is a 400 that lists
/// [`QueryEnum::VALUES`].
pub fn enum_param<T: QueryEnum>(req: &Request, name: &str) -> Result<Option<T>, ApiError> {
    query_param(req, name)?
        .map(|raw| {
            serde_json::from_value::<T>(serde_json::Value::String(raw.to_owned())).map_err(|_| {
                ApiError::invalid_parameter(
                    name,
                    format!("must be one of {}", T::VALUES.join(", ")),
                )
            })
        })
        .transpose()
}

/// A query-string flag (`?unread=true`): `true` or `false`, absent is `false`; any other value
/// is a 400.
pub fn flag_param(req: &Request, name: &str) -> Result<bool, ApiError> {
    match query_param(req, name)? {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid_parameter(name, "must be true or false")),
    }
}

/// The client's address as API Gateway saw it (`requestContext.http.sourceIp`).
pub fn source_ip(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// The client's User-Agent as API Gateway reports it (`requestContext.http.userAgent`, else the
/// header).
pub fn user_agent(req: &Request) -> Option<String> {
    let from_context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.user_agent.clone(),
        _ => None,
    };
    from_context.filter(|ua| !ua.is_empty()).or_else(|| {
        req.headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    })
}

/// The version a client expects, from `If-Match: "3"` (the ETag of the resource). 400 when
/// the header is present but is not one of our ETags.
pub fn if_match_version(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_parameter(
                "If-Match",
                "must be an ETag this API returned, such as \"3\"",
            )
        })
}

/// `?limit=1..100&cursor=…` → a [`PageRequest`]; a bad `limit` is a 400. The cursor is checked
/// when the store decodes it.
pub fn page_request(req: &Request) -> Result<PageRequest, ApiError> {
    let limit = match query_param(req, "limit")? {
        None => PageRequest::DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "limit",
                    format!("must be an integer from 1 to {}", PageRequest::MAX_LIMIT),
                )
            })?,
    };
    let cursor = query_param(req, "cursor")?
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    Ok(PageRequest { limit, cursor })
}

/// How long a write's `Idempotency-Key` is remembered (a post, a payment): 24 hours.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

/// The `Idempotency-Key` header: absent, or 1–128 visible ASCII characters (400
/// `INVALID_PARAMETER` otherwise).
pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            ApiError::invalid_parameter("Idempotency-Key", "must be 1-128 visible ASCII characters")
        })
}

/// What an `Idempotency-Key`'s record remembers of its request: SHA-256 of `request`'s JSON,
/// base64url.
pub fn request_fingerprint(request: &impl serde::Serialize) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let json = serde_json::to_vec(request).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(json))
}

/// A request repeated under its `Idempotency-Key` must be the request the key was first used
/// for (`stored` and `this` from [`request_fingerprint`]): 422 on `Idempotency-Key` otherwise.
pub fn same_request(stored: &str, this: &str) -> Result<(), ApiError> {
    if stored == this {
        return Ok(());
    }
    Err(ApiError::Validation {
        errors: vec![crate::error::FieldError::new(
            "Idempotency-Key",
            "was already used with a different request",
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use lambda_http::Body;

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/v1/things");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(Body::Text(body.to_owned())).expect("request")
    }

    /// Every value of `T::VALUES` reads as a `T` that writes it back.
    fn check_query_enum<T: QueryEnum + serde::Serialize>() {
        for value in T::VALUES {
            let parsed: T = serde_json::from_value(serde_json::Value::String((*value).to_owned()))
                .unwrap_or_else(|_| panic!("{value} is not a value"));
            assert_eq!(serde_json::to_value(parsed).expect("json"), *value);
        }
    }

    #[test]
    fn every_query_enum_lists_exactly_its_values() {
        check_query_enum::<Role>();
        check_query_enum::<crate::accounts::items::UserStatus>();
        check_query_enum::<crate::posts::PostStatus>();
        assert!(serde_json::from_str::<Role>("\"ROOT\"").is_err());
    }

    #[test]
    fn limit_and_cursor_come_from_the_query_string() {
        let req = request(None, "").with_query_string_parameters(
            [
                ("limit".to_owned(), "25".to_owned()),
                ("cursor".to_owned(), "abc".to_owned()),
            ]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
        );
        let page = page_request(&req).expect("valid");
        assert_eq!(page.limit, 25);
        assert_eq!(page.cursor.as_deref(), Some("abc"));

        for bad in ["0", "101", "-1", "ten", ""] {
            let req = request(None, "").with_query_string_parameters(
                [("limit".to_owned(), bad.to_owned())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
            assert_eq!(
                page_request(&req).unwrap_err().status(),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert_eq!(
            page_request(&request(None, "")).expect("default").limit,
            PageRequest::DEFAULT_LIMIT
        );
    }
}
