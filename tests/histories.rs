//! The history checker (`testkit::history`): hundreds of random delivery histories and a dozen
//! feed histories per run, each checked against the model. The seeds differ every run; a failing
//! history prints its seed and the command that plays it alone:
//!
//!   HISTORY_SEED=<seed> cargo test -p integration-tests --test integration histories::
//!
//! `HISTORIES` / `FEED_HISTORIES` set how many (default 200 / 12); `make soak` plays them for
//! much longer (`tests/bin/soak.rs`). Seeds that once failed are played in every run
//! ([`REGRESSIONS`]).

use testkit::history::{self, Stats};

/// Seeds that found something once, played first in every run. (None has failed since the checker
/// landed; a seed goes here with the fix it proved necessary.)
const REGRESSIONS: &[u64] = &[];

fn setting(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The seeds to play: the one in `HISTORY_SEED`, or the regressions and `count` derived from a
/// fresh base.
fn seeds(count: u64, regressions: &[u64]) -> Vec<u64> {
    if let Some(seed) = setting("HISTORY_SEED") {
        return vec![seed];
    }
    let base = fastrand::u64(..);
    regressions
        .iter()
        .copied()
        .chain((0..count).map(|n| history::seed(base, n)))
        .collect()
}

fn verdict(what: &str, stats: &Stats) {
    eprintln!("{what}: {stats}");
    if !stats.violations.is_empty() {
        for v in stats.violations.iter().take(20) {
            eprintln!("  {v}");
        }
        panic!(
            "{} invariant violations; re-run one history alone with HISTORY_SEED=<seed> \
             cargo test -p integration-tests --test integration histories::",
            stats.violations.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delivery_histories_lose_nothing_and_double_nothing() {
    history::deliveries::warm_up().await;
    let seeds = seeds(setting("HISTORIES").unwrap_or(200), REGRESSIONS);
    let stats = history::play_deliveries(&seeds).await;
    assert_eq!(stats.histories, seeds.len() as u64);
    assert!(stats.deliveries > 0);
    assert!(
        stats.inconclusive * 10 <= stats.histories,
        "more than a tenth of the histories could not be checked: the machine is overloaded"
    );
    verdict("delivery histories", &stats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feed_histories_converge_to_the_source() {
    let seeds = seeds(setting("FEED_HISTORIES").unwrap_or(12), &[]);
    let stats = history::play_feeds(&seeds).await;
    assert_eq!(stats.histories, seeds.len() as u64);
    verdict("feed histories", &stats);
}

/// The hand-off invariant on delivery histories (`testkit::history::handoff`): every committed
/// view version reaches the bus with its id, no event for a version never committed, and each
/// order's highest delivered version is its final one, through throttled and partly refused
/// `PutEvents`, a publisher killed mid-batch and records delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn handoff_histories_deliver_every_committed_view_version() {
    let seeds = seeds(setting("HANDOFF_HISTORIES").unwrap_or(24), &[]);
    let stats = history::play_handoff(&seeds).await;
    assert_eq!(stats.histories, seeds.len() as u64);
    assert!(
        stats
            .answers
            .get("hand-off events on the bus")
            .copied()
            .unwrap_or(0)
            > 0,
        "events reached the bus: {stats}"
    );
    verdict("hand-off histories", &stats);
}
