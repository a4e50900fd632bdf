//! Structured logs, set up once per cold start.
//!
//! Output follows Lambda's advanced logging controls: `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON
//! object per line, `AWS_LAMBDA_LOG_LEVEL` sets the level (both validated by [`crate::config`]).
//! The runtime opens a `Lambda runtime invoke{requestId=…}` span around every invocation and the
//! HTTP layer adds one with the API Gateway request id; both are printed on every line, so each
//! line can be tied to its request. Nothing here logs request bodies, headers or whole events.

use std::sync::Once;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use crate::config::{LogFormat, LogLevel};

static INIT: Once = Once::new();

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// Installs the global subscriber. Later calls do nothing, so tests may call it freely.
pub fn init(level: LogLevel, format: LogFormat) {
    INIT.call_once(|| {
        // The AWS SDK and hyper are chatty at DEBUG; keep them at WARN unless asked for TRACE.
        let quiet = if level == LogLevel::Trace {
            ""
        } else {
            ",aws_smithy_runtime=warn,aws_smithy_runtime_api=warn,hyper=warn,rustls=warn"
        };
        let filter = EnvFilter::builder()
            .with_default_directive(level_filter(level).into())
            .parse_lossy(format!("{}{quiet}", level_filter(level)));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(false)
            .with_writer(std::io::stdout);
        let installed = match format {
            LogFormat::Json => builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(true)
                .try_init(),
            LogFormat::Text => builder.try_init(),
        };
        // A subscriber installed by someone else (a test harness) is fine: keep it.
        drop(installed);
    });
}
