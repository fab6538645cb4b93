//! JSON logs: one line per event, filtered by `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber. Call once, first thing in `main`.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .try_init();
}

/// Logs the one start-up line of a function: how long its cold-start initialisation took
/// (`init_ms`, from the start of `main`) and the part spent building the DynamoDB client
/// (`sdk_init_ms`). CloudWatch's `INIT_START`/`REPORT` lines give the whole init duration; this
/// tells how much of it is ours.
pub fn initialised(function: &str, main_started: std::time::Instant, sdk_init: std::time::Duration) {
    tracing::info!(
        target: "init",
        function,
        init_ms = main_started.elapsed().as_secs_f64() * 1000.0,
        sdk_init_ms = sdk_init.as_secs_f64() * 1000.0,
        "initialised"
    );
}
