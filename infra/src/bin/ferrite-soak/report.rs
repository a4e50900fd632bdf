//! The figures of a run in Markdown (`make load` writes them to bench/load.md, which
//! `make capacity` puts into CAPACITY.md), and where a request's time went.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use infra::traffic::{Tally, percentile};
use serde_json::Value as Json;

/// Where the time of the run's requests went: inside the local endpoint (DynamoDB, SQS, SES as
/// moto answers them), waiting for the endpoint's lock (one request at a time), and the rest
/// (the local gateway, the function processes, the HTTP hops), by difference from what the
/// clients measured.
/// Every figure is a mean per request, in ms (calls: endpoint calls per request).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    pub(crate) calls: f64,
    pub(crate) client_ms: f64,
    pub(crate) handled_ms: f64,
    pub(crate) waited_ms: f64,
}

impl Profile {
    /// The time neither the endpoint nor its lock account for.
    pub(crate) fn rest_ms(&self) -> f64 {
        (self.client_ms - self.handled_ms - self.waited_ms).max(0.0)
    }
}

fn as_f64(n: u64) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

fn totals(timings: &Json) -> (u64, f64, f64) {
    timings["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .fold((0, 0.0, 0.0), |(n, h, w), op| {
            (
                n + op["count"].as_u64().unwrap_or_default(),
                h + op["handledMs"].as_f64().unwrap_or_default(),
                w + op["waitedMs"].as_f64().unwrap_or_default(),
            )
        })
}

/// The profile between two readings of the endpoint's timings, over `tally`'s requests.
pub(crate) fn profile(before: &Json, after: &Json, tally: &Tally) -> Profile {
    let (n0, h0, w0) = totals(before);
    let (n1, h1, w1) = totals(after);
    let latencies: Vec<Duration> = operations(tally)
        .iter()
        .flat_map(|op| tally.latencies(op))
        .collect();
    let requests = f64::from(u32::try_from(latencies.len()).unwrap_or(u32::MAX)).max(1.0);
    let client: f64 = latencies.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0;
    Profile {
        calls: as_f64(n1.saturating_sub(n0)) / requests,
        client_ms: client / requests,
        handled_ms: (h1 - h0) / requests,
        waited_ms: (w1 - w0) / requests,
    }
}

fn operations(tally: &Tally) -> Vec<String> {
    let mut names: Vec<String> = tally.statuses().into_keys().map(|(op, _)| op).collect();
    names.dedup();
    names
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What a run reports, besides the tally.
pub(crate) struct Run<'a> {
    pub(crate) users: u64,
    pub(crate) secs: f64,
    pub(crate) max_requests: u64,
    pub(crate) server_errors: u64,
    pub(crate) events: usize,
    pub(crate) audited: usize,
    pub(crate) mails_asked: usize,
    pub(crate) mails_sent: u64,
    pub(crate) drained: Duration,
    pub(crate) audit_delays: &'a [Duration],
    pub(crate) failures: &'a [String],
}

/// The run's figures as a Markdown section.
pub(crate) fn markdown(run: &Run<'_>, tally: &Tally, profile: &Profile) -> String {
    let requests = tally.total();
    let mut out = String::new();
    let bound = if run.max_requests == u64::MAX {
        "no request bound".to_owned()
    } else {
        format!("at most {} requests", run.max_requests)
    };
    let _ = writeln!(
        out,
        "`make load`: {} virtual users against the local stack on loopback for {:.0} s ({bound}), \
         the soak's mixed workload (accounts, posts, the registry, refused writes), then every \
         promise of the pipeline checked.\n",
        run.users, run.secs
    );
    let per_sec = as_f64(requests) / run.secs;
    let _ = writeln!(
        out,
        "- **{requests} requests, {per_sec:.1}/s, {} answered 5xx**; {} events committed, {} \
         audited (each once), {} emails asked for, {} sent; the pipeline drained {:.1?} after \
         the load; change → audit entry p50 {:.0} ms, p99 {:.0} ms.",
        run.server_errors,
        run.events,
        run.audited,
        run.mails_asked,
        run.mails_sent,
        run.drained,
        ms(percentile(run.audit_delays, 50.0)),
        ms(percentile(run.audit_delays, 99.0)),
    );
    let verdict = if run.failures.is_empty() {
        "every promise held".to_owned()
    } else {
        format!("FAILED: {}", run.failures.join("; "))
    };
    let _ = writeln!(out, "- Verdict: {verdict}.\n");
    let (client, handled, waited) = (profile.client_ms, profile.handled_ms, profile.waited_ms);
    let share = |part: f64| 100.0 * part / client.max(f64::MIN_POSITIVE);
    let _ = writeln!(
        out,
        "Where a request's time went (mean over the run, ms; the endpoint's share from its own \
         timings, `/_ferrite/timings`, the rest by difference):\n\n\
         | | ms per request | share |\n| --- | --- | --- |\n\
         | what the clients measured | {client:.1} | 100 % |\n\
         | the local endpoint handling its {:.1} calls (moto, one at a time) | {handled:.1} | {:.0} % |\n\
         | waiting for the endpoint's lock | {waited:.1} | {:.0} % |\n\
         | the rest: gateway, function processes, HTTP hops | {:.1} | {:.0} % |\n",
        profile.calls,
        share(handled),
        share(waited),
        profile.rest_ms(),
        share(profile.rest_ms()),
    );
    let bottleneck = if profile.rest_ms() > handled + waited {
        "Most of the time is outside the endpoint: the gateway, the function processes (debug \
         builds), the stream and queue pumps and the endpoint share this machine's cores, and \
         sign-ins and registrations (argon2id, 19 MiB, ~20 ms of CPU each in a release build) \
         queue behind each other for them."
    } else {
        "Most of the time is the endpoint's: it serialises every request (moto is not safe \
         under concurrency)."
    };
    let _ = writeln!(
        out,
        "{bottleneck} This is the local stack's throughput, not Ferrite's in AWS, where DynamoDB \
         serves each call in single-digit milliseconds in parallel and every function scales \
         out on its own CPU.\n"
    );
    let _ = writeln!(
        out,
        "| operation | requests | statuses | p50 (ms) | p99 (ms) |\n| --- | --- | --- | --- | --- |"
    );
    let mut by_operation: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
    for ((operation, status), count) in tally.statuses() {
        by_operation
            .entry(operation)
            .or_default()
            .insert(status, count);
    }
    for (operation, statuses) in &by_operation {
        let latencies = tally.latencies(operation);
        let counts: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        let _ = writeln!(
            out,
            "| {operation} | {} | {} | {:.1} | {:.1} |",
            latencies.len(),
            counts.join(" "),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
        );
    }
    out
}
