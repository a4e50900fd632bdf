//! Webhooks as tests need them: a receiver on this machine's loopback (the test target the
//! worker may reach), the webhooks queue and its dead-letter queue made for a test's world, and
//! the worker run on what the queue hands out — as Lambda's event source mapping would.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsEvent;
use http_body_util::BodyExt as _;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::TestApp;

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// An HTTP receiver on 127.0.0.1: answers each request with the next status of its script
/// (then 200), with `Location` on a 3xx, and keeps what it got.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    connections: Arc<AtomicUsize>,
}

impl Receiver {
    /// Listening, answering `script` in order, then 200.
    pub async fn start(script: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let receiver = Self {
            addr: listener.local_addr().expect("address"),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            connections: Arc::default(),
        };
        let serving = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serving.connections.fetch_add(1, Ordering::SeqCst);
                let this = serving.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: http::Request<hyper::body::Incoming>| {
                            let this = this.clone();
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                this.received.lock().expect("lock").push(Received {
                                    headers: parts.headers,
                                    body,
                                });
                                let status =
                                    this.script.lock().expect("lock").pop_front().unwrap_or(200);
                                let mut answer = http::Response::builder().status(status);
                                if (300..400).contains(&status) {
                                    answer =
                                        answer.header("location", "http://127.0.0.1:9/elsewhere");
                                }
                                Ok::<_, std::convert::Infallible>(
                                    answer
                                        .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                            b"ok",
                                        )))
                                        .expect("a response"),
                                )
                            }
                        });
                    drop(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await,
                    );
                });
            }
        });
        receiver
    }

    /// `http://127.0.0.1:<port>/hooks`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// What it got so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// How many connections were made to it.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The webhooks queue of a test's world (named as the template's roles expect it) and its
/// dead-letter queue, with the worker's retry settings.
#[derive(Debug)]
pub struct WebhookQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub dead_letters: String,
    /// `WEBHOOK_RETRY_SECONDS`: the waits between attempts.
    pub steps: Vec<u32>,
}

impl WebhookQueue {
    /// A queue whose `maxReceiveCount` is one more than `steps`, as the template makes it: the
    /// test's own (the running stack's worker must not take its messages), which the worker's
    /// role is resolved to.
    pub async fn new(app: &TestApp, steps: &[u32]) -> Self {
        app.with_own_queues(&["WebhooksQueue", "WebhooksDeadLetterQueue"])
            .await;
        let sqs = aws_sdk_sqs::Client::new(app.state.sdk_config());
        let dead_letters = sqs
            .create_queue()
            .queue_name(format!("{}-WebhooksDeadLetterQueue", app.table))
            .send()
            .await
            .expect("a queue")
            .queue_url
            .expect("a url");
        let dlq_arn = queue_arn(&sqs, &dead_letters).await;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": steps.len() + 1,
        })
        .to_string();
        let url = sqs
            .create_queue()
            .queue_name(format!("{}-WebhooksQueue", app.table))
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                redrive,
            )
            .send()
            .await
            .expect("a queue")
            .queue_url
            .expect("a url");
        Self {
            sqs,
            url,
            dead_letters,
            steps: steps.to_vec(),
        }
    }

    /// The worker's settings for this queue (and `extra`).
    pub fn settings(&self, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let steps: Vec<String> = self.steps.iter().map(ToString::to_string).collect();
        let mut settings = vec![
            ("WEBHOOKS_QUEUE_URL", self.url.clone()),
            ("WEBHOOK_RETRY_SECONDS", steps.join(",")),
            ("WEBHOOK_ATTEMPTS", (self.steps.len() + 1).to_string()),
        ];
        settings.extend(extra.iter().cloned());
        settings
    }

    /// Sends the stream records of `app`'s outbox events that `WebhooksRule` forwards.
    pub async fn forward(&self, app: &TestApp) -> usize {
        let records: Vec<String> = app
            .outbox()
            .await
            .iter()
            .filter(|e| shared::webhooks::EventType::of(&e.kind).is_some())
            .map(crate::stream_record)
            .collect();
        for record in &records {
            self.sqs
                .send_message()
                .queue_url(&self.url)
                .message_body(record)
                .send()
                .await
                .expect("sent");
        }
        records.len()
    }

    /// What the queue hands out within `wait_secs` (long polling: as soon as a message is
    /// visible), as the SQS event Lambda would pass: `None` when nothing came.
    pub async fn receive(&self, wait_secs: i32) -> Option<SqsEvent> {
        receive(&self.sqs, &self.url, wait_secs).await
    }

    /// Runs `worker` on `batch` as Lambda's event source mapping does: the messages it did not
    /// report as failed are deleted, the others left to their visibility timeout (which the
    /// worker may have set: its backoff).
    pub async fn run(
        &self,
        worker: &worker_webhooks::WebhooksWorker,
        batch: SqsEvent,
    ) -> shared::worker::BatchOutcome {
        let handles: Vec<(String, String)> = batch
            .records
            .iter()
            .map(|m| {
                (
                    m.message_id.clone().unwrap_or_default(),
                    m.receipt_handle.clone().unwrap_or_default(),
                )
            })
            .collect();
        let outcome = worker_webhooks::handle(worker, batch).await;
        for (id, receipt) in handles {
            let failed = outcome
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == id);
            if !failed {
                self.sqs
                    .delete_message()
                    .queue_url(&self.url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .expect("deleted");
            }
        }
        outcome
    }

    /// What waits in the dead-letter queue (looked at without waiting).
    pub async fn dead_lettered(&self) -> usize {
        receive(&self.sqs, &self.dead_letters, 0)
            .await
            .map_or(0, |e| e.records.len())
    }
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, wait_secs: i32) -> Option<SqsEvent> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("received");
    let messages = received.messages();
    if messages.is_empty() {
        return None;
    }
    // The event the local pumps hand a worker, as Lambda's event source mapping does.
    let event = infra::pumps::sqs_event(messages, &queue_arn(sqs, url).await, infra::LOCAL_REGION);
    Some(serde_json::from_value(event).expect("an SQS event"))
}

/// The ARN of the queue at `url`.
async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("an arn")
}

/// The webhook worker as the template's function, with `settings` (a [`WebhookQueue`]'s).
pub fn worker(
    app: &TestApp,
    settings: &[(&'static str, String)],
) -> worker_webhooks::WebhooksWorker {
    worker_webhooks::WebhooksWorker::new(app.state_of("WorkerWebhooksFunction").clone(), |name| {
        settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("the worker")
}
