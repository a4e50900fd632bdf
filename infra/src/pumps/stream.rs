//! Stream pumps: one per pipe, reading the table's stream with the pipe's role, resuming from a
//! checkpoint, delivering matching records to the pipe's target queue.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::{BACKOFF, IDLE, Pipe, PumpStatus, filter::matches, filter::record_json, next_backoff};

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
pub(super) async fn deliver(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    bodies: &[String],
    name: &str,
) {
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
