//! Records as Pipes sees them: a stream record's JSON (images in DynamoDB JSON) and the
//! EventBridge filter patterns a pipe applies to it.

use aws_sdk_dynamodbstreams::types::AttributeValue;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};

/// EventBridge pattern matching, the subset pipes use: nested objects, lists of allowed
/// values, `{"prefix": …}`, `{"exists": true|false}`, `{"anything-but": …}`.
pub fn matches(pattern: &Json, event: &Json) -> bool {
    match pattern {
        Json::Object(fields) => fields.iter().all(|(key, sub)| {
            let value = event.get(key);
            match sub {
                Json::Array(allowed) => allowed.iter().any(|rule| matches_rule(rule, value)),
                Json::Object(_) => value.is_some_and(|v| matches(sub, v)),
                other => value == Some(other),
            }
        }),
        _ => false,
    }
}

pub(super) fn matches_rule(rule: &Json, value: Option<&Json>) -> bool {
    match rule {
        Json::Object(op) => {
            if let Some(prefix) = op.get("prefix").and_then(Json::as_str) {
                value
                    .and_then(Json::as_str)
                    .is_some_and(|v| v.starts_with(prefix))
            } else if let Some(exists) = op.get("exists").and_then(Json::as_bool) {
                value.is_some() == exists
            } else if let Some(excluded) = op.get("anything-but") {
                value.is_some_and(|v| match excluded {
                    Json::Array(list) => !list.contains(v),
                    single => v != single,
                })
            } else {
                false
            }
        }
        literal => value == Some(literal),
    }
}

/// An SDK attribute value as DynamoDB JSON (`{"S": "…"}`), the stream records' wire format.
pub fn attribute_json(value: &AttributeValue) -> Json {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::B(b) => json!({ "B": BASE64.encode(b.as_ref()) }),
        AttributeValue::Ss(list) => json!({ "SS": list }),
        AttributeValue::Ns(list) => json!({ "NS": list }),
        AttributeValue::Bs(list) => {
            json!({ "BS": list.iter().map(|b| BASE64.encode(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::L(list) => {
            json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => json!({ "M": image_json(map) }),
        _ => Json::Null,
    }
}

pub(super) fn image_json(map: &std::collections::HashMap<String, AttributeValue>) -> Json {
    Json::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect(),
    )
}

pub(super) fn record_json(
    record: &aws_sdk_dynamodbstreams::types::Record,
    region: &str,
    stream_arn: &str,
) -> Json {
    let change = record.dynamodb();
    let mut dynamodb = serde_json::Map::new();
    if let Some(change) = change {
        if let Some(keys) = change.keys() {
            dynamodb.insert("Keys".into(), image_json(keys));
        }
        if let Some(image) = change.new_image() {
            dynamodb.insert("NewImage".into(), image_json(image));
        }
        if let Some(image) = change.old_image() {
            dynamodb.insert("OldImage".into(), image_json(image));
        }
        if let Some(sequence) = change.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), sequence.into());
        }
        dynamodb.insert("StreamViewType".into(), "NEW_AND_OLD_IMAGES".into());
    }
    json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str().to_owned()).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}
