//! The local gateway in front of a stand-in Lambda Invoke API that answers with the event it
//! received: what a function would see, checked field by field.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use ferrite_tests::http;
use http_body_util::{BodyExt as _, Full};
use infra::gateway::{Cors, Gateway};
use infra::routes::Route;
use lambda_http::RequestExt as _;
use serde_json::{Value, json};

/// A Lambda Invoke API whose functions are: `echo` (answers with its event as the body),
/// `plain` (answers a JSON document without `statusCode`) and `boom` (a function error).
async fn fake_lambda() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let path = req.uri().path().to_owned();
                        let event = req.into_body().collect().await.expect("body").to_bytes();
                        let (status, payload) = if path.ends_with("/echo/invocations") {
                            let event: Value =
                                serde_json::from_slice(&event).expect("event is JSON");
                            (
                                200,
                                json!({"statusCode": 200, "headers": {"content-type": "application/json"}, "body": event.to_string()}),
                            )
                        } else if path.ends_with("/plain/invocations") {
                            (200, json!({"hello": "world"}))
                        } else {
                            (500, json!({"errorType": "Panic", "errorMessage": "boom"}))
                        };
                        let mut response =
                            hyper::Response::new(Full::new(Bytes::from(payload.to_string())));
                        *response.status_mut() =
                            hyper::StatusCode::from_u16(status).expect("status");
                        Ok::<_, Infallible>(response)
                    },
                );
                drop(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await,
                );
            });
        }
    });
    format!("http://{address}")
}

fn route(method: Option<&str>, path: &str, binary: &str) -> Route {
    Route {
        method: method.map(str::to_owned),
        path: path.to_owned(),
        function: format!("{binary}Function"),
        binary: binary.to_owned(),
        timeout_secs: 3,
        // Any route may invoke it (the resource policy is the template's business, tested in
        // infra::gateway).
        invocable_from: vec!["*".to_owned()],
        arn_prefix: "arn:aws:execute-api:us-east-1:123456789012:api/$default/".to_owned(),
    }
}

async fn gateway() -> String {
    let gateway = Arc::new(Gateway {
        routes: vec![
            route(Some("GET"), "/v1/users/{id}/posts", "echo"),
            route(Some("POST"), "/v1/upload", "echo"),
            route(None, "/v1/files/{proxy+}", "echo"),
            route(Some("GET"), "/v1/plain", "plain"),
            route(Some("GET"), "/v1/boom", "boom"),
        ],
        cors: Some(Cors {
            allow_origins: vec!["http://localhost:5173".into()],
            allow_methods: vec!["GET".into()],
            ..Cors::default()
        }),
        lambda_url: fake_lambda().await,
        client: infra::http_client().build().expect("a client"),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(gateway.serve(listener));
    format!("http://{address}")
}

#[tokio::test]
async fn a_path_parameter_and_a_query_string_arrive_intact_in_the_function() {
    let base = gateway().await;
    let event: Value = http()
        .get(format!(
            "{base}/v1/users/01ARZ%20X/posts?limit=10&tag=rust&tag=aws&q=a%26b"
        ))
        .header("X-Custom", "one")
        .header("Cookie", "a=1; b=2")
        .header("User-Agent", "ferrite-tests")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("the echoed event");

    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v1/users/{id}/posts");
    assert_eq!(event["rawPath"], "/v1/users/01ARZ%20X/posts");
    assert_eq!(event["rawQueryString"], "limit=10&tag=rust&tag=aws&q=a%26b");
    assert_eq!(event["pathParameters"], json!({"id": "01ARZ X"}));
    assert_eq!(
        event["queryStringParameters"],
        json!({"limit": "10", "tag": "rust,aws", "q": "a&b"})
    );
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-custom"], "one");
    assert!(event["headers"].get("cookie").is_none());
    let ctx = &event["requestContext"];
    assert_eq!(ctx["http"]["method"], "GET");
    assert_eq!(ctx["http"]["path"], "/v1/users/01ARZ%20X/posts");
    assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["http"]["userAgent"], "ferrite-tests");
    assert_eq!(ctx["routeKey"], "GET /v1/users/{id}/posts");
    assert_eq!(ctx["stage"], "$default");
    assert!(ctx["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(
        ctx["timeEpoch"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000_000)
    );
    assert!(ctx["time"].as_str().is_some_and(|t| t.ends_with(" +0000")));
    assert!(event.get("body").is_none());

    // The event parses as what lambda_http hands a handler.
    let req = lambda_http::request::from_str(&event.to_string()).expect("a valid v2 event");
    assert_eq!(req.path_parameters().first("id"), Some("01ARZ X"));
    assert_eq!(
        req.query_string_parameters().all("tag"),
        Some(vec!["rust", "aws"])
    );
}

#[tokio::test]
async fn text_bodies_arrive_as_text_and_binary_bodies_as_base64() {
    let base = gateway().await;
    let event: Value = http()
        .post(format!("{base}/v1/upload"))
        .header("content-type", "application/json")
        .body(r#"{"name":"Ada"}"#)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(event["body"], r#"{"name":"Ada"}"#);
    assert_eq!(event["isBase64Encoded"], false);

    let event: Value = http()
        .post(format!("{base}/v1/upload"))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8, 159, 146, 150])
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(event["body"], "AJ+Slg==");
    assert_eq!(event["isBase64Encoded"], true);
}

#[tokio::test]
async fn greedy_routes_take_any_method_and_the_rest_of_the_path() {
    let base = gateway().await;
    let event: Value = http()
        .delete(format!("{base}/v1/files/a/b/c.txt"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(event["routeKey"], "ANY /v1/files/{proxy+}");
    assert_eq!(event["pathParameters"]["proxy"], "a/b/c.txt");
}

#[tokio::test]
async fn a_function_error_is_api_gateways_500_and_a_plain_payload_is_a_200() {
    let base = gateway().await;
    let response = http()
        .get(format!("{base}/v1/boom"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"message": "Internal Server Error"}));

    let response = http()
        .get(format!("{base}/v1/plain"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"hello": "world"}));
}

#[tokio::test]
async fn an_unreachable_lambda_api_is_a_503() {
    let gateway = Arc::new(Gateway {
        routes: vec![route(Some("GET"), "/v1/x", "echo")],
        cors: None,
        // Nothing listens on port 9 (discard) of loopback.
        lambda_url: "http://127.0.0.1:9".into(),
        client: infra::http_client().build().expect("a client"),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(gateway.serve(listener));
    let response = http()
        .get(format!("http://{address}/v1/x"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
}
