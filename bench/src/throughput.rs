//! Throughput and latency at N instances, and where each request's time and CPU go.
//!
//! N emulators, each with its own function process (as Lambda runs N execution environments), and
//! N clients, one per emulator, sending new signed events back to back for the configured time.
//! Besides requests/s and the client's latency percentiles, each level reports:
//! - the emulator's `REPORT` Duration (the invocation inside the function's process), median;
//! - the DynamoDB requests' own time, as the counting proxy saw it (request passed on to answer
//!   read), mean per event;
//! - CPU per request of the function processes, the emulators and DynamoDB Local, from the
//!   scheduler's accounting (`/proc/<pid>/task/*/schedstat`) before and after the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::Bench;
use crate::emulator::Emulator;
use crate::events::{Function, stored};
use crate::procfs;
use crate::table::{median, percentile};

pub struct Load {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Median `REPORT` Duration: time inside the function's invocation.
    pub function_duration_p50_ms: f64,
    /// DynamoDB's share: the proxy-measured time of the event's DynamoDB requests, mean.
    pub dynamodb_ms_per_event: f64,
    pub dynamodb_requests_per_event: f64,
    /// CPU per request, µs: the function processes, the emulators, DynamoDB Local.
    pub function_cpu_us: f64,
    pub emulator_cpu_us: f64,
    pub dynamodb_cpu_us: f64,
    pub failed: u64,
}

fn cpu_of(pids: &[u32]) -> u64 {
    pids.iter().map(|pid| procfs::cpu_ns(*pid)).sum()
}

pub async fn run(bench: &Arc<Bench>, function: Function, instances: usize) -> Result<Load, String> {
    let mut emulators = Vec::new();
    for _ in 0..instances {
        emulators.push(Arc::new(
            Emulator::start(&bench.rie, &bench.program(function)?, &bench.env).await?,
        ));
    }
    // The emulators stop when the last handle goes (the clients' handles are gone by then).
    measure(bench, function, &emulators).await
}

async fn measure(
    bench: &Arc<Bench>,
    function: Function,
    emulators: &[Arc<Emulator>],
) -> Result<Load, String> {
    // Start every function process (its cold start is not part of the load).
    for emulator in emulators {
        emulator.invoke(bench.events.new_event(function)).await?;
    }
    let function_pids: Vec<u32> = emulators.iter().filter_map(|e| e.function_pid()).collect();
    let emulator_pids: Vec<u32> = emulators.iter().map(|e| e.emulator_pid()).collect();
    let dynamodb_pids = bench.dynamodb_pids();
    let reports_before: Vec<usize> = emulators.iter().map(|e| e.reports().len()).collect();
    let cpu_before = (
        cpu_of(&function_pids),
        cpu_of(&emulator_pids),
        cpu_of(&dynamodb_pids),
    );
    let (requests_before, time_before) = (bench.proxy.forwarded(), bench.proxy.upstream_time());

    let until = Instant::now() + Duration::from_secs_f64(bench.seconds);
    let started = Instant::now();
    let clients = emulators.iter().map(|emulator| {
        let (emulator, bench) = (Arc::clone(emulator), Arc::clone(bench));
        tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0u64);
            while Instant::now() < until {
                let event = bench.events.new_event(function);
                let t = Instant::now();
                match emulator.invoke(event).await {
                    Ok(answer) if stored(function, &answer) => {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0)
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        })
    });
    let mut latencies = Vec::new();
    let mut failed = 0;
    for joined in join_all(clients).await {
        let (l, f) = joined.map_err(|e| e.to_string())?;
        latencies.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let served = (latencies.len() as u64 + failed).max(1) as f64;
    let cpu_us = |after: u64, before: u64| (after.saturating_sub(before)) as f64 / 1000.0 / served;
    let function_cpu_us = cpu_us(cpu_of(&function_pids), cpu_before.0);
    let emulator_cpu_us = cpu_us(cpu_of(&emulator_pids), cpu_before.1);
    let dynamodb_cpu_us = cpu_us(cpu_of(&dynamodb_pids), cpu_before.2);
    let requests = bench.proxy.forwarded() - requests_before;
    let dynamodb_time = bench.proxy.upstream_time() - time_before;

    let mut durations = Vec::new();
    for (emulator, skip) in emulators.iter().zip(reports_before) {
        durations.extend(emulator.reports().into_iter().skip(skip).map(|r| r.duration_ms));
    }
    latencies.sort_by(f64::total_cmp);
    Ok(Load {
        rps: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        function_duration_p50_ms: median(&mut durations),
        dynamodb_ms_per_event: dynamodb_time.as_secs_f64() * 1000.0 / served,
        dynamodb_requests_per_event: requests as f64 / served,
        function_cpu_us,
        emulator_cpu_us,
        dynamodb_cpu_us,
        failed,
    })
}
