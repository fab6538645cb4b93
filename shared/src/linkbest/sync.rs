//! The linkbest-sync function: Linkbest's feeds run by the feed machine. Each feed's EventBridge
//! schedule names its feed (`{"feed": "orders"}`); an event naming none runs every feed, one after
//! the other, a failing feed never stopping the next. One log line and one metrics line per feed
//! run; the invocation fails (so Lambda retries it and the failure alarms fire) when any feed's run
//! failed.

use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::time::Instant;

use super::client::LinkbestClient;
use super::feed::LinkbestFeed;
use super::orders::{ORDERS, OrderRows};
use super::settlement::{SETTLEMENT, SettlementRows};
use crate::feed::{BadEvent, Feed, FeedRunner, Invocation, Mode, RunSummary, Selection, SyncError};
use crate::linkbest::settings::SyncConfig;
use crate::metrics::{self, Unit, names};
use crate::store::Store;

/// The function's name, in its logs and metrics.
pub const FUNCTION: &str = "linkbest-sync";

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
    #[error("feeds failed: {}", failed.join(", "))]
    FeedsFailed {
        failed: Vec<&'static str>,
        /// Every feed's summary (the failed ones with their error).
        result: Value,
    },
}

/// The function's state, built once per cold start.
pub struct LinkbestSync {
    runner: FeedRunner,
    feeds: Vec<Box<dyn Feed>>,
}

impl LinkbestSync {
    /// Every Linkbest feed, sharing one HTTP client (and so Linkbest's rate limit).
    pub fn new(store: Store, client: Arc<LinkbestClient>, config: &SyncConfig) -> Self {
        let feeds: Vec<Box<dyn Feed>> = vec![
            Box::new(LinkbestFeed::<SettlementRows>::new(
                SETTLEMENT,
                config.settlement,
                Arc::clone(&client),
                store.clone(),
            )),
            Box::new(LinkbestFeed::<OrderRows>::new(
                ORDERS,
                config.orders,
                client,
                store.clone(),
            )),
        ];
        Self {
            runner: FeedRunner::new(store, config.deadline_margin),
            feeds,
        }
    }

    pub fn feed_names(&self) -> Vec<&'static str> {
        self.feeds.iter().map(|f| f.name()).collect()
    }

    /// One feed by name.
    pub fn feed(&self, name: &str) -> Option<&dyn Feed> {
        self.feeds.iter().find(|f| f.name() == name).map(|f| f.as_ref())
    }

    /// Runs one feed by name (`None`: no such feed), without logging or metrics.
    pub async fn run_feed(
        &self,
        name: &str,
        mode: Mode,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> Option<(RunSummary, Result<(), SyncError>)> {
        let feed = self.feed(name)?;
        Some(self.runner.run(feed, mode, owner, now, deadline).await)
    }

    /// Runs what `event` asks for; the result holds each feed's summary by name.
    pub async fn invoke(
        &self,
        event: &Value,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> Result<Value, InvocationError> {
        let invocation = Invocation::from_event(event, &self.feed_names(), SETTLEMENT.name)?;
        let feeds: Vec<&dyn Feed> = match &invocation.feeds {
            Selection::All => self.feeds.iter().map(|f| f.as_ref()).collect(),
            Selection::One(name) => self.feed(name).into_iter().collect(),
        };
        let mut result = Map::new();
        let mut failed = Vec::new();
        for feed in feeds {
            let (summary, outcome) = self.runner.run(feed, invocation.mode, owner, now, deadline).await;
            report(&summary, outcome.as_ref().err(), owner);
            let mut value = serde_json::to_value(&summary).expect("a summary serializes");
            if let Err(e) = outcome {
                value["error"] = Value::from(e.to_string());
                failed.push(feed.name());
            }
            result.insert(feed.name().to_owned(), value);
        }
        if failed.is_empty() {
            Ok(Value::Object(result))
        } else {
            Err(InvocationError::FeedsFailed {
                failed,
                result: Value::Object(result),
            })
        }
    }
}

/// One log line and one metrics line for one feed's run.
fn report(summary: &RunSummary, error: Option<&SyncError>, owner: &str) {
    let c = &summary.counts;
    match error {
        None => tracing::info!(
            target: "sync", outcome = "ok", feed = summary.feed, mode = summary.mode, result = summary.result,
            windows_planned = summary.windows_planned, windows_completed = summary.windows_completed,
            pages = summary.pages, rows_received = c.rows_received, items_written = c.items_written,
            views_updated = c.views_updated, found_only_by_poll = c.found_only_by_poll,
            status_found_only_by_poll = c.status_found_only_by_poll, dynamodb_calls = c.dynamodb_calls,
            http_requests = summary.http_requests, checkpoint_before = summary.checkpoint_before,
            checkpoint_after = summary.checkpoint_after, lag_seconds = summary.lag_seconds,
            resume_from = summary.resume_from, duration_ms = summary.duration_ms,
            lambda_request_id = %owner, "feed run"
        ),
        Some(e) => tracing::error!(
            target: "sync", outcome = "failed", feed = summary.feed, mode = summary.mode, error = %e,
            pages = summary.pages, items_written = c.items_written,
            found_only_by_poll = c.found_only_by_poll, checkpoint_after = summary.checkpoint_after,
            lambda_request_id = %owner,
            "feed run failed; its checkpoint stays at the last fully stored window"
        ),
    }
    let mut figures = vec![
        (
            if error.is_some() {
                names::SYNC_RUNS_FAILED
            } else {
                names::SYNC_RUNS
            },
            1.0,
            Unit::Count,
        ),
        (names::SYNC_PAGES, summary.pages as f64, Unit::Count),
        (names::SYNC_ITEMS_WRITTEN, c.items_written as f64, Unit::Count),
    ];
    if summary.feed == ORDERS.name {
        figures.push((
            names::ORDERS_FOUND_ONLY_BY_POLL,
            c.found_only_by_poll as f64,
            Unit::Count,
        ));
        figures.push((
            names::STATUS_FOUND_ONLY_BY_POLL,
            c.status_found_only_by_poll as f64,
            Unit::Count,
        ));
    }
    figures.push((names::ROWS_UNLINKED, c.rows_unlinked as f64, Unit::Count));
    if let Some(lag) = summary.lag_seconds {
        figures.push((names::SYNC_LAG_SECONDS, lag as f64, Unit::Seconds));
    }
    metrics::emit_for_feed(FUNCTION, summary.feed, &figures);
}
