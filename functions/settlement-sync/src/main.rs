//! Lambda entry point of the Linkbest settlement sync (EventBridge schedule, or a manual backfill
//! with `{"from": <unix s>, "to": <unix s>}`).
//!
//! Builds configuration, the DynamoDB client and the Linkbest HTTP client once per cold start;
//! each invocation runs `shared::settlement_sync::SettlementSync::run` and logs one summary line.
//! A failed run returns an error (so the invocation counts as failed and is retried / alarmed)
//! and leaves the checkpoint at the last fully stored window.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;
use shared::config::SettlementConfig;
use shared::linkbest_client::LinkbestClient;
use shared::metrics::{self, Unit};
use shared::settlement_sync::{Mode, SettlementSync};
use shared::store::Store;
use time::OffsetDateTime;
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = SettlementConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "settlement_sync", error = %e, "configuration invalid; refusing to start");
    })?;
    let sdk_started = std::time::Instant::now();
    let dynamodb = shared::aws::dynamodb_client(&config.store).await;
    let sdk_init = sdk_started.elapsed();
    let linkbest = LinkbestClient::new(
        &config.base_url,
        &config.app_key,
        config.app_secret.clone(),
        config.retry,
    )?;
    let sync = SettlementSync::new(Store::from_config(dynamodb, &config.store), linkbest, &config);
    let (sync, budget) = (&sync, config.fallback_budget);
    shared::logging::initialised("settlement-sync", started, sdk_init);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        invoke(sync, budget, event).await
    }))
    .await
}

async fn invoke(
    sync: &SettlementSync,
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
                target: "settlement_sync", deadline_ms = context.deadline,
                fallback_ms = fallback_budget.as_millis() as u64,
                "the invocation deadline is not in the future (a local emulator?); using SETTLEMENT_FALLBACK_BUDGET_MS"
            );
            fallback_budget
        }
    };
    let deadline = Instant::now() + remaining;
    let mode = Mode::from_event(&payload);
    let result = match mode {
        Ok(mode) => {
            sync.run(mode, &context.request_id, OffsetDateTime::now_utc(), deadline)
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(summary) => {
            tracing::info!(
                target: "settlement_sync", outcome = "ok", mode = summary.mode, result = summary.result,
                windows_planned = summary.windows_planned, windows_completed = summary.windows_completed,
                pages = summary.pages, changes_received = summary.changes_received,
                items_written = summary.items_written, views_updated = summary.views_updated,
                dynamodb_calls = summary.dynamodb_calls, http_requests = summary.http_requests,
                checkpoint_before = summary.checkpoint_before, checkpoint_after = summary.checkpoint_after,
                lag_seconds = summary.lag_seconds, resume_from = summary.resume_from,
                duration_ms = summary.duration_ms, time_given_ms = remaining.as_millis() as u64,
                lambda_request_id = %context.request_id,
                "settlement sync run"
            );
            let mut figures = vec![
                ("SyncRuns", 1.0, Unit::Count),
                (
                    "SettlementChangesStored",
                    summary.items_written as f64,
                    Unit::Count,
                ),
            ];
            if let Some(lag) = summary.lag_seconds {
                figures.push(("SyncLagSeconds", lag as f64, Unit::Seconds));
            }
            metrics::emit("settlement-sync", &figures);
            Ok(serde_json::to_value(summary)?)
        }
        Err(e) => {
            metrics::emit("settlement-sync", &[("SyncRunsFailed", 1.0, Unit::Count)]);
            tracing::error!(
                target: "settlement_sync", outcome = "failed", error = %e,
                lambda_request_id = %context.request_id,
                "settlement sync run failed; the checkpoint stays at the last fully stored window"
            );
            Err(e.into())
        }
    }
}
