//! The Linkbest feeds as the tests drive them: the function's own `LinkbestSync` (both feeds, one
//! HTTP client) against a stand-in and a test table, with settings short enough for tests.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicU32, Ordering};

use shared::feed::{
    BoxFuture, CheckpointKey, Feed, FeedRunner, FeedSettings, FetchError, Mode, PageError, PageRequest,
    PageUse, Paging, RunSummary, SyncError, SyncedPage,
};
use shared::linkbest::client::{LinkbestClient, RetrySettings};
use shared::linkbest::settings::{SyncConfig, linkbest_feed_defaults};
use shared::linkbest::sync::LinkbestSync;
use shared::secret::Secret;
use shared::store::Store;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::TestTable;
use crate::linkbest_standin::{Fault, StandIn, Trigger};

/// The settings of the tests: both feeds with one-day windows, an hour of overlap, the first run
/// `lookback` back, a safety lag of 300 s, pages of 200; no deadline margin; fast retries.
pub fn sync_config(
    table: &TestTable,
    base_url: &str,
    (app_key, app_secret): (&str, &str),
    lookback: i64,
) -> SyncConfig {
    let mut feed = linkbest_feed_defaults(300);
    feed.windows.initial_lookback = lookback;
    SyncConfig {
        store: table.store_config(),
        base_url: base_url.to_owned(),
        app_key: app_key.to_owned(),
        app_secret: vec![Secret::new(app_secret)].into(),
        settlement: feed,
        orders: feed,
        deadline_margin: Duration::ZERO,
        fallback_budget: Duration::from_secs(60),
        retry: RetrySettings {
            max_attempts: 4,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            request_timeout: Duration::from_millis(1_500),
        },
    }
}

/// One feed of the sync function, run directly.
pub struct Sync {
    pub sync: LinkbestSync,
    pub feed: &'static str,
    pub store: Store,
}

impl Sync {
    pub fn new(
        table: &TestTable,
        config: &SyncConfig,
        (app_key, app_secret): (&str, &str),
        feed: &'static str,
    ) -> Self {
        Self::with_client(table.client.clone(), config, (app_key, app_secret), feed)
    }

    /// The same with another DynamoDB client (e.g. through a fault proxy).
    pub fn with_client(
        client: aws_sdk_dynamodb::Client,
        config: &SyncConfig,
        (app_key, app_secret): (&str, &str),
        feed: &'static str,
    ) -> Self {
        let linkbest = Arc::new(LinkbestClient::new(
            &config.base_url,
            app_key,
            vec![Secret::new(app_secret)].into(),
            config.retry,
        ));
        let store = Store::from_config(client, &config.store);
        Self {
            sync: LinkbestSync::new(store.clone(), linkbest, config),
            feed,
            store,
        }
    }

    /// Runs the feed; a failed run is an error (its summary is in the log of the run).
    pub async fn run(
        &self,
        mode: Mode,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> Result<RunSummary, SyncError> {
        let (summary, outcome) = self.run_with_summary(mode, owner, now, deadline).await;
        outcome.map(|()| summary)
    }

    /// Runs the feed with time for `pages` page reads (retries included): the read after them
    /// answers as the Lambda deadline does, so the run stops as one that ran out of time.
    pub async fn run_budgeted(
        &self,
        pages: u32,
        mode: Mode,
        owner: &str,
        now: OffsetDateTime,
    ) -> (RunSummary, Result<(), SyncError>) {
        let feed = Budgeted {
            inner: self.sync.feed(self.feed).expect("a known feed"),
            left: AtomicU32::new(pages),
        };
        FeedRunner::new(self.store.clone(), Duration::ZERO)
            .run(
                &feed,
                mode,
                owner,
                now,
                Instant::now() + Duration::from_secs(3_600),
            )
            .await
    }

    /// Scheduled runs of the feed, each with time for `pages` page reads, until one completes (at
    /// most 30): every run must end for its deadline or complete, and move the feed on —
    /// `position`, read after each run, must grow with every run. The positions, one per run.
    pub async fn runs_until_caught_up<P: PartialOrd + std::fmt::Debug>(
        &self,
        pages: u32,
        position: impl AsyncFn(&RunSummary) -> P,
    ) -> Vec<P> {
        let mut positions: Vec<P> = Vec::new();
        loop {
            let run = positions.len() + 1;
            assert!(run <= 30, "no end after 30 runs: {positions:?}");
            let (summary, outcome) = self
                .run_budgeted(
                    pages,
                    Mode::Scheduled,
                    &format!("run-{run}"),
                    OffsetDateTime::now_utc(),
                )
                .await;
            outcome.unwrap_or_else(|e| panic!("run {run}: {e}"));
            let at = position(&summary).await;
            if let Some(before) = positions.last() {
                assert!(at > *before, "run {run} did not move the feed on: {summary:?}");
            }
            positions.push(at);
            if summary.result == "completed" {
                return positions;
            }
            assert_eq!(summary.result, "deadline", "{summary:?}");
        }
    }

    /// Runs the feed; the summary even of a failed run.
    pub async fn run_with_summary(
        &self,
        mode: Mode,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> (RunSummary, Result<(), SyncError>) {
        self.sync
            .run_feed(self.feed, mode, owner, now, deadline)
            .await
            .expect("a known feed")
    }
}

/// A persistent partner failure at every page position a run reads, each on a fresh table: a clean
/// scheduled run of `feed` on `scratch` (which `config` is for) lists the positions (at least 6);
/// then for each, a run that gets a server error at that position every time must fail, the run
/// after the stand-in heals must complete, and `check(table, position)` judges what the two runs
/// stored. `at` is the one clock of every run, so every run plans the very same windows.
pub async fn fail_at_every_page_position(
    standin: &StandIn,
    scratch: &TestTable,
    config: &SyncConfig,
    (app, feed): ((&str, &str), &'static str),
    at: OffsetDateTime,
    check: impl AsyncFn(&TestTable, &str),
) {
    let far = || Instant::now() + Duration::from_secs(3_600);
    let on_table = |table: &TestTable| {
        let mut config = config.clone();
        config.store = table.store_config();
        Sync::new(table, &config, app, feed)
    };
    on_table(scratch)
        .run(Mode::Scheduled, "scratch", at, far())
        .await
        .expect("a clean run completes");
    let positions: Vec<(i64, u32)> = standin
        .log()
        .iter()
        .map(|l| (l.stime.expect("a window"), l.page.expect("a page")))
        .collect();
    assert!(positions.len() >= 6, "{positions:?}");

    for (stime, page) in positions {
        let table = TestTable::create().await;
        let sync = on_table(&table);
        standin.fail(Trigger::WindowPage { stime, page }, Fault::ServerError, 1_000);
        let failed = sync.run(Mode::Scheduled, "failing", at, far()).await;
        assert!(failed.is_err(), "failure at {stime}/{page}: {failed:?}");
        standin.heal();
        let recovered = sync
            .run(Mode::Scheduled, "recovery", at, far())
            .await
            .expect("the run after the failure completes");
        assert_eq!(recovered.result, "completed");
        check(&table, &format!("failure at {stime}/{page}")).await;
    }
}

/// A feed whose run has time for `left` more page reads: the read after them answers as a read
/// cut off by the Lambda deadline does ([`FetchError::Deadline`]), which ends the run cleanly.
struct Budgeted<'a> {
    inner: &'a dyn Feed,
    left: AtomicU32,
}

impl Feed for Budgeted<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn checkpoint(&self) -> CheckpointKey {
        self.inner.checkpoint()
    }

    fn settings(&self) -> &FeedSettings {
        self.inner.settings()
    }

    fn paging(&self) -> Paging {
        self.inner.paging()
    }

    fn sync_page<'a>(
        &'a self,
        request: PageRequest,
        page_use: PageUse,
        fetched_at: OffsetDateTime,
        stop_at: Instant,
    ) -> BoxFuture<'a, Result<SyncedPage, PageError>> {
        let spent = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
            .is_err();
        if spent {
            return Box::pin(async { Err(PageError::Fetch(FetchError::Deadline { last_error: None })) });
        }
        self.inner.sync_page(request, page_use, fetched_at, stop_at)
    }

    fn requests_sent(&self) -> u64 {
        self.inner.requests_sent()
    }
}
