//! The scheduled sync's feeds at volume: one backfill invocation over a range of the Linkbest
//! stand-in, under the emulator, with its time (the emulator's `REPORT` Duration) and the DynamoDB
//! requests it made (counted by the proxy).

use serde_json::{Value, json};

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

/// One backfill of `[from, to]` (`feed` as the event names it).
pub async fn backfill(bench: &Bench, event: Value) -> Result<FeedRun, String> {
    let emulator = Emulator::start(&bench.rie, &bench.program(Function::Sync)?, &bench.env).await?;
    // Start the process first, so the figure is the run, not the cold start.
    emulator
        .invoke(serde_json::to_vec(&json!({"from": 1_600_000_000, "to": 1_600_000_001})).expect("json"))
        .await?;
    let (answer, calls) = counted(bench, emulator.invoke(serde_json::to_vec(&event).expect("json"))).await;
    let answer = answer?;
    let reports = emulator.reports_after(1, 1).await;
    let summary: Value = serde_json::from_str(&answer_body(&answer)).map_err(|e| e.to_string())?;
    Ok(FeedRun {
        duration_ms: reports.first().ok_or("no REPORT line")?.duration_ms,
        calls,
        summary,
    })
}
