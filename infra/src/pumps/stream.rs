//! Stream pumps: one per pipe, reading the table's stream with the pipe's role, resuming from a
//! checkpoint, delivering matching records to the pipe's target: a queue, or an event bus whose
//! rules deliver them on to their queues.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use serde_json::{Value as Json, json};

use super::{
    BACKOFF, Bus, GiveUp, IDLE, Pipe, PumpStatus, Target, filter::matches, filter::record_json,
    input_of, next_backoff,
};

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
pub(super) async fn open_stream(
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
pub(super) async fn stream_session(
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
            let records: Vec<Json> = page
                .records()
                .iter()
                .map(|record| record_json(record, &region, &checkpoint.stream_arn))
                .filter(|json| pipe.patterns.iter().any(|p| matches(p, json)))
                .collect();
            for chunk in records.chunks(10) {
                let outcome = match &pipe.target {
                    Target::Queue(url) => {
                        let bodies: Vec<String> = chunk.iter().map(Json::to_string).collect();
                        deliver(&sqs, url, &pipe.give_up, &bodies, &name).await
                    }
                    Target::Bus(bus) => {
                        put_on_bus(&sqs, bus, &pipe.give_up, chunk, &name, &region, status).await
                    }
                };
                status.update(&name, |r| {
                    r.delivered += outcome.delivered;
                    r.dead_lettered += outcome.dead_lettered;
                });
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

/// What a pipe puts on a bus for one stream record: an event whose `detail` is the record,
/// `source` and `detail-type` as the pipe's target parameters say.
fn bus_event(bus: &Bus, record: &Json, region: &str) -> Json {
    let account = bus.arn.split(':').nth(4).unwrap_or_default();
    let time = shared::clock::rfc3339(std::time::SystemTime::now());
    json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": bus.detail_type,
        "source": bus.source,
        "account": account,
        // EventBridge's `time` has whole seconds.
        "time": format!("{}Z", time.get(..19).unwrap_or(&time)),
        "region": region,
        "resources": [],
        "detail": record,
    })
}

/// The pipe puts `records` on `bus` — if its role may (`events:PutEvents` on the bus, decided
/// by the endpoint's IAM; refused, the batch is retried and dead-lettered as the pipe's
/// `give_up` says) — and each rule whose pattern matches an event sends it to its targets.
async fn put_on_bus(
    sqs: &aws_sdk_sqs::Client,
    bus: &Bus,
    give_up: &GiveUp,
    records: &[Json],
    name: &str,
    region: &str,
    status: &PumpStatus,
) -> Delivered {
    let mut backoff = BACKOFF;
    let mut retries = 0;
    while let Err(refused) = may_put_events(bus, region).await {
        if give_up.max_retries.is_some_and(|limit| retries >= limit) {
            let bodies: Vec<String> = records.iter().map(Json::to_string).collect();
            let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
            dead_letter(sqs, give_up, &refs, &refused, name).await;
            return Delivered {
                delivered: 0,
                dead_lettered: records.len() as u64,
            };
        }
        eprintln!(
            "ferrite-local: {name}: PutEvents on {} refused ({refused}) — retrying in {backoff:?}",
            bus.name
        );
        retries += 1;
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
    let events: Vec<Json> = records
        .iter()
        .map(|record| bus_event(bus, record, region))
        .collect();
    for rule in &bus.rules {
        let matching: Vec<&Json> = events
            .iter()
            .filter(|event| matches(&rule.pattern, event))
            .collect();
        if matching.is_empty() {
            continue;
        }
        let rule_sqs = rule.sqs.as_ref().unwrap_or(sqs);
        let label = format!("rule {}", rule.name);
        for target in &rule.targets {
            let bodies: Vec<String> = matching
                .iter()
                .map(|event| input_of(event, target.input_path.as_deref()).to_string())
                .collect();
            let outcome = deliver(
                rule_sqs,
                &target.queue_url,
                &target.give_up,
                &bodies,
                &format!("{label} -> {}", target.id),
            )
            .await;
            status.update(&label, |r| {
                r.delivered += outcome.delivered;
                r.dead_lettered += outcome.dead_lettered;
            });
        }
    }
    Delivered {
        delivered: records.len() as u64,
        dead_lettered: 0,
    }
}

/// Whether the pipe's role may put events on `bus` (the endpoint's IAM decides, as AWS's does
/// when the pipe calls `PutEvents` with its role).
async fn may_put_events(bus: &Bus, region: &str) -> std::result::Result<(), String> {
    let Some(authorizer) = &bus.authorizer else {
        return Ok(());
    };
    let decision = crate::iam::decide(
        &authorizer.http,
        &authorizer.endpoint,
        &authorizer.access_key_id,
        "events:PutEvents",
        &bus.arn,
        region,
    )
    .await
    .map_err(|error| format!("{error:#}"))?;
    if decision == "Allow" {
        Ok(())
    } else {
        Err(format!(
            "AccessDeniedException: the pipe's role may not events:PutEvents on {} ({decision})",
            bus.arn
        ))
    }
}

/// What became of a batch: records in the target queue, records given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    pub delivered: u64,
    pub dead_lettered: u64,
}

/// Sends `bodies` (at most 10) to the queue, retrying the ones that fail — at most
/// `give_up.max_retries` times, as the pipe's `MaximumRetryAttempts` says; then the records
/// still refused are described in the dead-letter queue (their stream coordinates and the
/// failure, not their content, as EventBridge Pipes does) and the pipe moves on. Without a
/// limit it retries until every one is in.
pub async fn deliver(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    give_up: &GiveUp,
    bodies: &[String],
    name: &str,
) -> Delivered {
    let mut pending: Vec<(String, &String)> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| (i.to_string(), body))
        .collect();
    let mut backoff = BACKOFF;
    let mut retries = 0;
    let mut last_failure = String::new();
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
                    last_failure =
                        format!("{}: {}", first.code(), first.message().unwrap_or_default());
                    eprintln!(
                        "ferrite-local: {name}: {} of {} messages not accepted ({last_failure}) — retrying",
                        failed.len(),
                        pending.len(),
                    );
                }
                pending.retain(|(id, _)| failed.contains(&id.as_str()));
            }
            Err(error) => {
                last_failure = shared::error::cause_chain(&error);
                eprintln!(
                    "ferrite-local: {name}: delivery to the queue failed ({last_failure}) — retrying in {backoff:?}"
                );
            }
        }
        if pending.is_empty() {
            break;
        }
        if give_up.max_retries.is_some_and(|limit| retries >= limit) {
            let refused = pending
                .iter()
                .map(|(_, body)| body.as_str())
                .collect::<Vec<_>>();
            dead_letter(sqs, give_up, &refused, &last_failure, name).await;
            let dead = refused.len() as u64;
            return Delivered {
                delivered: bodies.len() as u64 - dead,
                dead_lettered: dead,
            };
        }
        retries += 1;
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
    Delivered {
        delivered: bodies.len() as u64,
        dead_lettered: 0,
    }
}

/// Describes the records given up on in the pipe's dead-letter queue (retried until it takes
/// it: there is nowhere else to put them). Without one they are dropped, as a pipe without a
/// DLQ drops them, and said so.
async fn dead_letter(
    sqs: &aws_sdk_sqs::Client,
    give_up: &GiveUp,
    records: &[&str],
    failure: &str,
    name: &str,
) {
    let sequence = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_owned))
    };
    let source = records
        .first()
        .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .and_then(|r| r["eventSourceARN"].as_str().map(str::to_owned));
    let description = serde_json::json!({
        "pipe": name.trim_start_matches("pipe "),
        "failure": failure,
        "streamArn": source,
        "batchSize": records.len(),
        "startSequenceNumber": records.first().and_then(|b| sequence(b)),
        "endSequenceNumber": records.last().and_then(|b| sequence(b)),
    })
    .to_string();
    if give_up.dead_letter_as_is {
        // An EventBridge rule's dead-letter queue takes what it could not deliver (locally: the
        // target's input, ready to be sent to its queue again).
        if let Some(url) = &give_up.dead_letter_url {
            for record in records {
                send_until_taken(sqs, url, record, name).await;
            }
            eprintln!(
                "ferrite-local: {name}: gave up on {} events after its retries: in the dead-letter queue ({failure})",
                records.len()
            );
            return;
        }
    }
    let Some(url) = &give_up.dead_letter_url else {
        eprintln!(
            "ferrite-local: {name}: gave up on {} records and has no dead-letter queue: dropped ({description})",
            records.len()
        );
        return;
    };
    eprintln!(
        "ferrite-local: {name}: gave up on {} records after its retries: described in the dead-letter queue",
        records.len()
    );
    send_until_taken(sqs, url, &description, name).await;
}

/// Sends `body` to the dead-letter queue `url`, retrying until it takes it: there is nowhere
/// else to put it.
async fn send_until_taken(sqs: &aws_sdk_sqs::Client, url: &str, body: &str, name: &str) {
    let mut backoff = BACKOFF;
    while let Err(error) = sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
    {
        eprintln!(
            "ferrite-local: {name}: the dead-letter queue refused ({}) — retrying in {backoff:?}",
            shared::error::cause_chain(&error)
        );
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
}
