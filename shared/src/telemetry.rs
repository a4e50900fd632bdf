//! Structured logs, set up once per cold start.
//!
//! Output follows Lambda's advanced logging controls: `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON
//! object per line, `AWS_LAMBDA_LOG_LEVEL` sets the level (both validated by [`crate::config`]).
//! The runtime opens a `Lambda runtime invoke{requestId=…}` span around every invocation and the
//! HTTP layer adds one with the API Gateway request id; both are printed on every line, so each
//! line can be tied to its request. Nothing here logs request bodies, headers or whole events.

use std::sync::Once;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::{ConfigError, LogFormat, LogLevel};

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

/// Reads only the log settings and installs the subscriber: for functions with no other
/// configuration (health).
pub fn init_from_env() -> Result<(), ConfigError> {
    let (level, format) = crate::config::log_settings(|name| std::env::var(name).ok())?;
    init(level, format);
    Ok(())
}

/// Installs the global subscriber. Later calls do nothing, so tests may call it freely.
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
        let fmt = tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(false)
            .with_writer(std::io::stdout);
        let installed = match format {
            LogFormat::Json => tracing_subscriber::registry()
                .with(
                    fmt.json()
                        .flatten_event(true)
                        .with_current_span(false)
                        .with_span_list(true),
                )
                .with(filter)
                .try_init(),
            LogFormat::Text => tracing_subscriber::registry()
                .with(fmt)
                .with(filter)
                .try_init(),
        };
        // A subscriber installed by someone else (a test harness) is fine: keep it.
        drop(installed);
    });
}
