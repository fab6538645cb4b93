//! `handoff-rate`: how many events a stream shard hands to the bus per second, with EventBridge's
//! `PutEvents` latency injected, and how long a one-hour backlog of the festival's peak takes to
//! drain (issue #27.5). `cargo run --release -p bench --bin handoff-rate` (bench/README.md
//! "Publisher: events per shard").
//!
//! Method: the publisher's code (`shared::handoff::publish::publish`, the real
//! `aws-sdk-eventbridge` client) against the EventBridge stand-in answering every request after
//! the injected latency. A shard is played as the event source mapping plays it with the
//! template's settings: batches of 100 records, `ParallelizationFactor` batches at once, the next
//! batch as soon as one ends. Beside it, in the same run, the baseline: the same batches with
//! their requests one after another (the publisher before #27.5), played by handing the
//! publisher ten records at a time. Lambda's own hand-over between batches is not in the figure
//! (no AWS account here): the template's capacity row assumes as long again as the request.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::handoff::publish::{Publisher, RetrySettings, publish};
use shared::handoff::set_aside::KeepNothing;
use testkit::eventbridge_standin::EventBridgeStandIn;

/// The template's stream mapping: `BatchSize` and `ParallelizationFactor`.
const BATCH: usize = 100;
const PARALLEL: usize = 4;
/// The stated peak (README "Capacity"): events a second, one per delivery.
const PEAK_EVENTS: f64 = 2_500.0;

fn records(template: &Value, n: usize, tag: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut r = template.clone();
            let pk = format!("LB#ORDER#RATE{tag}-{i}");
            r["dynamodb"]["Keys"]["pk"]["S"] = json!(pk);
            r["dynamodb"]["NewImage"]["pk"]["S"] = json!(pk);
            r["dynamodb"]["SequenceNumber"] = json!(format!("{:021}", i + 1));
            r
        })
        .collect()
}

/// Events per second one shard publishes: `records` in batches of [`BATCH`], [`PARALLEL`] at once;
/// `per_call` records per call of the publisher (100: the code; 10: one request after another).
async fn shard_rate(bus: &EventBridgeStandIn, records: &[Value], per_call: usize) -> Result<f64, String> {
    let eventbridge =
        shared::handoff::eventbridge::EventBridgeBus::new(bus.client(), "partner-ingest-orders");
    let before = bus.received().len();
    let batches: Vec<&[Value]> = records.chunks(BATCH).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let worker = || async {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(batch) = batches.get(i) else {
                return Ok::<(), String>(());
            };
            for part in batch.chunks(per_call) {
                let to = Publisher {
                    bus: &eventbridge,
                    set_aside: &KeepNothing,
                    retry: RetrySettings::default(),
                    deadline: None,
                };
                let outcome = publish(part, shared::VIEWS, to).await;
                if outcome.first_failure.is_some() {
                    return Err(format!("a batch failed: {outcome:?}"));
                }
            }
        }
    };
    let mut workers = Vec::new();
    for _ in 0..PARALLEL {
        workers.push(worker());
    }
    for done in futures_util::future::join_all(workers).await {
        done?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let published = bus.received().len() - before;
    if published != records.len() {
        return Err(format!("{published} events published, not {}", records.len()));
    }
    Ok(records.len() as f64 / seconds)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    shared::tls::install_crypto_provider();
    let root = testkit::workspace_root();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/publisher-1-view-changes.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let template = sample["Records"][0].clone();
    let n: usize = std::env::var("HANDOFF_RATE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    println!(
        "| PutEvents latency | events/s per shard, requests together | one after another (baseline) | ratio | one hour of the peak ({} events) drained by one shard |",
        PEAK_EVENTS * 3_600.0
    );
    println!("| --- | --- | --- | --- | --- |");
    for latency_ms in [10u64, 30, 50] {
        let bus = EventBridgeStandIn::start().await;
        bus.set_latency(Duration::from_millis(latency_ms));
        let together = shard_rate(&bus, &records(&template, n, &format!("T{latency_ms}")), BATCH).await?;
        let serial = shard_rate(&bus, &records(&template, n, &format!("S{latency_ms}")), 10).await?;
        let drain = PEAK_EVENTS * 3_600.0 / together;
        println!(
            "| {latency_ms} ms | {together:.0} | {serial:.0} | {:.1} | {:.0} min ({:.0} min one after another) |",
            together / serial,
            drain / 60.0,
            PEAK_EVENTS * 3_600.0 / serial / 60.0
        );
    }
    Ok(())
}
