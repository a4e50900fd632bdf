//! BENCHMARKS.md: the numbers, their percentiles, the criterion results, written as a report.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, anyhow, bail};
use serde_json::Value as Json;

use super::{binaries::arm64_size, machine, runtime::Measured};

/// The `p`th percentile (nearest rank) of sorted values.
pub(crate) fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) * p + 50) / 100]
}

/// Bytes as megabytes with two decimals.
pub(crate) fn megabytes(bytes: u64) -> String {
    format!(
        "{}.{:02} MB",
        bytes / 1_048_576,
        (bytes % 1_048_576) * 100 / 1_048_576
    )
}

pub(crate) fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// One criterion result: group, benchmark, median in microseconds.
pub(crate) struct Criterion {
    pub(crate) group: String,
    pub(crate) name: String,
    pub(crate) median_us: f64,
}

/// Runs the criterion benchmarks of the handlers' in-process work (`bench/handlers`) and reads
/// their medians from criterion's JSON output.
pub(crate) fn criterion(root: &Path) -> Result<Vec<Criterion>> {
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

pub(crate) fn render_work_and_size(
    out: &mut String,
    report: &Report<'_>,
    root: &Path,
) -> Result<()> {
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
    for (name, m) in report
        .results
        .iter()
        .filter(|(name, _)| Some(*name) != report.peer && !name.contains(' '))
    {
        let (arm, zipped) = arm64_size(root, name).map_or_else(
            || ("not built".to_owned(), "not built".to_owned()),
            |(size, zipped)| (megabytes(size), megabytes(zipped)),
        );
        writeln!(out, "| {name} | {} | {arm} | {zipped} |", megabytes(m.size))?;
    }
    Ok(())
}

pub(crate) struct Report<'a> {
    pub(crate) results: &'a [(&'a str, Measured)],
    /// The peer's row name, when it was measured.
    pub(crate) peer: Option<&'a str>,
    /// The local endpoint's `/_ferrite/timings` after the runs.
    pub(crate) timings: Option<Json>,
    pub(crate) argon2: &'a [f64],
    pub(crate) arm64: Result<(), String>,
    pub(crate) handlers: &'a [Criterion],
    pub(crate) runs: usize,
    pub(crate) rounds: usize,
    pub(crate) warm: usize,
}

/// The cold-start numbers of one function.
struct Cold {
    init: f64,
    init_p90: f64,
    /// Median over the rounds of (this function's init p50 / hello-world's, same round), and
    /// each round's ratio.
    ratio: f64,
    ratios: Vec<f64>,
    first: f64,
    warm: f64,
    /// Init plus first invocation minus warm p50: what a cold request costs more than a warm one.
    overhead: f64,
    rss_mb: f64,
}

fn median(values: &[f64]) -> f64 {
    percentile(&sorted(values.to_vec()), 50)
}

fn cold(m: &Measured, floor: &Measured) -> Cold {
    let init = sorted(m.all_init());
    let ratios: Vec<f64> = m
        .init_ms
        .iter()
        .zip(&floor.init_ms)
        .map(|(round, floor)| median(round) / median(floor))
        .collect();
    let first = median(&m.all_first());
    let warm = median(&m.warm_ms);
    Cold {
        init: percentile(&init, 50),
        init_p90: percentile(&init, 90),
        ratio: median(&ratios),
        ratios,
        first,
        warm,
        overhead: percentile(&init, 50) + first - warm,
        rss_mb: median(&m.rss_kb) / 1024.0,
    }
}

/// The cold-start table, and posts-get's cold overhead against the peer's.
fn render_cold(out: &mut String, report: &Report<'_>, floor: &Measured) -> Result<()> {
    let results = report.results;
    writeln!(out, "## Cold start\n")?;
    writeln!(
        out,
        "| function | init p50 (ms) | init p90 | × hello-world (rounds) | first invocation p50 (ms) | warm p50 (ms) | cold overhead (ms) | − posts-get's | peak RSS p50 (MB) | errors |"
    )?;
    writeln!(
        out,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )?;
    let colds: Vec<(&str, Cold)> = results
        .iter()
        .map(|(name, m)| (*name, cold(m, floor)))
        .collect();
    let overhead_of = |wanted: &str| {
        colds
            .iter()
            .find(|(name, _)| *name == wanted)
            .map(|(_, c)| c.overhead)
    };
    let posts_get = overhead_of("posts-get");
    for ((name, c), (_, m)) in colds.iter().zip(results.iter()) {
        let rounds = c
            .ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        let versus = posts_get.map_or_else(String::new, |p| format!("{:+.2}", c.overhead - p));
        writeln!(
            out,
            "| {name} | {:.2} | {:.2} | {:.2} ({rounds}) | {:.2} | {:.2} | {:.2} | {versus} | {:.1} | {} |",
            c.init, c.init_p90, c.ratio, c.first, c.warm, c.overhead, c.rss_mb, m.errors
        )?;
    }
    if let (Some(peer), Some(ours)) = (report.peer, posts_get)
        && let Some(theirs) = overhead_of(peer)
    {
        writeln!(
            out,
            "\nposts-get's cold overhead is **{:.2}×** the peer's ({ours:.2} ms vs {theirs:.2} ms; both one GetItem \
             behind API Gateway, same endpoint, same run). The peer is aws-samples/serverless-rust-demo at {} with \
             `bench/runner/peer/serverless-rust-demo.patch` (its client pointed at the local endpoint), built in release mode.",
            ours / theirs,
            super::peer::COMMIT
        )?;
    }
    if let Some(timings) = &report.timings {
        writeln!(
            out,
            "\nWhat the local endpoint spent serving each call the functions made (moto, inside its lock; \
             mean per call over the whole run): a cold request's own share of its cold overhead is the rest.\n"
        )?;
        writeln!(out, "| call | count | mean (ms) |")?;
        writeln!(out, "| --- | --- | --- |")?;
        for operation in timings["operations"].as_array().into_iter().flatten() {
            let name = operation["operation"].as_str().unwrap_or_default();
            if name.contains("GetSecretValue")
                || [".GetItem", ".Query", ".TransactWriteItems", ".BatchGetItem"]
                    .iter()
                    .any(|call| name.ends_with(call))
            {
                writeln!(
                    out,
                    "| {name} | {} | {} |",
                    operation["count"], operation["meanMs"]
                )?;
            }
        }
    }
    Ok(())
}

pub(crate) fn render(report: &Report<'_>) -> Result<String> {
    let Report {
        results,
        argon2,
        runs,
        rounds,
        warm,
        ..
    } = *report;
    let root = infra::workspace_root();
    let floor = results
        .iter()
        .find(|(name, _)| *name == "hello-world")
        .map(|(_, m)| m)
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
         {runs} times per round (plus one uncounted warm-up), in {rounds} rounds that alternate the functions, with the \
         environment Lambda gives, against a Runtime API emulated on loopback and the local AWS endpoint (moto, serialised, \
         on loopback). **Init** = spawn → first `GET /runtime/invocation/next`; **first invocation** = event handed out → \
         response posted; **peak RSS** = `VmHWM` after the first response. **Warm** = {warm} invocations in one process \
         (100 for login: argon2), after the last round. **× hello-world** is the median over the rounds of the function's \
         init p50 divided by hello-world's in the same round (each round's ratio in brackets). **Cold overhead** = init p50 \
         + first invocation p50 − warm p50: what a cold request costs more than a warm one. Times are wall-clock on a \
         shared 2-core machine: compare within one run, not across machines.\n"
    )?;
    render_cold(&mut out, report, floor)?;
    writeln!(out, "\n{}", include_str!("../../../bench/init.md"))?;
    writeln!(out, "\n## Warm invocations\n")?;
    writeln!(out, "| function | invocations | p50 (ms) | p99 (ms) |")?;
    writeln!(out, "| --- | --- | --- | --- |")?;
    for (name, m) in results {
        let warm = sorted(m.warm_ms.clone());
        if warm.is_empty() {
            continue;
        }
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
