//! Local event delivery, as AWS does it for the template's `AWS::Pipes::Pipe` resources, its
//! event buses and `AWS::Events::Rule`s, and the functions' `SQS` event source mappings:
//!
//! - a **stream pump** per pipe reads the table's DynamoDB stream from the local endpoint with
//!   the pipe's role, applies the pipe's filter patterns (read from template.yaml) and sends the
//!   matching records to the pipe's target, as EventBridge Pipes would: a queue, or an event
//!   bus — the pipe's role must be allowed `events:PutEvents` on it (the endpoint's IAM
//!   decides), each record becomes an event whose `detail` it is, and every rule of the bus
//!   whose pattern matches sends it (its `InputPath`) to its target queues as EventBridge does:
//!   signing as the rule (`events.amazonaws.com` with the rule's ARN as `aws:SourceArn`), so
//!   only a queue policy that lets that rule in admits it; a refused delivery is retried up to
//!   the target's `RetryPolicy`, then the event goes to its `DeadLetterConfig` queue;
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

mod filter;
mod queue;
mod stream;

pub use filter::{attribute_json, matches};
pub use queue::{run_queue_pump, sqs_event};
pub use stream::{Checkpoint, Checkpoints, Delivered, deliver, run_stream_pump};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value as Json;

use crate::template::{Context, Template};

/// How long a received message stays hidden locally before it is delivered again.
pub const LOCAL_VISIBILITY_SECS: i32 = 2;
/// How long a pump waits before polling an empty stream or queue again.
pub const IDLE: Duration = Duration::from_millis(150);
/// The wait before a failed call is retried (doubling up to [`MAX_BACKOFF`]).
const BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A pipe: stream records matching any of `patterns` go to its target.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub name: String,
    pub patterns: Vec<Json>,
    pub target: Target,
    /// The stream it reads (`Source`): pipes are given their stream, they do not look it up.
    pub source_arn: String,
    /// The template's `StartingPosition` (`LATEST` or `TRIM_HORIZON`): where a pipe that has
    /// never run starts.
    pub starting_position: String,
    /// What happens to a batch the target refuses: `MaximumRetryAttempts` and the
    /// `DeadLetterConfig` queue, as EventBridge Pipes applies them.
    pub give_up: GiveUp,
}

/// Where a pipe sends the records that pass its filter.
#[derive(Debug, Clone)]
pub enum Target {
    /// A queue (its URL).
    Queue(String),
    /// An event bus and its rules.
    Bus(Bus),
}

/// An `AWS::Events::EventBus` as a pipe's target: what the pipe's events say they are
/// (`TargetParameters.EventBridgeEventBusParameters`) and the rules on the bus.
#[derive(Debug, Clone)]
pub struct Bus {
    pub name: String,
    pub arn: String,
    pub source: String,
    pub detail_type: String,
    pub rules: Vec<Rule>,
    /// How the pipe's `events:PutEvents` is authorised (set by [`crate::stack::start_pumps`];
    /// none, unchecked).
    pub authorizer: Option<Authorizer>,
}

/// The local endpoint's IAM, asked on the pipe's behalf: its control URL, the pipe role's key,
/// and the HTTP client (made once, used for every batch).
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub endpoint: String,
    pub access_key_id: String,
    pub http: reqwest::Client,
}

/// An `AWS::Events::Rule` of a bus: events matching `pattern` go to its targets.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub pattern: Json,
    pub targets: Vec<RuleTarget>,
    /// The SQS client that signs as the rule (set by [`crate::stack::start_pumps`]; none, the
    /// pipe's).
    pub sqs: Option<aws_sdk_sqs::Client>,
}

/// A rule's queue target: what of the event it sends (`InputPath`) and its retry policy.
#[derive(Debug, Clone)]
pub struct RuleTarget {
    pub id: String,
    pub queue_url: String,
    pub input_path: Option<String>,
    pub give_up: GiveUp,
}

/// A pipe's or rule target's limit on a refused delivery: retried `max_retries` times (none:
/// until it goes through), then put in the dead-letter queue — described (a pipe's stream
/// batch: its coordinates and the failure) or as it was (a rule's event) — and delivery moves on.
#[derive(Debug, Clone, Default)]
pub struct GiveUp {
    pub max_retries: Option<u32>,
    pub dead_letter_url: Option<String>,
    /// The dead-letter queue gets the refused messages themselves (EventBridge rules), not a
    /// description of the stream batch (Pipes).
    pub dead_letter_as_is: bool,
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

/// The logical id a `!GetAtt <Id>.<Attr>` names (the pumps' targets, the schedules' queues).
pub(crate) fn logical_of_get_att(value: &serde_yaml_ng::Value) -> Option<String> {
    let (function, argument) = crate::template::intrinsic(value)?;
    if function != "Fn::GetAtt" {
        return None;
    }
    let text = match argument {
        serde_yaml_ng::Value::Sequence(parts) => parts.first()?.as_str()?,
        other => other.as_str()?,
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

/// The template's pipes whose source is a table stream and whose target is a queue or an
/// event bus of the template.
pub fn pipes(template: &Template, ctx: &Context) -> Result<Vec<Pipe>> {
    template
        .resources_of("AWS::Pipes::Pipe")
        .map(|resource| {
            let target_id = resource
                .properties
                .get("Target")
                .and_then(logical_of_get_att)
                .ok_or_else(|| {
                    anyhow!(
                        "pipe {}: Target must be !GetAtt <Queue or EventBus>.Arn",
                        resource.logical_id
                    )
                })?;
            let target = if template
                .resources_of("AWS::Events::EventBus")
                .any(|bus| bus.logical_id == target_id)
            {
                Target::Bus(bus(template, ctx, resource.properties, &target_id)?)
            } else {
                Target::Queue(ctx.refs.get(&target_id).cloned().ok_or_else(|| {
                    anyhow!(
                        "pipe {}: queue {target_id} is not provisioned",
                        resource.logical_id
                    )
                })?)
            };
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
            let stream = resource
                .properties
                .get("SourceParameters")
                .and_then(|p| p.get("DynamoDBStreamParameters"));
            let starting_position = stream
                .and_then(|p| p.get("StartingPosition"))
                .and_then(serde_yaml_ng::Value::as_str)
                .unwrap_or("LATEST")
                .to_owned();
            // -1 (or none) is "retry until the record expires".
            let max_retries = stream
                .and_then(|p| p.get("MaximumRetryAttempts"))
                .and_then(serde_yaml_ng::Value::as_i64)
                .and_then(|n| u32::try_from(n).ok());
            let dead_letter_url = queue_url_of(
                ctx,
                stream
                    .and_then(|p| p.get("DeadLetterConfig"))
                    .and_then(|d| d.get("Arn")),
                &format!("pipe {}", resource.logical_id),
            )?;
            Ok(Pipe {
                name: resource.logical_id.to_owned(),
                patterns,
                target,
                source_arn,
                starting_position,
                give_up: GiveUp {
                    max_retries,
                    dead_letter_url,
                    dead_letter_as_is: false,
                },
            })
        })
        .collect()
}

/// The URL of the queue `arn` names (`!GetAtt <Queue>.Arn`), if it names one.
fn queue_url_of(
    ctx: &Context,
    arn: Option<&serde_yaml_ng::Value>,
    whose: &str,
) -> Result<Option<String>> {
    match arn.and_then(logical_of_get_att) {
        Some(queue) => {
            Ok(Some(ctx.refs.get(&queue).cloned().ok_or_else(|| {
                anyhow!("{whose}: queue {queue} is not provisioned")
            })?))
        }
        None => Ok(None),
    }
}

/// The bus `logical_id` as the target of the pipe whose properties are `pipe`, with its rules.
fn bus(
    template: &Template,
    ctx: &Context,
    pipe: &serde_yaml_ng::Value,
    logical_id: &str,
) -> Result<Bus> {
    let name = ctx
        .refs
        .get(logical_id)
        .cloned()
        .ok_or_else(|| anyhow!("event bus {logical_id} is not resolved"))?;
    let arn = ctx
        .attributes
        .get(&format!("{logical_id}.Arn"))
        .cloned()
        .ok_or_else(|| anyhow!("event bus {logical_id} has no ARN"))?;
    let parameters = pipe
        .get("TargetParameters")
        .and_then(|p| p.get("EventBridgeEventBusParameters"))
        .map(|p| template.eval(p, ctx))
        .transpose()?
        .unwrap_or(Json::Null);
    let mut rules = Vec::new();
    for rule in template.resources_of("AWS::Events::Rule") {
        let on = template.property_text(&rule, "EventBusName", ctx)?;
        if on.as_deref() != Some(name.as_str()) {
            continue;
        }
        let whose = format!("rule {}", rule.logical_id);
        let pattern = match rule
            .properties
            .get("EventPattern")
            .map(|p| template.eval(p, ctx))
            .transpose()?
        {
            Some(Json::String(text)) => serde_json::from_str(&text).context(whose.clone())?,
            Some(pattern) => pattern,
            None => bail!("{whose} has no EventPattern (scheduled rules are not run locally)"),
        };
        let mut targets = Vec::new();
        for target in rule
            .properties
            .get("Targets")
            .and_then(serde_yaml_ng::Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let id = target
                .get("Id")
                .and_then(serde_yaml_ng::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let queue_url = queue_url_of(ctx, target.get("Arn"), &whose)?
                .ok_or_else(|| anyhow!("{whose}: target {id} must be !GetAtt <Queue>.Arn"))?;
            let retry = target.get("RetryPolicy");
            targets.push(RuleTarget {
                id,
                queue_url,
                input_path: target
                    .get("InputPath")
                    .and_then(serde_yaml_ng::Value::as_str)
                    .map(str::to_owned),
                give_up: GiveUp {
                    // EventBridge's default: 185 attempts within 24 hours.
                    max_retries: Some(
                        retry
                            .and_then(|r| r.get("MaximumRetryAttempts"))
                            .and_then(serde_yaml_ng::Value::as_u64)
                            .and_then(|n| u32::try_from(n).ok())
                            .unwrap_or(185),
                    ),
                    dead_letter_url: queue_url_of(
                        ctx,
                        target.get("DeadLetterConfig").and_then(|d| d.get("Arn")),
                        &whose,
                    )?,
                    dead_letter_as_is: true,
                },
            });
        }
        rules.push(Rule {
            name: rule.logical_id.to_owned(),
            arn: ctx
                .attributes
                .get(&format!("{}.Arn", rule.logical_id))
                .cloned()
                .ok_or_else(|| anyhow!("{whose} has no ARN"))?,
            pattern,
            targets,
            sqs: None,
        });
    }
    Ok(Bus {
        name,
        arn,
        source: parameters["Source"].as_str().unwrap_or_default().to_owned(),
        detail_type: parameters["DetailType"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        rules,
        authorizer: None,
    })
}

/// What a rule's target receives of `event`: the part its `InputPath` selects (`$.a.b`), or the
/// whole event.
pub fn input_of(event: &Json, input_path: Option<&str>) -> Json {
    let Some(path) = input_path else {
        return event.clone();
    };
    path.trim_start_matches('$')
        .split('.')
        .filter(|part| !part.is_empty())
        .try_fold(event, |value, part| value.get(part))
        .cloned()
        .unwrap_or(Json::Null)
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

/// What the pumps have done: counts, restarts, where each stream pump resumed. Written as JSON
/// to a file (for `make soak` and post-mortems) whenever it changes.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PumpReport {
    /// Records a stream pump sent to its queue, or messages a queue pump handed to its worker.
    pub delivered: u64,
    /// Messages of a queue pump's batches that the worker did not process (left for redelivery).
    pub failed: u64,
    /// Records a stream pump gave up on after the pipe's retries (described in its DLQ).
    pub dead_lettered: u64,
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

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn a_rules_input_path_selects_the_part_of_the_event_its_target_receives() {
        let event = json!({"source": "s", "detail": {"eventName": "INSERT", "dynamodb": {"x": 1}}});
        assert_eq!(input_of(&event, Some("$.detail")), event["detail"]);
        assert_eq!(input_of(&event, Some("$.detail.dynamodb")), json!({"x": 1}));
        assert_eq!(input_of(&event, None), event);
        assert_eq!(input_of(&event, Some("$")), event);
    }

    #[test]
    fn the_repository_template_declares_its_pipes_and_workers() {
        let template = crate::tree::template().expect("template");
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
        // The rest as AWS names it (an API's endpoint, which a worker's environment names).
        ctx.resolve_unprovisioned(&template);
        let pipes = pipes(&template, &ctx).expect("pipes");
        // One reader of the stream, a bus, and a rule per queue.
        assert_eq!(pipes.len(), 1);
        let pipe = &pipes[0];
        assert_eq!(
            (pipe.source_arn.as_str(), pipe.starting_position.as_str()),
            ("stream-Table", "TRIM_HORIZON")
        );
        let Target::Bus(bus) = &pipe.target else {
            panic!("the pipe targets the event bus")
        };
        assert_eq!(bus.arn, "arn-EventBus");
        let rules: Vec<(&str, &str, Option<&str>, Option<&str>)> = bus
            .rules
            .iter()
            .flat_map(|r| {
                r.targets.iter().map(|t| {
                    (
                        r.name.as_str(),
                        t.queue_url.as_str(),
                        t.input_path.as_deref(),
                        t.give_up.dead_letter_url.as_deref(),
                    )
                })
            })
            .collect();
        let dlq = Some("url-EventDeadLetterQueue");
        assert_eq!(
            rules,
            [
                ("AuditRule", "url-AuditQueue", Some("$.detail"), dlq),
                ("DocumentsRule", "url-DocumentsQueue", Some("$.detail"), dlq),
                ("EmailRule", "url-EmailQueue", Some("$.detail"), dlq),
                (
                    "NotificationsRule",
                    "url-NotificationsQueue",
                    Some("$.detail"),
                    dlq
                ),
                ("PurgeRule", "url-PurgeQueue", Some("$.detail"), dlq),
                ("WebhooksRule", "url-WebhooksQueue", Some("$.detail"), dlq)
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
                ("worker-documents", "url-DocumentsQueue"),
                ("worker-email", "url-EmailQueue"),
                ("worker-notifications", "url-NotificationsQueue"),
                ("worker-purge", "url-PurgeQueue"),
                ("worker-rent", "url-RentQueue"),
                ("worker-webhooks", "url-WebhooksQueue")
            ]
        );
    }
}
