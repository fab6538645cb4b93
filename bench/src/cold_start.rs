//! Cold start, from the emulator's own figures: a fresh emulator and function process per sample,
//! one new event each.
//!
//! - cold start to the first stored answer: the first invocation as the client sees it (the
//!   emulator starts the function's process, waits for its init, then invokes it);
//! - init: the emulator's `INIT REPORT(durationMs)` (process start to the runtime's first poll);
//! - the first invocation's `REPORT` Duration;
//! - for the Rust functions, their own `initialised` log line: `init_ms` (the work in `main`) and
//!   `sdk_init_ms` (the DynamoDB client), and `secrets_init_ms` (reading Secrets Manager, when the
//!   secrets come from there: [`measure_with`]).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Bench;
use crate::emulator::Emulator;
use crate::events::{Function, answer_body, stored};
use crate::table::median;

/// Medians over fresh processes, in ms.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    pub first_answer_ms: f64,
    pub init_report_ms: f64,
    pub first_duration_ms: f64,
    pub init_ms: Option<f64>,
    pub sdk_init_ms: Option<f64>,
    pub secrets_init_ms: Option<f64>,
}

/// `init_ms`, `sdk_init_ms` and `secrets_init_ms` from a Rust function's `initialised` log line.
fn logged_init(logs: &str) -> Option<(f64, f64, f64)> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|v| v["message"] == "initialised")
        .and_then(|v| {
            Some((
                v["init_ms"].as_f64()?,
                v["sdk_init_ms"].as_f64()?,
                v["secrets_init_ms"].as_f64().unwrap_or(0.0),
            ))
        })
}

pub async fn measure(bench: &Bench, function: Function, runs: usize) -> Result<ColdStart, String> {
    measure_with(bench, function, runs, &bench.env).await
}

/// [`measure`] with another environment (e.g. the secrets from Secrets Manager).
pub async fn measure_with(
    bench: &Bench,
    function: Function,
    runs: usize,
    env: &BTreeMap<String, String>,
) -> Result<ColdStart, String> {
    let (mut first, mut init, mut duration, mut logged, mut sdk, mut secrets) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    // One run more than asked for; the first is dropped (it pays for cold page caches).
    for run in 0..=runs {
        let emulator = Emulator::start(&bench.rie, &bench.program(function)?, env).await?;
        let event = bench.events.new_event(function);
        let started = std::time::Instant::now();
        let answer = emulator.invoke(event).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let reports = emulator.reports_after(0, 1).await;
        let init_report = emulator.init_report_ms();
        let logs = emulator.log_text();
        emulator.stop();
        let answer = answer.map_err(|e| format!("{}: {e}", function.label()))?;
        if !stored(function, &answer) {
            return Err(format!(
                "{} answered {:?}",
                function.label(),
                answer_body(&answer)
            ));
        }
        if run == 0 {
            continue;
        }
        first.push(elapsed);
        init.push(init_report.ok_or("no INIT REPORT line")?);
        duration.push(reports.first().ok_or("no REPORT line")?.duration_ms);
        if let Some((i, s, k)) = logged_init(&logs) {
            logged.push(i);
            sdk.push(s);
            secrets.push(k);
        }
    }
    let some = |mut v: Vec<f64>| (!v.is_empty()).then(|| median(&mut v));
    Ok(ColdStart {
        first_answer_ms: median(&mut first),
        init_report_ms: median(&mut init),
        first_duration_ms: median(&mut duration),
        init_ms: some(logged),
        sdk_init_ms: some(sdk),
        secrets_init_ms: some(secrets),
    })
}
