//! Events as the workers receive them (SQS messages of stream records) and the mail that was sent.

use crate::endpoint;
use crate::http;

/// An SQS event, in the shape of the committed fixture, whose records carry `bodies`.
pub fn sqs_event(bodies: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    let fixture =
        std::fs::read_to_string(infra::workspace_root().join("tests/fixtures/sqs-event.json"))
            .expect("fixture");
    let mut event: serde_json::Value = serde_json::from_str(&fixture).expect("json");
    let template = event["Records"][0].clone();
    event["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut record = template.clone();
            record["messageId"] = format!("message-{i}").into();
            record["body"] = body.clone().into();
            record
        })
        .collect::<Vec<_>>()
        .into();
    serde_json::from_value(event).expect("an SQS event")
}

/// The DynamoDB stream record (as EventBridge Pipes forwards it) of an outbox event.
pub fn stream_record(event: &shared::events::Event) -> String {
    let key = shared::events::OutboxItem::key(event.id);
    let item = shared::events::OutboxItem {
        pk: key.pk,
        sk: key.sk,
        event: event.clone(),
        expires_at: 0,
    };
    let image: serde_dynamo::Item = serde_dynamo::to_item(&item).expect("image");
    serde_json::json!({
        "eventID": "c4ca4238a0b923820dcc509a6f75849b",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": { "NewImage": image, "StreamViewType": "NEW_AND_OLD_IMAGES" },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/test/stream/2026-11-24T00:00:00.000"
    })
    .to_string()
}

/// Emails the local SES has accepted for `to`: `(subject, html body)`.
pub async fn sent_emails(to: &str) -> Vec<(String, String)> {
    let data: serde_json::Value = http()
        .get(format!(
            "{}/_ferrite/ses/messages?{}",
            endpoint(),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("to", to)
                .finish()
        ))
        .send()
        .await
        .expect("the local endpoint's mailbox")
        .json()
        .await
        .expect("json");
    data["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|m| {
                    (
                        m["subject"].as_str().unwrap_or_default().to_owned(),
                        m["body"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
