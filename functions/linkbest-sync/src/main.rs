//! Lambda entry point of the Linkbest sync: the EventBridge schedules of Linkbest's feeds
//! (`{"feed": "settlement"}`, `{"feed": "orders"}`), and manual backfills
//! (`{"feed": "orders", "from": <unix s>, "to": <unix s>}`; without `feed`, settlement).
//!
//! Builds configuration, the DynamoDB client and the Linkbest HTTP client once per cold start;
//! each invocation runs `shared::linkbest::sync::LinkbestSync::invoke`, which logs one line per
//! feed. An invocation in which a feed failed returns an error (so it counts as failed and is
//! retried / alarmed); every feed's checkpoint stays at its last fully stored window.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::linkbest::client::LinkbestClient;
use shared::linkbest::settings::SyncConfig;
use shared::linkbest::sync::{FUNCTION, LinkbestSync};
use shared::store::Store;
use time::OffsetDateTime;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = SyncConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "sync", error = %e, "configuration invalid; refusing to start");
    })?;
    // The app secret from Secrets Manager is read now; if it cannot be, each feed run fails (and
    // alarms) until it can.
    let aws = shared::aws::cold_start(&config.store, &[&config.app_secret]).await;
    let linkbest = Arc::new(LinkbestClient::new(
        &config.base_url,
        &config.app_key,
        config.app_secret.clone(),
        config.retry,
    ));
    let sync = LinkbestSync::new(Store::from_config(aws.dynamodb, &config.store), linkbest, &config);
    let (sync, budget) = (&sync, config.fallback_budget);
    shared::logging::initialised(FUNCTION, started, aws.sdk_init, aws.secrets_init);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        invoke(sync, budget, event).await
    }))
    .await
}

async fn invoke(
    sync: &LinkbestSync,
    fallback_budget: Duration,
    event: LambdaEvent<Value>,
) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let remaining = match context.deadline().duration_since(SystemTime::now()) {
        Ok(remaining) if !remaining.is_zero() => remaining,
        _ => {
            // Lambda always sends a deadline in the future; `cargo lambda watch` sends a fixed
            // small number. Run with the configured budget instead of stopping at once.
            tracing::warn!(
                target: "sync", deadline_ms = context.deadline,
                fallback_ms = fallback_budget.as_millis() as u64,
                "the invocation deadline is not in the future (a local emulator?); using SYNC_FALLBACK_BUDGET_MS"
            );
            fallback_budget
        }
    };
    let deadline = Instant::now() + remaining;
    sync.invoke(&payload, &context.request_id, OffsetDateTime::now_utc(), deadline)
        .await
        .map_err(|e| {
            tracing::error!(target: "sync", outcome = "failed", error = %e,
                lambda_request_id = %context.request_id, "sync invocation failed");
            e.into()
        })
}
