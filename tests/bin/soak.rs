//! `make soak`: the history checker for much longer than CI plays it (not in CI). Plays delivery
//! histories (and a batch of feed histories every round) until a number of deliveries or a time
//! is reached, then prints what it did and exits non-zero on any invariant violation or lost item.
//!
//! - `SOAK_DELIVERIES` (default 100000): stop once this many deliveries were played;
//! - `SOAK_SECONDS` (default: no limit): stop after this long, whichever comes first;
//! - `HISTORY_SEED`: the base seed (default: a fresh one, printed), so a soak can be replayed.
//!
//! Against DynamoDB Local started for this process, or `AWS_ENDPOINT_URL_DYNAMODB`. The report goes
//! to stderr; stdout carries the handlers' EMF metric lines (`make soak` discards them).

use std::time::{Duration, Instant};

use testkit::history::{self, Stats, deliveries};

/// Delivery histories per round (about 20 deliveries each).
const ROUND: u64 = 200;
/// Feed histories per round.
const FEED_ROUND: u64 = 8;
/// Hand-off histories per round (played into tables with the template's stream, then published
/// with faults and fed to the reference consumer).
const HANDOFF_ROUND: u64 = 8;

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let target = setting("SOAK_DELIVERIES").unwrap_or(100_000);
    let limit = setting("SOAK_SECONDS").map(Duration::from_secs);
    let base = setting("HISTORY_SEED").unwrap_or_else(|| fastrand::u64(..));
    eprintln!(
        "soak: base seed {base}; until {target} deliveries{}",
        limit.map_or(String::new(), |l| format!(" or {} s", l.as_secs()))
    );
    // The histories' tables have no stream (TestTable::create): DynamoDB Local's stream bookkeeping
    // would slow every write as the soak goes on (tests/support/table_def.rs).
    let started = Instant::now();
    deliveries::warm_up().await;
    let (mut delivery, mut feed, mut handoff) = (Stats::default(), Stats::default(), Stats::default());
    let mut next = 0u64;
    let mut round = 0u64;
    while delivery.deliveries < target && limit.is_none_or(|l| started.elapsed() < l) {
        let seeds: Vec<u64> = (next..next + ROUND).map(|n| history::seed(base, n)).collect();
        next += ROUND;
        let played = history::play_deliveries(&seeds).await;
        for v in &played.violations {
            eprintln!("  {v}");
        }
        delivery.add(played);
        let feed_seeds: Vec<u64> = (0..FEED_ROUND)
            .map(|n| history::seed(base ^ 0xfeed, round * FEED_ROUND + n))
            .collect();
        let played = history::play_feeds(&feed_seeds).await;
        for v in &played.violations {
            eprintln!("  {v}");
        }
        feed.add(played);
        // The hand-off with its reference consumer (tables with a stream, one per lane, dropped
        // after the round).
        let handoff_seeds: Vec<u64> = (0..HANDOFF_ROUND)
            .map(|n| history::seed(base ^ 0x4a4d, round * HANDOFF_ROUND + n))
            .collect();
        let played = history::play_handoff(&handoff_seeds).await;
        for v in &played.violations {
            eprintln!("  {v}");
        }
        handoff.add(played);
        round += 1;
        eprintln!(
            "soak: {:>5} s  {} histories, {} deliveries, {} feed runs, {} violations",
            started.elapsed().as_secs(),
            delivery.histories + feed.histories + handoff.histories,
            delivery.deliveries + handoff.deliveries,
            feed.feed_runs,
            delivery.violations.len() + feed.violations.len() + handoff.violations.len()
        );
    }
    eprintln!("\nsoak finished in {} s", started.elapsed().as_secs());
    eprintln!("delivery histories: {delivery}");
    eprintln!("feed histories: {feed}");
    eprintln!("hand-off histories (with the reference consumer): {handoff}");
    let mut all = delivery;
    all.add(feed);
    all.add(handoff);
    eprintln!(
        "total: {} histories, {} deliveries, {} retries, {} feed runs ({} killed), faults injected \
         {}, invariant violations {}, not checked {}, items lost {}",
        all.histories,
        all.deliveries,
        all.retries,
        all.feed_runs,
        all.feed_runs_killed,
        all.faults.values().sum::<u64>(),
        all.violations.len(),
        all.inconclusive,
        all.items_lost
    );
    for v in all.violations.iter().take(50) {
        eprintln!("  {v}");
    }
    if !all.violations.is_empty() || all.items_lost > 0 {
        eprintln!(
            "re-run a failing history alone: HISTORY_SEED=<seed> cargo test -p integration-tests \
             --test integration histories::"
        );
        std::process::exit(1);
    }
}
