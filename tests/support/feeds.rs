//! The Linkbest feeds as the tests drive them: the function's own `LinkbestSync` (both feeds, one
//! HTTP client) against a stand-in and a test table, with settings short enough for tests.

use std::sync::Arc;
use std::time::Duration;

use shared::config::{SyncConfig, linkbest_feed_defaults};
use shared::feed::{Mode, RunSummary, SyncError};
use shared::linkbest::client::{LinkbestClient, RetrySettings};
use shared::linkbest::sync::LinkbestSync;
use shared::secret::Secret;
use shared::store::Store;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::TestTable;

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
