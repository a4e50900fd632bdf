//! Local event delivery, as AWS does it for the template's `AWS::Pipes::Pipe` resources and
//! the functions' `SQS` event source mappings:
//!
//! - a **stream pump** per pipe reads the table's DynamoDB stream from the local endpoint with
//!   the pipe's role, applies the pipe's filter patterns (read from template.yaml) and sends the
//!   matching records to the pipe's target queue, as EventBridge Pipes would;
//! - a **queue pump** per mapping receives batches with the worker's role, invokes the worker
//!   through the Lambda Invoke API with a real SQS event, deletes only the messages the worker
//!   did not report in `batchItemFailures`, and leaves the others to the queue's redrive policy
//!   (after `maxReceiveCount` receives, the endpoint moves them to the dead-letter queue).
//!
//! **Nothing hangs, nothing is skipped.** Every call has connect and read timeouts
//! ([`crate::local_sdk_config_as`]); a failed call is logged and retried. A stream pump keeps a
//! checkpoint — the sequence number of the last record it delivered — in a file, and every
//! restart (after an error, or of `make dev` against an endpoint that kept running) resumes
//! right after it; only a pipe that has never run starts at the template's `StartingPosition`.
//! A failed delivery to the queue is retried until it succeeds (a pipe without a dead-letter
//! queue retries until the record leaves the stream); the checkpoint moves only past delivered
//! records. Restarts, resumptions and counts go to the log and to [`PumpStatus`].
//!
//! Locally, a received message is hidden for [`LOCAL_VISIBILITY_SECS`] instead of the queue's
//! visibility timeout, so retries (and dead-lettering) take seconds, not minutes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value as Json, json};

use crate::template::{Context, Template};

/// How long a received message stays hidden locally before it is delivered again.
pub const LOCAL_VISIBILITY_SECS: i32 = 2;
/// How long a pump waits before polling an empty stream or queue again.
pub const IDLE: Duration = Duration::from_millis(150);
/// The wait before a failed call is retried (doubling up to [`MAX_BACKOFF`]).
const BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A pipe: stream records matching any of `patterns` go to the queue `target_url`.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub name: String,
    pub patterns: Vec<Json>,
    pub target_url: String,
    /// The stream it reads (`Source`): pipes are given their stream, they do not look it up.
    pub source_arn: String,
    /// The template's `StartingPosition` (`LATEST` or `TRIM_HORIZON`): where a pipe that has
    /// never run starts.
    pub starting_position: String,
}

/// An SQS event source mapping: batches of `queue_url` go to the function `binary`.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub function: String,
    pub binary: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    pub timeout_secs: u64,
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

impl Mapping {
    /// How long one invocation of the worker may take locally before its batch counts as
    /// failed: its `Timeout` plus [`crate::INVOKE_ALLOWANCE`].
    pub fn invoke_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs) + crate::INVOKE_ALLOWANCE
    }
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
            let source_arn = resource
                .properties
                .get("Source")
                .map(|source| template.eval(source, ctx))
                .transpose()?
                .and_then(|source| source.as_str().map(str::to_owned))
                .ok_or_else(|| {
                    anyhow!(
                        "pipe {}: Source must be a stream ARN (!GetAtt <Table>.StreamArn)",
                        resource.logical_id
                    )
                })?;
            let starting_position = resource
                .properties
                .get("SourceParameters")
                .and_then(|p| p.get("DynamoDBStreamParameters"))
                .and_then(|p| p.get("StartingPosition"))
                .and_then(serde_yaml_ng::Value::as_str)
                .unwrap_or("LATEST")
                .to_owned();
            Ok(Pipe {
                name: resource.logical_id.to_owned(),
                patterns,
                target_url,
                source_arn,
                starting_position,
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
            let function = functions
                .iter()
                .find(|f| f.logical_id == resource.logical_id)
                .ok_or_else(|| anyhow!("function {} has no binary", resource.logical_id))?;
            let batch_size = props
                .and_then(|p| p.get("BatchSize"))
                .and_then(serde_yaml_ng::Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(10);
            mappings.push(Mapping {
                function: resource.logical_id.to_owned(),
                binary: function.binary.clone(),
                timeout_secs: function.timeout_secs,
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

/// The longest the local stack may take to settle a message sent to `queue` (a logical id):
/// processed by its worker, or moved to the dead-letter queue. Derived from the template, not
/// guessed: a stream poll, then up to the queue's `maxReceiveCount` receives, each a queue poll,
/// the local visibility timeout and at most one invocation ([`Mapping::invoke_timeout`]). Tests
/// wait this long before they call a delivery lost.
pub fn delivery_bound(template: &Template, ctx: &Context, queue: &str) -> Result<Duration> {
    let mapping = mappings(template, ctx)?
        .into_iter()
        .find(|m| ctx.refs.get(queue) == Some(&m.queue_url))
        .ok_or_else(|| anyhow!("no function takes its events from {queue}"))?;
    let receives = template
        .resources()
        .find(|r| r.logical_id == queue)
        .and_then(|r| r.properties.get("RedrivePolicy"))
        .and_then(|p| p.get("maxReceiveCount"))
        .and_then(serde_yaml_ng::Value::as_u64)
        .unwrap_or(1);
    let one_receive = IDLE
        + Duration::from_secs(u64::try_from(LOCAL_VISIBILITY_SECS).unwrap_or(0))
        + mapping.invoke_timeout();
    Ok(IDLE + one_receive * u32::try_from(receives).unwrap_or(u32::MAX))
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

/// What the pumps have done: counts, restarts, where each stream pump resumed. Written as JSON
/// to a file (for `make soak` and post-mortems) whenever it changes.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PumpReport {
    /// Records a stream pump sent to its queue, or messages a queue pump handed to its worker.
    pub delivered: u64,
    /// Messages of a queue pump's batches that the worker did not process (left for redelivery).
    pub failed: u64,
    /// Times the pump started over after an error.
    pub restarts: u64,
    /// Restarts that resumed from the checkpoint (the rest started at the template's position
    /// because there was none yet, or because the stream no longer held it: `skipped`).
    pub resumed: u64,
    /// Restarts that could not resume because the checkpoint had left the stream.
    pub skipped: u64,
    pub last_error: Option<String>,
    /// A stream pump's checkpoint: the last sequence number delivered.
    pub checkpoint: Option<String>,
}

/// The shared, file-backed [`PumpReport`]s of every pump.
#[derive(Debug, Clone, Default)]
pub struct PumpStatus {
    reports: Arc<Mutex<BTreeMap<String, PumpReport>>>,
    file: Option<PathBuf>,
}

impl PumpStatus {
    /// Reports kept in memory and written to `file` (if any) at every change.
    pub fn new(file: Option<PathBuf>) -> Self {
        Self {
            reports: Arc::default(),
            file,
        }
    }

    /// A copy of every pump's report.
    pub fn snapshot(&self) -> BTreeMap<String, PumpReport> {
        self.reports.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn update(&self, pump: &str, change: impl FnOnce(&mut PumpReport)) {
        let Ok(mut reports) = self.reports.lock() else {
            return;
        };
        change(reports.entry(pump.to_owned()).or_default());
        if let Some(file) = &self.file
            && let Ok(text) = serde_json::to_string_pretty(&*reports)
        {
            let partial = file.with_extension("partial");
            if std::fs::write(&partial, text).is_ok() {
                drop(std::fs::rename(&partial, file));
            }
        }
    }
}

/// Where a stream pump resumes: `None` means "from the oldest record the stream holds".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub stream_arn: String,
    pub shard_id: String,
    pub after_sequence: Option<String>,
}

/// A checkpoint file per pipe (`<dir>/<stack>-<pipe>.json`).
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
    prefix: String,
}

impl Checkpoints {
    pub fn new(dir: &Path, prefix: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    fn path(&self, pipe: &str) -> PathBuf {
        self.dir.join(format!("{}-{pipe}.json", self.prefix))
    }

    /// The pipe's checkpoint on this stream and shard, if it has one.
    pub fn load(&self, pipe: &str, stream_arn: &str, shard_id: &str) -> Option<Checkpoint> {
        let text = std::fs::read_to_string(self.path(pipe)).ok()?;
        let checkpoint: Checkpoint = serde_json::from_str(&text).ok()?;
        (checkpoint.stream_arn == stream_arn && checkpoint.shard_id == shard_id)
            .then_some(checkpoint)
    }

    pub fn save(&self, pipe: &str, checkpoint: &Checkpoint) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(pipe);
        let partial = path.with_extension("partial");
        std::fs::write(&partial, serde_json::to_string(checkpoint)?)?;
        std::fs::rename(&partial, &path)
            .with_context(|| format!("saving the checkpoint {}", path.display()))
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

/// Delivers the table's stream through `pipe` until the task is dropped: errors are logged and
/// the pump resumes from its checkpoint (see the module docs).
pub async fn run_stream_pump(
    sdk: aws_config::SdkConfig,
    pipe: Pipe,
    checkpoints: Checkpoints,
    status: PumpStatus,
) {
    let name = format!("pipe {}", pipe.name);
    let mut backoff = BACKOFF;
    loop {
        let error = stream_session(&sdk, &pipe, &checkpoints, &status).await;
        status.update(&name, |r| {
            r.restarts += 1;
            r.last_error = Some(format!("{error:#}"));
        });
        eprintln!("ferrite-local: {name}: {error:#} — resuming from its checkpoint in {backoff:?}");
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
}

/// The stream, its shard and where to start reading it.
async fn open_stream(
    sdk: &aws_config::SdkConfig,
    pipe: &Pipe,
    checkpoints: &Checkpoints,
    status: &PumpStatus,
) -> Result<(Checkpoint, String)> {
    let name = format!("pipe {}", pipe.name);
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let stream_arn = pipe.source_arn.clone();
    let description = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await?;
    let shard_id = description
        .stream_description()
        .and_then(|d| d.shards().last())
        .and_then(|s| s.shard_id())
        .ok_or_else(|| anyhow!("stream {stream_arn} has no shard"))?
        .to_owned();
    let iterator = |kind: ShardIteratorType, sequence: Option<String>| {
        streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(&shard_id)
            .shard_iterator_type(kind)
            .set_sequence_number(sequence)
            .send()
    };
    if let Some(checkpoint) = checkpoints.load(&pipe.name, &stream_arn, &shard_id) {
        let resumed = match &checkpoint.after_sequence {
            None => iterator(ShardIteratorType::TrimHorizon, None).await,
            Some(sequence) => {
                iterator(
                    ShardIteratorType::AfterSequenceNumber,
                    Some(sequence.clone()),
                )
                .await
            }
        };
        match resumed {
            Ok(output) => {
                status.update(&name, |r| {
                    r.resumed += 1;
                    r.checkpoint.clone_from(&checkpoint.after_sequence);
                });
                let token = output
                    .shard_iterator
                    .ok_or_else(|| anyhow!("no shard iterator"))?;
                return Ok((checkpoint, token));
            }
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.meta().code() == Some("TrimmedDataAccessException")) =>
            {
                eprintln!(
                    "ferrite-local: {name}: records after {:?} left the stream before delivery — starting at its oldest record",
                    checkpoint.after_sequence
                );
                status.update(&name, |r| r.skipped += 1);
                let token = iterator(ShardIteratorType::TrimHorizon, None)
                    .await?
                    .shard_iterator
                    .ok_or_else(|| anyhow!("no shard iterator"))?;
                let fresh = Checkpoint {
                    after_sequence: None,
                    ..checkpoint
                };
                return Ok((fresh, token));
            }
            Err(error) => return Err(error.into()),
        }
    }
    // A pipe that has never run. TRIM_HORIZON: everything the stream holds. LATEST: only what
    // comes next — read to the end without delivering, so the checkpoint is a real position
    // (a later restart must not skip what is written meanwhile).
    let mut checkpoint = Checkpoint {
        stream_arn: stream_arn.clone(),
        shard_id: shard_id.clone(),
        after_sequence: None,
    };
    let mut token = iterator(ShardIteratorType::TrimHorizon, None)
        .await?
        .shard_iterator
        .ok_or_else(|| anyhow!("no shard iterator"))?;
    if pipe.starting_position == "LATEST" {
        loop {
            let page = streams.get_records().shard_iterator(&token).send().await?;
            if let Some(last) = page.records().last() {
                checkpoint.after_sequence = last
                    .dynamodb()
                    .and_then(|d| d.sequence_number())
                    .map(str::to_owned);
            }
            let empty = page.records().is_empty();
            token = page
                .next_shard_iterator
                .ok_or_else(|| anyhow!("the shard closed"))?;
            if empty {
                break;
            }
        }
    }
    checkpoints.save(&pipe.name, &checkpoint)?;
    Ok((checkpoint, token))
}

/// One run of a stream pump, from its checkpoint until an error.
async fn stream_session(
    sdk: &aws_config::SdkConfig,
    pipe: &Pipe,
    checkpoints: &Checkpoints,
    status: &PumpStatus,
) -> anyhow::Error {
    let run = async {
        let name = format!("pipe {}", pipe.name);
        let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let region = sdk
            .region()
            .map_or_else(|| crate::LOCAL_REGION.to_owned(), ToString::to_string);
        let (mut checkpoint, mut token) = open_stream(sdk, pipe, checkpoints, status).await?;
        loop {
            let page = streams
                .get_records()
                .shard_iterator(&token)
                .send()
                .await
                .context("reading the stream")?;
            let bodies: Vec<String> = page
                .records()
                .iter()
                .map(|record| record_json(record, &region, &checkpoint.stream_arn))
                .filter(|json| pipe.patterns.iter().any(|p| matches(p, json)))
                .map(|json| json.to_string())
                .collect();
            for chunk in bodies.chunks(10) {
                deliver(&sqs, &pipe.target_url, chunk, &name).await;
                status.update(&name, |r| r.delivered += chunk.len() as u64);
            }
            if let Some(last) = page.records().last() {
                checkpoint.after_sequence = last
                    .dynamodb()
                    .and_then(|d| d.sequence_number())
                    .map(str::to_owned);
                checkpoints.save(&pipe.name, &checkpoint)?;
                status.update(&name, |r| {
                    r.checkpoint.clone_from(&checkpoint.after_sequence);
                });
            }
            let empty = page.records().is_empty();
            token = page
                .next_shard_iterator
                .ok_or_else(|| anyhow!("the shard closed"))?;
            if empty {
                tokio::time::sleep(IDLE).await;
            }
        }
    };
    let outcome: Result<std::convert::Infallible> = run.await;
    match outcome {
        Ok(never) => match never {},
        Err(error) => error,
    }
}

/// Sends `bodies` (at most 10) to the queue, retrying the ones that fail until every one is in.
async fn deliver(sqs: &aws_sdk_sqs::Client, queue_url: &str, bodies: &[String], name: &str) {
    let mut pending: Vec<(String, &String)> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| (i.to_string(), body))
        .collect();
    let mut backoff = BACKOFF;
    while !pending.is_empty() {
        let entries: Vec<SendMessageBatchRequestEntry> = pending
            .iter()
            .filter_map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(*body)
                    .build()
                    .ok()
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(output) => {
                let failed: Vec<&str> = output
                    .failed()
                    .iter()
                    .map(aws_sdk_sqs::types::BatchResultErrorEntry::id)
                    .collect();
                if let Some(first) = output.failed().first() {
                    eprintln!(
                        "ferrite-local: {name}: {} of {} messages not accepted ({}: {}) — retrying",
                        failed.len(),
                        pending.len(),
                        first.code(),
                        first.message().unwrap_or_default()
                    );
                }
                pending.retain(|(id, _)| failed.contains(&id.as_str()));
            }
            Err(error) => {
                eprintln!(
                    "ferrite-local: {name}: delivery to the queue failed ({}) — retrying in {backoff:?}",
                    shared::error::cause_chain(&error)
                );
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(backoff).await;
            backoff = next_backoff(backoff);
        }
    }
}

/// Delivers `mapping`'s queue to its worker until the task is dropped; a failed call is logged
/// and retried (messages not deleted come back after the visibility timeout).
pub async fn run_queue_pump(
    sdk: aws_config::SdkConfig,
    mapping: Mapping,
    lambda_url: String,
    status: PumpStatus,
) {
    let name = format!("queue {}", mapping.function);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let http = reqwest::Client::builder()
        .connect_timeout(crate::LOCAL_CONNECT_TIMEOUT)
        .timeout(mapping.invoke_timeout())
        .build()
        .unwrap_or_default();
    let mut backoff = BACKOFF;
    loop {
        match queue_round(&sqs, &http, &sdk, &mapping, &lambda_url, &status, &name).await {
            Ok(true) => backoff = BACKOFF,
            Ok(false) => tokio::time::sleep(IDLE).await,
            Err(error) => {
                status.update(&name, |r| {
                    r.restarts += 1;
                    r.resumed += 1;
                    r.last_error = Some(format!("{error:#}"));
                });
                eprintln!("ferrite-local: {name}: {error:#} — retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = next_backoff(backoff);
            }
        }
    }
}

/// One receive → invoke → delete round; `false` when the queue was empty.
async fn queue_round(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    sdk: &aws_config::SdkConfig,
    mapping: &Mapping,
    lambda_url: &str,
    status: &PumpStatus,
    name: &str,
) -> Result<bool> {
    let region = sdk
        .region()
        .map_or_else(|| crate::LOCAL_REGION.to_owned(), ToString::to_string);
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        lambda_url.trim_end_matches('/'),
        mapping.binary
    );
    let received = sqs
        .receive_message()
        .queue_url(&mapping.queue_url)
        .max_number_of_messages(mapping.batch_size)
        .visibility_timeout(LOCAL_VISIBILITY_SECS)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .context("receiving from the queue")?;
    let messages = received.messages();
    if messages.is_empty() {
        return Ok(false);
    }
    let answer = http
        .post(&url)
        .json(&sqs_event(messages, mapping, &region))
        .send()
        .await;
    let failed = failed_messages(answer, messages, name).await;
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
    let processed = entries.len() as u64;
    if !entries.is_empty() {
        let deleted = sqs
            .delete_message_batch()
            .queue_url(&mapping.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .context("deleting the processed messages")?;
        if !deleted.failed().is_empty() {
            bail!(
                "{} processed messages could not be deleted (they will be delivered again)",
                deleted.failed().len()
            );
        }
    }
    status.update(name, |r| {
        r.delivered += processed;
        r.failed += failed.len() as u64;
    });
    Ok(true)
}

/// The SQS event Lambda's event source mapping hands the worker for `messages`.
fn sqs_event(messages: &[aws_sdk_sqs::types::Message], mapping: &Mapping, region: &str) -> Json {
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
    json!({ "Records": records })
}

/// The ids of the messages the worker did not process: those of its `batchItemFailures`, or
/// the whole batch when the invocation itself failed (as Lambda does).
async fn failed_messages(
    answer: reqwest::Result<reqwest::Response>,
    messages: &[aws_sdk_sqs::types::Message],
    name: &str,
) -> Vec<String> {
    let why = match answer {
        Ok(response)
            if response.status().is_success()
                && !response.headers().contains_key("x-amz-function-error") =>
        {
            let body: Json = response.json().await.unwrap_or(Json::Null);
            return body["batchItemFailures"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
        }
        Ok(response) => format!("the function answered {}", response.status()),
        Err(error) => format!("the invocation failed: {error}"),
    };
    eprintln!(
        "ferrite-local: {name}: {why} — the batch of {} comes back after the visibility timeout",
        messages.len()
    );
    messages
        .iter()
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect()
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
    fn the_repository_template_declares_its_pipes_and_workers() {
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
            ctx.attributes.insert(
                format!("{}.StreamArn", resource.logical_id),
                format!("stream-{}", resource.logical_id),
            );
        }
        for (name, definition) in template.parameters() {
            if definition.get("Default").is_none() {
                ctx.parameters.insert(name.to_owned(), "x".repeat(32));
            }
        }
        let pipes = pipes(&template, &ctx).expect("pipes");
        let targets: Vec<(&str, &str, &str)> = pipes
            .iter()
            .map(|p| {
                (
                    p.source_arn.as_str(),
                    p.target_url.as_str(),
                    p.starting_position.as_str(),
                )
            })
            .collect();
        assert_eq!(
            targets,
            [
                ("stream-Table", "url-AuditQueue", "LATEST"),
                ("stream-Table", "url-EmailQueue", "LATEST"),
                ("stream-Table", "url-PurgeQueue", "LATEST")
            ]
        );
        let mappings = mappings(&template, &ctx).expect("mappings");
        let workers: Vec<(&str, &str)> = mappings
            .iter()
            .map(|m| (m.binary.as_str(), m.queue_url.as_str()))
            .collect();
        assert_eq!(
            workers,
            [
                ("worker-audit", "url-AuditQueue"),
                ("worker-email", "url-EmailQueue"),
                ("worker-purge", "url-PurgeQueue")
            ]
        );
    }
}
