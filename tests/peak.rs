//! A festival's midnight, scaled to what this machine allows, through a proxy that throttles any
//! partition key past a per-partition budget scaled the same way, exactly as DynamoDB answers a
//! hot partition (issue #27, docs/design.md ("Capacity")): with the bundle's keys nothing is throttled and
//! every order ends stored once with its last status; with the key design before #27 (every
//! `changes` and `queue` key without its shard) the same load is throttled.
//!
//! Scale: the stated peak is 2,500 deliveries/s against 1,000 write units/s per partition; here
//! `RATE` deliveries/s against 1,000 × RATE / 2,500 units/s per key (the proxy's token bucket, one
//! second deep — stricter than DynamoDB, whose partitions also bank unused capacity). Pacing only
//! ever slows the load down, so a slow machine tightens nothing.

use std::sync::Arc;
use std::time::Duration;

use shared::keys::{igv_order_pk, linkbest_order_pk};
use shared::store::Store;
use testkit::festival::{self, Bundle, Shape};
use testkit::heat::unsharded;
use testkit::proxy::{FaultyProxy, KeyMap};
use testkit::{TestTable, attr_s, client_via, endpoint, local_callback, local_postback, local_setting};

const RATE: f64 = 100.0;
const PEAK: f64 = 2_500.0;
const PARTITION_UNITS: f64 = 1_000.0;

async fn bundle(table: &TestTable, proxy: &FaultyProxy) -> Arc<Bundle> {
    let config = table.store_config();
    let store = Store::from_config(client_via(&proxy.endpoint(), &config).await, &config);
    let first = |name: &str| {
        shared::secret::parse_secret_list(&local_setting(name))[0]
            .expose()
            .to_owned()
    };
    Arc::new(Bundle {
        postback: local_postback(table, store.clone()),
        callback: local_callback(table, store.clone(), None),
        store,
        token: first("LINKBEST_POSTBACK_TOKENS"),
        secret: first("CALLBACK_HMAC_SECRETS"),
    })
}

const SHAPE: Shape = Shape {
    rate: RATE,
    seconds: 8,
    concurrency: 16,
    attempts: 5,
    retry_pause: Duration::from_millis(300),
};

#[tokio::test]
async fn a_scaled_festival_peak_throttles_no_key_and_loses_nothing() {
    let upstream = endpoint();
    if !upstream.starts_with("http://") {
        eprintln!("skipped: the DynamoDB endpoint is not plain HTTP, no proxy can sit in front of it");
        return;
    }
    let budget = PARTITION_UNITS * RATE / PEAK;

    // The bundle's keys.
    let table = TestTable::create().await;
    let proxy = FaultyProxy::start(&upstream).await;
    let as_is: KeyMap = Arc::new(|_, key: &str| key.to_owned());
    proxy.watch_keys(Some((budget, as_is)));
    let run = festival::run(bundle(&table, &proxy).await, SHAPE, "P").await;
    let throttled = proxy.throttled_keys();
    assert!(
        throttled.is_empty(),
        "keys throttled at the scaled peak: {throttled:?}"
    );
    assert_eq!(
        run.failed_answers, 0,
        "every delivery accepted at its first attempt"
    );
    assert!(run.exhausted.is_empty());
    // Nothing lost or doubled: every order's view holds its last status; the list-only orders
    // are there too.
    for (order_sn, status) in &run.linkbest {
        let view = table.get(&linkbest_order_pk(order_sn), "ORDER").await;
        let view = view.unwrap_or_else(|| panic!("{order_sn} lost"));
        assert_eq!(
            attr_s(&view, "status"),
            Some(status.as_str()),
            "{order_sn}: {view:?}"
        );
    }
    for (order_id, status) in &run.igv {
        let view = table.get(&igv_order_pk(order_id), "ORDER").await;
        let view = view.unwrap_or_else(|| panic!("{order_id} lost"));
        assert_eq!(
            attr_s(&view, "seller_order_status"),
            Some(status.as_str()),
            "{order_id}"
        );
    }
    for order_sn in &run.listed_only {
        assert!(
            table.get(&linkbest_order_pk(order_sn), "ORDER").await.is_some(),
            "{order_sn}"
        );
    }
    // The heat behind it: the hottest key of each index against the budget.
    let heat = proxy.heat();
    for (target, h) in heat.by_target() {
        eprintln!(
            "peak: {target:?}: {} units over {} keys in {:.1} s; hottest {}: at most {} units in a second (budget {budget})",
            h.units,
            h.keys,
            run.elapsed.as_secs_f64(),
            h.hottest,
            h.most_in_a_second
        );
    }
    let changes = &heat.by_target()[&Some("changes".to_owned())];
    assert!(changes.keys >= 16, "the day is spread over its keys");

    // The mutant: the same load with the keys before #27 (a day, a queue: one key each).
    let table = TestTable::create().await;
    let proxy = FaultyProxy::start(&upstream).await;
    let before: KeyMap = Arc::new(|target, key: &str| match target {
        Some(_) => unsharded(key),
        None => key.to_owned(),
    });
    proxy.watch_keys(Some((budget, before)));
    let short = Shape { seconds: 3, ..SHAPE };
    let mutant = festival::run(bundle(&table, &proxy).await, short, "M").await;
    let throttled = proxy.throttled_keys();
    assert!(
        throttled
            .keys()
            .any(|(target, _)| target.as_deref() == Some("changes")),
        "the day key alone is throttled: {throttled:?} ({mutant:?})"
    );
    assert!(
        mutant.failed_answers > 0,
        "throttled writes answer the partner with a failure"
    );
}
