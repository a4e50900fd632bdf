#![allow(clippy::print_stdout)] // a command-line tool: stdout is its interface
//! `ferrite-soak` (`make soak`): the whole local stack under a bounded mixed workload, then the
//! pipeline's promises checked end to end.
//!
//! Virtual users register, sign in, refresh, read and edit their profile, write, publish, read
//! and delete posts, register, list, lease, transfer and delete properties, reset and change
//! passwords and delete their accounts, with some refused
//! writes among them (stale `If-Match`, duplicate registrations, wrong passwords). The last fifth
//! of the run is reads and refused writes only: the endpoint's memory must not grow there. A
//! prober measures the delivery delay (change → audit entry, request → mail) throughout.
//!
//! Then, once the pipeline has drained (bounded by the template's delivery bound): every
//! committed outbox event has exactly one audit entry and no audit entry lacks its event; every
//! email an event asked for was sent exactly once; the queues and dead-letter queues are empty;
//! no pump restarted without resuming from its checkpoint; no request got a 5xx.
//!
//! Runs under `ferrite-local exec --api` (the Makefile does), which exports the stack's URLs.

mod ledger;
mod registry;
mod report;
mod workload;
mod world;

use ledger::{ledger, problems};
use workload::{admin, prober, virtual_user};
use world::Shared;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Parser;
use infra::traffic::{self, Client};
use serde_json::Value as Json;

#[derive(Debug, Parser)]
#[command(
    name = "ferrite-soak",
    about = "A bounded mixed workload, then the pipeline's promises checked"
)]
struct Args {
    /// How long the workload runs, in seconds.
    #[arg(long, env = "SOAK_SECS", default_value_t = 600)]
    secs: u64,
    /// Virtual users sending requests back to back.
    #[arg(long, env = "SOAK_USERS", default_value_t = 6)]
    users: u64,
    /// Stop sending after this many requests, even before `secs` (a load run's bound).
    #[arg(long, env = "SOAK_MAX_REQUESTS", default_value_t = u64::MAX)]
    max_requests: u64,
    /// Also write the run's figures, in Markdown, to this file (`make load`: bench/load.md).
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    #[arg(long, env = "FERRITE_API_URL")]
    api: String,
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint: String,
    #[arg(long, env = "TABLE_NAME")]
    table: String,
    #[arg(long, env = "FERRITE_PUMPS_STATUS")]
    pumps: std::path::PathBuf,
    #[arg(long, default_value_t = 11)]
    seed: u64,
}

fn mib(bytes: f64) -> String {
    format!("{bytes:.0} MiB")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("ferrite-soak: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_lines)] // the run, its checks and its report, in order
async fn run(args: Args) -> Result<bool> {
    let template = infra::tree::template()?;
    let mut ctx = infra::template::Context::local("soak", infra::LOCAL_REGION);
    ctx.resolve_unprovisioned(&template);
    for (name, definition) in template.parameters() {
        if definition.get("Default").is_none() {
            ctx.parameters.insert(name.to_owned(), "x".repeat(32));
        }
    }
    let audit_bound = infra::pumps::delivery_bound(&template, &ctx, "AuditQueue")?;
    let mail_bound = infra::pumps::delivery_bound(&template, &ctx, "EmailQueue")?;

    let client = Client::new(&args.api, &args.endpoint)?;
    let started = Instant::now();
    let total = Duration::from_secs(args.secs);
    let shared = Arc::new(Shared {
        client: client.clone(),
        run: ulid::Ulid::new().to_string().to_lowercase(),
        deadline: started + total,
        mixed_until: started + total * 4 / 5,
        max_requests: args.max_requests,
        wrong_passwords: AtomicU64::new(0),
        accounts: AtomicU64::new(0),
        mail_delays: std::sync::Mutex::default(),
        directory: std::sync::Mutex::default(),
        file_numbers: AtomicU64::new(0),
    });
    let admin_token = admin(&shared).await?;
    println!(
        "soak: {} virtual users for {}s (mixed {}s, then reads and refused writes); delivery bound {audit_bound:?}",
        args.users,
        args.secs,
        args.secs * 4 / 5
    );

    let memory = {
        let (shared, client) = (shared.clone(), client.clone());
        tokio::spawn(async move {
            let mut samples: Vec<(Duration, f64, bool)> = Vec::new();
            while shared.sending_until(shared.deadline + Duration::from_secs(1)) {
                if let Ok(status) = client.endpoint_status().await {
                    samples.push((
                        started.elapsed(),
                        status["rssBytes"].as_f64().unwrap_or_default() / 1_048_576.0,
                        Instant::now() < shared.mixed_until,
                    ));
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            samples
        })
    };
    let timings_before = client.endpoint_timings().await?;
    let probe = tokio::spawn(prober(shared.clone(), admin_token.clone(), audit_bound));
    let mut users = tokio::task::JoinSet::new();
    for n in 0..args.users {
        users.spawn(virtual_user(
            shared.clone(),
            args.seed.wrapping_mul(1_000_003).wrapping_add(n),
            mail_bound,
        ));
    }
    let mut failures: Vec<String> = Vec::new();
    while let Some(done) = users.join_next().await {
        if let Err(error) = done.context("a virtual user panicked").and_then(|r| r) {
            failures.push(format!("a virtual user stopped: {error:#}"));
        }
    }
    let audit_delays = match probe.await.context("the prober panicked").and_then(|r| r) {
        Ok(delays) => delays,
        Err(error) => {
            failures.push(format!("the prober stopped: {error:#}"));
            Vec::new()
        }
    };
    let samples = memory.await.unwrap_or_default();
    let load_secs = started.elapsed().as_secs_f64();
    let timings_after = client.endpoint_timings().await?;

    // Drain: the pipeline settles within the template's delivery bound, or something was lost.
    let sdk = infra::local_sdk_config(&args.endpoint).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let drain_started = Instant::now();
    let mut pending;
    loop {
        pending = problems(&shared, &dynamodb, &sqs, &args.table).await?;
        if pending.is_empty() || drain_started.elapsed() > audit_bound.max(mail_bound) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let drained = drain_started.elapsed();
    failures.extend(pending);

    let pumps: Json =
        serde_json::from_str(&std::fs::read_to_string(&args.pumps).context("the pumps' status")?)?;
    for (name, report) in pumps.as_object().into_iter().flatten() {
        let restarts = report["restarts"].as_u64().unwrap_or_default();
        let resumed = report["resumed"].as_u64().unwrap_or_default();
        let skipped = report["skipped"].as_u64().unwrap_or_default();
        if skipped > 0 || resumed < restarts {
            failures.push(format!("{name}: {restarts} restarts, {resumed} resumed from the checkpoint, {skipped} skipped records"));
        }
    }
    let server_errors = client.tally.server_errors();
    if server_errors > 0 {
        failures.push(format!("{server_errors} answers were 5xx"));
    }

    // The report.
    let directory = shared
        .directory
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    let ledger = ledger(&dynamodb, &args.table, &directory).await?;
    let mails: u64 = client.mail_counts().await?.values().sum();
    let requests = client.tally.total();
    println!(
        "\n== soak: {requests} requests in {load_secs:.0}s ({:.1}/s), {server_errors} 5xx",
        f64::from(u32::try_from(requests).unwrap_or(u32::MAX)) / load_secs
    );
    let mut by_operation: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    for ((operation, status), count) in client.tally.statuses() {
        by_operation
            .entry(operation)
            .or_default()
            .insert(status, count);
    }
    for (operation, statuses) in &by_operation {
        let counts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        println!(
            "  {operation:<30} {:<24} {}",
            counts.join(" "),
            traffic::summary(&client.tally.latencies(operation))
        );
    }
    println!(
        "events: {} committed, {} audit entries, {} mails asked for, {mails} sent, {} for accounts deleted before they went; drained {drained:.1?} after the load",
        ledger.events.len(),
        ledger.audited.len(),
        ledger.events.values().flatten().count(),
        ledger.voided,
    );
    println!(
        "delivery, change -> audit entry visible:   {}",
        traffic::summary(&audit_delays)
    );
    let mail_delays = shared
        .mail_delays
        .lock()
        .map(|d| d.clone())
        .unwrap_or_default();
    println!(
        "delivery, reset request -> mail accepted:  {}",
        traffic::summary(&mail_delays)
    );
    let tables = client.tables().await?;
    if let Some(table) = tables["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == args.table.as_str())
    {
        println!(
            "table: {} items, {} stream records",
            table["items"], table["streamRecords"]
        );
    }
    for (name, report) in pumps.as_object().into_iter().flatten() {
        println!(
            "  {name:<28} delivered {:>6}  restarts {}  resumed {}",
            report["delivered"], report["restarts"], report["resumed"]
        );
    }
    let first = samples.first().map(|s| s.1).unwrap_or_default();
    let mixed_end = samples
        .iter()
        .filter(|s| s.2)
        .map(|s| s.1)
        .next_back()
        .unwrap_or(first);
    let last = samples.last().map(|s| s.1).unwrap_or_default();
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    println!(
        "endpoint memory: {} at start, {} after the mixed phase, {} at the end (peak {}); reads-only phase: {:+.1} MiB",
        mib(first),
        mib(mixed_end),
        mib(last),
        mib(peak),
        last - mixed_end
    );
    // Python returns little memory to the system; a leak grows steadily. The reads-and-refused-
    // writes phase adds no data, so its growth is the leak (moto's copies grew by gigabytes).
    if last - mixed_end > 32.0 {
        failures.push(format!(
            "the endpoint grew {:.0} MiB while only reading",
            last - mixed_end
        ));
    }
    let profile = report::profile(&timings_before, &timings_after, &client.tally);
    println!(
        "time per request (mean): {:.1} ms measured by the clients, {:.1} ms inside the endpoint ({:.1} calls), {:.1} ms waiting for its lock, {:.1} ms the rest (gateway, functions, HTTP)",
        profile.client_ms,
        profile.handled_ms,
        profile.calls,
        profile.waited_ms,
        profile.rest_ms(),
    );
    if let Some(path) = &args.report {
        let run = report::Run {
            users: args.users,
            secs: load_secs,
            max_requests: args.max_requests,
            server_errors,
            events: ledger.events.len(),
            audited: ledger.audited.len(),
            mails_asked: ledger.events.values().flatten().count(),
            mails_sent: mails,
            drained,
            audit_delays: &audit_delays,
            failures: &failures,
        };
        std::fs::write(path, report::markdown(&run, &client.tally, &profile))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if failures.is_empty() {
        println!(
            "\nsoak passed: every committed event audited once, every mail sent once, queues and dead-letter queues empty, pumps never skipped, no 5xx"
        );
        Ok(true)
    } else {
        println!("\nsoak FAILED:");
        for failure in &failures {
            println!("  - {failure}");
        }
        Ok(false)
    }
}
