//! The committed event fixtures are real AWS event shapes: they parse with the runtime's own types.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::RequestExt as _;

fn fixture(name: &str) -> String {
    let path = infra::workspace_root().join("tests/fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_http_api_fixtures_parse_as_lambda_http_requests() {
    let req = lambda_http::request::from_str(&fixture("apigw-v2-get-with-params.json"))
        .expect("v2 event");
    assert_eq!(req.method(), "GET");
    assert_eq!(
        req.uri().path(),
        "/v1/users/01ARZ3NDEKTSV4RRFFQ69G5FAV/posts"
    );
    assert_eq!(
        req.path_parameters().first("id"),
        Some("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    );
    assert_eq!(
        req.query_string_parameters().all("tag"),
        Some(vec!["rust", "aws"])
    );

    let req =
        lambda_http::request::from_str(&fixture("apigw-v2-post-json.json")).expect("v2 event");
    // isBase64Encoded bodies arrive decoded.
    let lambda_http::Body::Binary(body) = req.body() else {
        panic!("binary body expected")
    };
    let json: serde_json::Value = serde_json::from_slice(body).expect("json body");
    assert_eq!(json["email"], "ada@example.com");
}

#[test]
fn the_sqs_fixture_parses_as_an_sqs_event() {
    let event: SqsEvent = serde_json::from_str(&fixture("sqs-event.json")).expect("sqs event");
    assert_eq!(event.records.len(), 2);
    let body: serde_json::Value =
        serde_json::from_str(event.records[0].body.as_deref().expect("body")).expect("json body");
    assert_eq!(body["type"], "user.registered");
}

#[test]
fn the_stream_fixture_parses_as_a_dynamodb_event() {
    let event: DynamoDbEvent =
        serde_json::from_str(&fixture("dynamodb-stream-event.json")).expect("stream event");
    let names: Vec<&str> = event
        .records
        .iter()
        .map(|r| r.event_name.as_str())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE"]);
}

#[test]
fn the_websocket_fixtures_parse_as_the_events_the_live_functions_take() {
    let connect: shared::live::WebSocketEvent =
        serde_json::from_str(&fixture("apigw-websocket-connect.json")).expect("$connect event");
    assert_eq!(
        shared::live::connection_of(&connect)
            .expect("connection")
            .as_str(),
        "PvKbBdi4IAMCJxw="
    );
    // Header names arrive as the client sent them; the functions read them case-insensitively.
    let offered = connect
        .headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        shared::live::offered_token(offered).ok(),
        Some("not-a-real-token")
    );
    let disconnect: shared::live::WebSocketEvent =
        serde_json::from_str(&fixture("apigw-websocket-disconnect.json"))
            .expect("$disconnect event");
    assert_eq!(
        disconnect.request_context.route_key.as_deref(),
        Some("$disconnect")
    );
    assert_eq!(
        disconnect.request_context.disconnect_status_code,
        Some(1001)
    );
}
