//! JSON logs: one line per event. The level follows Lambda's advanced logging controls
//! (`AWS_LAMBDA_LOG_LEVEL`, set from the function's `LoggingConfig.ApplicationLogLevel`), unless
//! `RUST_LOG` is set explicitly (local runs, debugging one module); the default is `info`.
//!
//! The lines are JSON whatever `AWS_LAMBDA_LOG_FORMAT` says: a custom runtime writes its own
//! application logs, and the EMF metric lines must be JSON anyway.

use tracing_subscriber::EnvFilter;

/// The filter directive and where it came from, from the values of `RUST_LOG` and
/// `AWS_LAMBDA_LOG_LEVEL` (unset and empty are the same).
pub fn level_directive(rust_log: Option<&str>, lambda_level: Option<&str>) -> (String, &'static str) {
    let set = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    if let Some(directive) = set(rust_log) {
        return (directive, "RUST_LOG");
    }
    if let Some(level) = set(lambda_level) {
        // Lambda's levels; FATAL has no tracing level of its own: errors only.
        let directive = match level.to_ascii_uppercase().as_str() {
            "TRACE" => "trace",
            "DEBUG" => "debug",
            "INFO" => "info",
            "WARN" => "warn",
            "ERROR" | "FATAL" => "error",
            _ => return ("info".to_owned(), "default (AWS_LAMBDA_LOG_LEVEL not understood)"),
        };
        return (directive.to_owned(), "AWS_LAMBDA_LOG_LEVEL");
    }
    ("info".to_owned(), "default")
}

/// Installs the JSON subscriber. Call once, first thing in `main`.
pub fn init() {
    install(std::io::stdout);
}

/// The same subscriber writing to stderr, for command-line tools (`ops`) whose stdout is their
/// answer: progress and problems as JSON lines beside it.
pub fn init_for_tools() {
    install(std::io::stderr);
}

fn install<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (directive, source) = level_directive(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
    );
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    // The spans a line is in: inside an invocation, the runtime's `Lambda runtime invoke` span
    // with its `requestId` and `xrayTraceId` (issue #30.1): every line carries the trace id.
    let lines = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(true)
        .with_writer(writer)
        .with_filter(filter);
    // With active tracing, Lambda runs the X-Ray daemon and says where: the `xray` spans go there.
    let installed = tracing_subscriber::registry()
        .with(lines)
        .with(crate::trace::XRayLayer::from_env())
        .try_init();
    if installed.is_ok() {
        tracing::debug!(target: "init", level = %directive, source, "log level chosen");
    }
}

/// Logs the one start-up line of a function: how long its cold-start initialisation took
/// (`init_ms`, from the start of `main`) and the part spent building the DynamoDB client
/// (`sdk_init_ms`) and reading secrets from Secrets Manager (`secrets_init_ms`, 0 for plain
/// variables). CloudWatch's `INIT_START`/`REPORT` lines give the whole init duration; this
/// tells how much of it is ours.
pub fn initialised(
    function: &str,
    main_started: std::time::Instant,
    sdk_init: std::time::Duration,
    secrets_init: std::time::Duration,
) {
    tracing::info!(
        target: "init",
        function,
        init_ms = main_started.elapsed().as_secs_f64() * 1000.0,
        sdk_init_ms = sdk_init.as_secs_f64() * 1000.0,
        secrets_init_ms = secrets_init.as_secs_f64() * 1000.0,
        "initialised"
    );
}

#[cfg(test)]
mod tests {
    use super::level_directive;

    #[test]
    fn an_explicit_rust_log_wins_then_lambdas_level_then_info() {
        assert_eq!(level_directive(None, None), ("info".to_owned(), "default"));
        assert_eq!(
            level_directive(None, Some("WARN")),
            ("warn".to_owned(), "AWS_LAMBDA_LOG_LEVEL")
        );
        assert_eq!(level_directive(None, Some("debug")).0, "debug");
        assert_eq!(level_directive(None, Some("FATAL")).0, "error");
        assert_eq!(level_directive(None, Some("TRACE")).0, "trace");
        assert_eq!(
            level_directive(Some("postback=debug"), Some("ERROR")),
            ("postback=debug".to_owned(), "RUST_LOG")
        );
        assert_eq!(
            level_directive(Some("  "), Some("ERROR")).0,
            "error",
            "empty is unset"
        );
        assert_eq!(level_directive(None, Some("LOUD")).0, "info");
    }
}
