//! The sync's feeds at volume: backfill invocations over ranges of the Linkbest stand-in, under
//! the emulator, with their time (the emulator's `REPORT` Duration) and the DynamoDB requests they
//! made (counted by the proxy).
//!
//! - settlement: 10,000 changes in one six-hour window (50 pages of 200);
//! - orders, the re-read goal: a six-hour window of 10,000 orders of which 9,900 were pushed (through
//!   the release postback under the emulator) and listed before, unchanged, and 100 were never pushed. The figure
//!   is the second read of the window: its requests, time, and the orders counted found only by
//!   poll (the goal: at most 400 requests, exactly 100 counted).

use serde_json::{Value, json};
use testkit::linkbest_standin::{Order, generate_orders};

use crate::Bench;
use crate::emulator::Emulator;
use crate::events::{Function, answer_body};
use crate::requests::counted;
use crate::table::Calls;

pub struct FeedRun {
    pub duration_ms: f64,
    pub calls: Calls,
    pub summary: Value,
}

/// One backfill, `{"feed": …, "from": …, "to": …}`; the summary is the feed's.
pub async fn backfill(bench: &Bench, event: Value) -> Result<FeedRun, String> {
    let feed = event["feed"]
        .as_str()
        .ok_or("the event names no feed")?
        .to_owned();
    let emulator = Emulator::start(&bench.rie, &bench.program(Function::Sync)?, &bench.env).await?;
    // Start the process first, so the figure is the run, not the cold start.
    emulator
        .invoke(serde_json::to_vec(&json!({"from": 1_600_000_000, "to": 1_600_000_001})).expect("json"))
        .await?;
    let (answer, calls) = counted(bench, emulator.invoke(serde_json::to_vec(&event).expect("json"))).await;
    let answer = answer?;
    let reports = emulator.reports_after(1, 1).await;
    let answer: Value = serde_json::from_str(&answer_body(&answer)).map_err(|e| e.to_string())?;
    Ok(FeedRun {
        duration_ms: reports.first().ok_or("no REPORT line")?.duration_ms,
        calls,
        summary: answer[feed.as_str()].clone(),
    })
}

/// The orders feed's re-read goal (see the module doc): the second backfill of the window.
pub async fn orders_reread(bench: &Bench) -> Result<FeedRun, String> {
    let (from, to) = bench.orders_window;
    let known = generate_orders(9_900, from, to, 10, "SO-KNOWN-");
    push_all(bench, &known).await?;
    bench.standin.add_orders(known);
    let window = json!({"feed": "orders", "from": from, "to": to + 1});
    let first = backfill(bench, window.clone()).await?;
    // Every order was pushed: the first read finds none missing. (Its rows_received is more than
    // 9,900: a full page is read again in halves, see the orders feed's paging.)
    if first.summary["result"] != "completed" || first.summary["found_only_by_poll"] != 0 {
        return Err(format!(
            "the first read: result {}, found only by poll {}",
            first.summary["result"], first.summary["found_only_by_poll"]
        ));
    }
    bench
        .standin
        .add_orders(generate_orders(100, from, to, 11, "SO-NEW-"));
    backfill(bench, window).await
}

/// Delivers a signed push for every order to the release postback under eight emulators, eight
/// at a time (set-up: its requests are not part of the figure).
async fn push_all(bench: &Bench, orders: &[Order]) -> Result<(), String> {
    let mut emulators = Vec::new();
    for _ in 0..8 {
        emulators.push(Emulator::start(&bench.rie, &bench.program(Function::Postback)?, &bench.env).await?);
    }
    let chunks: Vec<&[Order]> = orders
        .chunks(orders.len().div_ceil(emulators.len()).max(1))
        .collect();
    let results = futures_util::future::join_all(emulators.iter().zip(chunks).enumerate().map(
        |(lane, (emulator, chunk))| async move {
            for (i, order) in chunk.iter().enumerate() {
                let push_id = 10_000_000 + (lane * 1_000_000 + i) as u64;
                let body = bench.events.order_push_body(
                    push_id,
                    order.update_ts - 60,
                    &order.order_sn,
                    &order.status,
                );
                let answer = emulator.invoke(bench.events.push_event(&body)).await?;
                if answer_body(&answer) != "1" {
                    return Err(format!("a set-up push answered {:?}", answer_body(&answer)));
                }
            }
            Ok::<(), String>(())
        },
    ))
    .await;
    results.into_iter().collect()
}
