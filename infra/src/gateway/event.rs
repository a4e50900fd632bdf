//! What API Gateway hands a function and what it makes of the answer: the payload v2 event of a
//! request (with its access-log time), and the HTTP response of a Lambda's result.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value as Json, json};

use crate::routes;

pub(super) fn text_response(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// API Gateway's own error answers.
pub(super) fn gateway_error(status: StatusCode) -> Response<Full<Bytes>> {
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
pub(super) fn clf_time(at: SystemTime) -> String {
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

pub(super) fn is_text(content_type: Option<&str>) -> bool {
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
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
}
