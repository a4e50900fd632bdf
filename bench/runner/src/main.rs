#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-bench` (`make bench`): cold start, warm latency, peak memory and binary size of the
//! functions, measured against a local Lambda Runtime API and the local AWS endpoint, written
//! to BENCHMARKS.md. Run under `ferrite-local exec --provision` (the Makefile does).
//!
//! Per function and run: spawn the release binary with the environment Lambda gives →
//! **init** ends when it asks for its first event (`GET /runtime/invocation/next`) → the event
//! is handed out → **first invocation** ends when the response is posted; **peak RSS** is the
//! process's `VmHWM` then. **Warm**: many invocations in one process.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
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
enum Signal {
    /// A runtime asked for its next event.
    Next,
    /// A runtime answered (request id, body, was it an error).
    Done(String, Bytes, bool),
}

struct RuntimeApi {
    signals: mpsc::UnboundedSender<Signal>,
    events: Mutex<mpsc::Receiver<(String, Json)>>,
}

async fn runtime_api(
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

/// A function under test: its binary and a representative event.
struct Subject {
    name: &'static str,
    event: Json,
}

fn http_event(
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

/// The `p`th percentile (nearest rank) of sorted values.
fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) * p + 50) / 100]
}

/// Bytes as megabytes with two decimals.
fn megabytes(bytes: u64) -> String {
    format!(
        "{}.{:02} MB",
        bytes / 1_048_576,
        (bytes % 1_048_576) * 100 / 1_048_576
    )
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

#[derive(Default)]
struct Measured {
    init_ms: Vec<f64>,
    first_ms: Vec<f64>,
    rss_kb: Vec<f64>,
    warm_ms: Vec<f64>,
    size: u64,
    errors: usize,
}

fn peak_rss_kb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn invoke(
    signals: &mut mpsc::UnboundedReceiver<Signal>,
    events: &mpsc::Sender<(String, Json)>,
    id: String,
    event: &Json,
) -> Result<(f64, bool)> {
    let handed = Instant::now();
    events
        .send((id.clone(), event.clone()))
        .await
        .map_err(|_| anyhow!("runtime API closed"))?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), signals.recv()).await? {
            Some(Signal::Done(done, body, error)) if done == id => {
                let ms = handed.elapsed().as_secs_f64() * 1000.0;
                let status = serde_json::from_slice::<Json>(&body)
                    .ok()
                    .and_then(|b| b["statusCode"].as_u64())
                    .unwrap_or(0);
                return Ok((ms, error || status >= 500));
            }
            Some(_) => {}
            None => bail!("runtime API closed"),
        }
    }
}

async fn measure(
    binary: &Path,
    env: &BTreeMap<String, String>,
    event: &Json,
    runs: usize,
    warm: usize,
) -> Result<Measured> {
    let mut measured = Measured {
        size: std::fs::metadata(binary)?.len(),
        ..Measured::default()
    };
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
        let (first, failed) = invoke(&mut signals, &event_tx, format!("cold-{run}"), event).await?;
        let rss = peak_rss_kb(child.id());
        // Run 0 warms the page cache and the endpoint; it is not counted.
        if run > 0 {
            measured.init_ms.push(init);
            measured.first_ms.push(first);
            measured.rss_kb.extend(rss);
            measured.errors += usize::from(failed);
        }
        if run == runs {
            for i in 0..warm {
                let (ms, failed) =
                    invoke(&mut signals, &event_tx, format!("warm-{i}"), event).await?;
                measured.warm_ms.push(ms);
                measured.errors += usize::from(failed);
            }
        }
        drop(child.kill());
        drop(child.wait());
        server.abort();
    }
    Ok(measured)
}

fn build(root: &Path, packages: &[&str]) -> Result<()> {
    let mut command = Command::new("cargo");
    command
        .current_dir(root)
        .args(["build", "--release", "--bins"]);
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status()?;
    if !status.success() {
        bail!("cargo build --release failed");
    }
    Ok(())
}

fn env_for(name: &str) -> Result<BTreeMap<String, String>> {
    let var = |k: &str| {
        std::env::var(k)
            .with_context(|| format!("{k} is not set: run under `ferrite-local exec --provision`"))
    };
    let mut env = BTreeMap::new();
    for key in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "TABLE_NAME",
    ] {
        env.insert(key.to_owned(), var(key)?);
    }
    env.insert("CURSOR_SECRET".into(), var("FERRITE_PARAM_CURSOR_SECRET")?);
    env.insert(
        "JWT_PUBLIC_KEYS".into(),
        var("FERRITE_PARAM_JWT_PUBLIC_KEYS")?,
    );
    env.insert(
        "SIGNING_KEY_SECRET_ID".into(),
        std::env::var("FERRITE_PARAM_SIGNING_KEY_SECRET_NAME")
            .unwrap_or_else(|_| "ferrite/jwt-signing-keys".to_owned()),
    );
    env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), name.to_owned());
    env.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into());
    env.insert("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into());
    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into());
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "WARN".into());
    Ok(env)
}

/// A user (email, access token) and a published post, made through the shared code.
async fn seed(env: &BTreeMap<String, String>) -> Result<(String, String, String)> {
    let config = shared::config::Config::from_lookup(|k| env.get(k).cloned())?;
    let mut state = shared::State::from_config(config, shared::clock::Clock::System)?;
    let keys_path = infra::workspace_root().join(".local/secrets/jwt-signing-keys.json");
    let keys = shared::auth::keys::KeySet::parse(&std::fs::read_to_string(&keys_path)?)?;
    state.auth.set_signer(keys.signing_key()?);
    let email = format!(
        "bench-{}@example.com",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    let registered = shared::accounts::register(
        &state,
        shared::accounts::Registration {
            email: shared::validate::Email::parse(&email).map_err(|e| anyhow!("{e}"))?,
            name: shared::validate::DisplayName::parse("Bench").map_err(|e| anyhow!("{e}"))?,
            password: shared::validate::Password::parse("violet anchor drifts north")
                .map_err(|e| anyhow!("{e}"))?,
        },
        "127.0.0.1",
    )
    .await
    .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))?;
    let shared::accounts::Registered::SignedIn(session) = registered else {
        bail!("the bench stack registers in `conflict` mode (the template's default)");
    };
    let token = session.tokens.access_token.clone();
    let me = shared::accounts::Principal {
        user: shared::accounts::find_user(&state.store, session.user.id)
            .await
            .map_err(|e| anyhow!("{e}"))?
            .ok_or_else(|| anyhow!("user"))?,
        session_id: String::new(),
    };
    let post = shared::posts::create(
        &state,
        &me,
        shared::posts::NewPost {
            title: "Bench".into(),
            body: "b".repeat(2000),
            tags: vec!["bench".into()],
            status: shared::posts::PostStatus::Published,
        },
        None,
    )
    .await
    .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))?;
    Ok((email, token, post.id.to_string()))
}

fn argon2_ms() -> Vec<f64> {
    let password = shared::validate::Password::parse("violet anchor drifts north")
        .unwrap_or_else(|_| unreachable!("valid"));
    (0..20)
        .map(|_| {
            let started = Instant::now();
            drop(shared::auth::password::hash(&password));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// The functions measured and the event each one gets.
fn subjects(token: &str, post_id: &str, login: &Json) -> Vec<Subject> {
    vec![
        Subject {
            name: "hello-world",
            event: http_event("GET", "/hello", "/hello", &[], None, None),
        },
        Subject {
            name: "health",
            event: http_event("GET", "/v1/health", "/v1/health", &[], None, None),
        },
        Subject {
            name: "jwks",
            event: http_event(
                "GET",
                "/.well-known/jwks.json",
                "/.well-known/jwks.json",
                &[],
                None,
                None,
            ),
        },
        Subject {
            name: "posts-get",
            event: http_event(
                "GET",
                "/v1/posts/{id}",
                &format!("/v1/posts/{post_id}"),
                &[("id", post_id)],
                None,
                None,
            ),
        },
        Subject {
            name: "posts-list",
            event: http_event("GET", "/v1/posts", "/v1/posts", &[], None, None),
        },
        Subject {
            name: "users-me-get",
            event: http_event(
                "GET",
                "/v1/users/me",
                "/v1/users/me",
                &[],
                Some(token),
                None,
            ),
        },
        Subject {
            name: "auth-login",
            event: http_event(
                "POST",
                "/v1/auth/login",
                "/v1/auth/login",
                &[],
                None,
                Some(login),
            ),
        },
    ]
}

#[tokio::main]
async fn main() -> Result<()> {
    let root = infra::workspace_root();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let warm: usize = std::env::var("BENCH_WARM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let base_env = env_for("bench")?;
    let (email, token, post_id) = seed(&base_env).await?;
    // A successful login: one argon2 verification, three DynamoDB calls, a new session.
    let login = json!({"email": email, "password": "violet anchor drifts north"});
    let subjects = subjects(&token, &post_id, &login);
    let packages: Vec<&str> = subjects.iter().map(|s| s.name).collect();
    println!(
        "building {} release binaries (host architecture)…",
        packages.len()
    );
    build(&root, &packages)?;

    let mut results = Vec::new();
    for subject in &subjects {
        let binary = root.join("target/release").join(subject.name);
        let warm_count = if subject.name == "auth-login" {
            warm.min(100)
        } else {
            warm
        };
        println!(
            "measuring {} ({runs} cold runs, {warm_count} warm invocations)…",
            subject.name
        );
        let env = env_for(subject.name)?;
        let measured = measure(&binary, &env, &subject.event, runs, warm_count).await?;
        results.push((subject.name, measured));
    }
    let argon2 = sorted(argon2_ms());
    println!("building the arm64 bootstraps (cargo lambda build --arm64)…");
    let arm64 = build_arm64(&root, &packages);
    println!("running the criterion benchmarks of the handlers' in-process work…");
    let handlers = criterion(&root)?;
    let report = render(&Report {
        results: &results,
        argon2: &argon2,
        arm64,
        handlers: &handlers,
        runs,
        warm,
    })?;
    std::fs::write(root.join("BENCHMARKS.md"), &report)?;
    println!("{report}");
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or_default().trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{} ({cores} cores), {}", cpu, std::env::consts::ARCH)
}

/// Builds the arm64 `bootstrap` of each package the way `sam build` does (cargo-lambda with zig,
/// the release profile). `Err` says why not (then the table says so instead of a size).
fn build_arm64(root: &Path, packages: &[&str]) -> Result<(), String> {
    let venv_bin = root.join(".venv/bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(venv_bin.clone()).chain(std::env::split_paths(&path)))
            .map_err(|e| e.to_string())?;
    let mut command = Command::new(venv_bin.join("cargo-lambda"));
    command
        .current_dir(root)
        .env("PATH", path)
        .args(["lambda", "build", "--release", "--arm64"]);
    for package in packages {
        command.args(["--package", package]);
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("cargo lambda build --arm64 failed ({status})")),
        Err(e) => Err(format!("cargo-lambda not runnable ({e}); run `make setup`")),
    }
}

/// Stripped arm64 `bootstrap` size and its size zipped (deflate, what Lambda stores).
fn arm64_size(root: &Path, name: &str) -> Option<(u64, u64)> {
    let bootstrap = root.join(format!("target/lambda/{name}/bootstrap"));
    let size = std::fs::metadata(&bootstrap).ok()?.len();
    let output = Command::new("python3")
        .args([
            "-c",
            "import io, sys, zipfile\n\
             buf = io.BytesIO()\n\
             with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[1], 'bootstrap')\n\
             print(len(buf.getvalue()))",
        ])
        .arg(&bootstrap)
        .output()
        .ok()?;
    let zipped = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .ok()?;
    Some((size, zipped))
}

/// One criterion result: group, benchmark, median in microseconds.
struct Criterion {
    group: String,
    name: String,
    median_us: f64,
}

/// Runs the criterion benchmarks of the handlers' in-process work (`bench/handlers`) and reads
/// their medians from criterion's JSON output.
fn criterion(root: &Path) -> Result<Vec<Criterion>> {
    let out_dir = root.join("target/criterion");
    drop(std::fs::remove_dir_all(&out_dir));
    let status = Command::new("cargo")
        .current_dir(root)
        .args([
            "bench",
            "--package",
            "handler-bench",
            "--bench",
            "handlers",
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            "3",
        ])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("cargo bench -p handler-bench failed");
    }
    let mut results = Vec::new();
    for group in std::fs::read_dir(&out_dir)? {
        let group = group?.path();
        let Ok(benches) = std::fs::read_dir(&group) else {
            continue;
        };
        for bench in benches {
            let new = bench?.path().join("new");
            let (Ok(meta), Ok(estimates)) = (
                std::fs::read_to_string(new.join("benchmark.json")),
                std::fs::read_to_string(new.join("estimates.json")),
            ) else {
                continue;
            };
            let meta: Json = serde_json::from_str(&meta)?;
            let estimates: Json = serde_json::from_str(&estimates)?;
            results.push(Criterion {
                group: meta["group_id"].as_str().unwrap_or_default().to_owned(),
                name: meta["function_id"].as_str().unwrap_or_default().to_owned(),
                median_us: estimates["median"]["point_estimate"]
                    .as_f64()
                    .unwrap_or_default()
                    / 1000.0,
            });
        }
    }
    results.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
    Ok(results)
}

fn render_work_and_size(out: &mut String, report: &Report<'_>, root: &Path) -> Result<()> {
    writeln!(out, "\n## In-process handler work (no I/O)\n")?;
    writeln!(
        out,
        "Criterion (`bench/handlers`, `cargo bench -p handler-bench`), median of each benchmark on this machine. \
         This is the CPU a request costs besides its DynamoDB round trips.\n"
    )?;
    writeln!(out, "| group | work | median (µs) |")?;
    writeln!(out, "| --- | --- | --- |")?;
    for c in report.handlers {
        writeln!(out, "| {} | {} | {:.1} |", c.group, c.name, c.median_us)?;
    }
    writeln!(out, "\n## Binary size\n")?;
    let arm_note = match &report.arm64 {
        Ok(()) => "built by `cargo lambda build --release --arm64`, as `sam build` does".to_owned(),
        Err(why) => format!("not built: {why}"),
    };
    writeln!(
        out,
        "arm64: {arm_note}. Zipped = deflate, what Lambda stores and downloads on a cold start.\n"
    )?;
    writeln!(
        out,
        "| function | stripped, host ({}) | stripped arm64 `bootstrap` | zipped arm64 |",
        std::env::consts::ARCH
    )?;
    writeln!(out, "| --- | --- | --- | --- |")?;
    for (name, m) in report.results {
        let (arm, zipped) = arm64_size(root, name).map_or_else(
            || ("not built".to_owned(), "not built".to_owned()),
            |(size, zipped)| (megabytes(size), megabytes(zipped)),
        );
        writeln!(out, "| {name} | {} | {arm} | {zipped} |", megabytes(m.size))?;
    }
    Ok(())
}

struct Report<'a> {
    results: &'a [(&'a str, Measured)],
    argon2: &'a [f64],
    arm64: Result<(), String>,
    handlers: &'a [Criterion],
    runs: usize,
    warm: usize,
}

fn render(report: &Report<'_>) -> Result<String> {
    let Report {
        results,
        argon2,
        runs,
        warm,
        ..
    } = *report;
    let root = infra::workspace_root();
    let floor = results
        .iter()
        .find(|(name, _)| *name == "hello-world")
        .map(|(_, m)| {
            (
                percentile(&sorted(m.init_ms.clone()), 50),
                percentile(&sorted(m.rss_kb.clone()), 50),
            )
        })
        .ok_or_else(|| anyhow!("no hello-world measurement"))?;
    let mut out = String::new();
    writeln!(out, "# Benchmarks\n")?;
    writeln!(
        out,
        "Generated by `make bench` (`bench/runner/src/main.rs`). Machine: {}.",
        machine()
    )?;
    writeln!(
        out,
        "Method: each function's release binary (the workspace's Lambda release profile, built for the host) is spawned \
         {runs} times (plus one uncounted warm-up) with the environment Lambda gives, against a Runtime API emulated on \
         loopback and the local AWS endpoint (moto, serialised, on loopback). **Init** = spawn → first \
         `GET /runtime/invocation/next`; **first invocation** = event handed out → response posted; **peak RSS** = `VmHWM` \
         after the first response. **Warm** = {warm} invocations in one process (100 for login: argon2). Times are \
         wall-clock on a shared 2-core machine: compare ratios within one run, not across machines.\n"
    )?;
    writeln!(out, "## Cold start\n")?;
    writeln!(
        out,
        "| function | init p50 (ms) | init p90 | × hello-world | first invocation p50 (ms) | p90 | peak RSS p50 (MB) | × hello-world | errors |"
    )?;
    writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )?;
    for (name, m) in results {
        let init = sorted(m.init_ms.clone());
        let first = sorted(m.first_ms.clone());
        let rss = sorted(m.rss_kb.clone());
        writeln!(
            out,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {} |",
            percentile(&init, 50),
            percentile(&init, 90),
            percentile(&init, 50) / floor.0,
            percentile(&first, 50),
            percentile(&first, 90),
            percentile(&rss, 50) / 1024.0,
            percentile(&rss, 50) / floor.1,
            m.errors
        )?;
    }
    writeln!(out, "\n## Warm invocations\n")?;
    writeln!(out, "| function | invocations | p50 (ms) | p99 (ms) |")?;
    writeln!(out, "| --- | --- | --- | --- |")?;
    for (name, m) in results {
        let warm = sorted(m.warm_ms.clone());
        writeln!(
            out,
            "| {name} | {} | {:.3} | {:.3} |",
            warm.len(),
            percentile(&warm, 50),
            percentile(&warm, 99)
        )?;
    }
    render_work_and_size(&mut out, report, &root)?;
    writeln!(out, "\n## Password hashing and memory sizes\n")?;
    writeln!(
        out,
        "argon2id (m = 19 MiB, t = 2, p = 1), one hash, 20 runs on this machine: p50 {:.1} ms, p90 {:.1} ms.\n",
        percentile(argon2, 50),
        percentile(argon2, 90)
    )?;
    writeln!(out, "{}", include_str!("../../../bench/memory.md"))?;
    writeln!(out, "## Published reference numbers (not measured here)\n")?;
    writeln!(
        out,
        "- A hello-world Rust function initialises in about 14 ms on arm64 at 128 MB (maxday/lambda-perf); Node.js 22 in about 124 ms.\n\
         - aws-samples/serverless-rust-demo reports cold requests (init + first DynamoDB call) at p50 123 ms and warm p50 5.1 ms.\n\
         - aws-sdk-rust#894 saw init grow from 140 to 350 ms as SDK set-up crept into it.\n"
    )?;
    writeln!(out, "{}", include_str!("../../../bench/history.md"))?;
    Ok(out)
}
