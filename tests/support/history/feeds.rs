//! Feed histories: the settlement and orders feeds run at random moments of a virtual clock,
//! some killed mid-run, some failing on API faults, some with time for a few pages only (they stop
//! as at the Lambda deadline, mid-window: the windows hold more than such a run reads), while the stand-in's data changes between and
//! during runs (new settlement changes; orders updated, which moves them to a later window; new
//! orders), then checked.
//!
//! The invariants, after every completed run and at the end (when every feed has caught up):
//! 1. a feed's checkpoint never moves backwards;
//! 2. never past unstored data: every row the source holds now with a time at or before the
//!    checkpoint is stored (a settlement change as its item; an order as its current row);
//! 3. nothing is stored that the source never served, and nothing twice (the keys are derived
//!    from the rows, and the stored rows are compared with every version the source held).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use shared::feed::Mode;
use shared::linkbest::api::{ORDERS_SERVICE, SETTLEMENT_SERVICE};
use shared::linkbest::orders::{LISTED_ITEM_TYPE, ORDERS};
use shared::linkbest::settlement::{CHANGE_ITEM_TYPE, SETTLEMENT};
use time::OffsetDateTime;
use tokio::time::Instant;

use super::Stats;
use crate::feeds::{Sync, sync_config};
use crate::linkbest_standin::{Change, Fault, StandIn, Trigger, generate, generate_orders, order};
use crate::{TestTable, attr_n, attr_s};

const APP: (&str, &str) = ("2312521", "history-app-secret");
const DAY: i64 = 86_400;
const SETTLEMENT_LAG: i64 = 300;
const ORDERS_LAG: i64 = 3_000;

/// Everything the source ever served, to tell a stored row it never served.
#[derive(Default)]
struct Source {
    /// (OrderSn, ModifyAt, ConfirmPrice) of every change.
    changes: BTreeSet<String>,
    /// Every JSON an order list row ever had.
    order_rows: BTreeSet<String>,
}

fn change_identity(c: &Change) -> String {
    format!("{}|{}|{}", c.order_sn, c.modify_at, c.confirm_price)
}

/// Plays the feed history of `seed` on a table of its own and checks it.
pub async fn run(seed: u64) -> Stats {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stats = Stats {
        histories: 1,
        ..Stats::default()
    };
    // A third of the histories also go through the hand-off (a table with the template's stream,
    // published with faults, its events fed to the reference consumer and replayed).
    let with_handoff = seed.is_multiple_of(3);
    let table = if with_handoff {
        TestTable::create_as_template().await
    } else {
        TestTable::create().await
    };
    let v0 = OffsetDateTime::now_utc().unix_timestamp();
    let mut now = v0;
    let changes = generate(
        rng.usize(20..120),
        v0 - 2 * DAY,
        v0 - SETTLEMENT_LAG - 10,
        seed % 900 + 100,
    );
    let orders = generate_orders(
        rng.usize(20..150),
        v0 - 2 * DAY,
        v0 - ORDERS_LAG - 10,
        seed % 900 + 100,
        "SO-H",
    );
    let mut source = Source::default();
    source.changes.extend(changes.iter().map(change_identity));
    source.order_rows.extend(orders.iter().map(|o| o.json.clone()));
    let standin = StandIn::start(APP.0, APP.1, changes).await;
    standin.add_orders(orders);
    // The first run of a feed starts far enough back to cover all the data whenever it happens
    // (the virtual clock moves at most a few hours in a history).
    let mut config = sync_config(&table, &standin.base_url(), APP, 2 * DAY + 8 * 3_600);
    config.settlement.page_size = rng.u32(5..40);
    config.orders.page_size = rng.u32(5..40);
    config.settlement.windows.safety_lag = SETTLEMENT_LAG;
    config.orders.windows.safety_lag = ORDERS_LAG;
    config.settlement.windows.max_span = [DAY, 6 * 3_600, 3_600][rng.usize(0..3)];
    config.orders.windows.max_span = [DAY, 6 * 3_600, 3_600][rng.usize(0..3)];
    let feeds = [
        Sync::new(&table, &config, APP, SETTLEMENT.name),
        Sync::new(&table, &config, APP, ORDERS.name),
    ];
    let mut judge = Judge {
        table: &table,
        standin: &standin,
        seed,
        checkpoints: BTreeMap::new(),
    };
    // Every answer of the stand-in takes a little while, so kills and data changes land mid-run.
    standin.set_latency(Duration::from_millis(rng.u64(1..6)));

    for _ in 0..rng.usize(6..14) {
        match rng.u8(0..10) {
            0..=5 => {
                let feed = &feeds[rng.usize(0..2)];
                arm_faults(&standin, &mut rng, feed.feed);
                let kill = rng.u8(0..4) == 0;
                let budget = (!kill && rng.u8(0..3) == 0).then(|| rng.u32(1..6));
                let kill_after = Duration::from_millis(rng.u64(5..150));
                let change_during = rng
                    .bool()
                    .then(|| (Duration::from_millis(rng.u64(0..40)), rng.u64(..)));
                let owner = format!("run-{now}-{}", stats.feed_runs);
                let run_at = at(now);
                let run = async {
                    match budget {
                        Some(pages) => feed.run_budgeted(pages, Mode::Scheduled, &owner, run_at).await,
                        None => {
                            feed.run_with_summary(
                                Mode::Scheduled,
                                &owner,
                                run_at,
                                Instant::now() + Duration::from_secs(8),
                            )
                            .await
                        }
                    }
                };
                tokio::pin!(run);
                let mut changed = Stats::default();
                let mut during_source = std::mem::take(&mut source);
                let changing = async {
                    if let Some((delay, seed)) = change_during {
                        tokio::time::sleep(delay).await;
                        change_data(
                            &standin,
                            &mut during_source,
                            &mut fastrand::Rng::with_seed(seed),
                            now,
                            &mut changed,
                        );
                    }
                };
                stats.feed_runs += 1;
                if kill {
                    let _ = tokio::join!(tokio::time::timeout(kill_after, &mut run), changing);
                    source = during_source;
                    stats.add(changed);
                    stats.feed_runs_killed += 1;
                    // The killed run's lease lasts until its deadline plus a minute.
                    now += 120;
                } else {
                    let ((summary, outcome), ()) = tokio::join!(&mut run, changing);
                    source = during_source;
                    stats.add(changed);
                    if summary.result == "deadline" {
                        stats.feed_runs_out_of_time += 1;
                    }
                    if outcome.is_ok() && summary.result != "lease_held" {
                        judge.check(&source, feed.feed, &mut stats).await;
                    }
                }
                standin.heal();
            }
            6..=7 => change_data(&standin, &mut source, &mut rng, now, &mut stats),
            8 => {
                // A backfill of a recent range started beside the schedule of the same feed: the
                // feed's lease lets one of them write (#28.7); the other does nothing.
                let i = rng.usize(0..2);
                let from = now - rng.i64(3_600..2 * DAY);
                let to = now - rng.i64(0..3_600);
                let (beside, backfill) = (format!("beside-{now}"), format!("backfill-{now}"));
                let deadline = Instant::now() + Duration::from_secs(8);
                let _ = tokio::join!(
                    feeds[i].run_with_summary(Mode::Scheduled, &beside, at(now), deadline),
                    feeds[i].run_with_summary(Mode::Backfill { from, to }, &backfill, at(now), deadline),
                );
                // Whichever wrote, the history must still converge (the final catch-up and the
                // judge) and, through the hand-off, replay as it sent (a second writer used to
                // rewrite settlement changes' `fetched_at`).
                stats.feed_runs += 2;
                *stats
                    .answers
                    .entry("feed: a backfill beside the schedule".to_owned())
                    .or_default() += 1;
            }
            _ => now += rng.i64(30..1_200),
        }
    }
    // Quiet at last: every feed catches up past every row.
    standin.heal();
    now += ORDERS_LAG + 200;
    for feed in &feeds {
        let mut done = false;
        for attempt in 0..5 {
            let (summary, outcome) = feed
                .run_with_summary(
                    Mode::Scheduled,
                    &format!("final-{attempt}"),
                    at(now),
                    Instant::now() + Duration::from_secs(60),
                )
                .await;
            stats.feed_runs += 1;
            if outcome.is_ok() && (summary.result == "completed" || summary.result == "up_to_date") {
                done = true;
                break;
            }
            now += 120; // a lease left by a killed run expires
        }
        if !done {
            stats
                .violations
                .push(format!("feed history {seed}: {} never caught up", feed.feed));
        }
        judge.check(&source, feed.feed, &mut stats).await;
    }
    for (svc, kind) in [
        (SETTLEMENT_SERVICE, "api:settlement"),
        (ORDERS_SERVICE, "api:orders"),
    ] {
        let injected = standin
            .log()
            .iter()
            .filter(|l| l.service == svc && matches!(l.fault, Some(f) if !matches!(f, Fault::Delay(_))))
            .count() as u64;
        stats.count_fault(kind, injected);
    }
    if !standin.violations().is_empty() {
        stats.violations.push(format!(
            "feed history {seed}: requests the API refuses: {:?}",
            standin.violations()
        ));
    }
    if with_handoff {
        stats.add(super::handoff::check(&table, seed).await);
    }
    table.delete_now().await;
    stats
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).expect("valid time")
}

/// Maybe a few transient API faults for the next run of `feed` (the client retries them).
fn arm_faults(standin: &StandIn, rng: &mut fastrand::Rng, feed: &str) {
    if rng.bool() {
        return;
    }
    let service = if feed == SETTLEMENT.name {
        SETTLEMENT_SERVICE
    } else {
        ORDERS_SERVICE
    };
    let fault = [Fault::ServerError, Fault::MalformedJson, Fault::StatusError][rng.usize(0..3)];
    standin.fail(Trigger::Service(service), fault, rng.u32(1..3));
}

/// The source changes at virtual time `now`: new settlement changes, orders updated (they move to
/// now), new orders.
fn change_data(standin: &StandIn, source: &mut Source, rng: &mut fastrand::Rng, now: i64, stats: &mut Stats) {
    let new_changes = generate(rng.usize(0..10), now - 60, now, rng.u64(1_000..9_000));
    source.changes.extend(new_changes.iter().map(change_identity));
    stats.source_changes += new_changes.len() as u64;
    standin.add_changes(new_changes);
    let current = standin.orders();
    let mut updated = Vec::new();
    for _ in 0..rng.usize(0..8).min(current.len()) {
        let o = &current[rng.usize(0..current.len())];
        updated.push(order(
            &o.order_sn,
            now - rng.i64(0..60),
            ["0", "1", "2", "-1"][rng.usize(0..4)],
            rng.i64(100..90_000),
        ));
    }
    let new_orders = generate_orders(rng.usize(0..6), now - 60, now, rng.u64(1_000..9_000), "SO-HN");
    updated.extend(new_orders);
    source.order_rows.extend(updated.iter().map(|o| o.json.clone()));
    stats.source_changes += updated.len() as u64;
    standin.add_orders(updated);
}

/// One feed history's table and stand-in, and the checkpoints seen so far (they never move back).
struct Judge<'a> {
    table: &'a TestTable,
    standin: &'a StandIn,
    seed: u64,
    checkpoints: BTreeMap<&'static str, i64>,
}

impl Judge<'_> {
    /// Checks the feed's invariants (the numbered list at the top of this file) against the table
    /// after a completed run; every broken one is a violation of this history.
    async fn check(&mut self, source: &Source, feed: &'static str, stats: &mut Stats) {
        let (table, standin, seed) = (self.table, self.standin, self.seed);
        let checkpoints = &mut self.checkpoints;
        let key = if feed == SETTLEMENT.name {
            SETTLEMENT.checkpoint
        } else {
            ORDERS.checkpoint
        };
        let checkpoint = table
            .get(key.pk, key.sk)
            .await
            .and_then(|i| attr_n(&i, "checkpoint").and_then(|c| c.parse::<i64>().ok()));
        let mut fail = |what: String| {
            stats
                .violations
                .push(format!("feed history {seed} ({feed}): {what}"))
        };
        let Some(checkpoint) = checkpoint else { return };
        // 1.
        if let Some(before) = checkpoints.insert(feed, checkpoint)
            && before > checkpoint
        {
            fail(format!("the checkpoint moved back from {before} to {checkpoint}"));
        }
        let items = table.scan().await;
        let mut lost = 0;
        if feed == SETTLEMENT.name {
            let stored: BTreeSet<String> = items
                .iter()
                .filter(|i| attr_s(i, "item_type") == Some(CHANGE_ITEM_TYPE))
                .map(|i| {
                    format!(
                        "{}|{}|{}",
                        attr_s(i, "order_sn").unwrap_or("-"),
                        attr_s(i, "modify_at").unwrap_or("-"),
                        attr_s(i, "confirm_price").unwrap_or("-")
                    )
                })
                .collect();
            // 2. (the stand-in serves every change it holds; none is ever removed)
            for c in standin.changes().iter().filter(|c| c.modify_ts <= checkpoint) {
                if !stored.contains(&change_identity(c)) {
                    lost += 1;
                    fail(format!(
                        "change {} at {} is under the checkpoint {checkpoint} but not stored",
                        c.order_sn, c.modify_ts
                    ));
                }
            }
            // 3.
            for s in stored.difference(&source.changes) {
                fail(format!("stored a change the source never served: {s}"));
            }
        } else {
            let stored: BTreeSet<&str> = items
                .iter()
                .filter(|i| attr_s(i, "item_type") == Some(LISTED_ITEM_TYPE))
                .filter_map(|i| attr_s(i, "raw"))
                .collect();
            for o in standin.orders().iter().filter(|o| o.update_ts <= checkpoint) {
                if !stored.contains(o.json.as_str()) {
                    lost += 1;
                    fail(format!(
                        "order {} as of {} is under the checkpoint {checkpoint} but not stored",
                        o.order_sn, o.update_ts
                    ));
                }
            }
            for s in stored.iter().filter(|s| !source.order_rows.contains(**s)) {
                fail(format!("stored an order row the source never served: {s}"));
            }
        }
        stats.items_lost += lost;
    }
}
