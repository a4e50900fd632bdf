//! A function under measurement: started as Lambda would start it, behind a stand-in Runtime
//! API that hands it real events and times init, each invocation and its memory.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value as Json, json};
use tokio::sync::{Mutex, mpsc};

/// What the emulated Runtime API tells the driver.
#[derive(Debug)]
pub(crate) enum Signal {
    /// A runtime asked for its next event.
    Next,
    /// A runtime answered (request id, body, was it an error).
    Done(String, Bytes, bool),
}

pub(crate) struct RuntimeApi {
    pub(crate) signals: mpsc::UnboundedSender<Signal>,
    pub(crate) events: Mutex<mpsc::Receiver<(String, Json)>>,
}

pub(crate) async fn runtime_api(
    api: Arc<RuntimeApi>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path.ends_with("/invocation/next") {
        drop(api.signals.send(Signal::Next));
        let next = api.events.lock().await.recv().await;
        let Some((id, event)) = next else {
            return Response::builder()
                .status(StatusCode::GONE)
                .body(Full::new(Bytes::new()))
                .unwrap_or_default();
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 10_000;
        return Response::builder()
            .header("lambda-runtime-aws-request-id", &id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap_or_default();
    }
    let error = path.ends_with("/error");
    let id = path.split('/').nth(4).unwrap_or_default().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    drop(api.signals.send(Signal::Done(id, body, error)));
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Full::new(Bytes::new()))
        .unwrap_or_default()
}

pub(crate) fn http_event(
    method: &str,
    route: &str,
    path: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
    body: Option<&Json>,
) -> Json {
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), "application/json".into());
    if let Some(token) = token {
        headers.insert("authorization".into(), format!("Bearer {token}").into());
    }
    let mut event = json!({
        "version": "2.0", "routeKey": format!("{method} {route}"), "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
            "requestId": "bench", "routeKey": format!("{method} {route}"), "stage": "$default",
            "time": "24/Nov/2026:05:44:53 +0000", "timeEpoch": 1_795_499_093_000_u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "bench"}},
        "isBase64Encoded": false
    });
    if !params.is_empty() {
        event["pathParameters"] = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Json::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if let Some(body) = body {
        event["body"] = body.to_string().into();
    }
    event
}

/// The events a function is given, one per invocation.
pub(crate) struct Events {
    event: Json,
    /// A field of the answer's body that the next event's body carries instead (a refresh
    /// token is spent by the exchange that returns its successor).
    chain: Option<&'static str>,
}

impl Events {
    /// The same event every time.
    pub(crate) fn fixed(event: Json) -> Self {
        Self { event, chain: None }
    }

    /// `event`, whose body's `field` is replaced by the same field of each answer.
    pub(crate) fn chained(event: Json, field: &'static str) -> Self {
        Self {
            event,
            chain: Some(field),
        }
    }

    /// Adds a query string (raw, and as API Gateway parses it).
    pub(crate) fn set_query(&mut self, raw: &str, params: &[(&str, &str)]) {
        self.event["rawQueryString"] = raw.into();
        self.event["queryStringParameters"] = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Json::from(*v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }

    fn answered(&mut self, response: &Json) {
        let Some(field) = self.chain else {
            return;
        };
        let next = response["body"]
            .as_str()
            .and_then(|body| serde_json::from_str::<Json>(body).ok())
            .and_then(|body| body.get(field).cloned());
        if let Some(next) = next {
            self.event["body"] = json!({ field: next }).to_string().into();
        }
    }
}

/// One function's numbers: cold runs grouped by round, warm invocations of the last round.
#[derive(Default)]
pub(crate) struct Measured {
    pub(crate) init_ms: Vec<Vec<f64>>,
    pub(crate) first_ms: Vec<Vec<f64>>,
    pub(crate) rss_kb: Vec<f64>,
    pub(crate) warm_ms: Vec<f64>,
    pub(crate) size: u64,
    pub(crate) errors: usize,
    /// The first failed answer, to say what went wrong.
    pub(crate) first_error: Option<String>,
}

impl Measured {
    fn note(&mut self, failed: Option<String>) {
        if let Some(answer) = failed {
            self.errors += 1;
            self.first_error.get_or_insert(answer);
        }
    }

    pub(crate) fn all_init(&self) -> Vec<f64> {
        self.init_ms.concat()
    }

    pub(crate) fn all_first(&self) -> Vec<f64> {
        self.first_ms.concat()
    }
}

pub(crate) fn peak_rss_kb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) async fn invoke(
    signals: &mut mpsc::UnboundedReceiver<Signal>,
    events: &mpsc::Sender<(String, Json)>,
    id: String,
    source: &mut Events,
) -> Result<(f64, Option<String>)> {
    let handed = Instant::now();
    events
        .send((id.clone(), source.event.clone()))
        .await
        .map_err(|_| anyhow!("runtime API closed"))?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), signals.recv()).await? {
            Some(Signal::Done(done, body, error)) if done == id => {
                let ms = handed.elapsed().as_secs_f64() * 1000.0;
                let response = serde_json::from_slice::<Json>(&body).unwrap_or_default();
                let status = response["statusCode"].as_u64().unwrap_or(0);
                source.answered(&response);
                let failed = error || status >= 400;
                return Ok((
                    ms,
                    failed.then(|| String::from_utf8_lossy(&body).into_owned()),
                ));
            }
            Some(_) => {}
            None => bail!("runtime API closed"),
        }
    }
}

/// One round of `runs` cold starts (after an uncounted one that warms the page cache and the
/// endpoint), then `warm` invocations of the last process; added to `measured`.
pub(crate) async fn measure(
    binary: &Path,
    env: &BTreeMap<String, String>,
    source: &mut Events,
    (runs, warm): (usize, usize),
    measured: &mut Measured,
) -> Result<()> {
    measured.size = std::fs::metadata(binary)?.len();
    let (mut init_ms, mut first_ms) = (Vec::new(), Vec::new());
    for run in 0..=runs {
        let (signal_tx, mut signals) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::channel(1);
        let api = Arc::new(RuntimeApi {
            signals: signal_tx,
            events: Mutex::new(event_rx),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let api = Arc::clone(&api);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let api = Arc::clone(&api);
                        async move { Ok::<_, Infallible>(runtime_api(api, req).await) }
                    });
                    drop(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await,
                    );
                });
            }
        });
        let started = Instant::now();
        let mut child = Command::new(binary)
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {}", binary.display()))?;
        let next = tokio::time::timeout(Duration::from_secs(30), signals.recv()).await;
        if !matches!(next, Ok(Some(Signal::Next))) {
            drop(child.kill());
            let output = child.wait_with_output()?;
            bail!(
                "{} did not start: {}",
                binary.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let init = started.elapsed().as_secs_f64() * 1000.0;
        let (first, failed) =
            invoke(&mut signals, &event_tx, format!("cold-{run}"), source).await?;
        let rss = peak_rss_kb(child.id());
        // Run 0 warms the page cache and the endpoint; it is not counted.
        if run > 0 {
            init_ms.push(init);
            first_ms.push(first);
            measured.rss_kb.extend(rss);
            measured.note(failed);
        }
        if run == runs {
            for i in 0..warm {
                let (ms, failed) =
                    invoke(&mut signals, &event_tx, format!("warm-{i}"), source).await?;
                measured.warm_ms.push(ms);
                measured.note(failed);
            }
        }
        drop(child.kill());
        drop(child.wait());
        server.abort();
    }
    measured.init_ms.push(init_ms);
    measured.first_ms.push(first_ms);
    Ok(())
}
