//! Structured logs and metrics, set up once per cold start.
//!
//! **Logs.** Lambda's advanced logging controls: `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON
//! object per line, `AWS_LAMBDA_LOG_LEVEL` sets the level (both validated by [`crate::config`]).
//! Every JSON line carries, at the top level, `timestamp`, `level`, `message`, the event's own
//! fields, and `requestId` (Lambda's), `traceId` (X-Ray's header, when Lambda gives one),
//! `function` and `coldStart` (whether this is the execution environment's first invocation,
//! or its start), then the fields of the spans it is in (the HTTP layer's `apigwRequestId` and
//! `route`). Nothing here logs request bodies, headers or whole events.
//!
//! **Metrics.** CloudWatch Embedded Metric Format documents, written to stdout after each
//! invocation ([`flush_metrics`]) by `metrics_cloudwatch_embedded` behind the `metrics`
//! facade, in the namespace `METRICS_NAMESPACE` (`Ferrite/<stack>`). Dimensions are
//! low-cardinality labels only (an outcome, a status class, a route); the function and the
//! request id are properties of the document, not dimensions — except for [`metric::FAILURE`],
//! whose `FunctionName` dimension is what each function's canary alarm watches. See [`metric`]
//! for the names.
//!
//! **Metrics survive log-level filtering.** With JSON logs, Lambda drops application lines
//! below `ApplicationLogLevel`, and counts a line without a `level` (or without a valid RFC 3339
//! `timestamp`) as INFO: at WARN or ERROR it would drop every metric. So each EMF document
//! carries a `timestamp` and the `level` of the configured threshold (INFO when the threshold
//! is lower): kept at every level the template allows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{ConfigError, LogFormat, LogLevel};

static INIT: Once = Once::new();
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);
static COLLECTOR: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// The metrics Ferrite emits (names and their labels), in one place for the dashboard and the
/// alarms of template.yaml.
pub mod metric {
    /// Once per execution environment, at its first invocation.
    pub const COLD_START: &str = "ColdStart";
    /// Every API answer, by `statusClass` (`2xx` … `5xx`).
    pub const REQUEST: &str = "Request";
    /// Every API answer, by `route` and `statusClass`.
    pub const REQUEST_BY_ROUTE: &str = "RequestByRoute";
    /// Sign-in attempts, by `outcome`: `ok`, `failed` (wrong credentials), `throttled`.
    pub const SIGN_IN: &str = "SignIn";
    /// Refresh tokens presented again after their rotation (the session is ended).
    pub const REFRESH_REUSE: &str = "RefreshReuseDetected";
    /// Accounts created.
    pub const REGISTRATION: &str = "Registration";
    /// Emails, by `outcome`: `sent`, `failed` (SES refused, retried), `interrupted` (a claim
    /// left by a crashed attempt: not sent again), `voided` (never to be sent), `rejected` (SES
    /// refused it for good: sandbox recipient, unverified sender, sending paused; not retried).
    pub const EMAIL: &str = "Email";
    /// Audit entries written (a redelivery writes none).
    pub const AUDIT_ENTRY: &str = "AuditEntryWritten";
    /// Notifications written to inboxes (a redelivery writes none).
    pub const NOTIFICATION: &str = "NotificationWritten";
    /// Pushes of new notifications on WebSocket connections, by `outcome`: `sent`, `gone` (the
    /// connection had closed: forgotten), `closed` (its token had expired: closed, not sent).
    pub const NOTIFICATION_PUSH: &str = "NotificationPushed";
    /// Worker records that failed (they are delivered again, then dead-lettered).
    pub const RECORD_FAILED: &str = "RecordFailed";
    /// A webhook delivery attempt, by `outcome` (`succeeded`, `retrying`, `failed`).
    pub const WEBHOOK_DELIVERY: &str = "WebhookDelivery";
    /// An event whose webhook deliveries ran out of attempts (it goes to the dead-letter queue).
    pub const WEBHOOK_GIVEN_UP: &str = "WebhookGivenUp";
    /// A webhook endpoint disabled after failing for a sustained period.
    pub const WEBHOOK_DISABLED: &str = "WebhookEndpointDisabled";
    /// What a function counts as its own failure — a 5xx answer of an API function, a record a
    /// worker failed — by [`FUNCTION_NAME`]: the metric each function's `<Fn>CanaryAlarm` in
    /// template.yaml watches beside Lambda's `Errors` of its `live` alias (a handler answers a
    /// failure as a 500 problem+json, which Lambda does not count as an error).
    pub const FAILURE: &str = "Failure";
    /// The dimension of [`FAILURE`]: the function's name (`AWS_LAMBDA_FUNCTION_NAME`, what
    /// `!Ref <Fn>` names in the template).
    pub const FUNCTION_NAME: &str = "FunctionName";
}

/// Counts one [`metric::FAILURE`] of this function.
pub fn count_failure() {
    metrics::counter!(metric::FAILURE, metric::FUNCTION_NAME => function_name()).increment(1);
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// Reads only the log settings and installs the subscriber: for functions with no other
/// configuration (health).
pub fn init_from_env() -> Result<(), ConfigError> {
    let (level, format) = crate::config::log_settings(|name| std::env::var(name).ok())?;
    init(level, format);
    Ok(())
}

/// Installs the global subscriber and the metrics recorder. Later calls do nothing, so tests
/// may call it freely.
pub fn init(level: LogLevel, format: LogFormat) {
    INIT.call_once(|| {
        // The AWS SDK and hyper are chatty at DEBUG; keep them at WARN unless asked for TRACE.
        // (`Targets`, not `EnvFilter`: the same per-target levels without a regex engine in
        // every binary.)
        let level = level_filter(level);
        let mut filter = Targets::new().with_default(level);
        if level < LevelFilter::TRACE {
            let quiet = level.min(LevelFilter::WARN);
            for target in [
                "aws_smithy_runtime",
                "aws_smithy_runtime_api",
                "hyper",
                "rustls",
            ] {
                filter = filter.with_target(target, quiet);
            }
        }
        let installed = match format {
            LogFormat::Json => tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .fmt_fields(JsonFields::new())
                        .event_format(LambdaJson::from_env())
                        .with_writer(std::io::stdout),
                )
                .with(filter)
                .try_init(),
            LogFormat::Text => tracing_subscriber::registry()
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_target(false)
                        .with_ansi(false)
                        .with_writer(std::io::stdout),
                )
                .with(filter)
                .try_init(),
        };
        // A subscriber installed by someone else (a test harness) is fine: keep it.
        drop(installed);
        init_metrics(
            std::env::var("METRICS_NAMESPACE").ok(),
            emf_level(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref()),
        );
    });
}

/// The `level` an EMF document carries: the configured application log level when it is above
/// INFO (Lambda keeps lines at or above it), INFO otherwise. Lambda's levels, upper case.
pub fn emf_level(configured: Option<&str>) -> &'static str {
    match configured
        .map(str::trim)
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("WARN") => "WARN",
        Some("ERROR") => "ERROR",
        Some("FATAL") => "FATAL",
        _ => "INFO",
    }
}

/// Installs the EMF recorder for `namespace` (none: metrics are not recorded, e.g. in tests
/// that call handlers in-process), its documents marked `level`.
fn init_metrics(namespace: Option<String>, level: &'static str) {
    let Some(namespace) = namespace.filter(|n| !n.trim().is_empty()) else {
        return;
    };
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .init()
    {
        Ok(collector) => {
            // The function is a property of every document; the collector keeps it.
            collector.set_property("function", function_name());
            collector.set_property("level", level);
            // Installed once per process (`INIT`): a second set cannot happen.
            if COLLECTOR.set(collector).is_err() {
                tracing::warn!("a metrics collector was installed already");
            }
        }
        Err(error) => tracing::warn!(%error, "metrics are not recorded"),
    }
}

/// Marks the start of an invocation: the first one of the process is the cold start (its
/// lines say `coldStart: true`, and it counts [`metric::COLD_START`]).
pub fn invocation_started(request_id: &str) {
    let n = INVOCATIONS.fetch_add(1, Ordering::Relaxed);
    if let Some(collector) = COLLECTOR.get() {
        collector.set_property("requestId", request_id.to_owned());
    }
    if n == 0 {
        metrics::counter!(metric::COLD_START).increment(1);
    }
}

/// Writes the metrics recorded since the last flush as one EMF document per metric set, on
/// stdout (Lambda sends it to CloudWatch Logs, which extracts the metrics). Call at the end of
/// every invocation.
pub fn flush_metrics() {
    if let Some(collector) = COLLECTOR.get() {
        // Lambda's log filter needs a valid RFC 3339 timestamp beside the level.
        collector.set_property(
            "timestamp",
            crate::clock::rfc3339(std::time::SystemTime::now()),
        );
        if let Err(error) = collector.flush(std::io::stdout()) {
            tracing::warn!(%error, "metrics not written");
        }
    }
}

/// Whether the process is in its first invocation (or has not had one yet).
pub fn cold_start() -> bool {
    INVOCATIONS.load(Ordering::Relaxed) <= 1
}

fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default()
}

/// A status code's class: `2xx` … `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The JSON line format (see the module's documentation).
struct LambdaJson {
    function: String,
}

impl LambdaJson {
    fn from_env() -> Self {
        Self {
            function: function_name(),
        }
    }
}

/// An event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for LambdaJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            Value::from(crate::clock::rfc3339(std::time::SystemTime::now())),
        );
        line.insert(
            "level".into(),
            Value::from(event.metadata().level().as_str()),
        );
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        // The span fields (outermost first), the Lambda runtime's ids under their own names.
        let mut spans = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(formatted) {
                    spans.extend(map);
                }
            }
        }
        let request_id = spans.remove("requestId").unwrap_or(Value::Null);
        let trace_id = spans.remove("xrayTraceId").unwrap_or(Value::Null);
        line.insert(
            "message".into(),
            fields.remove("message").unwrap_or(Value::Null),
        );
        line.insert("requestId".into(), request_id);
        line.insert("traceId".into(), trace_id);
        line.insert("function".into(), Value::from(self.function.as_str()));
        line.insert("coldStart".into(), Value::from(cold_start()));
        for (key, value) in fields.into_iter().chain(spans) {
            line.entry(key).or_insert(value);
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_json_line_has_the_request_trace_function_and_cold_start_at_the_top() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(LambdaJson {
                    function: "posts-get".into(),
                })
                .with_writer(move || sink.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before any invocation");
            // The spans lambda_runtime and the HTTP layer open around an invocation.
            let invoke = tracing::info_span!(
                "Lambda runtime invoke",
                requestId = "req-1",
                xrayTraceId = "Root=1-abc"
            );
            let _invoke = invoke.enter();
            let request =
                tracing::info_span!("request", apigwRequestId = "gw-1", route = "GET /v1/x");
            let _request = request.enter();
            tracing::info!(status = 200_u16, durationMs = 1.5, "request handled");
        });
        let text = String::from_utf8(buffer.0.lock().expect("lock").clone()).expect("utf-8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in &lines {
            for key in [
                "timestamp",
                "level",
                "message",
                "requestId",
                "traceId",
                "function",
                "coldStart",
            ] {
                assert!(line.get(key).is_some(), "{key} missing from {line}");
            }
            assert_eq!(line["function"], "posts-get");
        }
        assert_eq!(lines[0]["requestId"], Value::Null);
        assert_eq!(lines[1]["message"], "request handled");
        assert_eq!(lines[1]["requestId"], "req-1");
        assert_eq!(lines[1]["traceId"], "Root=1-abc");
        assert_eq!(lines[1]["apigwRequestId"], "gw-1");
        assert_eq!(lines[1]["route"], "GET /v1/x");
        assert_eq!(lines[1]["status"], 200);
        assert_eq!(lines[1]["level"], "INFO");
    }

    #[test]
    fn metrics_carry_a_level_that_lambdas_filter_keeps_at_every_configured_level() {
        // Lambda keeps a line whose level is at or above the configured one; the template
        // allows TRACE … ERROR (and Lambda FATAL).
        let rank = |level: &str| {
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
                .iter()
                .position(|l| *l == level)
                .expect("one of Lambda's levels")
        };
        for configured in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "warn"] {
            let level = emf_level(Some(configured));
            assert!(
                rank(level) >= rank(&configured.to_ascii_uppercase()),
                "{configured} drops a document marked {level}"
            );
        }
        assert_eq!(emf_level(None), "INFO");
        assert_eq!(emf_level(Some("DEBUG")), "INFO", "no lower than INFO");
    }

    #[test]
    fn status_classes_are_the_first_digit() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(304), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
