//! Queue pumps: one per event source mapping, invoking the worker with real SQS events and
//! deleting only what it did not report failed.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{Value as Json, json};

use super::{BACKOFF, IDLE, LOCAL_VISIBILITY_SECS, Mapping, PumpStatus, next_backoff};

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
    let http = crate::http_client()
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
pub(super) async fn queue_round(
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
        .json(&sqs_event(messages, &mapping.queue_arn, &region))
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

/// The SQS event Lambda's event source mapping hands a worker for `messages` received from
/// the queue `queue_arn` (the pumps; tests that drive a queue themselves).
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str, region: &str) -> Json {
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
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The ids of the messages the worker did not process: those of its `batchItemFailures`, or
/// the whole batch when the invocation itself failed (as Lambda does).
pub(super) async fn failed_messages(
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
