//! Randomized histories checked against a model (in the spirit of FoundationDB's simulation tests
//! and Jepsen's history checkers): each history is a seeded random workload played concurrently
//! against the real handlers and feeds, DynamoDB Local behind the fault proxy, and the Linkbest
//! stand-in; after it, invariants are checked against a plain in-memory model of what was sent and
//! answered.
//!
//! - [`deliveries`]: Linkbest pushes and iGV callbacks with duplicates, replays with other bodies,
//!   out-of-order versions, bursts, bad signatures, partner retries, and store faults.
//! - [`feeds`]: the settlement and orders feeds run at random moments, killed at random pages,
//!   against a stand-in whose data changes while being paged.
//!
//! A history is reproducible from its seed (the workload and the fault decisions; the exact
//! interleaving of concurrent requests is the scheduler's): a failing seed is printed with the
//! command that re-runs it alone.

pub mod deliveries;
pub mod feeds;
pub mod handoff;

use std::collections::BTreeMap;
use std::fmt;

use futures_util::future::join_all;

/// Delivery histories played at once, each lane with its own table, proxy and handlers: a history
/// spends most of its time waiting (timeouts, the partners' retry pauses), but more lanes than
/// this overload DynamoDB Local on two cores and turn its slowness into faults nobody injected.
pub const DELIVERY_LANES: usize = 10;
/// Feed histories played at once (each with its own table and stand-in).
pub const FEED_LANES: usize = 8;

/// Plays the delivery histories of `seeds` in [`DELIVERY_LANES`] lanes and sums what they did.
pub async fn play_deliveries(seeds: &[u64]) -> Stats {
    let lanes = join_all((0..DELIVERY_LANES.min(seeds.len())).map(|lane| {
        let mine: Vec<u64> = seeds.iter().skip(lane).step_by(DELIVERY_LANES).copied().collect();
        async move {
            let world = deliveries::DeliveryWorld::new().await;
            let mut stats = Stats::default();
            for seed in mine {
                stats.add(world.run(seed).await);
            }
            world.table.delete_now().await;
            stats
        }
    }))
    .await;
    sum(lanes)
}

/// Plays the delivery histories of `seeds` in a table with the template's stream (in
/// [`HANDOFF_LANES`] lanes, each with its own table), then hands each lane's stream to the
/// publisher with faults and checks the hand-off invariant ([`handoff`]).
pub async fn play_handoff(seeds: &[u64]) -> Stats {
    let lanes = join_all((0..HANDOFF_LANES.min(seeds.len())).map(|lane| {
        let mine: Vec<u64> = seeds.iter().skip(lane).step_by(HANDOFF_LANES).copied().collect();
        async move {
            let world = deliveries::DeliveryWorld::with_stream().await;
            let mut stats = Stats::default();
            for seed in &mine {
                stats.add(world.run(*seed).await);
            }
            handoff::views_from_before_the_hand_off(&world.table, mine[0], &mut stats).await;
            handoff::settle_some(&world.table, mine[0], &mut stats).await;
            stats.add(handoff::check(&world.table, mine[0]).await);
            world.table.delete_now().await;
            stats
        }
    }))
    .await;
    sum(lanes)
}

/// Lanes of hand-off histories (tables with a stream cost DynamoDB Local more).
pub const HANDOFF_LANES: usize = 4;

/// Plays the feed histories of `seeds` in [`FEED_LANES`] lanes and sums what they did.
pub async fn play_feeds(seeds: &[u64]) -> Stats {
    let lanes = join_all((0..FEED_LANES.min(seeds.len())).map(|lane| {
        let mine: Vec<u64> = seeds.iter().skip(lane).step_by(FEED_LANES).copied().collect();
        async move {
            let mut stats = Stats::default();
            for seed in mine {
                stats.add(feeds::run(seed).await);
            }
            stats
        }
    }))
    .await;
    sum(lanes)
}

fn sum(parts: Vec<Stats>) -> Stats {
    let mut stats = Stats::default();
    parts.into_iter().for_each(|part| stats.add(part));
    stats
}

/// What a run of histories did, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub histories: u64,
    pub deliveries: u64,
    /// Deliveries the simulated partner sent again after a failure answer.
    pub retries: u64,
    pub feed_runs: u64,
    pub feed_runs_killed: u64,
    /// Feed runs that had time for a few pages only and stopped as at the Lambda deadline.
    pub feed_runs_out_of_time: u64,
    pub source_changes: u64,
    /// Store faults the proxy injected, by kind; API faults the stand-in injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Deliveries by the answer they got (`push 1`, `callback 200`, …).
    pub answers: BTreeMap<String, u64>,
    pub violations: Vec<String>,
    /// Histories not checked because the store never answered every request passed on to it
    /// (an overloaded machine): a check could have raced a late write.
    pub inconclusive: u64,
    /// Answered success (or covered by a checkpoint) but not stored.
    pub items_lost: u64,
}

impl Stats {
    pub fn add(&mut self, other: Stats) {
        self.histories += other.histories;
        self.deliveries += other.deliveries;
        self.retries += other.retries;
        self.feed_runs += other.feed_runs;
        self.feed_runs_killed += other.feed_runs_killed;
        self.feed_runs_out_of_time += other.feed_runs_out_of_time;
        self.source_changes += other.source_changes;
        for (kind, n) in other.faults {
            *self.faults.entry(kind).or_default() += n;
        }
        for (answer, n) in other.answers {
            *self.answers.entry(answer).or_default() += n;
        }
        self.violations.extend(other.violations);
        self.inconclusive += other.inconclusive;
        self.items_lost += other.items_lost;
    }

    pub fn count_fault(&mut self, kind: impl Into<String>, n: u64) {
        if n > 0 {
            *self.faults.entry(kind.into()).or_default() += n;
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<String> = self.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        write!(
            f,
            "histories {}, deliveries {} (retries {}), feed runs {} (killed {}, out of time {}), source changes {}, \
             answers ({}), faults injected: {} ({}), invariant violations {}, not checked {}, items lost {}",
            self.histories,
            self.deliveries,
            self.retries,
            self.feed_runs,
            self.feed_runs_killed,
            self.feed_runs_out_of_time,
            self.source_changes,
            if self.answers.is_empty() {
                "none".to_owned()
            } else {
                self.answers
                    .iter()
                    .map(|(k, n)| format!("{k}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            self.faults.values().sum::<u64>(),
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            },
            self.violations.len(),
            self.inconclusive,
            self.items_lost,
        )
    }
}

/// The seed of a history numbered `n` in a run started from `base`.
pub fn seed(base: u64, n: u64) -> u64 {
    base.wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(n.wrapping_mul(1_442_695_040_888_963_407) | 1)
}
