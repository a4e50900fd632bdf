//! Reading a request's JSON body: its size, media type, syntax, unknown fields, and every
//! problem of its shape and values at once.

use http::header;
use lambda_http::Request;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};
use crate::validate::camel_case_path;

use super::{DEFAULT_BODY_LIMIT, JSON};

/// Is `value` a JSON media type (`application/json`, `application/merge-patch+json`, …) with no
/// charset other than UTF-8?
fn is_json_media_type(value: &str) -> bool {
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default().to_ascii_lowercase();
    let json = essence == JSON
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"));
    let utf8 = parts.all(|param| match param.split_once('=') {
        Some((name, charset)) if name.trim().eq_ignore_ascii_case("charset") => charset
            .trim()
            .trim_matches('"')
            .eq_ignore_ascii_case("utf-8"),
        _ => true,
    });
    json && utf8
}

fn body_bytes(req: &Request) -> &[u8] {
    req.body().as_ref()
}

/// Reads a JSON body with the default 64 KiB limit. See [`json_body_with_limit`].
pub fn json_body<T>(req: &Request) -> Result<T, ApiError>
where
    T: DeserializeOwned + for<'de> eserde::EDeserialize<'de>,
{
    json_body_with_limit(req, DEFAULT_BODY_LIMIT)
}

/// Reads and validates a JSON body:
/// - **413** when larger than `limit` bytes;
/// - **415** unless `Content-Type` is JSON (UTF-8);
/// - **400** `MALFORMED_JSON` for bad syntax or an empty body, `UNKNOWN_FIELD` for a field the
///   type does not declare (types use `#[serde(deny_unknown_fields)]`);
/// - **422** `VALIDATION_FAILED` for missing fields, wrong types and invalid values — every one
///   of them, at every depth, in one answer, sorted by field: request types derive
///   `eserde::Deserialize`, which collects what serde stops at, and their fields are domain
///   types that check their value as they are read (see [`crate::validate`]).
pub fn json_body_with_limit<T>(req: &Request, limit: usize) -> Result<T, ApiError>
where
    T: DeserializeOwned + for<'de> eserde::EDeserialize<'de>,
{
    let bytes = body_bytes(req);
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json_media_type) {
        return Err(ApiError::UnsupportedMediaType { expected: JSON });
    }
    // Every body is an object. (serde would also read a struct from an array, positionally.)
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "MALFORMED_JSON",
            "The request body must be a JSON object.",
        ));
    }

    // Syntax first, so that `{} trailing` is malformed (400) rather than missing fields (422).
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|e| {
        ApiError::bad_request(
            "MALFORMED_JSON",
            format!("The request body is not valid JSON: {e}."),
        )
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|first| every_problem::<T>(bytes, json_error(first)))
}

/// The body is not valid (`first` is what serde stopped at): when that is a missing field, a
/// wrong type or an invalid value, every such problem of the body, found by `eserde` in a
/// second pass (only on this error path: a valid body is read once). An unknown field anywhere still answers 400
/// `UNKNOWN_FIELD`, as serde would have when it reached it.
fn every_problem<T>(bytes: &[u8], first: ApiError) -> ApiError
where
    T: for<'de> eserde::EDeserialize<'de>,
{
    if !matches!(first, ApiError::Validation { .. }) {
        return first;
    }
    let Err(problems) = eserde::json::from_slice::<T>(bytes) else {
        return first;
    };
    let mut errors: Vec<FieldError> = Vec::new();
    for problem in problems.iter() {
        let path = problem
            .path()
            .map_or_else(|| ".".to_owned(), |p| camel_case_path(&p.to_string()));
        let message = problem.message();
        // serde_json's data errors end with " at line L column C": noise in a 422.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message, |(head, _)| head);
        if let Some(field) = message.strip_prefix("unknown field `") {
            let name = field.split('`').next().unwrap_or_default();
            let field = if path == "." {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            return ApiError::BadRequest {
                code: "UNKNOWN_FIELD",
                detail: format!("The field `{field}` is not accepted here."),
                errors: vec![FieldError::new(field, "is not a known field")],
            };
        }
        let (field, message) = match message.strip_prefix("missing field `") {
            Some(rest) => {
                // eserde names a missing field as the Rust field: the client's name is camelCase.
                let name = camel_case_path(rest.split('`').next().unwrap_or_default());
                let field = if path == "." {
                    name
                } else {
                    format!("{path}.{name}")
                };
                (field, "is required".to_owned())
            }
            None => (path, message.to_owned()),
        };
        if field == "." {
            // Nothing to name: serde's own error says it better.
            return first;
        }
        if !errors.iter().any(|e| e.field == field) {
            errors.push(FieldError::new(field, message));
        }
    }
    if errors.is_empty() {
        first
    } else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::Validation { errors }
    }
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = camel_case_path(&error.path().to_string());
    let inner = error.into_inner();
    let message = inner.to_string();
    // serde_json's data errors end with " at line L column C": useful in 400 details, noise in 422s.
    let short = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(head, _)| head)
        .to_owned();
    match inner.classify() {
        serde_json::error::Category::Data if short.starts_with("unknown field") => {
            // The path already ends with the unknown field's name.
            let field = if path == "." {
                short.split('`').nth(1).unwrap_or_default().to_owned()
            } else {
                path
            };
            ApiError::BadRequest {
                code: "UNKNOWN_FIELD",
                detail: format!("The field `{field}` is not accepted here."),
                errors: vec![FieldError::new(field, "is not a known field")],
            }
        }
        serde_json::error::Category::Data if path == "." && !short.starts_with("missing field") => {
            // The document itself has the wrong shape (an array, a string…): unreadable, not invalid.
            ApiError::bad_request(
                "MALFORMED_JSON",
                format!("The request body must be a JSON object: {short}."),
            )
        }
        serde_json::error::Category::Data => {
            let field = if path == "." {
                short
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.split('`').next())
                    .unwrap_or_default()
                    .to_owned()
            } else {
                path
            };
            let message = if short.starts_with("missing field") {
                "is required".to_owned()
            } else {
                short
            };
            ApiError::Validation {
                errors: vec![FieldError::new(field, message)],
            }
        }
        _ => ApiError::bad_request(
            "MALFORMED_JSON",
            format!("The request body is not valid JSON: {message}."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{DisplayName, Email};
    use http::StatusCode;
    use lambda_http::Body;

    #[derive(Debug, eserde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct NewThing {
        display_name: DisplayName,
        email: Email,
        count: u8,
    }

    fn parse(content_type: Option<&str>, body: &str) -> Result<NewThing, ApiError> {
        json_body(&request(content_type, body))
    }

    const VALID: &str = r#"{"displayName":"Ada","email":"Ada@Example.com","count":2}"#;

    #[test]
    fn a_valid_body_parses() {
        let thing = parse(Some("application/json; charset=utf-8"), VALID).expect("valid");
        assert_eq!(thing.display_name.as_str(), "Ada");
        assert_eq!(thing.email.as_str(), "ada@example.com");
        assert_eq!(thing.count, 2);
    }

    #[test]
    fn a_wrong_content_type_is_415() {
        for ct in [
            None,
            Some("text/plain"),
            Some("application/json; charset=latin1"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let err = parse(ct, VALID).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        }
        assert!(parse(Some("application/merge-patch+json"), VALID).is_ok());
    }

    #[test]
    fn a_body_over_the_limit_is_413() {
        let big = format!(r#"{{"displayName":"{}"}}"#, "x".repeat(DEFAULT_BODY_LIMIT));
        let err = parse(Some(JSON), &big).unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let small: Result<NewThing, _> = json_body_with_limit(&request(Some(JSON), VALID), 10);
        assert_eq!(small.unwrap_err().status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn malformed_json_is_400() {
        for body in [
            "",
            "  ",
            "{",
            "{\"displayName\":}",
            "[1,2",
            "{} trailing",
            "nul",
        ] {
            let err = parse(Some(JSON), body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body:?}");
            assert_eq!(err.code(), "MALFORMED_JSON", "{body:?}");
        }
    }

    #[test]
    fn an_unknown_field_is_400_and_named() {
        let body = r#"{"displayName":"Ada","email":"a@b.co","count":1,"roles":["ADMIN"]}"#;
        let err = parse(Some(JSON), body).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.code(), "UNKNOWN_FIELD");
        let ApiError::BadRequest { errors, .. } = err else {
            panic!()
        };
        assert_eq!(
            errors,
            vec![FieldError::new("roles", "is not a known field")]
        );
    }

    #[test]
    fn failed_validation_is_422_with_every_field_listed() {
        let body = r#"{"displayName":"","email":"not-an-email","count":-1}"#;
        let err = parse(Some(JSON), body).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let ApiError::Validation { errors } = err else {
            panic!()
        };
        let fields: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        // Sorted by field name, so the order is stable; each message is the rule's own.
        assert_eq!(
            fields,
            [
                ("count", "invalid value: integer `-1`, expected u8"),
                ("displayName", "must not be empty"),
                ("email", "must be a valid email address"),
            ]
        );
    }

    #[test]
    fn a_missing_or_mistyped_field_is_422_and_named() {
        let err = parse(Some(JSON), r#"{"displayName":"Ada","count":1}"#).unwrap_err();
        let ApiError::Validation { errors } = err else {
            panic!()
        };
        assert_eq!(errors, vec![FieldError::new("email", "is required")]);

        let err = parse(
            Some(JSON),
            r#"{"displayName":"Ada","email":"a@b.co","count":"two"}"#,
        )
        .unwrap_err();
        let ApiError::Validation { errors } = err else {
            panic!()
        };
        assert_eq!(errors[0].field, "count");
    }

    // Only ever refused: its fields are never read.
    #[allow(dead_code)]
    #[derive(Debug, eserde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct NewPlace {
        file_number: String,
        address: Address,
        floors: u8,
    }

    #[allow(dead_code)]
    #[derive(Debug, eserde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Address {
        line1: String,
        postal_code: String,
        city: DisplayName,
    }

    fn place(body: &str) -> ApiError {
        json_body::<NewPlace>(&request(Some(JSON), body)).unwrap_err()
    }

    #[test]
    fn every_missing_or_mistyped_field_is_named_in_one_422_at_every_depth() {
        let ApiError::Validation { errors } =
            place(r#"{"fileNumber": 7, "address": {"line1": "1 Main St"}}"#)
        else {
            panic!("a 422")
        };
        let mut named: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        named.sort_unstable();
        assert_eq!(
            named,
            [
                ("address.city", "is required"),
                ("address.postalCode", "is required"),
                ("fileNumber", "invalid type: integer `7`, expected a string"),
                ("floors", "is required"),
            ]
        );
    }

    #[test]
    fn an_invalid_value_is_listed_with_the_missing_and_mistyped_fields() {
        let ApiError::Validation { errors } =
            place(r#"{"fileNumber": 7, "address": {"city": " "}}"#)
        else {
            panic!("a 422")
        };
        let named: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("address.city", "must not be empty"),
                ("address.line1", "is required"),
                ("address.postalCode", "is required"),
                ("fileNumber", "invalid type: integer `7`, expected a string"),
                ("floors", "is required"),
            ]
        );
    }

    #[test]
    fn an_unknown_field_at_any_depth_is_400_even_beside_other_problems() {
        let err = place(
            r#"{"fileNumber":"B-1","address":{"line1":"x","postalCode":"1","city":"c","owner":"me"},"floors":"two"}"#,
        );
        assert_eq!(err.code(), "UNKNOWN_FIELD");
        let ApiError::BadRequest { errors, .. } = err else {
            panic!("a 400")
        };
        assert_eq!(
            errors,
            vec![FieldError::new("address.owner", "is not a known field")]
        );
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/v1/things");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(Body::Text(body.to_owned())).expect("request")
    }
}
