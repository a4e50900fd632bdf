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
mod peer;
mod report;
mod runtime;
mod seed;

use binaries::{build, build_arm64};
use report::{Report, criterion, render, sorted};
use runtime::{Events, Measured, http_event, measure};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde_json::json;

/// A function under test: its binary and the events it is given.
struct Subject {
    name: &'static str,
    package: &'static str,
    binary: PathBuf,
    env: BTreeMap<String, String>,
    events: Events,
    /// Warm invocations (login hashes a password each time: fewer).
    warm: usize,
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
    // The functions that paginate or sign read their key from Secrets Manager (on their first
    // request), as in AWS.
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

fn argon2_ms() -> Vec<f64> {
    let password =
        shared::validate::Password::parse(seed::PASSWORD).unwrap_or_else(|_| unreachable!("valid"));
    (0..20)
        .map(|_| {
            let started = Instant::now();
            drop(shared::auth::password::hash(&password));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Each function's event: what a client of it sends.
fn events(seeded: &seed::Seeded) -> Vec<(&'static str, Events)> {
    let token = Some(seeded.access_token.as_str());
    let post = seeded.post_id.as_str();
    let get = |route: &str, path: &str, params: &[(&str, &str)], token: Option<&str>| {
        Events::fixed(http_event("GET", route, path, params, token, None))
    };
    let login = json!({"email": seeded.login_email, "password": seed::PASSWORD});
    let refresh = json!({"refreshToken": seeded.refresh_token});
    let owned = format!("ownerId={}", seeded.user_id);
    let mut properties = get("/v1/properties", "/v1/properties", &[], token);
    properties.set_query(&owned, &[("ownerId", &seeded.user_id)]);
    vec![
        ("hello-world", get("/hello", "/hello", &[], None)),
        ("health", get("/v1/health", "/v1/health", &[], None)),
        (
            "jwks",
            get(
                "/.well-known/jwks.json",
                "/.well-known/jwks.json",
                &[],
                None,
            ),
        ),
        (
            "posts-get",
            get(
                "/v1/posts/{id}",
                &format!("/v1/posts/{post}"),
                &[("id", post)],
                None,
            ),
        ),
        ("posts-list", get("/v1/posts", "/v1/posts", &[], None)),
        (
            "users-me-get",
            get("/v1/users/me", "/v1/users/me", &[], token),
        ),
        ("properties-list", properties),
        (
            "auth-login",
            Events::fixed(http_event(
                "POST",
                "/v1/auth/login",
                "/v1/auth/login",
                &[],
                None,
                Some(&login),
            )),
        ),
        (
            "auth-refresh",
            Events::chained(
                http_event(
                    "POST",
                    "/v1/auth/refresh",
                    "/v1/auth/refresh",
                    &[],
                    None,
                    Some(&refresh),
                ),
                "refreshToken",
            ),
        ),
    ]
}

/// The functions measured (`BENCH_ONLY=a,b` keeps those and hello-world) and their events.
fn subjects(root: &std::path::Path, seeded: &seed::Seeded, warm: usize) -> Result<Vec<Subject>> {
    let all = events(seeded);
    let get =
        |route: &str, path: &str| Events::fixed(http_event("GET", route, path, &[], None, None));
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect());
    let mut subjects = Vec::new();
    // posts-list again with its cursor key given (`CURSOR_SECRET`, as tests give it) instead of
    // read from Secrets Manager: the difference between the two rows is the key's read.
    let variants = [("posts-list (cursor key given)", "posts-list")];
    let all = all
        .into_iter()
        .map(|(name, events)| (name, name, events))
        .chain(
            variants
                .into_iter()
                .map(|(name, package)| (name, package, get("/v1/posts", "/v1/posts"))),
        );
    for (name, package, events) in all {
        if only
            .as_ref()
            .is_some_and(|only| name != "hello-world" && !only.iter().any(|o| o == package))
        {
            continue;
        }
        let mut env = env_for(package)?;
        if name != package {
            env.insert(
                "CURSOR_SECRET".into(),
                "a-cursor-key-given-to-the-bench-variant".into(),
            );
        }
        subjects.push(Subject {
            name,
            package,
            binary: root.join("target/release").join(package),
            env,
            events,
            warm: if name == "auth-login" {
                warm.min(100)
            } else {
                warm
            },
        });
    }
    Ok(subjects)
}

/// The peer's `get-product` as a subject, or why it is not measured.
async fn peer_subject(root: &std::path::Path, warm: usize) -> Result<Subject> {
    println!(
        "building the peer ({} at {})…",
        peer::REPOSITORY,
        peer::COMMIT
    );
    let binary = peer::build(root)?;
    let mut env = env_for(peer::FUNCTION)?;
    let config = shared::config::Config::from_lookup(|k| env.get(k).cloned())?;
    let (table, id) = peer::seed(&shared::aws::sdk_config(&config)).await?;
    env.insert("TABLE_NAME".into(), table);
    Ok(Subject {
        name: "peer: serverless-rust-demo get-product",
        package: peer::FUNCTION,
        binary,
        env,
        events: Events::fixed(http_event(
            "GET",
            "/{id}",
            &format!("/{id}"),
            &[("id", &id)],
            None,
            None,
        )),
        warm,
    })
}

/// Rounds alternate the functions, so that a slow minute of a shared machine lands on all of
/// them rather than on one; hello-world is measured in every round.
async fn run_rounds(
    subjects: &mut [Subject],
    rounds: usize,
    runs: usize,
) -> Result<Vec<(&'static str, Measured)>> {
    let mut results: Vec<(&str, Measured)> = subjects
        .iter()
        .map(|s| (s.name, Measured::default()))
        .collect();
    for round in 0..rounds {
        for (subject, (_, measured)) in subjects.iter_mut().zip(&mut results) {
            let warm = if round + 1 == rounds { subject.warm } else { 0 };
            println!(
                "round {}/{rounds}: {} ({runs} cold runs{})…",
                round + 1,
                subject.name,
                if warm > 0 {
                    format!(", {warm} warm invocations")
                } else {
                    String::new()
                }
            );
            measure(
                &subject.binary,
                &subject.env,
                &mut subject.events,
                (runs, warm),
                measured,
            )
            .await
            .with_context(|| subject.name.to_owned())?;
        }
    }
    Ok(results)
}

#[tokio::main]
async fn main() -> Result<()> {
    let root = infra::workspace_root();
    let setting = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = setting("BENCH_RUNS", 30);
    let rounds = setting("BENCH_ROUNDS", 3).max(1);
    let warm = setting("BENCH_WARM", 1000);
    // A quick look while working: no criterion, no arm64 build, BENCHMARKS.md left alone.
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let seeded = seed::seed(&env_for("bench")?).await?;
    let mut subjects = subjects(&root, &seeded, warm)?;
    let mut packages: Vec<&str> = subjects.iter().map(|s| s.package).collect();
    packages.sort_unstable();
    packages.dedup();
    println!(
        "building {} release binaries (host architecture)…",
        packages.len()
    );
    build(&root, &packages)?;
    let peer = if std::env::var("BENCH_PEER").is_ok_and(|v| v == "none") {
        Err("BENCH_PEER=none".to_owned())
    } else {
        peer_subject(&root, warm)
            .await
            .map_err(|e| format!("{e:#}"))
    };
    match &peer {
        Ok(_) => {}
        Err(why) => println!("the peer is not measured: {why}"),
    }
    let peer_name = peer.as_ref().map(|p| p.name).ok();
    if let Ok(peer) = peer {
        subjects.push(peer);
    }

    let results = run_rounds(&mut subjects, rounds, runs).await?;
    // What the local endpoint spent serving each kind of call (moto, inside its lock).
    let endpoint = std::env::var("AWS_ENDPOINT_URL")?;
    let timings = infra::traffic::Client::new(&endpoint, &endpoint)?
        .endpoint_timings()
        .await
        .ok();
    for (name, measured) in &results {
        if let Some(answer) = &measured.first_error {
            println!(
                "{name}: {} failed answers, the first: {answer}",
                measured.errors
            );
        }
    }
    let argon2 = sorted(argon2_ms());
    let (arm64, handlers) = if quick {
        (Err("BENCH_QUICK=1".to_owned()), Vec::new())
    } else {
        println!("building the arm64 bootstraps (cargo lambda build --arm64)…");
        let arm64 = build_arm64(&root, &packages);
        println!("running the criterion benchmarks of the handlers' in-process work…");
        (arm64, criterion(&root)?)
    };
    let report = render(&Report {
        results: &results,
        peer: peer_name,
        timings,
        argon2: &argon2,
        arm64,
        handlers: &handlers,
        runs,
        rounds,
        warm,
    })?;
    if !quick {
        std::fs::write(root.join("BENCHMARKS.md"), &report)?;
    }
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
