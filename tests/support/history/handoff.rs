//! The hand-off invariant, checked on delivery histories played into a table with the template's
//! stream: everything the histories committed is read back from DynamoDB Local's own stream and
//! handed to the publisher the way the event source mapping would, with faults, on the `PutEvents`
//! stand-in; then, against the stream's own record of what was committed:
//!
//! 1. every committed version of an order view reached the bus at least once with its `event_id`;
//! 2. no event reached the bus for a version that was never committed;
//! 3. per order, the highest `view_version` delivered is the view's final version;
//! 4. the reference consumer (`crate::consumer`, the README's consumer guide as code), fed every
//!    event that reached the bus — shuffled, with doubles, and with `ops republish` replays of some
//!    orders mixed in — ends with every order view's final version and status;
//! 5. a replay is what was sent: every republished event (orders a fulfilment worker took out of
//!    the queue among them) is, to the byte, one the stream published.
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

/// What the stream says was committed: per view (`pk`, `sk`), its versions in commit order. A
/// settlement change is a view of its own with one version, its sort key.
fn committed(records: &[Value]) -> BTreeMap<(String, String), (&'static str, Vec<String>)> {
    let mut views: BTreeMap<(String, String), (&'static str, Vec<String>)> = BTreeMap::new();
    for record in records {
        let Ok(change) = read_record(record) else { continue };
        let (partner, version) = match change.new_s("item_type") {
            Some("linkbest_order") => ("linkbest", change.new_s("state_version")),
            Some("igv_order") => ("igv", change.new_s("status_version")),
            Some("linkbest_settlement_change") if change.event_name == "INSERT" => {
                ("linkbest", Some(change.sk.as_str()))
            }
            _ => continue,
        };
        let Some(version) = version else {
            continue;
        };
        let old = match change.new_s("item_type") {
            Some("linkbest_order") => change.old_s("state_version"),
            Some("igv_order") => change.old_s("status_version"),
            _ => None,
        };
        if old == Some(version) {
            continue;
        }
        let entry = views
            .entry((change.pk.clone(), change.sk.clone()))
            .or_insert((partner, Vec::new()));
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
                    // Up to one more than the invocation's two tries of every entry: some
                    // invocations fail for good, and the refusals always run out (a count far
                    // above a small batch's, re-armed every few invocations, never drained: a
                    // single-record batch then failed 50 invocations in a row — the harness's
                    // fault, not the publisher's).
                    let most = (2 * part.len() as u32 + 1).min(30);
                    bus.refuse_next_entries(rng.u32(1..=most));
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

/// Views written by a bundle from before the hand-off (no `view_changes`, no replay attributes),
/// migrated once with `ops migrate-views`, then moved on by a push each: the hand-off and its
/// replays must treat them like any other view.
pub async fn views_from_before_the_hand_off(table: &TestTable, seed: u64, stats: &mut Stats) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x01d);
    let store = shared::store::Store::new(table.client.clone(), &table.name, 0);
    let postback = crate::local_postback(table, store);
    let token = shared::secret::parse_secret_list(&crate::local_setting("LINKBEST_POSTBACK_TOKENS"))[0]
        .expose()
        .to_owned();
    let orders: Vec<String> = (0..rng.usize(1..=3)).map(|i| format!("OLD{seed}-{i}")).collect();
    for sn in &orders {
        let v = "00000000001795440000#00000000000000000001";
        let item = std::collections::HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(shared::keys::linkbest_order_pk(sn)),
            ),
            ("sk".to_owned(), AttributeValue::S("ORDER".into())),
            ("item_type".to_owned(), AttributeValue::S("linkbest_order".into())),
            ("order_sn".to_owned(), AttributeValue::S(sn.clone())),
            ("status".to_owned(), AttributeValue::S("0".into())),
            ("push_status".to_owned(), AttributeValue::S("0".into())),
            ("state_version".to_owned(), AttributeValue::S(v.into())),
            ("push_version".to_owned(), AttributeValue::S(v.into())),
        ]);
        if let Err(e) = table
            .client
            .put_item()
            .table_name(&table.name)
            .set_item(Some(item))
            .send()
            .await
        {
            stats
                .violations
                .push(format!("hand-off (seed {seed}): an old view not written: {e:?}"));
            return;
        }
    }
    if let Err(e) = ops::Ops::new(table.client.clone(), &table.name)
        .migrate_views(false)
        .await
    {
        stats
            .violations
            .push(format!("hand-off (seed {seed}): ops migrate-views failed: {e}"));
    }
    for (i, sn) in orders.iter().enumerate() {
        let request = crate::festival::signed_push(
            &token,
            9_000_000 + seed % 1_000_000 * 10 + i as u64,
            1_795_440_600,
            sn,
            "1",
        );
        let answer = crate::body_text(&postback.handle(request).await);
        if answer != "1" {
            stats.violations.push(format!(
                "hand-off (seed {seed}): the push to the old view {sn} answered {answer}"
            ));
        }
    }
    *stats
        .answers
        .entry("hand-off: views from before the hand-off".to_owned())
        .or_default() += orders.len() as u64;
}

/// Settlement changes for some of the Linkbest orders the histories left in `table` (the
/// settlement feed's writes), so the hand-off and its consumer meet them beside the views.
pub async fn settle_some(table: &TestTable, seed: u64, stats: &mut Stats) {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5e77);
    let store = shared::store::Store::new(table.client.clone(), &table.name, 0);
    let orders: Vec<String> = table
        .scan()
        .await
        .iter()
        .filter(|item| crate::attr_s(item, "item_type") == Some("linkbest_order"))
        .filter_map(|item| crate::attr_s(item, "order_sn").map(str::to_owned))
        .filter(|_| rng.bool())
        .collect();
    let rows: Vec<String> = orders
        .iter()
        .map(|sn| {
            format!(
                r#"{{"OrderSn":"{sn}","ModifyAt":"2026-11-23 21:{:02}:00","ConfirmPrice":"120.0000","ModifyPrice":"-9.9000","ChargeCurrency":"CNY"}}"#,
                rng.u8(0..60)
            )
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let page = format!(r#"{{"Status":0,"Data":[{}]}}"#, rows.join(","));
    let envelope = shared::linkbest::api::parse_envelope(&page).expect("a page");
    let changes = shared::linkbest::settlement::parse_changes(&envelope.rows).expect("rows");
    match store
        .store_settlement_changes(&changes, time::OffsetDateTime::now_utc())
        .await
    {
        Ok(_) => {
            *stats
                .answers
                .entry("hand-off: settlement changes".to_owned())
                .or_default() += changes.len() as u64
        }
        Err(e) => stats.violations.push(format!(
            "hand-off (seed {seed}): settlement changes not stored: {e}"
        )),
    }
}

/// The README's fulfilment worker on about half of the iGV orders awaiting delivery:
/// `REMOVE queue_pk, queue_sk SET fulfilment_started_at = :now` on condition
/// `status_version = :seen`. Returns the orders it took.
async fn take_some_orders_out_of_the_queue(table: &TestTable, rng: &mut fastrand::Rng) -> Vec<String> {
    let mut taken = Vec::new();
    for item in table.scan().await {
        let queued = crate::attr_s(&item, "queue_pk")
            .is_some_and(|q| shared::keys::in_queue(q, shared::keys::IGV_AWAITING_DELIVERY_QUEUE));
        if !queued || !rng.bool() {
            continue;
        }
        let (Some(pk), Some(seen)) = (crate::attr_s(&item, "pk"), crate::attr_s(&item, "status_version"))
        else {
            continue;
        };
        let done = table.take_out_of_queue(pk, seen).await;
        if done {
            taken.push(pk.to_owned());
        }
    }
    taken
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
    // What the stream published, as a consumer receives it.
    let as_sent = |e: &crate::eventbridge_standin::Received| format!("{} {}", e.detail_type, e.detail);
    let sent: BTreeSet<String> = bus.received().iter().map(as_sent).collect();
    let published = bus.received().len();
    // A fulfilment worker takes some orders out of the awaiting-delivery queue exactly as the
    // README says (after the stream was read: its update moves no version, so no event).
    let worked = take_some_orders_out_of_the_queue(table, &mut rng).await;
    // Replays of some orders (`ops republish --order`), on the same bus: the worked ones and a few.
    let source = shared::store::Store::new(table.client.clone(), &table.name, 0);
    let mut pks: Vec<String> = views.keys().map(|(pk, _)| pk.clone()).collect();
    pks.dedup();
    rng.shuffle(&mut pks);
    pks.truncate(rng.usize(0..=4));
    pks.extend(worked);
    // And every view from before the hand-off (`views_from_before_the_hand_off`).
    pks.extend(
        views
            .keys()
            .map(|(pk, _)| pk.clone())
            .filter(|pk| pk.starts_with("LB#ORDER#OLD")),
    );
    pks.sort();
    pks.dedup();
    let replay = shared::handoff::eventbridge::EventBridgeBus::new(bus.client(), BUS);
    let retry = RetrySettings {
        attempts: 4,
        first_pause: std::time::Duration::from_millis(1),
    };
    if let Err(e) = shared::handoff::replay::republish_partitions(&source, &pks, VIEWS, &replay, retry).await
    {
        stats
            .violations
            .push(format!("hand-off (seed {seed}): republish failed: {e}"));
    }
    let received = bus.received();
    // A replay is what was sent (#28.3): every republished event, to the byte, is one the stream
    // published.
    for e in &received[published..] {
        if !sent.contains(&as_sent(e)) {
            stats.violations.push(format!(
                "hand-off (seed {seed}): a replayed event was never sent as such: {}",
                as_sent(e)
            ));
        }
    }
    // The reference consumer: every event, shuffled, a fifth of them twice.
    let mut fed: Vec<&crate::eventbridge_standin::Received> = received.iter().collect();
    let doubles: Vec<_> = fed.iter().copied().filter(|_| rng.u8(0..5) == 0).collect();
    fed.extend(doubles);
    rng.shuffle(&mut fed);
    let mut consumer = crate::consumer::Consumer::default();
    for e in fed {
        consumer.apply(&e.detail_type, &e.detail);
    }
    let ids: BTreeSet<&str> = received
        .iter()
        .filter_map(|e| e.detail["event_id"].as_str())
        .collect();
    let mut expected = BTreeSet::new();
    for ((pk, sk), (partner, versions)) in &views {
        let key = TableKey {
            pk: pk.clone(),
            sk: sk.clone(),
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
            .filter(|e| {
                e.detail["table_key"]["pk"] == pk.as_str() && e.detail["table_key"]["sk"] == sk.as_str()
            })
            .filter_map(|e| e.detail["view_version"].as_str())
            .max();
        let item = table.get(pk, sk).await;
        let (version_attribute, status_attribute) = match (*partner, sk.as_str()) {
            ("linkbest", "ORDER") => ("state_version", "status"),
            ("igv", _) => ("status_version", "seller_order_status"),
            // A settlement change: its version is its sort key; it has no status.
            _ => ("sk", "status"),
        };
        let last = item
            .as_ref()
            .and_then(|item| crate::attr_s(item, version_attribute).map(str::to_owned));
        let status = item
            .as_ref()
            .and_then(|item| crate::attr_s(item, status_attribute).map(str::to_owned));
        match consumer.rows.get(&(pk.clone(), sk.clone())) {
            Some(row) if Some(&row.view_version) == last.as_ref() && row.status == status => {}
            row => stats.violations.push(format!(
                "hand-off (seed {seed}): the reference consumer's row of {pk} is {row:?}, the table's view {last:?} with status {status:?}"
            )),
        }
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
