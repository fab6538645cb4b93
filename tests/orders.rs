//! The orders feed end to end (`orders.query.get`): the feed machine, the Linkbest stand-in, the
//! real postback handler, DynamoDB Local, and the counting proxy for what re-reading costs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use shared::feed::{Mode, RunSummary, SyncError};
use shared::keys::{ORDER_SK, linkbest_order_pk};
use shared::linkbest::api::{ORDERS_SERVICE, SETTLEMENT_SERVICE};
use shared::linkbest::orders::{LISTED_ITEM_TYPE, ORDERS};
use shared::linkbest::postback::Postback;
use shared::linkbest::push::sign_hex;
use shared::linkbest::settings::SyncConfig;
use shared::linkbest::settlement::SETTLEMENT;
use shared::linkbest::sync::InvocationError;
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::feeds::{Sync, fail_at_every_page_position, sync_config};
use testkit::linkbest_standin::{Fault, Hostile, Order, StandIn, Trigger, generate, generate_orders, order};
use testkit::proxy::FaultyProxy;
use testkit::{
    Item, TestTable, attr_n, attr_s, body_text, client_via, endpoint, http_request, local_setting,
};
use time::OffsetDateTime;
use tokio::time::Instant;

const APP: (&str, &str) = ("2312521", "test-app-secret");
const DAY: i64 = 86_400;
const LAG: i64 = 300;

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn config(table: &TestTable, standin: &StandIn, lookback: i64) -> SyncConfig {
    sync_config(table, &standin.base_url(), APP, lookback)
}

fn orders_sync(table: &TestTable, config: &SyncConfig) -> Sync {
    Sync::new(table, config, APP, ORDERS.name)
}

async fn scheduled(sync: &Sync, owner: &str) -> Result<RunSummary, SyncError> {
    sync.run(Mode::Scheduled, owner, now(), far_deadline()).await
}

/// `count` orders updated over the `days` before now (minus the safety lag).
fn recent(count: usize, days: i64, seed: u64) -> Vec<Order> {
    let end = now().unix_timestamp() - LAG - 5;
    generate_orders(count, end - days * DAY + 60, end, seed, "SO-T-")
}

/// The listed-order records in the table, as OrderSn -> their rows' raw JSON.
async fn listed(table: &TestTable) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in table.scan().await {
        if attr_s(&item, "item_type") == Some(LISTED_ITEM_TYPE) {
            out.entry(attr_s(&item, "order_sn").unwrap().to_owned())
                .or_default()
                .push(attr_s(&item, "raw").unwrap().to_owned());
        }
    }
    for rows in out.values_mut() {
        rows.sort();
    }
    out
}

/// What the stand-in serves, in the same form.
/// The rows a run received in the pages it stored, from the stand-in's log of its requests (the
/// log from `first_request` on): every page-1 read of a (sub-)window whose rows do not fill a page.
/// Consecutive windows share their boundary second (README, "Linkbest open API"): an order updated
/// exactly there is received twice and written once, so this is the order count plus those.
fn rows_in_stored_pages(standin: &StandIn, first_request: usize, orders: &[Order], page_size: u32) -> u64 {
    standin.log()[first_request..]
        .iter()
        .filter(|l| l.service == ORDERS_SERVICE && l.page == Some(1) && l.refused.is_none())
        .map(|l| {
            let (stime, etime) = (l.stime.unwrap(), l.etime.unwrap());
            orders
                .iter()
                .filter(|o| (stime..=etime).contains(&o.update_ts))
                .count() as u64
        })
        .filter(|rows| *rows < u64::from(page_size))
        .sum()
}

fn source(orders: &[Order]) -> BTreeMap<String, Vec<String>> {
    orders
        .iter()
        .map(|o| (o.order_sn.clone(), vec![o.json.clone()]))
        .collect()
}

async fn view(table: &TestTable, order_sn: &str) -> Item {
    table
        .get(&linkbest_order_pk(order_sn), ORDER_SK)
        .await
        .expect("order view")
}

/// Delivers a signed push of `order_sn` with `status`, created at `create_time`.
async fn push(pb: &Postback, push_id: u64, create_time: i64, order_sn: &str, status: &str) -> String {
    let token = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"))[0]
        .expose()
        .to_owned();
    let ct = create_time.to_string();
    let sign = sign_hex(&token, "order.status", &push_id.to_string(), &ct);
    let body = format!(
        r#"{{"PushId":{push_id},"EventType":"order.status","CreateTime":{ct},"Sign":"{sign}","Data":{{"OrderSn":"{order_sn}","Status":"{status}","OrdersPrice":1.00}}}}"#
    );
    body_text(&pb.handle(http_request("POST", body)).await)
}

fn assert_no_violations(standin: &StandIn) {
    let violations = standin.violations();
    assert!(
        violations.is_empty(),
        "requests the API would refuse: {violations:?}"
    );
}

#[tokio::test]
async fn listed_only_orders_are_stored_counted_once_and_shape_the_view() {
    let table = TestTable::create().await;
    let orders = recent(450, 2, 1);
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(orders.clone());
    let config = config(&table, &standin, 2 * DAY);
    let sync = orders_sync(&table, &config);

    let summary = scheduled(&sync, "run-1").await.unwrap();
    assert_eq!(summary.result, "completed", "{summary:?}");
    assert!(
        summary.pages > summary.windows_planned as u64,
        "several pages: {summary:?}"
    );
    assert_eq!(
        listed(&table).await,
        source(&orders),
        "stored set equals the source set"
    );
    assert_eq!(
        summary.counts.found_only_by_poll, 450,
        "every order found only by poll"
    );
    assert_eq!(summary.counts.items_written, 450);

    let o = &orders[17];
    let v = view(&table, &o.order_sn).await;
    assert_eq!(attr_s(&v, "status"), Some(o.status.as_str()));
    assert_eq!(attr_s(&v, "list_status"), Some(o.status.as_str()));
    assert_eq!(
        attr_s(&v, "orders_price"),
        Some(o.orders_price.as_str()),
        "exact text"
    );
    assert_eq!(attr_s(&v, "currency"), Some("CNY"));
    assert!(attr_s(&v, "listed_at").is_some() && attr_s(&v, "push_version").is_none());

    // Read again (the next run's overlap, then a backfill of everything): nothing new, nothing
    // counted again.
    let again = scheduled(&sync, "run-2").await.unwrap();
    assert_eq!(
        (again.counts.items_written, again.counts.found_only_by_poll),
        (0, 0),
        "{again:?}"
    );
    let (start, end) = (now().unix_timestamp() - 3 * DAY, now().unix_timestamp());
    let first_request = standin.log().len();
    let backfill = sync
        .run(
            Mode::Backfill { from: start, to: end },
            "b",
            now(),
            far_deadline(),
        )
        .await
        .unwrap();
    let received = rows_in_stored_pages(&standin, first_request, &orders, config.orders.page_size);
    assert!(received >= 450, "every order at least once");
    assert_eq!(backfill.counts.rows_received, received);
    assert_eq!(
        (backfill.counts.items_written, backfill.counts.found_only_by_poll),
        (0, 0)
    );
    assert_eq!(listed(&table).await, source(&orders));
    assert_no_violations(&standin);
}

#[tokio::test]
async fn pushed_and_listed_orders_are_not_counted_missed_and_the_newest_information_wins() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let pb = testkit::local_postback(&table, store.clone());
    let t = now().unix_timestamp() - LAG - 3_600;
    // SO-A: pushed (status 0), then listed with the same status.
    // SO-B: pushed (status 0), listed with status 1: a status only the poll told.
    // SO-C: never pushed.
    assert_eq!(push(&pb, 9_001, t - 100, "SO-A", "0").await, "1");
    assert_eq!(push(&pb, 9_002, t - 100, "SO-B", "0").await, "1");
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(vec![
        order("SO-A", t, "0", 100),
        order("SO-B", t, "1", 100),
        order("SO-C", t, "1", 100),
    ]);
    let sync = orders_sync(&table, &config(&table, &standin, DAY));

    let summary = scheduled(&sync, "run-1").await.unwrap();
    assert_eq!(summary.counts.found_only_by_poll, 1, "only SO-C: {summary:?}");
    assert_eq!(
        summary.counts.status_found_only_by_poll, 1,
        "only SO-B: {summary:?}"
    );
    assert_eq!(
        attr_s(&view(&table, "SO-B").await, "status"),
        Some("1"),
        "the newer listing wins"
    );
    assert_eq!(attr_s(&view(&table, "SO-B").await, "push_status"), Some("0"));

    // A push arriving late (created before the listing) for the order the poll found first: a
    // normal store that leaves the view on the newer listing.
    assert_eq!(
        push(&pb, 9_003, t - 50, "SO-C", "0").await,
        "1",
        "stored, not an error"
    );
    assert_eq!(attr_s(&view(&table, "SO-C").await, "status"), Some("1"));
    // A push created after the listing wins.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let after = now().unix_timestamp();
    assert_eq!(push(&pb, 9_004, after, "SO-C", "2").await, "1");
    let v = view(&table, "SO-C").await;
    assert_eq!(
        (attr_s(&v, "status"), attr_s(&v, "last_push_id")),
        (Some("2"), Some("9004"))
    );
    // Reading the list again changes nothing and counts nothing: the push is newer.
    let again = scheduled(&sync, "run-2").await.unwrap();
    assert_eq!(
        (again.counts.items_written, again.counts.found_only_by_poll),
        (0, 0)
    );
    assert_eq!(attr_s(&view(&table, "SO-C").await, "status"), Some("2"));

    // The order changes again at Linkbest: the new listing (newer than every push) wins.
    standin.add_orders(vec![order("SO-C", now().unix_timestamp() - LAG - 10, "-1", 100)]);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let later = sync
        .run(
            Mode::Scheduled,
            "run-3",
            now() + time::Duration::seconds(120),
            far_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(later.counts.items_written, 1, "{later:?}");
    assert_eq!(
        later.counts.status_found_only_by_poll, 1,
        "no push ever told -1: {later:?}"
    );
    assert_eq!(attr_s(&view(&table, "SO-C").await, "status"), Some("-1"));
    let rows = listed(&table).await;
    assert_eq!(rows["SO-C"].len(), 2, "both listings kept as received");

    // The operator's views: the findings in a time range (one index query), and one order's
    // channels side by side.
    let ops = ops::Ops::new(table.client.clone(), &table.name);
    let found = ops
        .missed(now().unix_timestamp() - 3_600, now().unix_timestamp() + 3_600)
        .await
        .unwrap();
    let found: Vec<(&str, &str)> = found
        .iter()
        .map(|i| (attr_s(i, "order_sn").unwrap(), attr_s(i, "finding").unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("SO-B", "status_found_only_by_poll"),
            ("SO-C", "order_found_only_by_poll"),
            ("SO-C", "status_found_only_by_poll")
        ],
        "SO-C's -1 came only from the list, after its newest push (status 2)"
    );
    assert!(
        ops.missed(0, 1_000).await.unwrap().is_empty(),
        "nothing outside the range"
    );
    let report = ops.order("SO-C").await.unwrap();
    assert_eq!(
        (report.linkbest.len(), report.pushes.len(), report.listed.len()),
        (1, 2, 2),
        "view, pushes and list rows"
    );
    assert_no_violations(&standin);
}

#[tokio::test]
async fn re_reading_a_window_of_known_orders_costs_no_write() {
    let Some(upstream) = Some(endpoint()).filter(|e| e.starts_with("http://")) else {
        eprintln!("skipped: no proxy in front of an HTTPS endpoint");
        return;
    };
    let proxy = FaultyProxy::start(&upstream).await;
    let table = TestTable::create().await;
    let orders = recent(500, 1, 3);
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(orders.clone());
    let config = config(&table, &standin, DAY);
    let client = client_via(&proxy.endpoint(), &table.store_config()).await;
    let sync = Sync::with_client(client, &config, APP, ORDERS.name);
    scheduled(&sync, "first").await.unwrap();

    let before = proxy.calls();
    let first_request = standin.log().len();
    let (from, to) = (now().unix_timestamp() - 2 * DAY, now().unix_timestamp());
    let summary = sync
        .run(Mode::Backfill { from, to }, "again", now(), far_deadline())
        .await
        .unwrap();
    let after = proxy.calls();
    let spent: BTreeMap<&str, u64> = after
        .iter()
        .map(|(op, n)| (op.as_str(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let received = rows_in_stored_pages(&standin, first_request, &orders, config.orders.page_size);
    assert!(received >= 500, "every order at least once");
    assert_eq!(summary.counts.rows_received, received);
    // One BatchGetItem per 100 rows of each stored page (full pages cut the window in halves and
    // are not stored), the lease taken and given back (#28.7), and nothing else at all.
    assert_eq!(
        spent.keys().copied().collect::<Vec<_>>(),
        ["BatchGetItem", "UpdateItem"],
        "{spent:?}"
    );
    assert_eq!(spent["UpdateItem"], 2, "the lease, taken and released: {spent:?}");
    let reads = spent["BatchGetItem"];
    assert!(
        (5..=10).contains(&reads),
        "{reads} reads for 500 rows: {summary:?}"
    );
    assert!(
        summary.counts.rows_probed > 0,
        "the day of 500 orders was cut in halves"
    );
    assert_eq!(
        summary.counts.dynamodb_calls,
        reads + 2,
        "the reads and the lease"
    );
    assert_eq!(summary.counts.items_written, 0);
}

#[tokio::test]
async fn a_persistent_failure_at_any_page_position_loses_and_doubles_nothing() {
    let orders = recent(50, 2, 4);
    let at = now();
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(orders.clone());
    let scratch = TestTable::create().await;
    let mut config = config(&scratch, &standin, 2 * DAY);
    config.orders.page_size = 10;
    let check = async |table: &TestTable, position: &str| {
        assert_eq!(listed(table).await, source(&orders), "{position}");
        // Every order found only by poll was counted exactly once over both runs.
        let counted = table
            .scan()
            .await
            .iter()
            .filter(|i| attr_s(i, "finding") == Some("order_found_only_by_poll"))
            .count();
        assert_eq!(counted, orders.len());
    };
    let feed = (APP, ORDERS.name);
    fail_at_every_page_position(&standin, &scratch, &config, feed, at, check).await;
    assert_no_violations(&standin);
}

#[tokio::test]
async fn a_run_killed_mid_window_is_completed_by_the_next() {
    let table = TestTable::create().await;
    let orders = recent(300, 2, 5);
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(orders.clone());
    let mut config = config(&table, &standin, 2 * DAY);
    config.orders.page_size = 50;
    // After a few requests every answer is slow: the run is killed while it waits, after some
    // sub-windows were stored.
    for n in 5..300 {
        standin.fail(Trigger::Request(n), Fault::Delay(Duration::from_secs(5)), 1);
    }
    let sync = orders_sync(&table, &config);
    let run = tokio::spawn(async move { scheduled(&sync, "killed").await });
    while standin.log().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.abort();
    let _ = run.await;
    assert!(
        !listed(&table).await.is_empty(),
        "sub-windows were stored before the kill"
    );
    // The checkpoint moved with the sub-windows stored (none of the first window's whole day was
    // complete), never past an order not stored.
    let key = ORDERS.checkpoint;
    let checkpoint: i64 = table
        .get(key.pk, key.sk)
        .await
        .and_then(|i| attr_n(&i, "checkpoint").and_then(|c| c.parse().ok()))
        .expect("the sub-windows stored moved the checkpoint");
    let stored = listed(&table).await;
    let under: Vec<&Order> = orders.iter().filter(|o| o.update_ts <= checkpoint).collect();
    assert!(!under.is_empty() && under.len() < orders.len(), "{checkpoint}");
    assert!(under.iter().all(|o| stored.contains_key(&o.order_sn)));
    standin.heal();
    let sync = orders_sync(&table, &config);
    let later = now() + time::Duration::minutes(12);
    let summary = sync
        .run(Mode::Scheduled, "after-expiry", later, far_deadline())
        .await
        .unwrap();
    assert_eq!(summary.result, "completed");
    assert_eq!(listed(&table).await, source(&orders));
}

#[tokio::test]
async fn one_failing_feed_does_not_stop_the_other() {
    for failing in [SETTLEMENT_SERVICE, ORDERS_SERVICE] {
        let table = TestTable::create().await;
        let end = now().unix_timestamp() - LAG - 5;
        let standin = StandIn::start(APP.0, APP.1, generate(150, end - DAY + 60, end, 6)).await;
        standin.add_orders(recent(150, 1, 6));
        standin.fail(Trigger::Service(failing), Fault::ServerError, 10_000);
        let sync = Sync::new(&table, &config(&table, &standin, DAY), APP, ORDERS.name);

        // What a schedule without a feed (and `make invoke` with `{}`) runs: every feed.
        let result = sync.sync.invoke(&json!({}), "all", now(), far_deadline()).await;
        let Err(InvocationError::FeedsFailed { failed, result }) = result else {
            panic!("{failing}: the invocation must fail: {result:?}");
        };
        let (bad, good) = if failing == SETTLEMENT_SERVICE {
            (SETTLEMENT, ORDERS)
        } else {
            (ORDERS, SETTLEMENT)
        };
        assert_eq!(failed, [bad.name]);
        assert_eq!(result[bad.name]["result"], "failed");
        assert_eq!(result[good.name]["result"], "completed", "{result}");
        let checkpoint = |key: shared::feed::CheckpointKey| {
            let table = &table;
            async move {
                table
                    .get(key.pk, key.sk)
                    .await
                    .and_then(|i| attr_n(&i, "checkpoint").map(str::to_owned))
            }
        };
        assert!(
            checkpoint(good.checkpoint).await.is_some(),
            "{} advanced",
            good.name
        );
        assert!(checkpoint(bad.checkpoint).await.is_none(), "{} did not", bad.name);
    }
}

#[tokio::test]
async fn a_backfill_of_one_feed_leaves_every_checkpoint_alone() {
    let table = TestTable::create().await;
    let (from, to) = (1_762_000_000, 1_762_000_000 + DAY + 500);
    let old = generate_orders(80, from, to - 1, 7, "SO-OLD-");
    let outside = generate_orders(5, to + 10, to + 100, 8, "SO-OUT-");
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(old.iter().chain(&outside).cloned().collect());
    let sync = Sync::new(&table, &config(&table, &standin, DAY), APP, ORDERS.name);
    let result = sync
        .sync
        .invoke(
            &json!({"feed": "orders", "from": from, "to": to}),
            "bf",
            now(),
            far_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(result["orders"]["mode"], "backfill");
    assert_eq!(result["orders"]["windows_planned"], 2);
    assert!(result.get("settlement").is_none(), "only the feed asked for");
    assert_eq!(listed(&table).await, source(&old), "exactly the range");
    // The backfill took (and gave back) its own feed's lease on the checkpoint item, and set no
    // checkpoint; the other feed's item was never touched.
    let orders_item = table
        .get(ORDERS.checkpoint.pk, ORDERS.checkpoint.sk)
        .await
        .expect("the lease's item");
    assert_eq!(attr_n(&orders_item, "checkpoint"), None, "no checkpoint set");
    assert_eq!(attr_s(&orders_item, "lease_owner"), None, "the lease released");
    assert!(
        table
            .get(SETTLEMENT.checkpoint.pk, SETTLEMENT.checkpoint.sk)
            .await
            .is_none(),
        "the other feed untouched"
    );
}

#[tokio::test]
async fn hostile_list_pages_are_refused_whole_and_fail_only_their_feed() {
    for hostile in [
        Hostile::TooManyRows,
        Hostile::RowNotObject,
        Hostile::UnknownWrapper,
        Hostile::DataWrongType,
        Hostile::HugeBody,
    ] {
        let table = TestTable::create().await;
        let end = now().unix_timestamp() - LAG - 5;
        let standin = StandIn::start(APP.0, APP.1, generate(40, end - DAY + 60, end, 9)).await;
        standin.add_orders(recent(40, 1, 9));
        // Every orders page is hostile, on every attempt.
        standin.fail(Trigger::Service(ORDERS_SERVICE), Fault::Hostile(hostile), 10_000);
        let sync = Sync::new(&table, &config(&table, &standin, DAY), APP, ORDERS.name);
        let result = sync.sync.invoke(&json!({}), "all", now(), far_deadline()).await;
        let Err(InvocationError::FeedsFailed { failed, result }) = result else {
            panic!("{hostile:?}: must fail: {result:?}");
        };
        assert_eq!(failed, ["orders"], "{hostile:?}");
        assert!(
            result["orders"]["error"]
                .as_str()
                .unwrap()
                .contains("page refused"),
            "{hostile:?}: {result}"
        );
        assert_eq!(result["settlement"]["result"], "completed", "{hostile:?}");
        assert!(
            listed(&table).await.is_empty(),
            "{hostile:?}: nothing half-written"
        );
        assert!(
            table
                .get(ORDERS.checkpoint.pk, ORDERS.checkpoint.sk)
                .await
                .and_then(|i| attr_n(&i, "checkpoint").map(str::to_owned))
                .is_none(),
            "{hostile:?}: the orders checkpoint did not move"
        );
    }
}

#[tokio::test]
async fn orders_updated_while_their_window_is_read_never_make_another_order_be_skipped() {
    let table = TestTable::create().await;
    let end = now().unix_timestamp() - LAG - 600;
    let orders = generate_orders(300, end - 6 * 3_600, end, 12, "SO-MOVE-");
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(orders.clone());
    let mut config = config(&table, &standin, DAY);
    config.orders.page_size = 50;
    // Every answer takes a little while, so the updates below land while the window is read.
    for n in 1..400 {
        standin.fail(Trigger::Request(n), Fault::Delay(Duration::from_millis(30)), 1);
    }
    let moving = standin.clone();
    let mover = tokio::spawn(async move {
        while moving.log().len() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The 40 earliest orders change at Linkbest: they leave their place in the window (with
        // offset pages, every row behind them would shift and rows would be skipped).
        let mut first: Vec<Order> = moving.orders().into_iter().take(40).collect();
        let later = now().unix_timestamp() - LAG - 60;
        for o in &mut first {
            *o = order(&o.order_sn, later, "1", 100);
        }
        moving.add_orders(first);
    });
    let sync = orders_sync(&table, &config);
    scheduled(&sync, "run-1").await.unwrap();
    mover.await.unwrap();
    let stored = listed(&table).await;
    // Every order is stored: the moved ones in their first or their new state, every other exactly
    // as served.
    for o in &orders {
        assert!(stored.contains_key(&o.order_sn), "{} was skipped", o.order_sn);
    }
    let current: BTreeMap<String, Order> = standin
        .orders()
        .into_iter()
        .map(|o| (o.order_sn.clone(), o))
        .collect();
    for (sn, rows) in &stored {
        let now_served = &current[sn].json;
        let first_served = orders.iter().find(|o| &o.order_sn == sn).map(|o| &o.json);
        assert!(
            rows.iter().all(|r| r == now_served || Some(r) == first_served),
            "{sn}: only rows the source served"
        );
    }
    assert_no_violations(&standin);
}

/// One row whose `OrderSn` cannot be a key, on every page: kept once under `LB#UNLINKED` and
/// counted, while every other order is stored and the checkpoint moves on (it used to refuse
/// every page, so the feed froze on that window for good).
#[tokio::test]
async fn a_row_without_a_usable_order_sn_is_kept_unlinked_and_the_feed_moves_on() {
    let table = TestTable::create().await;
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    let orders = recent(40, 1, 21);
    standin.add_orders(orders.clone());
    standin.fail(
        Trigger::Service(ORDERS_SERVICE),
        Fault::Hostile(Hostile::BadOrderSn),
        10_000,
    );
    let sync = orders_sync(&table, &config(&table, &standin, DAY));
    let summary = scheduled(&sync, "run-unlinked").await.expect("the run completes");
    assert_eq!(summary.result, "completed");
    assert_eq!(listed(&table).await, source(&orders), "every usable order stored");
    assert_eq!(summary.counts.rows_unlinked, 1, "the same odd row, kept once");
    let unlinked: Vec<Item> = table
        .scan()
        .await
        .into_iter()
        .filter(|i| attr_s(i, "pk") == Some("LB#UNLINKED"))
        .collect();
    assert_eq!(unlinked.len(), 1);
    assert!(attr_s(&unlinked[0], "raw").unwrap().contains("bad sn"));
    assert!(attr_s(&unlinked[0], "unlinked_reason").is_some());
    assert!(
        table
            .get(ORDERS.checkpoint.pk, ORDERS.checkpoint.sk)
            .await
            .and_then(|i| attr_n(&i, "checkpoint").map(str::to_owned))
            .is_some(),
        "the checkpoint moved"
    );
}

/// A server that serves fewer rows a page than `PageSize` asks (here 30 of 200), and wraps them
/// as `{"List":[…],"Total":n}`: no window ends early and no wrapper is stored as a row.
#[tokio::test]
async fn a_server_side_page_cap_and_wrapped_pages_lose_nothing() {
    for feed in [ORDERS.name, SETTLEMENT.name] {
        let table = TestTable::create().await;
        let end = now().unix_timestamp() - LAG - 5;
        let changes = generate(150, end - DAY + 60, end, 31);
        let standin = StandIn::start(APP.0, APP.1, changes.clone()).await;
        let orders = recent(150, 1, 31);
        standin.add_orders(orders.clone());
        standin.set_page_cap(Some(30));
        standin.set_wrapped_pages(true);
        let sync = Sync::new(&table, &config(&table, &standin, DAY), APP, feed);
        let summary = scheduled(&sync, "run-capped").await.expect("the run completes");
        assert_eq!(summary.result, "completed", "{feed}");
        if feed == ORDERS.name {
            assert_eq!(listed(&table).await, source(&orders), "{feed}: every order");
        } else {
            let stored = table
                .scan()
                .await
                .into_iter()
                .filter(|i| attr_s(i, "item_type") == Some("linkbest_settlement_change"))
                .count();
            assert_eq!(stored, changes.len(), "{feed}: every change");
        }
    }
}

/// Linkbest reverts an order's status without a push (it pushes only created, confirmed,
/// settled and invalidated): the list returns the very row the view once took, after a newer
/// push moved the view. Read for a window starting after that push (so the order was updated
/// after it), the row is applied and counted as a status found only by poll; read for a window
/// that starts before the push, it cannot be told from a re-read and changes nothing.
#[tokio::test]
async fn a_status_reverted_without_a_push_is_not_hidden_by_the_digest() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let pb = testkit::local_postback(&table, store);
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    let sync = orders_sync(&table, &config(&table, &standin, DAY));
    let backfill = |from: i64, to: i64, owner: &'static str| {
        let sync = &sync;
        async move {
            sync.run(Mode::Backfill { from, to }, owner, now(), far_deadline())
                .await
                .unwrap()
        }
    };

    // Listed first with status 0.
    let base = now().unix_timestamp() - 3_600;
    let first = order("SO-REV", base, "0", 500);
    standin.add_orders(vec![first.clone()]);
    backfill(base - 10, base + 10, "list-1").await;
    assert_eq!(attr_s(&view(&table, "SO-REV").await, "status"), Some("0"));

    // Then a push, created after that listing, moves the view to 1.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let pushed_at = now().unix_timestamp();
    assert_eq!(push(&pb, 9_501, pushed_at, "SO-REV", "1").await, "1");
    assert_eq!(attr_s(&view(&table, "SO-REV").await, "status"), Some("1"));

    // Linkbest reverts the order to 0 after the push: the list row is byte for byte the first.
    standin.add_orders(vec![Order {
        update_ts: pushed_at + 30,
        ..first.clone()
    }]);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // A window that starts before the push, as every scheduled window does (it starts at the
    // checkpoint less the overlap): the row alone cannot tell a revert from a re-read, so the
    // feed asks again for the part after the push (#28.8) — one more request — and finds the
    // order there: updated after the push.
    let reverted = backfill(pushed_at - 10, pushed_at + 60, "list-2").await;
    assert_eq!(reverted.counts.views_updated, 1, "{reverted:?}");
    assert_eq!(reverted.counts.status_found_only_by_poll, 1, "{reverted:?}");
    assert_eq!(
        reverted.http_requests,
        reverted.pages as u64 + 1,
        "the window's pages and the part after the push: {reverted:?}"
    );
    let v = view(&table, "SO-REV").await;
    assert_eq!(attr_s(&v, "status"), Some("0"), "the revert is not hidden");
    assert_eq!(attr_s(&v, "push_status"), Some("1"));
    // The other side: an order the list last showed just before its push, unchanged since (its
    // update time is before the push). The same kind of window finds nothing after the push, so
    // the push's status stands: no revert is invented.
    let updated = now().unix_timestamp() - 5;
    standin.add_orders(vec![order("SO-STILL", updated, "0", 700)]);
    backfill(updated - 10, updated + 1, "list-still-1").await;
    assert_eq!(attr_s(&view(&table, "SO-STILL").await, "status"), Some("0"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let pushed_still = now().unix_timestamp();
    assert_eq!(push(&pb, 9_502, pushed_still, "SO-STILL", "1").await, "1");
    assert_eq!(attr_s(&view(&table, "SO-STILL").await, "status"), Some("1"));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let stands = backfill(pushed_still - 10, pushed_still + 60, "list-still-2").await;
    assert_eq!(
        attr_s(&view(&table, "SO-STILL").await, "status"),
        Some("1"),
        "{stands:?}"
    );
    assert_eq!(stands.counts.status_found_only_by_poll, 0, "{stands:?}");
    assert_eq!(
        stands.http_requests,
        stands.pages as u64 + 1,
        "it asked, and found nothing after the push"
    );

    // Read once more: the view holds that listing now; nothing is written or counted again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let again = backfill(pushed_at + 1, pushed_at + 60, "list-4").await;
    assert_eq!(
        (again.counts.views_updated, again.counts.status_found_only_by_poll),
        (0, 0),
        "{again:?}"
    );
}

/// A window that holds ten times what one run can read: runs that each have time for a tenth of
/// the window's pages (then stop as at the Lambda deadline). Every run moves the checkpoint on,
/// every order is stored once, and all the runs together ask for at most 2.5 pages per page the
/// window holds. (Issue #27: a window fuller than a run used to be read again from its start by
/// every run, for ever.)
async fn a_window_ten_runs_long(count: usize, page_size: u32, seed: u64) {
    let table = TestTable::create().await;
    let orders = recent(count, 1, seed);
    let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
    standin.add_orders(orders.clone());
    let mut config = config(&table, &standin, DAY);
    config.orders.page_size = page_size;
    let sync = orders_sync(&table, &config);
    let pages = (count as u32).div_ceil(page_size);
    let checkpoints = sync
        .runs_until_caught_up(pages / 10, async |summary: &RunSummary| {
            summary.checkpoint_after.expect("a checkpoint after every run")
        })
        .await;
    assert!(
        checkpoints.len() >= 8,
        "a tenth of the pages a run: {checkpoints:?}"
    );
    let requests = standin
        .log()
        .iter()
        .filter(|l| l.service == ORDERS_SERVICE)
        .count() as f64;
    assert!(
        requests <= 2.5 * f64::from(pages),
        "{requests} requests for a window of {pages} pages over {} runs",
        checkpoints.len()
    );
    eprintln!(
        "orders window of {count} rows ({pages} pages of {page_size}): {} runs, {requests} requests ({:.2} a page)",
        checkpoints.len(),
        requests / f64::from(pages)
    );
    if count <= 20_000 {
        assert_eq!(listed(&table).await, source(&orders), "every order, once");
    } else {
        // DynamoDB Local cannot scan a table this size: every order's view, by key.
        let views: Vec<(String, String)> = orders
            .iter()
            .map(|o| (linkbest_order_pk(&o.order_sn), ORDER_SK.to_owned()))
            .collect();
        assert_eq!(table.missing(&views).await, Vec::<(String, String)>::new());
    }
    assert_no_violations(&standin);
}

#[tokio::test]
async fn a_window_fuller_than_a_run_moves_the_checkpoint_with_every_run() {
    // 200 pages (the full size below: 100,000 orders, 500 pages of 200).
    a_window_ten_runs_long(5_000, 25, 21).await;
}

#[tokio::test]
#[ignore = "full size, minutes on DynamoDB Local: cargo test -p integration-tests --test integration -- --ignored full_size"]
async fn full_size_a_window_of_100000_orders_moves_the_checkpoint_with_every_run() {
    a_window_ten_runs_long(100_000, 200, 22).await;
}

/// Issue #28.8 with the schedule's own windows, not hand-picked ones: an order listed by one
/// scheduled run, then pushed to a new status, then reverted by Linkbest without a push `delay`
/// seconds later; the next scheduled run's window starts at the checkpoint less the overlap,
/// before the push. Whatever the delay, the revert is applied and counted, once.
#[tokio::test]
async fn a_revert_soon_after_a_push_is_seen_by_the_next_scheduled_run() {
    let real_now = now().unix_timestamp();
    for (i, delay) in [1i64, 60, 600].into_iter().enumerate() {
        let table = TestTable::create().await;
        let store = Store::from_config(table.client.clone(), &table.store_config());
        let pb = testkit::local_postback(&table, store);
        let standin = StandIn::start(APP.0, APP.1, Vec::new()).await;
        let mut config = config(&table, &standin, 2 * DAY);
        config.orders.windows.safety_lag = LAG;
        let sync = orders_sync(&table, &config);
        let at = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).unwrap();
        let sn = format!("SO-SCHED-{i}");
        // The first run now; the order updated before its window's end.
        let first = order(&sn, real_now - LAG - 100, "0", 500);
        standin.add_orders(vec![first.clone()]);
        let run1 = sync
            .run(Mode::Scheduled, "run-1", now(), far_deadline())
            .await
            .unwrap();
        assert_eq!(attr_s(&view(&table, &sn).await, "status"), Some("0"), "{run1:?}");
        // The push a moment later (its CreateTime after that listing, as in life).
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let pushed = now().unix_timestamp();
        assert_eq!(push(&pb, 9_600 + i as u64, pushed, &sn, "1").await, "1");
        assert_eq!(attr_s(&view(&table, &sn).await, "status"), Some("1"));
        standin.add_orders(vec![Order {
            update_ts: pushed + delay,
            ..first.clone()
        }]);
        // The next scheduled run once the revert is behind the safety lag (its clock given; it
        // lists a moment after the push, as in life).
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let n2 = pushed + delay + LAG + 10;
        let run2 = sync
            .run(Mode::Scheduled, "run-2", at(n2), far_deadline())
            .await
            .unwrap();
        let v = view(&table, &sn).await;
        assert_eq!(
            attr_s(&v, "status"),
            Some("0"),
            "delay {delay}: the revert is seen: {run2:?}"
        );
        assert_eq!(
            run2.counts.status_found_only_by_poll, 1,
            "delay {delay}: {run2:?}"
        );
        let run3 = sync
            .run(Mode::Scheduled, "run-3", at(n2 + 600), far_deadline())
            .await
            .unwrap();
        assert_eq!(run3.counts.status_found_only_by_poll, 0, "counted once: {run3:?}");
    }
}
