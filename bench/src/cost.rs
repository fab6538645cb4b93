//! Cost per event kind and per million orders, measured.
//!
//! DynamoDB: the counting proxy asks DynamoDB Local for the consumed capacity of every data
//! request (`ReturnConsumedCapacity: INDEXES`, added on the way; the functions themselves do not
//! ask) and adds up the units it reports — the units DynamoDB bills, the same way for the Rust
//! functions and the Python baseline. Lambda: the emulator's `REPORT` duration of each warm
//! invocation, rounded up to the millisecond as Lambda bills, at the template's memory size.
//! The feeds' writes are measured in-process through the same proxy (`Store` on pages of 100
//! rows), the publisher under the emulator on a batch of 100 stream records.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::linkbest::api::parse_envelope;
use shared::linkbest::orders::parse_orders;
use shared::linkbest::settlement::parse_changes;
use shared::store::Store;
use time::OffsetDateTime;

use crate::Bench;
use crate::emulator::Emulator;
use crate::events::{Function, answer_body, stored};
use crate::table::median;

const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// What one event of a kind costs.
#[derive(Debug, Clone, Default)]
pub struct Kind {
    pub label: String,
    pub write_units: f64,
    /// Of `write_units`, the global secondary indexes' (the `changes` replay index, `queue`).
    pub index_units: f64,
    pub read_units: f64,
    /// Billed Lambda milliseconds per event (median), and the memory they are billed at.
    pub billed_ms: Option<f64>,
    pub memory_mb: u32,
    pub api_requests: f64,
    pub invocations: f64,
    pub events_published: f64,
}

fn units_between(
    before: &BTreeMap<String, (f64, f64)>,
    after: &BTreeMap<String, (f64, f64)>,
) -> (f64, f64, f64) {
    let (mut write, mut index, mut read) = (0.0, 0.0, 0.0);
    for (op, (total, indexes)) in after {
        let (t0, i0) = before.get(op).copied().unwrap_or_default();
        if WRITES.contains(&op.as_str()) {
            write += total - t0;
            index += indexes - i0;
        } else {
            read += total - t0;
        }
    }
    (write, index, read)
}

/// The mean units and median billed duration of `n` invocations of `event()`.
async fn invocations(
    bench: &Bench,
    emulator: &Emulator,
    label: &str,
    n: usize,
    memory_mb: u32,
    event: impl Fn(usize) -> Vec<u8>,
) -> Result<Kind, String> {
    let before = bench.proxy.units();
    let skip = emulator.reports().len();
    for i in 0..n {
        emulator.invoke(event(i)).await?;
    }
    let (write, index, read) = units_between(&before, &bench.proxy.units());
    let mut billed: Vec<f64> = emulator
        .reports_after(skip, n)
        .await
        .iter()
        .map(|r| r.duration_ms.ceil())
        .collect();
    Ok(Kind {
        label: label.to_owned(),
        write_units: write / n as f64,
        index_units: index / n as f64,
        read_units: read / n as f64,
        billed_ms: (!billed.is_empty()).then(|| median(&mut billed)),
        memory_mb,
        api_requests: 1.0,
        invocations: 1.0,
        events_published: 0.0,
    })
}

/// Pushes (new, status change of a stored order, duplicate, review test push) of `function`.
pub async fn pushes(bench: &Bench, function: Function, n: usize) -> Result<Vec<Kind>, String> {
    let program = bench.program(function)?;
    let memory = program.memory_mb;
    let emulator = Emulator::start(&bench.rie, &program, &bench.env).await?;
    let result = async {
        let warm = emulator.invoke(bench.events.new_event(function)).await?;
        if !stored(function, &warm) {
            return Err(format!("warm-up answered {:?}", answer_body(&warm)));
        }
        let ids: Vec<String> = (0..n).map(|_| bench.events.next_id()).collect();
        let bodies: Vec<String> = ids.iter().map(|id| bench.events.push_body(id)).collect();
        let new = invocations(bench, &emulator, "new order push", n, memory, |i| {
            bench.events.push_event(&bodies[i])
        })
        .await?;
        let status = invocations(bench, &emulator, "status push (same day)", n, memory, |i| {
            let id: u64 = format!("9{}", ids[i]).parse().unwrap_or(9);
            bench.events.push_event(&bench.events.order_push_body(
                id,
                1_795_440_100,
                &format!("BENCH-{}", ids[i]),
                "Confirmed",
            ))
        })
        .await?;
        let duplicate = invocations(bench, &emulator, "duplicate push", n, memory, |i| {
            bench.events.push_event(&bodies[i])
        })
        .await?;
        let test = invocations(bench, &emulator, "review test push", n, memory, |_| {
            bench.events.test_push_event()
        })
        .await?;
        Ok(vec![new, status, duplicate, test])
    }
    .await;
    emulator.stop();
    result
}

/// iGV callbacks: new (order paid) and the same callback again.
pub async fn callbacks(bench: &Bench, n: usize) -> Result<Vec<Kind>, String> {
    let program = bench.program(Function::Callback)?;
    let memory = program.memory_mb;
    let emulator = Emulator::start(&bench.rie, &program, &bench.env).await?;
    let result = async {
        emulator
            .invoke(bench.events.new_event(Function::Callback))
            .await?;
        let events: Vec<Vec<u8>> = (0..n)
            .map(|_| bench.events.new_event(Function::Callback))
            .collect();
        let new = invocations(bench, &emulator, "iGV callback (new)", n, memory, |i| {
            events[i].clone()
        })
        .await?;
        let duplicate = invocations(bench, &emulator, "iGV callback (duplicate)", n, memory, |i| {
            events[i].clone()
        })
        .await?;
        Ok(vec![new, duplicate])
    }
    .await;
    emulator.stop();
    result
}

/// The feeds' writes per row, in-process through the proxy: a page of `n` orders new to the
/// table (found only by poll), the same orders listed again with a new status, and `n`
/// settlement changes of them. Lambda's share is per run, not per order (see bench/README.md).
pub async fn feed_rows(bench: &Bench, n: usize) -> Result<Vec<Kind>, String> {
    let config = testkit::store_config(&bench.table);
    let client = testkit::client_via(&bench.proxy.endpoint(), &config).await;
    let store = Store::from_config(client, &config);
    let now = OffsetDateTime::now_utc();
    let tag = now.unix_timestamp();
    let page = |status: &str| {
        let rows: Vec<Value> = (0..n)
            .map(|i| {
                json!({"Id": format!("{i}"), "OrderSn": format!("COST-{tag}-{i}"), "OrdersPrice": "129.90",
                             "SiterCommission": "6.49", "Currency": "CNY", "Status": status,
                             "ProgramId": "77", "OrderTime": "2026-11-23 12:00:00"})
            })
            .collect();
        json!({"Status": 0, "Data": rows}).to_string()
    };
    let mut kinds = Vec::new();
    for (label, status, at) in [
        ("order list row (found only by poll)", "0", now),
        (
            "order list row (status changed)",
            "1",
            now + time::Duration::seconds(2),
        ),
    ] {
        let text = page(status);
        let rows = parse_orders(&parse_envelope(&text).map_err(|e| e.to_string())?.rows)?;
        let before = bench.proxy.units();
        store
            .store_listed_orders(rows, at, at.unix_timestamp() - 60)
            .await
            .map_err(|e| e.to_string())?;
        let (write, index, read) = units_between(&before, &bench.proxy.units());
        kinds.push(per_row(label, write, index, read, n));
    }
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            json!({"OrderSn": format!("COST-{tag}-{i}"), "ModifyAt": "2026-11-23 21:30:00",
                         "ConfirmPrice": "120.0000", "ModifyPrice": "-9.9000", "ChargeCurrency": "CNY"})
        })
        .collect();
    let text = json!({"Status": 0, "Data": rows}).to_string();
    let changes = parse_changes(&parse_envelope(&text).map_err(|e| e.to_string())?.rows)?;
    let before = bench.proxy.units();
    store
        .store_settlement_changes(&changes, now)
        .await
        .map_err(|e| e.to_string())?;
    let (write, index, read) = units_between(&before, &bench.proxy.units());
    kinds.push(per_row("settlement change", write, index, read, n));
    Ok(kinds)
}

fn per_row(label: &str, write: f64, index: f64, read: f64, n: usize) -> Kind {
    Kind {
        label: label.to_owned(),
        write_units: write / n as f64,
        index_units: index / n as f64,
        read_units: read / n as f64,
        ..Kind::default()
    }
}

/// The publisher under the emulator on batches of `batch` stream records (the sample's records
/// under new keys), publishing to the EventBridge stand-in: billed milliseconds per record.
pub async fn publisher(bench: &Bench, batch: usize, runs: usize) -> Result<Kind, String> {
    let bus = testkit::eventbridge_standin::EventBridgeStandIn::start().await;
    let mut env = bench.env.clone();
    env.insert("AWS_ENDPOINT_URL_EVENTBRIDGE".into(), bus.endpoint());
    env.insert("EVENT_BUS_NAME".into(), "partner-ingest-orders".into());
    let program = bench.program(Function::Publisher)?;
    let memory = program.memory_mb;
    let emulator = Emulator::start(&bench.rie, &program, &env).await?;
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(bench.root.join("events/publisher-1-view-changes.json"))
            .map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let template = sample["Records"][0].clone();
    let event = |run: usize| {
        let records: Vec<Value> = (0..batch)
            .map(|i| {
                let mut r = template.clone();
                let pk = format!("LB#ORDER#COST{run}-{i}");
                r["dynamodb"]["Keys"]["pk"]["S"] = json!(pk);
                r["dynamodb"]["NewImage"]["pk"]["S"] = json!(pk);
                r["dynamodb"]["SequenceNumber"] = json!(format!("{:021}", run * batch + i + 1));
                r
            })
            .collect();
        serde_json::to_vec(&json!({ "Records": records })).expect("json")
    };
    let result = async {
        emulator.invoke(event(0)).await?;
        let mut kind = invocations(bench, &emulator, "view change published", runs, memory, |r| {
            event(r + 1)
        })
        .await?;
        let published = bus.received().len();
        if published != batch * (runs + 1) {
            return Err(format!(
                "the bus received {published} events, not {}",
                batch * (runs + 1)
            ));
        }
        kind.billed_ms = kind.billed_ms.map(|ms| ms / batch as f64);
        kind.api_requests = 0.0;
        kind.invocations = 1.0 / batch as f64;
        kind.events_published = 1.0;
        Ok(kind)
    }
    .await;
    emulator.stop();
    result
}

/// Published on-demand prices, us-east-1 (USD), as used for the table.
pub struct Prices {
    pub write_per_million: f64,
    pub read_per_million: f64,
    pub lambda_gb_second_arm64: f64,
    pub lambda_per_million_requests: f64,
    pub http_api_per_million: f64,
    pub eventbridge_per_million: f64,
}

pub const PRICES: Prices = Prices {
    write_per_million: 0.625,
    read_per_million: 0.125,
    lambda_gb_second_arm64: 0.000_013_333_4,
    lambda_per_million_requests: 0.20,
    http_api_per_million: 1.00,
    eventbridge_per_million: 1.00,
};

/// Dollars of one event of `kind`: (DynamoDB, Lambda, API Gateway, EventBridge).
pub fn dollars(kind: &Kind) -> (f64, f64, f64, f64) {
    let p = &PRICES;
    let dynamodb = (kind.write_units * p.write_per_million + kind.read_units * p.read_per_million) / 1e6;
    let gb_s = kind.billed_ms.unwrap_or(0.0) / 1000.0 * kind.memory_mb as f64 / 1024.0;
    let lambda = gb_s * p.lambda_gb_second_arm64 + kind.invocations * p.lambda_per_million_requests / 1e6;
    let api = kind.api_requests * p.http_api_per_million / 1e6;
    let events = kind.events_published * p.eventbridge_per_million / 1e6;
    (dynamodb, lambda, api, events)
}
