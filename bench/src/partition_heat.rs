//! `partition-heat`: the hottest partition-key value of the table and of each index during a
//! festival-shaped load, as its share of that target's writes and as write units a second at the
//! stated peak (issue #27; goal ≤ 500, half a partition's 1,000). `cargo run --release -p bench
//! --bin partition-heat` (bench/README.md "Partition heat").
//!
//! Method: the festival driver (`testkit::festival`: pushes and callbacks 4 : 1, later statuses,
//! retried pushes, the orders feed listing every order plus orders no push brought, settlement
//! changes) through the real handlers into DynamoDB Local behind the proxy, which records every
//! write's partition keys for the table and each index from the requests (key schema and
//! projections from `template.yaml`; index writes counted as DynamoDB counts them:
//! `testkit::heat`). At the stated peak a target's hottest key takes its share of the target's
//! units: units per delivery here × 2,500 deliveries/s × share. Beside it, the same writes with
//! the keys before #27 (every index key without its shard).

use std::sync::Arc;
use std::time::Duration;

use shared::store::Store;
use testkit::festival::{self, Bundle, Shape};
use testkit::heat::unsharded;
use testkit::proxy::FaultyProxy;

const PEAK: f64 = 2_500.0;

#[tokio::main]
async fn main() -> Result<(), String> {
    shared::tls::install_crypto_provider();
    let seconds: u64 = std::env::var("HEAT_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let table = testkit::TestTable::create().await;
    let proxy = FaultyProxy::start(&testkit::endpoint()).await;
    proxy.watch_keys(None);
    let config = table.store_config();
    let store = Store::from_config(testkit::client_via(&proxy.endpoint(), &config).await, &config);
    let first = |name: &str| {
        shared::secret::parse_secret_list(&testkit::local_setting(name))[0]
            .expose()
            .to_owned()
    };
    let bundle = Arc::new(Bundle {
        postback: testkit::local_postback(&table, store.clone()),
        callback: testkit::local_callback(&table, store.clone(), None),
        store,
        token: first("LINKBEST_POSTBACK_TOKENS"),
        secret: first("CALLBACK_HMAC_SECRETS"),
    });
    let shape = Shape {
        rate: 100.0,
        seconds,
        concurrency: 16,
        attempts: 5,
        retry_pause: Duration::from_millis(300),
    };
    let run = festival::run(bundle, shape, "H").await;
    if !run.exhausted.is_empty() || run.failed_answers > 0 {
        return Err(format!("the load was refused: {run:?}"));
    }
    let deliveries = run.deliveries as f64;
    println!(
        "{} first deliveries ({} Linkbest orders, {} iGV orders, {} orders only the list brought) in {:.1} s",
        run.deliveries,
        run.linkbest.len(),
        run.igv.len(),
        run.listed_only.len(),
        run.elapsed.as_secs_f64()
    );
    println!();
    println!(
        "| target | keys | units per delivery | hottest key | its share | its units/s at the stated peak | before #27: hottest key, share, units/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let heat = proxy.heat();
    let before = heat
        .mapped(|target, key| match target {
            Some(_) => unsharded(key),
            None => key.to_owned(),
        })
        .by_target();
    for (target, h) in heat.by_target() {
        let name = target.clone().unwrap_or_else(|| "table".to_owned());
        let per_delivery = h.units / deliveries;
        let share = h.hottest_units / h.units;
        let old = &before[&target];
        let old_share = old.hottest_units / old.units;
        println!(
            "| {name} | {} | {per_delivery:.2} | `{}` | {:.2} % | {:.0} | `{}`, {:.1} %, {:.0} |",
            h.keys,
            h.hottest,
            100.0 * share,
            per_delivery * PEAK * share,
            old.hottest,
            100.0 * old_share,
            per_delivery * PEAK * old_share
        );
    }
    Ok(())
}
