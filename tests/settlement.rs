//! The settlement feed end to end: the feed machine, the local Linkbest stand-in, DynamoDB Local.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::value::RawValue;
use shared::feed::windows::{OffsetResume, Resume};
use shared::feed::{Mode, PageRequest, RunSummary, SyncError};
use shared::keys::{LINKBEST_SYNC_PK, SETTLEMENT_CHECKPOINT_SK};
use shared::linkbest::api::DEFAULT_BASE_URL;
use shared::linkbest::client::{LinkbestClient, RetrySettings};
use shared::linkbest::settings::SyncConfig;
use shared::linkbest::settlement::{SETTLEMENT, change_record, parse_changes};
use shared::secret::Secret;
use shared::store::Store;
use shared::store::checkpoint::Lease;
use testkit::feeds::{Sync, fail_at_every_page_position, sync_config};
use testkit::linkbest_standin::{Change, Fault, StandIn, Trigger, generate, identity_counts};
use testkit::{TestTable, attr_n, attr_s};
use time::OffsetDateTime;
use tokio::time::Instant;

const APP_KEY: &str = "2312521";
const APP_SECRET: &str = "test-app-secret";
const DAY: i64 = 86_400;
const LAG: i64 = 300;

const APP: (&str, &str) = (APP_KEY, APP_SECRET);

fn config(table: &TestTable, base_url: &str, lookback: i64) -> SyncConfig {
    let mut config = sync_config(table, base_url, APP, lookback);
    config.settlement.windows.safety_lag = LAG;
    config
}

/// The same settings with pages of 50, so a few hundred changes make many pages.
fn small_pages(mut config: SyncConfig) -> SyncConfig {
    config.settlement.page_size = 50;
    config
}

fn sync_with(table: &TestTable, config: &SyncConfig) -> Sync {
    Sync::new(table, config, APP, SETTLEMENT.name)
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(600)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

async fn scheduled(sync: &Sync, owner: &str) -> Result<RunSummary, SyncError> {
    sync.run(Mode::Scheduled, owner, now(), far_deadline()).await
}

/// The stored settlement changes as (OrderSn, ModifyAt, ConfirmPrice) counts.
async fn stored_changes(table: &TestTable) -> HashMap<String, usize> {
    let items = table.scan().await;
    identity_counts(
        items
            .iter()
            .filter(|i| attr_s(i, "item_type") == Some("linkbest_settlement_change"))
            .map(|i| {
                (
                    attr_s(i, "order_sn").unwrap_or("-"),
                    attr_s(i, "modify_at").unwrap_or("-"),
                    attr_s(i, "confirm_price").unwrap_or("-"),
                )
            }),
    )
}

fn expected(changes: &[Change]) -> HashMap<String, usize> {
    identity_counts(changes.iter().map(|c| {
        (
            c.order_sn.as_str(),
            c.modify_at.as_str(),
            c.confirm_price.as_str(),
        )
    }))
}

async fn checkpoint(table: &TestTable) -> Option<i64> {
    let item = table.get(LINKBEST_SYNC_PK, SETTLEMENT_CHECKPOINT_SK).await?;
    attr_n(&item, "checkpoint").and_then(|n| n.parse().ok())
}

fn assert_no_violations(standin: &StandIn) {
    let violations = standin.violations();
    assert!(
        violations.is_empty(),
        "requests the API would refuse: {violations:?}"
    );
    assert!(
        standin
            .log()
            .iter()
            .all(|l| l.etime.unwrap() - l.stime.unwrap() <= DAY),
        "a window exceeded one day"
    );
}

/// A data set of `count` changes over the `days` before now (minus the safety lag).
fn recent(count: usize, days: i64, seed: u64) -> Vec<Change> {
    let end = now().unix_timestamp() - LAG - 5;
    generate(count, end - days * DAY + 60, end, seed)
}

#[tokio::test]
async fn a_three_day_gap_of_1000_changes_is_stored_once_over_many_pages() {
    let table = TestTable::create().await;
    let data = recent(1_000, 3, 1);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let sync = sync_with(&table, &config(&table, &standin.base_url(), 3 * DAY));

    let summary = scheduled(&sync, "run-1").await.unwrap();

    assert_eq!(summary.result, "completed");
    assert!(summary.windows_planned >= 3, "{summary:?}");
    assert!(
        summary.pages > summary.windows_planned as u64,
        "several pages per window: {summary:?}"
    );
    let stored = stored_changes(&table).await;
    assert_eq!(stored, expected(&data), "stored set equals the data set");
    assert!(stored.values().all(|n| *n == 1), "no change stored twice");
    let cp = checkpoint(&table).await.unwrap();
    assert!(
        (now().unix_timestamp() - LAG - cp).abs() < 60,
        "checkpoint at now - lag"
    );
    assert_eq!(summary.checkpoint_after, Some(cp));
    assert_no_violations(&standin);

    // The next run (a few seconds later: in the very second the first ended there is nothing to
    // read, and it answers up_to_date) re-reads only the overlap and changes nothing.
    let again = sync
        .run(
            Mode::Scheduled,
            "run-2",
            now() + time::Duration::seconds(5),
            far_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(again.windows_planned, 1, "{again:?}");
    assert_eq!(stored_changes(&table).await, expected(&data));
}

#[tokio::test]
async fn a_failure_on_a_middle_page_keeps_the_checkpoint_and_the_next_run_completes() {
    let table = TestTable::create().await;
    let data = recent(360, 3, 2);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let config = small_pages(config(&table, &standin.base_url(), 3 * DAY));
    let sync = sync_with(&table, &config);
    let first_window_start = now().unix_timestamp() - LAG - 3 * DAY - 3_600;
    let second_window = first_window_start + DAY;
    // Page 2 of the second window fails more often than the client retries.
    standin.fail(
        Trigger::WindowPage {
            stime: second_window,
            page: 2,
        },
        Fault::ServerError,
        100,
    );

    let err = scheduled(&sync, "run-1").await.unwrap_err();
    assert!(matches!(err, SyncError::Fetch { page: 2, .. }), "{err}");
    assert_eq!(
        checkpoint(&table).await,
        Some(second_window),
        "only the first window counts as synced"
    );

    standin.heal();
    let summary = scheduled(&sync, "run-2").await.unwrap();
    assert_eq!(summary.result, "completed");
    let stored = stored_changes(&table).await;
    assert_eq!(stored, expected(&data));
    assert!(stored.values().all(|n| *n == 1));
    assert_no_violations(&standin);
}

#[tokio::test]
async fn transient_failures_of_every_kind_are_retried() {
    let table = TestTable::create().await;
    let data = recent(250, 1, 3);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let mut config = small_pages(config(&table, &standin.base_url(), DAY));
    config.retry.max_attempts = 6;
    let sync = sync_with(&table, &config);
    standin.fail(Trigger::Request(1), Fault::ServerError, 1);
    standin.fail(Trigger::Request(2), Fault::MalformedJson, 1);
    standin.fail(Trigger::Request(3), Fault::StatusError, 1);
    standin.fail(Trigger::Request(4), Fault::Delay(Duration::from_secs(3)), 1);
    standin.fail(Trigger::Request(6), Fault::RateLimited, 1);

    let summary = scheduled(&sync, "run-1").await.unwrap();

    assert_eq!(summary.result, "completed");
    assert!(summary.http_requests >= summary.pages + 5, "{summary:?}");
    assert_eq!(stored_changes(&table).await, expected(&data));
    let faults: Vec<_> = standin.log().iter().filter_map(|l| l.fault).collect();
    assert_eq!(faults.len(), 5, "every injected fault was hit: {faults:?}");
    assert_no_violations(&standin);
}

#[tokio::test]
async fn two_runs_started_at_once_store_everything_exactly_once() {
    let table = TestTable::create().await;
    let data = recent(300, 2, 4);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let config = small_pages(config(&table, &standin.base_url(), 2 * DAY));
    let (a, b) = (sync_with(&table, &config), sync_with(&table, &config));

    let (ra, rb) = tokio::join!(scheduled(&a, "run-a"), scheduled(&b, "run-b"));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());

    let results = [ra.result, rb.result];
    assert!(results.contains(&"completed"), "{results:?}");
    assert!(
        results.contains(&"lease_held") || results.contains(&"up_to_date"),
        "{results:?}"
    );
    let stored = stored_changes(&table).await;
    assert_eq!(stored, expected(&data));
    assert!(stored.values().all(|n| *n == 1));
    assert_no_violations(&standin);
}

#[tokio::test]
async fn a_run_that_reaches_its_deadline_stops_cleanly_and_the_next_resumes() {
    let table = TestTable::create().await;
    let data = recent(400, 3, 5);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let sync = sync_with(&table, &small_pages(config(&table, &standin.base_url(), 3 * DAY)));
    // Every first and second page answers slowly, so the run cannot finish in time.
    standin.fail(Trigger::Page(1), Fault::Delay(Duration::from_millis(400)), 1_000);
    standin.fail(Trigger::Page(2), Fault::Delay(Duration::from_millis(400)), 1_000);

    let short = Instant::now() + Duration::from_millis(1_300);
    let summary = sync.run(Mode::Scheduled, "run-1", now(), short).await.unwrap();
    assert_eq!(summary.result, "deadline", "{summary:?}");
    assert!(summary.windows_completed < summary.windows_planned);
    let cp = checkpoint(&table).await;
    assert_eq!(cp, summary.checkpoint_after);

    standin.heal();
    let summary = scheduled(&sync, "run-2").await.unwrap();
    assert_eq!(summary.result, "completed");
    assert_eq!(
        summary.checkpoint_before, cp,
        "resumed from where the first run stopped"
    );
    let stored = stored_changes(&table).await;
    assert_eq!(stored, expected(&data));
    assert!(stored.values().all(|n| *n == 1));
    assert_no_violations(&standin);
}

#[tokio::test]
async fn a_backfill_syncs_exactly_its_range_and_leaves_the_checkpoint_alone() {
    let table = TestTable::create().await;
    let recent_data = recent(100, 1, 6);
    let (from, to) = (1_762_000_000, 1_762_000_000 + 2 * DAY + 500);
    let old_data = generate(300, from, to - 1, 7);
    let outside = generate(10, to + 10, to + 1_000, 8);
    let all: Vec<Change> = recent_data
        .iter()
        .chain(&old_data)
        .chain(&outside)
        .cloned()
        .collect();
    let standin = StandIn::start(APP_KEY, APP_SECRET, all).await;
    let sync = sync_with(&table, &config(&table, &standin.base_url(), DAY));
    scheduled(&sync, "run-1").await.unwrap();
    let before = checkpoint(&table).await;
    assert!(before.is_some());

    let summary = sync
        .run(Mode::Backfill { from, to }, "backfill-1", now(), far_deadline())
        .await
        .unwrap();

    assert_eq!(summary.mode, "backfill");
    assert_eq!(summary.result, "completed");
    assert_eq!(summary.windows_planned, 3);
    assert_eq!(checkpoint(&table).await, before, "checkpoint untouched");
    let want: Vec<Change> = recent_data.iter().chain(&old_data).cloned().collect();
    assert_eq!(
        stored_changes(&table).await,
        expected(&want),
        "nothing outside the range"
    );
    assert_no_violations(&standin);
}

/// Issue #28.7: a backfill takes the feed's lease, so a backfill and the scheduled run of one feed
/// never write at once (the second writer used to put the same changes again, rewriting when
/// they were fetched, so a replay differed from what was sent): started together, one of them
/// finds the lease held and does nothing; run again, it completes; everything stored once.
#[tokio::test]
async fn a_backfill_and_the_schedule_never_write_the_feed_at_once() {
    let table = TestTable::create().await;
    let data = recent(300, 2, 11);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let config = small_pages(config(&table, &standin.base_url(), 2 * DAY));
    let (a, b) = (sync_with(&table, &config), sync_with(&table, &config));
    let (from, to) = (now().unix_timestamp() - 3 * DAY, now().unix_timestamp());
    let backfill = || b.run(Mode::Backfill { from, to }, "backfill-1", now(), far_deadline());
    let (ra, rb) = tokio::join!(scheduled(&a, "run-a"), backfill());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let results = [ra.result, rb.result];
    assert!(
        results.contains(&"lease_held"),
        "one waits for the other: {results:?}"
    );
    if rb.result == "lease_held" {
        assert_eq!(
            rb.resume_from,
            Some(from),
            "invoke the backfill again from its start"
        );
        assert_eq!(backfill().await.unwrap().result, "completed");
    } else {
        assert_eq!(scheduled(&a, "run-a2").await.unwrap().result, "completed");
    }
    let stored = stored_changes(&table).await;
    assert_eq!(stored, expected(&data));
    assert!(stored.values().all(|n| *n == 1));
    let lease = table.get("LB#SYNC", "CHECKPOINT").await.unwrap();
    assert_eq!(
        attr_s(&lease, "lease_owner"),
        None,
        "the backfill released the lease"
    );
    assert_no_violations(&standin);
}

#[tokio::test]
async fn an_orders_settlement_state_is_its_newest_change_whatever_is_read_again() {
    let table = TestTable::create().await;
    let end = now().unix_timestamp() - LAG - 10;
    let mk = |ts: i64, price: &str, commission: &str| {
        let at = testkit::linkbest_standin::modify_at(ts);
        Change {
            modify_ts: ts,
            order_sn: "SO-VIEW-1".into(),
            modify_at: at.clone(),
            confirm_price: price.into(),
            json: format!(
                r#"{{"OrderSn":"SO-VIEW-1","ConfirmPrice":{price},"ConfirmSiterCommission":"{commission}","ModifyAt":"{at}","ChargeCurrency":"CNY"}}"#
            ),
        }
    };
    let data = vec![
        mk(end - 7_000, "100.0000", "5.0000"),
        mk(end - 100, "80.5000", "4.0250"),
    ];
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let sync = sync_with(&table, &config(&table, &standin.base_url(), DAY));
    scheduled(&sync, "run-1").await.unwrap();
    let store = Store::from_config(table.client.clone(), &table.store_config());

    let state = store.latest_settlement("SO-VIEW-1").await.unwrap().unwrap();
    assert_eq!(
        attr_s(&state, "confirm_price"),
        Some("80.5000"),
        "exact decimal text"
    );
    assert_eq!(attr_s(&state, "confirm_siter_commission"), Some("4.0250"));
    assert_eq!(attr_s(&state, "charge_currency"), Some("CNY"));

    // Re-reading the older change alone (a backfill) writes nothing and changes no state.
    let older = (end - 7_100, end - 6_900);
    let summary = sync
        .run(
            Mode::Backfill {
                from: older.0,
                to: older.1,
            },
            "b",
            now(),
            far_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(
        (summary.counts.rows_received, summary.counts.items_written),
        (1, 0)
    );
    let state = store.latest_settlement("SO-VIEW-1").await.unwrap().unwrap();
    assert_eq!(attr_s(&state, "confirm_price"), Some("80.5000"));
}

#[tokio::test]
async fn a_page_answered_as_a_single_object_is_stored() {
    let table = TestTable::create().await;
    let data = recent(1, 1, 9);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    standin.set_single_object_pages(true);
    let sync = sync_with(&table, &config(&table, &standin.base_url(), DAY));
    scheduled(&sync, "run-1").await.unwrap();
    assert_eq!(stored_changes(&table).await, expected(&data));
}

#[tokio::test]
async fn the_stand_in_enforces_the_one_day_rule_and_the_signature() {
    let standin = StandIn::start(APP_KEY, APP_SECRET, Vec::new()).await;
    let once = RetrySettings {
        max_attempts: 1,
        ..RetrySettings::default()
    };
    let client = LinkbestClient::new(
        &standin.base_url(),
        APP_KEY,
        vec![Secret::new(APP_SECRET)].into(),
        once,
    );
    let two_days = PageRequest {
        stime: 0,
        etime: 2 * DAY,
        page: 1,
        page_size: 200,
    };
    let service = SETTLEMENT.service;
    assert!(
        client
            .page(service, &two_days, far_deadline(), parse_changes)
            .await
            .is_err()
    );
    let wrong_secret = LinkbestClient::new(
        &standin.base_url(),
        APP_KEY,
        vec![Secret::new("nope")].into(),
        once,
    );
    let one_day = PageRequest {
        stime: 0,
        etime: DAY,
        page: 1,
        page_size: 200,
    };
    assert!(
        wrong_secret
            .page(service, &one_day, far_deadline(), parse_changes)
            .await
            .is_err()
    );
    assert!(
        client
            .page(service, &one_day, far_deadline(), parse_changes)
            .await
            .is_ok()
    );
    let refused: Vec<_> = standin
        .violations()
        .into_iter()
        .filter_map(|v| v.refused)
        .collect();
    assert_eq!(refused, ["the time span cannot exceed 1 day", "sign error"]);
    assert_ne!(standin.base_url(), DEFAULT_BASE_URL);
}

#[tokio::test]
async fn the_lease_is_exclusive_until_released_or_expired() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    assert_eq!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "a", 1_000, 2_000)
            .await
            .unwrap(),
        Lease::Acquired {
            checkpoint: None,
            resume: None
        }
    );
    assert_eq!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "b", 1_001, 2_001)
            .await
            .unwrap(),
        Lease::HeldByOther {
            owner: "a".into(),
            until: 2_000
        }
    );
    // Only the holder moves the checkpoint, and only forward.
    let at = OffsetDateTime::now_utc();
    assert!(
        store
            .advance_checkpoint(SETTLEMENT.checkpoint, "b", 500, at)
            .await
            .is_err()
    );
    assert!(
        store
            .advance_checkpoint(SETTLEMENT.checkpoint, "a", 500, at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_checkpoint(SETTLEMENT.checkpoint, "a", 400, at)
            .await
            .unwrap()
    );
    assert!(
        !store
            .advance_checkpoint(SETTLEMENT.checkpoint, "a", 500, at)
            .await
            .unwrap()
    );
    store.release_lease(SETTLEMENT.checkpoint, "b").await.unwrap();
    assert!(matches!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "c", 1_002, 2_002)
            .await
            .unwrap(),
        Lease::HeldByOther { .. }
    ));
    store.release_lease(SETTLEMENT.checkpoint, "a").await.unwrap();
    assert_eq!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "c", 1_003, 2_003)
            .await
            .unwrap(),
        Lease::Acquired {
            checkpoint: Some(500),
            resume: None
        }
    );
    // A run that stopped before its target leaves where the next resumes; the run that reaches
    // its target removes it.
    let resume = Resume {
        from: 450,
        span: Some(30),
        full_at: Some(200),
        offset: Some(OffsetResume { etime: 480, page: 3 }),
    };
    assert!(
        store
            .save_progress(SETTLEMENT.checkpoint, "c", None, Some(resume), at)
            .await
            .unwrap()
    );
    store.release_lease(SETTLEMENT.checkpoint, "c").await.unwrap();
    assert_eq!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "c2", 1_004, 2_004)
            .await
            .unwrap(),
        Lease::Acquired {
            checkpoint: Some(500),
            resume: Some(resume)
        }
    );
    assert!(
        store
            .save_progress(SETTLEMENT.checkpoint, "c2", Some(600), None, at)
            .await
            .unwrap()
    );
    store.release_lease(SETTLEMENT.checkpoint, "c2").await.unwrap();
    assert_eq!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "c3", 1_005, 2_005)
            .await
            .unwrap(),
        Lease::Acquired {
            checkpoint: Some(600),
            resume: None
        }
    );
    // An expired lease (a crashed run) is taken over.
    assert_eq!(
        store
            .acquire_lease(SETTLEMENT.checkpoint, "d", 2_006, 3_000)
            .await
            .unwrap(),
        Lease::Acquired {
            checkpoint: Some(600),
            resume: None
        }
    );
    assert_eq!(checkpoint(&table).await, Some(600));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_runs_starting_at_once_exactly_one_takes_the_lease() {
    for _ in 0..3 {
        let table = TestTable::create().await;
        let store = Store::from_config(table.client.clone(), &table.store_config());
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .acquire_lease(SETTLEMENT.checkpoint, &format!("run-{i}"), 1_000, 2_000)
                        .await
                })
            })
            .collect();
        let mut acquired = 0;
        for task in tasks {
            if matches!(task.await.unwrap().unwrap(), Lease::Acquired { .. }) {
                acquired += 1;
            }
        }
        assert_eq!(acquired, 1);
    }
}

#[tokio::test]
async fn a_persistent_failure_at_any_page_position_loses_and_doubles_nothing() {
    let data = recent(80, 2, 11);
    // One clock for every run, so every run plans the very same windows.
    let at = now();
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    // A clean run on a scratch table lists every page position a run asks for.
    let scratch = TestTable::create().await;
    let mut config = config(&scratch, &standin.base_url(), 2 * DAY);
    config.settlement.page_size = 15;
    let check = async |table: &TestTable, position: &str| {
        let stored = stored_changes(table).await;
        assert_eq!(stored, expected(&data), "{position}");
        assert!(stored.values().all(|n| *n == 1));
    };
    let feed = (APP, SETTLEMENT.name);
    fail_at_every_page_position(&standin, &scratch, &config, feed, at, check).await;
    assert_no_violations(&standin);
}

#[tokio::test]
async fn a_run_killed_between_page_writes_and_the_checkpoint_is_recovered_by_the_next() {
    let table = TestTable::create().await;
    let data = recent(300, 3, 12);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let config = small_pages(config(&table, &standin.base_url(), 3 * DAY));
    // Page 2 of every window answers slowly: the run is killed while it waits, after page 1 of
    // the first window was stored and before that window's checkpoint write.
    standin.fail(Trigger::Page(2), Fault::Delay(Duration::from_secs(5)), 1_000);
    let sync = sync_with(&table, &config);
    let run = tokio::spawn(async move { scheduled(&sync, "killed").await });
    while standin.log().len() < 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.abort();
    let _ = run.await;
    assert!(
        !stored_changes(&table).await.is_empty(),
        "page 1 was stored before the kill"
    );
    assert_eq!(checkpoint(&table).await, None, "no window was complete");

    // The killed run still holds the lease; once it expires, the next run takes over.
    standin.heal();
    let sync = sync_with(&table, &config);
    let soon = sync
        .run(Mode::Scheduled, "too-early", now(), far_deadline())
        .await
        .unwrap();
    assert_eq!(soon.result, "lease_held");
    let later = now() + time::Duration::minutes(12);
    let summary = sync
        .run(Mode::Scheduled, "after-expiry", later, far_deadline())
        .await
        .unwrap();
    assert_eq!(summary.result, "completed");
    let stored = stored_changes(&table).await;
    assert_eq!(stored, expected(&data));
    assert!(stored.values().all(|n| *n == 1));
    assert_no_violations(&standin);
}

/// Where the feed resumes, from its checkpoint item: (resume point or checkpoint, page).
async fn position(table: &TestTable) -> (i64, u32) {
    let item = table
        .get(LINKBEST_SYNC_PK, SETTLEMENT_CHECKPOINT_SK)
        .await
        .expect("the checkpoint item");
    let number = |name: &str| attr_n(&item, name).and_then(|n| n.parse::<i64>().ok());
    let from = number("resume_from")
        .or_else(|| number("checkpoint"))
        .expect("a position");
    (from, number("resume_page").unwrap_or(0) as u32)
}

/// A window of settlement changes ten times what one run can read (runs that each have time for a
/// tenth of its pages): every run moves the feed on (its checkpoint, or its page in the window it
/// is reading), every change is stored once, and no window refuses for its size. (Issue #27:
/// offset paging used to refuse a window of more than 1,000 pages and begin every run at page 1.)
async fn a_settlement_window_ten_runs_long(count: usize, page_size: u32, seed: u64) {
    let table = TestTable::create().await;
    let data = recent(count, 1, seed);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data.clone()).await;
    let mut config = config(&table, &standin.base_url(), DAY);
    config.settlement.page_size = page_size;
    let sync = sync_with(&table, &config);
    let pages = (count as u32).div_ceil(page_size);
    let positions = sync
        .runs_until_caught_up(pages / 10, async |_: &RunSummary| position(&table).await)
        .await;
    assert!(positions.len() >= 8, "a tenth of the pages a run: {positions:?}");
    let requests = standin.log().len() as f64;
    assert!(
        requests <= 2.5 * f64::from(pages),
        "{requests} requests for a window of {pages} pages"
    );
    eprintln!(
        "settlement window of {count} changes ({pages} pages of {page_size}): {} runs, {requests} requests ({:.2} a page)",
        positions.len(),
        requests / f64::from(pages)
    );
    if count <= 20_000 {
        let stored = stored_changes(&table).await;
        assert_eq!(stored, expected(&data));
        assert!(stored.values().all(|n| *n == 1));
    } else {
        // DynamoDB Local cannot scan a table this size: every change's item, by its key.
        let raws: Vec<Box<RawValue>> = data
            .iter()
            .map(|c| RawValue::from_string(c.json.clone()).unwrap())
            .collect();
        let refs: Vec<&RawValue> = raws.iter().map(AsRef::as_ref).collect();
        let keys: Vec<(String, String)> = parse_changes(&refs)
            .unwrap()
            .iter()
            .map(|c| {
                let record = change_record(c, now());
                (record.pk, record.sk)
            })
            .collect();
        assert_eq!(table.missing(&keys).await, Vec::<(String, String)>::new());
    }
    assert_no_violations(&standin);
}

#[tokio::test]
async fn a_window_fuller_than_a_run_moves_the_feed_with_every_run() {
    // 1,500 pages, as 300,000 changes in pages of 200 are (the full size below).
    a_settlement_window_ten_runs_long(15_000, 10, 31).await;
}

#[tokio::test]
#[ignore = "full size, minutes on DynamoDB Local: cargo test -p integration-tests --test integration -- --ignored full_size"]
async fn full_size_a_window_of_300000_changes_moves_the_feed_with_every_run() {
    a_settlement_window_ten_runs_long(300_000, 200, 32).await;
}

#[tokio::test]
async fn an_api_that_ignores_page_fails_the_run_at_the_second_page_instead_of_looping() {
    let table = TestTable::create().await;
    let data = recent(120, 1, 41);
    let standin = StandIn::start(APP_KEY, APP_SECRET, data).await;
    standin.set_ignore_page(true);
    let sync = sync_with(&table, &small_pages(config(&table, &standin.base_url(), DAY)));
    let (summary, outcome) = sync
        .run_with_summary(Mode::Scheduled, "run", now(), far_deadline())
        .await;
    let error = outcome.expect_err("a repeated page fails the run");
    assert!(
        matches!(error, SyncError::PageRepeated { page: 2, .. }),
        "{error}"
    );
    assert_eq!(summary.result, "failed");
    assert_eq!(standin.log().len(), 2, "page 1, then page 2 equal to it");
}
