//! Local event delivery, as AWS does it for the template's `AWS::Pipes::Pipe` resources and
//! the functions' `SQS` event source mappings:
//!
//! - the **stream pump** reads the table's DynamoDB stream from the local endpoint, applies
//!   each pipe's filter patterns (read from template.yaml) and sends matching records to the
//!   pipe's target queue, as EventBridge Pipes would;
//! - a **queue pump** per mapping receives batches, invokes the worker through the Lambda
//!   Invoke API with a real SQS event, deletes only the messages the worker did not report in
//!   `batchItemFailures`, and leaves the others to the queue's redrive policy (after
//!   `maxReceiveCount` receives, moto moves them to the dead-letter queue).
//!
//! Locally, a received message is hidden for [`LOCAL_VISIBILITY_SECS`] instead of the queue's
//! visibility timeout, so retries (and dead-lettering) take seconds, not minutes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};

use crate::template::{Context, Template};

/// How long a received message stays hidden locally before it is delivered again.
pub const LOCAL_VISIBILITY_SECS: i32 = 2;
const IDLE: Duration = Duration::from_millis(150);

/// A pipe: stream records matching any of `patterns` go to the queue `target_url`.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub name: String,
    pub patterns: Vec<Json>,
    pub target_url: String,
}

/// An SQS event source mapping: batches of `queue_url` go to the function `binary`.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub function: String,
    pub binary: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
}

fn logical_of_get_att(value: &serde_yaml_ng::Value) -> Option<String> {
    let text = match value {
        serde_yaml_ng::Value::Tagged(tagged) if tagged.tag == "GetAtt" => {
            tagged.value.as_str()?.to_owned()
        }
        serde_yaml_ng::Value::Mapping(map) => {
            let args = map.get("Fn::GetAtt")?;
            match args {
                serde_yaml_ng::Value::Sequence(parts) => parts.first()?.as_str()?.to_owned(),
                other => other.as_str()?.to_owned(),
            }
        }
        _ => return None,
    };
    Some(text.split('.').next()?.to_owned())
}

/// The template's pipes whose source is a table stream and whose target is a queue.
pub fn pipes(template: &Template, ctx: &Context) -> Result<Vec<Pipe>> {
    template
        .resources_of("AWS::Pipes::Pipe")
        .map(|resource| {
            let target = resource
                .properties
                .get("Target")
                .and_then(logical_of_get_att)
                .ok_or_else(|| {
                    anyhow!(
                        "pipe {}: Target must be !GetAtt <Queue>.Arn",
                        resource.logical_id
                    )
                })?;
            let target_url = ctx.refs.get(&target).cloned().ok_or_else(|| {
                anyhow!(
                    "pipe {}: queue {target} is not provisioned",
                    resource.logical_id
                )
            })?;
            let filters = resource
                .properties
                .get("SourceParameters")
                .and_then(|p| p.get("FilterCriteria"))
                .map(|f| template.eval(f, ctx))
                .transpose()?
                .unwrap_or(Json::Null);
            let patterns = filters["Filters"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|f| {
                            let text = f["Pattern"].as_str().unwrap_or("{}");
                            serde_json::from_str(text).with_context(|| {
                                format!("pipe {}: filter pattern", resource.logical_id)
                            })
                        })
                        .collect::<Result<Vec<Json>>>()
                })
                .transpose()?
                .unwrap_or_default();
            Ok(Pipe {
                name: resource.logical_id.to_owned(),
                patterns,
                target_url,
            })
        })
        .collect()
}

/// The `SQS` events of the template's functions.
pub fn mappings(template: &Template, ctx: &Context) -> Result<Vec<Mapping>> {
    let functions = crate::routes::functions(template, ctx)?;
    let mut mappings = Vec::new();
    for resource in template.resources_of("AWS::Serverless::Function") {
        let Some(events) = resource
            .properties
            .get("Events")
            .and_then(|e| e.as_mapping())
        else {
            continue;
        };
        for event in events.values() {
            if event.get("Type").and_then(serde_yaml_ng::Value::as_str) != Some("SQS") {
                continue;
            }
            let props = event.get("Properties");
            let queue = props
                .and_then(|p| p.get("Queue"))
                .and_then(logical_of_get_att)
                .ok_or_else(|| {
                    anyhow!(
                        "function {}: SQS Queue must be !GetAtt <Queue>.Arn",
                        resource.logical_id
                    )
                })?;
            let binary = functions
                .iter()
                .find(|f| f.logical_id == resource.logical_id)
                .map(|f| f.binary.clone())
                .ok_or_else(|| anyhow!("function {} has no binary", resource.logical_id))?;
            let batch_size = props
                .and_then(|p| p.get("BatchSize"))
                .and_then(serde_yaml_ng::Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(10);
            mappings.push(Mapping {
                function: resource.logical_id.to_owned(),
                binary,
                queue_url: ctx
                    .refs
                    .get(&queue)
                    .cloned()
                    .ok_or_else(|| anyhow!("queue {queue} is not provisioned"))?,
                queue_arn: ctx
                    .attributes
                    .get(&format!("{queue}.Arn"))
                    .cloned()
                    .unwrap_or_default(),
                batch_size: batch_size.clamp(1, 10),
            });
        }
    }
    Ok(mappings)
}

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

fn matches_rule(rule: &Json, value: Option<&Json>) -> bool {
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

fn image_json(map: &std::collections::HashMap<String, AttributeValue>) -> Json {
    Json::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect(),
    )
}

fn record_json(
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

/// Forwards the stream of `table` to the pipes' queues until the task is dropped.
pub async fn run_stream_pump(
    sdk: aws_config::SdkConfig,
    table: String,
    pipes: Vec<Pipe>,
) -> Result<()> {
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let region = sdk
        .region()
        .map_or_else(|| crate::LOCAL_REGION.to_owned(), ToString::to_string);
    let stream_arn = dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| anyhow!("table {table} has no stream"))?;
    // Shard id -> iterator. Pipes start at LATEST: what was written before the pump started is
    // not replayed.
    let mut iterators: BTreeMap<String, Option<String>> = BTreeMap::new();
    loop {
        let shards = streams
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await?;
        for shard in shards
            .stream_description()
            .map(aws_sdk_dynamodbstreams::types::StreamDescription::shards)
            .unwrap_or_default()
        {
            let Some(id) = shard.shard_id() else { continue };
            if !iterators.contains_key(id) {
                let kind = if iterators.is_empty() {
                    ShardIteratorType::Latest
                } else {
                    ShardIteratorType::TrimHorizon
                };
                let iterator = streams
                    .get_shard_iterator()
                    .stream_arn(&stream_arn)
                    .shard_id(id)
                    .shard_iterator_type(kind)
                    .send()
                    .await?
                    .shard_iterator;
                iterators.insert(id.to_owned(), iterator);
            }
        }
        let mut delivered = 0;
        for iterator in iterators.values_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let output = streams.get_records().shard_iterator(current).send().await?;
            for record in output.records() {
                let json = record_json(record, &region, &stream_arn);
                for pipe in &pipes {
                    if pipe.patterns.iter().any(|p| matches(p, &json)) {
                        sqs.send_message()
                            .queue_url(&pipe.target_url)
                            .message_body(json.to_string())
                            .send()
                            .await
                            .with_context(|| format!("pipe {} could not deliver", pipe.name))?;
                        delivered += 1;
                    }
                }
            }
            *iterator = output.next_shard_iterator;
        }
        if delivered == 0 {
            tokio::time::sleep(IDLE).await;
        }
    }
}

/// Delivers `mapping`'s queue to its worker until the task is dropped.
pub async fn run_queue_pump(
    sdk: aws_config::SdkConfig,
    mapping: Mapping,
    lambda_url: String,
) -> Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = reqwest::Client::new();
    let region = sdk
        .region()
        .map_or_else(|| crate::LOCAL_REGION.to_owned(), ToString::to_string);
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        lambda_url.trim_end_matches('/'),
        mapping.binary
    );
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(mapping.batch_size)
            .visibility_timeout(LOCAL_VISIBILITY_SECS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let messages = received.messages();
        if messages.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let records: Vec<Json> = messages
            .iter()
            .map(|m| {
                let attributes: BTreeMap<String, String> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": mapping.queue_arn,
                    "awsRegion": region,
                })
            })
            .collect();
        let answer = http
            .post(&url)
            .json(&json!({ "Records": records }))
            .send()
            .await;
        let failed: Vec<String> = match answer {
            Ok(response)
                if response.status().is_success()
                    && !response.headers().contains_key("x-amz-function-error") =>
            {
                let body: Json = response.json().await.unwrap_or(Json::Null);
                body["batchItemFailures"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            // The invocation itself failed: the whole batch is retried, as Lambda does.
            _ => messages
                .iter()
                .filter_map(|m| m.message_id().map(str::to_owned))
                .collect(),
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| {
                m.message_id()
                    .is_some_and(|id| !failed.iter().any(|f| f == id))
            })
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if !entries.is_empty() {
            sqs.delete_message_batch()
                .queue_url(&mapping.queue_url)
                .set_entries(Some(entries))
                .send()
                .await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventbridge_patterns_match_as_pipes_filter() {
        let pattern: Json = serde_json::from_str(
            r#"{"eventName":["INSERT"],"dynamodb":{"NewImage":{"pk":{"S":[{"prefix":"OUTBOX#"}]},"event":{"M":{"email":{"M":{"template":{"S":[{"exists":true}]}}}}}}}}"#,
        )
        .expect("pattern");
        let record = |name: &str, pk: &str, email: bool| {
            let mut event = json!({"M": {"type": {"S": "user.registered"}}});
            if email {
                event["M"]["email"] = json!({"M": {"template": {"S": "welcome"}}});
            }
            json!({"eventName": name, "dynamodb": {"NewImage": {"pk": {"S": pk}, "event": event}}})
        };
        assert!(matches(&pattern, &record("INSERT", "OUTBOX#1", true)));
        assert!(!matches(&pattern, &record("INSERT", "OUTBOX#1", false)));
        assert!(!matches(&pattern, &record("MODIFY", "OUTBOX#1", true)));
        assert!(!matches(&pattern, &record("INSERT", "USER#1", true)));
        let but: Json = serde_json::from_str(r#"{"eventName":[{"anything-but":["REMOVE"]}]}"#)
            .expect("pattern");
        assert!(matches(&but, &json!({"eventName": "INSERT"})));
        assert!(!matches(&but, &json!({"eventName": "REMOVE"})));
    }

    #[test]
    fn the_repository_template_declares_both_pipes_and_both_workers() {
        let template = Template::load(&crate::template_path()).expect("template");
        let mut ctx = Context::local("t", "us-east-1");
        for resource in template.resources() {
            ctx.refs.insert(
                resource.logical_id.to_owned(),
                format!("url-{}", resource.logical_id),
            );
            ctx.attributes.insert(
                format!("{}.Arn", resource.logical_id),
                format!("arn-{}", resource.logical_id),
            );
        }
        for (name, definition) in template.parameters() {
            if definition.get("Default").is_none() {
                ctx.parameters.insert(name.to_owned(), "x".repeat(32));
            }
        }
        let pipes = pipes(&template, &ctx).expect("pipes");
        let targets: Vec<&str> = pipes.iter().map(|p| p.target_url.as_str()).collect();
        assert_eq!(targets, ["url-AuditQueue", "url-EmailQueue"]);
        let mappings = mappings(&template, &ctx).expect("mappings");
        let workers: Vec<(&str, &str)> = mappings
            .iter()
            .map(|m| (m.binary.as_str(), m.queue_url.as_str()))
            .collect();
        assert_eq!(
            workers,
            [
                ("worker-audit", "url-AuditQueue"),
                ("worker-email", "url-EmailQueue")
            ]
        );
    }
}
