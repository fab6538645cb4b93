//! The hand-off invariant, checked on delivery histories played into a table with the template's
//! stream: everything the histories committed is read back from DynamoDB Local's own stream and
//! handed to the publisher the way the event source mapping would, with faults, on the `PutEvents`
//! stand-in; then, against the stream's own record of what was committed:
//!
//! 1. every committed version of an order view reached the bus at least once with its `event_id`;
//! 2. no event reached the bus for a version that was never committed;
//! 3. per order, the highest `view_version` delivered is the view's final version.
//!
//! Faults (from the seed): `PutEvents` throttled as a whole; entries refused one by one
//! (`FailedEntryCount`); the publisher killed mid-batch (only a part of the batch published
//! before the invocation dies, so the whole batch comes again); a stream record delivered twice.
//! A batch answered with a failure is handed over again from the record it names, as Lambda does.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use shared::handoff::contract::{TableKey, event_id};
use shared::handoff::publish::{Publisher, RetrySettings, publish};
use shared::handoff::set_aside::KeepNothing;
use shared::handoff::{Describe, stream::read_record};

use super::Stats;
use crate::TestTable;
use crate::eventbridge_standin::EventBridgeStandIn;
use crate::stream_reader::{StreamCursor, filtered};

const VIEWS: &[Describe] = shared::VIEWS;
const BUS: &str = "history-orders";
/// Invocations of one batch before the check gives up on it (Lambda: the mapping's retries).
const MAX_INVOCATIONS: usize = 50;

/// What the stream says was committed: per view (pk), its versions in commit order.
fn committed(records: &[Value]) -> BTreeMap<String, (&'static str, Vec<String>)> {
    let mut views: BTreeMap<String, (&'static str, Vec<String>)> = BTreeMap::new();
    for record in records {
        let Ok(change) = read_record(record) else { continue };
        let (partner, version_attribute) = match change.new_s("item_type") {
            Some("linkbest_order") => ("linkbest", "state_version"),
            Some("igv_order") => ("igv", "status_version"),
            _ => continue,
        };
        let Some(version) = change.new_s(version_attribute) else {
            continue;
        };
        if change.old_s(version_attribute) == Some(version) {
            continue;
        }
        let entry = views.entry(change.pk.clone()).or_insert((partner, Vec::new()));
        entry.1.push(version.to_owned());
    }
    views
}

/// Hands `records` to the publisher in batches as the mapping does, with faults drawn from `rng`.
async fn deliver(
    records: &[Value],
    rng: &mut fastrand::Rng,
    bus: &EventBridgeStandIn,
    stats: &mut Stats,
) -> Result<(), String> {
    let client = shared::handoff::eventbridge::EventBridgeBus::new(bus.client(), BUS);
    let to = Publisher {
        bus: &client,
        // No record of a history is poison: one set aside would be a bug, so none can be kept and
        // any would stay reported (and end the history as "still failing").
        set_aside: &KeepNothing,
        retry: RetrySettings {
            attempts: 2,
            first_pause: std::time::Duration::from_millis(1),
        },
        deadline: None,
    };
    let mut at = 0;
    while at < records.len() {
        // Small batches, so that one history run meets every fault many times.
        let size = rng.usize(1..=12).min(records.len() - at);
        let mut batch: Vec<Value> = records[at..at + size].to_vec();
        if rng.u8(0..3) == 0 {
            // A record delivered twice (a mapping retry overlapping an earlier delivery).
            let i = rng.usize(0..batch.len());
            batch.insert(i, batch[i].clone());
            stats.count_fault("handoff: record delivered twice", 1);
        }
        let mut from = 0;
        let mut last = None;
        for invocation in 0.. {
            if invocation == MAX_INVOCATIONS {
                // What the last invocation said, and the record it named (to tell a poison
                // record from a bus that never recovered).
                let named = last
                    .as_ref()
                    .and_then(|o: &shared::handoff::publish::BatchOutcome| o.first_failure.clone());
                let record = batch
                    .iter()
                    .find(|r| r["dynamodb"]["SequenceNumber"].as_str() == named.as_deref())
                    .map(|r| r.to_string().chars().take(600).collect::<String>());
                return Err(format!(
                    "a batch still failing after {MAX_INVOCATIONS} invocations; the last: {last:?}; the record it named: {record:?}"
                ));
            }
            let part = &batch[from..];
            if rng.u8(0..4) == 0 {
                // The publisher killed mid-batch: part of it published, then the invocation dies
                // without an answer, so the mapping hands the whole (remaining) batch over again.
                let cut = rng.usize(0..=part.len());
                publish(&part[..cut], VIEWS, to).await;
                stats.count_fault("handoff: publisher killed mid-batch", 1);
                continue;
            }
            match rng.u8(0..4) {
                0 => {
                    // Up to twice the publisher's own attempts: some batches fail for good.
                    bus.throttle_next(rng.u32(1..=4));
                    stats.count_fault("handoff: PutEvents throttled", 1);
                }
                1 => {
                    bus.refuse_next_entries(rng.u32(1..=30));
                    stats.count_fault("handoff: entries refused (FailedEntryCount)", 1);
                }
                _ => {}
            }
            let outcome = publish(part, VIEWS, to).await;
            if outcome.poison > 0 {
                return Err(format!("a history's record was poison: {outcome:?}"));
            }
            last = Some(outcome.clone());
            match outcome.first_failure {
                None => break,
                Some(sequence) => {
                    let index = part
                        .iter()
                        .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(sequence.as_str()))
                        .ok_or(format!("the publisher named an unknown record {sequence}"))?;
                    from += index;
                }
            }
        }
        at += size;
    }
    Ok(())
}

/// Runs the hand-off over everything `table`'s stream holds and checks the invariants.
pub async fn check(table: &TestTable, seed: u64) -> Stats {
    let mut stats = Stats::default();
    let records = filtered(&StreamCursor::open(&table.client, &table.name).await.poll().await);
    let views = committed(&records);
    let bus = EventBridgeStandIn::start().await;
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x4a4d);
    if let Err(e) = deliver(&records, &mut rng, &bus, &mut stats).await {
        stats.violations.push(format!("hand-off (seed {seed}): {e}"));
        return stats;
    }
    let received = bus.received();
    let ids: BTreeSet<&str> = received
        .iter()
        .filter_map(|e| e.detail["event_id"].as_str())
        .collect();
    let mut expected = BTreeSet::new();
    for (pk, (partner, versions)) in &views {
        let key = TableKey {
            pk: pk.clone(),
            sk: "ORDER".to_owned(),
        };
        for version in versions {
            let id = event_id(partner, &key, version);
            if !ids.contains(id.as_str()) {
                stats.violations.push(format!(
                    "hand-off (seed {seed}): {pk} version {version} committed, no event {id} reached the bus"
                ));
            }
            expected.insert(id);
        }
        let delivered = received
            .iter()
            .filter(|e| e.detail["table_key"]["pk"] == pk.as_str())
            .filter_map(|e| e.detail["view_version"].as_str())
            .max();
        let last = table.get(pk, "ORDER").await.and_then(|item| {
            let attribute = if *partner == "linkbest" {
                "state_version"
            } else {
                "status_version"
            };
            crate::attr_s(&item, attribute).map(str::to_owned)
        });
        if delivered != last.as_deref() {
            stats.violations.push(format!(
                "hand-off (seed {seed}): {pk}: highest version delivered {delivered:?}, the view's final version {last:?}"
            ));
        }
    }
    for id in &ids {
        if !expected.contains(*id) {
            stats.violations.push(format!(
                "hand-off (seed {seed}): event {id} reached the bus for a version never committed"
            ));
        }
    }
    if !bus.violations().is_empty() {
        stats.violations.push(format!(
            "hand-off (seed {seed}): PutEvents over the limits: {:?}",
            bus.violations()
        ));
    }
    *stats
        .answers
        .entry("hand-off events on the bus".to_owned())
        .or_default() += received.len() as u64;
    stats
}
