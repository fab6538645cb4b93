//! Lambda entry point of the hand-off publisher: the table's stream (through the event source
//! mapping, filtered to view items) in, one event per committed view change out on the orders
//! bus, and the first record not published back to Lambda (`ReportBatchItemFailures`).
//!
//! Builds configuration and the EventBridge client once per cold start; each batch is handed to
//! `shared::handoff::publish::publish` with every partner's view description (`shared::VIEWS`), and logs one line.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};
use shared::handoff::eventbridge::EventBridgeBus;
use shared::handoff::publish::{BatchOutcome, Publisher, publish};
use shared::handoff::settings::PublisherConfig;
use shared::metrics::{self, Unit, names};
use shared::store::Store;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = PublisherConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "publisher", error = %e, "configuration invalid; refusing to start");
    })?;
    let aws = shared::aws::cold_start(&config.store, &[]).await;
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&aws.sdk), &config.bus_name);
    // Poison records are set aside in the table (the role may write that one partition only).
    let store = Store::from_config(aws.dynamodb.clone(), &config.store);
    let (bus, store, retry, margin) = (&bus, &store, config.retry, config.deadline_margin);
    shared::logging::initialised("publisher", started, aws.sdk_init, aws.secrets_init);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let records = event.payload["Records"].as_array().cloned().unwrap_or_default();
        let to = Publisher {
            bus,
            set_aside: store,
            retry,
            deadline: Some(deadline(event.context.deadline, margin)),
        };
        let outcome = publish(&records, shared::VIEWS, to)
            .instrument(
                tracing::info_span!(target: shared::trace::TARGET, "publisher", records = records.len()),
            )
            .await;
        report(&outcome, &event.context.request_id);
        Ok::<Value, Error>(answer(&outcome))
    }))
    .await
}

/// The instant `margin` before the invocation's deadline (milliseconds since the epoch).
fn deadline(deadline_ms: u64, margin: std::time::Duration) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    tokio::time::Instant::now() + left.saturating_sub(margin)
}

/// Lambda's partial batch response: the first record not published, or none.
fn answer(outcome: &BatchOutcome) -> Value {
    let failures: Vec<Value> = outcome
        .first_failure
        .iter()
        .map(|sequence| json!({ "itemIdentifier": sequence }))
        .collect();
    json!({ "batchItemFailures": failures })
}

fn report(outcome: &BatchOutcome, lambda_request_id: &str) {
    let result = if outcome.first_failure.is_some() {
        "partial"
    } else {
        "published"
    };
    tracing::info!(target: "publisher", outcome = result, records = outcome.records,
        published = outcome.published, no_event = outcome.no_event, failed = outcome.failed,
        poison = outcome.poison, set_aside = outcome.set_aside, deadline_reached = outcome.deadline_reached,
        put_events_requests = outcome.put_events_requests,
        first_failure = outcome.first_failure.as_deref(), lambda_request_id, "batch handled");
    metrics::emit(
        "publisher",
        &[
            (names::EVENTS_PUBLISHED, outcome.published as f64, Unit::Count),
            (names::EVENTS_FAILED, outcome.failed as f64, Unit::Count),
            (names::POISON_RECORDS, outcome.poison as f64, Unit::Count),
            (
                names::PUT_EVENTS_REQUESTS,
                outcome.put_events_requests as f64,
                Unit::Count,
            ),
            (
                names::AWAITING_DELIVERY_AFTER_OTHER_STATUS,
                outcome.awaiting_after_other_status as f64,
                Unit::Count,
            ),
        ],
    );
}
