//! End-to-end lag of the hand-off: from the moment DynamoDB Local confirmed a write to the moment
//! its event was accepted by the local bus (the EventBridge stand-in), through the table's own
//! stream. The part Lambda's event source mapping plays is played by the test kit's
//! `StreamCursor` polling every `interval` (its interval, not Lambda's), with the publisher's code
//! in-process (`shared::handoff::publish::publish`, the real `aws-sdk-eventbridge` client).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::handoff::Describe;
use shared::handoff::eventbridge::EventBridgeBus;
use shared::handoff::publish::{Publisher, RetrySettings, publish};
use shared::linkbest::api::parse_envelope;
use shared::linkbest::settlement::parse_changes;
use shared::store::Store;
use testkit::eventbridge_standin::EventBridgeStandIn;
use testkit::stream_reader::{StreamCursor, filtered};

use crate::Bench;
use crate::table::percentile;

const VIEWS: &[Describe] = shared::VIEWS;

/// Lags in milliseconds, sorted, of `n` writes spaced `spacing` apart, the stream polled every
/// `interval`.
pub async fn measure(
    bench: &Bench,
    n: usize,
    spacing: Duration,
    interval: Duration,
) -> Result<Vec<f64>, String> {
    let config = testkit::store_config(&bench.table);
    let client = testkit::client_for(&config).await;
    let store = Store::from_config(client.clone(), &config);
    let bus = EventBridgeStandIn::start().await;
    let publisher = EventBridgeBus::new(bus.client(), "partner-ingest-orders");
    let mut cursor = StreamCursor::open(&client, &bench.table).await;
    // What earlier figures wrote is not part of this one.
    while !cursor.poll().await.is_empty() {}
    let arrived: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (arrived, stop, bus, store) = (
            Arc::clone(&arrived),
            Arc::clone(&stop),
            bus.clone(),
            store.clone(),
        );
        tokio::spawn(async move {
            let mut seen = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let records = filtered(&cursor.poll().await);
                if !records.is_empty() {
                    let to = Publisher {
                        bus: &publisher,
                        set_aside: &store,
                        retry: RetrySettings::default(),
                        deadline: None,
                    };
                    publish(&records, VIEWS, to).await;
                    let now = Instant::now();
                    let received = bus.received();
                    let mut arrived = arrived.lock().expect("not poisoned");
                    for event in &received[seen..] {
                        if let Some(pk) = event.detail["table_key"]["pk"].as_str() {
                            arrived.entry(pk.to_owned()).or_insert(now);
                        }
                    }
                    seen = received.len();
                }
                tokio::time::sleep(interval).await;
            }
        })
    };
    let tag = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut written = HashMap::new();
    for i in 0..n {
        let order_sn = format!("LAG-{tag}-{i}");
        let page = format!(
            r#"{{"Status":0,"Data":[{{"OrderSn":"{order_sn}","ModifyAt":"2026-11-23 21:30:00","ConfirmPrice":"120.0000","ModifyPrice":"-9.9000","ChargeCurrency":"CNY"}}]}}"#
        );
        let changes = parse_changes(&parse_envelope(&page).map_err(|e| e.to_string())?.rows)?;
        store
            .store_settlement_changes(&changes, time::OffsetDateTime::now_utc())
            .await
            .map_err(|e| e.to_string())?;
        written.insert(format!("LB#ORDER#{order_sn}"), Instant::now());
        tokio::time::sleep(spacing).await;
    }
    let until = Instant::now() + Duration::from_secs(30);
    while arrived.lock().expect("not poisoned").len() < n && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = poller.await;
    let arrived = arrived.lock().expect("not poisoned");
    let mut lags: Vec<f64> = written
        .iter()
        .filter_map(|(pk, at)| {
            arrived
                .get(pk)
                .map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    if lags.len() != n {
        return Err(format!("{} of {n} events reached the bus", lags.len()));
    }
    lags.sort_by(f64::total_cmp);
    Ok(lags)
}

/// Median and p99 of sorted lags.
pub fn summary(lags: &[f64]) -> (f64, f64) {
    (percentile(lags, 50.0), percentile(lags, 99.0))
}
