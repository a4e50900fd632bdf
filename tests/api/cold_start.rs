//! Nothing waits on the network during init. Every function binary is started as Lambda starts
//! it — its template environment, a Runtime API to poll — in front of the local AWS endpoint,
//! through a proxy that notes when each connection opens; the function must ask the runtime for
//! its first event before any AWS call reaches the endpoint. A key it needs is read on its first
//! request (`shared::secrets`), clients connect on first use. This keeps the cold start that
//! `make bench` measures (BENCHMARKS.md) from drifting back as features add to init; the bench
//! itself is not run in CI.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

/// Lambda's limit on a function's init phase ("Lambda execution environment lifecycle": the
/// `Init` phase is limited to 10 seconds): a function that has not polled by then never would.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// The debug binaries `ferrite-local exec --api` builds before the tests run.
fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| infra::workspace_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the tests through `make test` (ferrite-local exec --api builds every function)",
        path.display()
    );
    path
}

/// A TCP proxy to `upstream` that records when each connection opened.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let opened = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&opened);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            log.lock().expect("lock").push(Instant::now());
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&upstream).await {
                    drop(tokio::io::copy_bidirectional(&mut client, &mut server).await);
                }
            });
        }
    });
    (address, opened)
}

/// A Runtime API that notes the first request a function makes (its poll for an event) and
/// never answers it.
async fn runtime_api() -> (String, tokio::sync::oneshot::Receiver<(Instant, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (polled, first_poll) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut head = Vec::new();
        let mut buffer = [0_u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
        }
        let line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        drop(polled.send((Instant::now(), line)));
        // Held open, unanswered: the function waits for an event that never comes.
        std::future::pending::<()>().await;
    });
    (address, first_poll)
}

/// Starts `function` (`program` with `args`, or its own binary) and returns how many connections
/// reached the endpoint before its first poll (or why it never polled).
async fn calls_before_first_poll(
    function: &infra::routes::Function,
    endpoint: &str,
    program: Option<(&str, &[&str])>,
) -> Result<usize, String> {
    let upstream = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (proxy, opened) = recording_proxy(upstream).await;
    let (runtime, first_poll) = runtime_api().await;
    let mut env = function.environment.clone();
    env.extend(infra::stack::base_env(&format!("http://{proxy}")));
    env.insert("AWS_LAMBDA_RUNTIME_API".into(), runtime);
    env.insert("AWS_LAMBDA_FUNCTION_NAME".into(), function.binary.clone());
    env.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into());
    env.insert("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into());
    let mut command = match program {
        Some((program, args)) => {
            let mut command = tokio::process::Command::new(program);
            command.args(args);
            command
        }
        None => tokio::process::Command::new(binary(&function.binary)),
    };
    let mut child = command
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let polled = tokio::select! {
        polled = tokio::time::timeout(INIT_LIMIT, first_poll) => polled,
        exited = child.wait() => {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                drop(pipe.read_to_string(&mut stderr).await);
            }
            return Err(format!("exited during init ({exited:?}): {stderr}"));
        }
    };
    let Ok(Ok((at, line))) = polled else {
        return Err(format!(
            "did not poll the Runtime API within {INIT_LIMIT:?}"
        ));
    };
    if !line.contains("/runtime/invocation/next") {
        return Err(format!("its first Runtime API request was `{line}`"));
    }
    drop(child.kill().await);
    Ok(opened
        .lock()
        .expect("lock")
        .iter()
        .filter(|t| **t <= at)
        .count())
}

#[tokio::test]
async fn no_function_calls_aws_before_it_asks_the_runtime_for_its_first_event() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL: run under `ferrite-local exec` (make test)");
    let functions = ferrite_tests::functions();
    assert!(functions.len() > 40, "every function of template.yaml");
    let mut wrong = Vec::new();
    for function in &functions {
        match calls_before_first_poll(function, &endpoint, None).await {
            Ok(0) => {}
            Ok(calls) => wrong.push(format!(
                "{}: {calls} connection(s) to the AWS endpoint before its first poll",
                function.binary
            )),
            Err(why) => wrong.push(format!("{}: {why}", function.binary)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A stand-in function that does what the check must catch: an AWS call (here a connection to
/// `AWS_ENDPOINT_URL` and a request on it) before its first poll of the Runtime API.
const CALLS_DURING_INIT: &str = r#"
import os, socket, urllib.parse
aws = urllib.parse.urlparse(os.environ["AWS_ENDPOINT_URL"])
call = socket.create_connection((aws.hostname, aws.port))
call.sendall(b"POST / HTTP/1.1\r\nhost: aws\r\ncontent-length: 0\r\n\r\n")
call.recv(1)
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
runtime = socket.create_connection((host, int(port)))
runtime.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: runtime\r\n\r\n")
runtime.recv(1)
"#;

#[tokio::test]
async fn the_check_catches_a_function_that_calls_aws_during_init() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL: run under `ferrite-local exec` (make test)");
    let function = ferrite_tests::functions()
        .into_iter()
        .find(|f| f.binary == "posts-list")
        .expect("posts-list");
    let calls = calls_before_first_poll(
        &function,
        &endpoint,
        Some(("python3", &["-c", CALLS_DURING_INIT])),
    )
    .await
    .expect("the stand-in polls");
    assert_eq!(calls, 1, "the call made during init is seen");
}
