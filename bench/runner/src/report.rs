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
    for (name, m) in report.results {
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
    pub(crate) argon2: &'a [f64],
    pub(crate) arm64: Result<(), String>,
    pub(crate) handlers: &'a [Criterion],
    pub(crate) runs: usize,
    pub(crate) warm: usize,
}

pub(crate) fn render(report: &Report<'_>) -> Result<String> {
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
