#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-bench` (`make bench`): cold start, warm latency, peak memory and binary size of the
//! functions, measured against a local Lambda Runtime API and the local AWS endpoint, written
//! to BENCHMARKS.md. Run under `ferrite-local exec --provision` (the Makefile does).
//!
//! Per function and run: spawn the release binary with the environment Lambda gives →
//! **init** ends when it asks for its first event (`GET /runtime/invocation/next`) → the event
//! is handed out → **first invocation** ends when the response is posted; **peak RSS** is the
//! process's `VmHWM` then. **Warm**: many invocations in one process.

mod binaries;
mod report;
mod runtime;

use binaries::{build, build_arm64};
use report::{Report, criterion, render, sorted};
use runtime::{http_event, measure};

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value as Json, json};
use shared::posts::{Markdown, Tags, Title};
use shared::validate::RequestValue as _;

/// A function under test: its binary and a representative event.
struct Subject {
    pub(crate) name: &'static str,
    pub(crate) event: Json,
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
    // The paginating functions read the cursor key from Secrets Manager at init, as in AWS.
    env.insert("CURSOR_SECRET_ID".into(), var("CURSOR_KEY_SECRET_ARN")?);
    env.insert(
        "JWT_PUBLIC_KEYS".into(),
        var("FERRITE_PARAM_JWT_PUBLIC_KEYS")?,
    );
    env.insert(
        "SIGNING_KEY_SECRET_ID".into(),
        match std::env::var("FERRITE_PARAM_SIGNING_KEY_SECRET_NAME") {
            Ok(name) if !name.is_empty() => name,
            _ => format!("{}/jwt-signing-keys", var("FERRITE_STACK")?),
        },
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
    let shared::accounts::Registered::SignedIn(session) = registered.value else {
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
            title: Title::from_raw("Bench".into()).expect("a title"),
            body: Markdown::from_raw("b".repeat(2000)).expect("a body"),
            tags: Tags::from_raw(vec!["bench".into()]).expect("tags"),
            status: shared::posts::PostStatus::Published,
        },
        None,
    )
    .await
    .map_err(|e| anyhow!("{}", shared::error::cause_chain(&e)))?;
    Ok((email, token, post.value.id.to_string()))
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
