//! The settlement-sync function: a scheduled, paged, checkpointed pull of Linkbest settlement
//! changes, and a manual backfill of a given range.
//!
//! A scheduled run takes the checkpoint's lease (so two runs never sync at once), plans its
//! windows from the checkpoint (see [`crate::settlement`]), pages each window with `PageSize` 200
//! until a page comes back short, stores every page before asking for the next, and advances the
//! checkpoint after the last page of each window. It stops starting new pages shortly before the
//! Lambda deadline; the next run continues from the checkpoint. A backfill pages exactly the range
//! it is given and never touches the checkpoint.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::config::SettlementConfig;
use crate::linkbest_api::PageRequest;
use crate::linkbest_client::{FetchError, LinkbestClient};
use crate::settlement::{Window, WindowSettings, scheduled_windows, split};
use crate::store::settlement::Lease;
use crate::store::{Store, StoreError};

/// Longest range one backfill invocation accepts.
pub const MAX_BACKFILL_SECONDS: i64 = 400 * 86_400;

/// What an invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The EventBridge schedule (any event that is not a backfill request).
    Scheduled,
    /// `{"from": <unix s>, "to": <unix s>}`: re-sync exactly that range, checkpoint untouched.
    Backfill { from: i64, to: i64 },
}

/// Why an invocation's event cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid backfill request: {0}")]
pub struct BadEvent(String);

impl Mode {
    /// Reads the invocation event: `{"from": …, "to": …}` (numbers or strings of digits) is a
    /// backfill; an event with only one of them, or with values that are not a forward range of
    /// at most [`MAX_BACKFILL_SECONDS`], is refused; anything else is a scheduled run.
    pub fn from_event(event: &Value) -> Result<Self, BadEvent> {
        let field = |name: &str| event.get(name).filter(|v| !v.is_null());
        let (from, to) = match (field("from"), field("to")) {
            (None, None) => return Ok(Mode::Scheduled),
            (Some(from), Some(to)) => (from, to),
            _ => return Err(BadEvent("give both \"from\" and \"to\" (unix seconds)".into())),
        };
        let seconds = |v: &Value| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let (Some(from), Some(to)) = (seconds(from), seconds(to)) else {
            return Err(BadEvent("\"from\" and \"to\" must be unix seconds".into()));
        };
        if from >= to || to - from > MAX_BACKFILL_SECONDS || from < 0 {
            return Err(BadEvent(format!(
                "need 0 <= from < to and at most {MAX_BACKFILL_SECONDS} s between them"
            )));
        }
        Ok(Mode::Backfill { from, to })
    }
}

/// Why a run failed (the checkpoint stays at the last fully stored window).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    BadEvent(#[from] BadEvent),
    #[error("Linkbest window {stime}..{etime} page {page}: {source}")]
    Api {
        stime: i64,
        etime: i64,
        page: u32,
        #[source]
        source: FetchError,
    },
    #[error(
        "window {stime}..{etime} still returns full pages after {pages} pages (does the API ignore Page?)"
    )]
    TooManyPages { stime: i64, etime: i64, pages: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run did; logged as one JSON line and returned as the invocation's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub mode: &'static str,
    /// `completed`, `deadline` (stopped before the Lambda deadline; the next run continues),
    /// `lease_held` (another run is syncing), or `up_to_date`.
    pub result: &'static str,
    pub windows_planned: usize,
    pub windows_completed: usize,
    pub pages: u64,
    pub changes_received: u64,
    pub items_written: u64,
    pub views_updated: u64,
    pub dynamodb_calls: u64,
    pub http_requests: u64,
    pub checkpoint_before: Option<i64>,
    pub checkpoint_after: Option<i64>,
    /// Seconds between now and the checkpoint after the run (scheduled runs).
    pub lag_seconds: Option<i64>,
    /// For an incomplete backfill: where to continue (`from` of the next invocation).
    pub resume_from: Option<i64>,
    pub duration_ms: u64,
}

/// The settlement-sync function's state, built once per cold start.
#[derive(Debug)]
pub struct SettlementSync {
    store: Store,
    client: LinkbestClient,
    page_size: u32,
    windows: WindowSettings,
    max_pages_per_window: u32,
    deadline_margin: Duration,
}

/// How a window ended.
enum WindowEnd {
    Done,
    OutOfTime,
}

impl SettlementSync {
    pub fn new(store: Store, client: LinkbestClient, config: &SettlementConfig) -> Self {
        Self {
            store,
            client,
            page_size: config.page_size,
            windows: config.windows,
            max_pages_per_window: config.max_pages_per_window,
            deadline_margin: config.deadline_margin,
        }
    }

    /// Runs one invocation. `owner` names this run in the lease (the Lambda request id); `now` is
    /// the wall clock; `deadline` is when the invocation must have answered.
    pub async fn run(
        &self,
        mode: Mode,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> Result<RunSummary, SyncError> {
        let started = Instant::now();
        let requests_before = self.client.requests_sent();
        let mut summary = RunSummary::default();
        let result = match mode {
            Mode::Scheduled => self.scheduled(owner, now, deadline, &mut summary).await,
            Mode::Backfill { from, to } => self.backfill(from, to, deadline, &mut summary).await,
        };
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary.http_requests = self.client.requests_sent() - requests_before;
        result.map(|()| summary)
    }

    async fn scheduled(
        &self,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        summary.mode = "scheduled";
        let now_s = now.unix_timestamp();
        // The lease outlives this invocation's deadline, so no other run starts while this one
        // may still write; a crashed run's lease expires on its own.
        let remaining = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
        let until = now_s + remaining + 60;
        let checkpoint = match self.store.acquire_settlement_lease(owner, now_s, until).await? {
            Lease::Acquired { checkpoint } => checkpoint,
            Lease::HeldByOther { owner: holder, until } => {
                tracing::info!(target: "settlement_sync", holder, until, "another run holds the lease; skipping");
                summary.result = "lease_held";
                return Ok(());
            }
        };
        summary.checkpoint_before = checkpoint;
        summary.checkpoint_after = checkpoint;
        let result = self
            .sync_scheduled(owner, checkpoint, now, deadline, summary)
            .await;
        if let Err(e) = self.store.release_settlement_lease(owner).await {
            tracing::warn!(target: "settlement_sync", error = %e, "could not release the lease; it will expire");
        }
        summary.lag_seconds = summary.checkpoint_after.map(|c| now_s - c);
        result
    }

    async fn sync_scheduled(
        &self,
        owner: &str,
        checkpoint: Option<i64>,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        let windows = scheduled_windows(checkpoint, now.unix_timestamp(), &self.windows);
        summary.windows_planned = windows.len();
        if windows.is_empty() {
            summary.result = "up_to_date";
            return Ok(());
        }
        for window in windows {
            match self.sync_window(window, deadline, summary).await? {
                WindowEnd::OutOfTime => {
                    summary.result = "deadline";
                    return Ok(());
                }
                WindowEnd::Done => {
                    summary.windows_completed += 1;
                    summary.dynamodb_calls += 1;
                    if self
                        .store
                        .advance_settlement_checkpoint(owner, window.end, OffsetDateTime::now_utc())
                        .await?
                    {
                        summary.checkpoint_after = Some(window.end);
                    }
                }
            }
        }
        summary.result = "completed";
        Ok(())
    }

    async fn backfill(
        &self,
        from: i64,
        to: i64,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        summary.mode = "backfill";
        let windows = split(from, to, self.windows.max_span);
        summary.windows_planned = windows.len();
        for window in windows {
            match self.sync_window(window, deadline, summary).await? {
                WindowEnd::Done => summary.windows_completed += 1,
                WindowEnd::OutOfTime => {
                    summary.result = "deadline";
                    summary.resume_from = Some(window.start);
                    return Ok(());
                }
            }
        }
        summary.result = "completed";
        Ok(())
    }

    /// Every page of one window, each stored before the next is asked for.
    async fn sync_window(
        &self,
        window: Window,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let stop_at = deadline
            .checked_sub(self.deadline_margin)
            .unwrap_or_else(Instant::now);
        for page in 1..=self.max_pages_per_window {
            if Instant::now() >= stop_at {
                return Ok(WindowEnd::OutOfTime);
            }
            let request = PageRequest {
                stime: window.start,
                etime: window.end,
                page,
                page_size: self.page_size,
            };
            let answer = match self.client.settlement_page(&request, stop_at).await {
                Ok(answer) => answer,
                // Out of time mid-page: a clean stop, the window stays unfinished.
                Err(FetchError::Deadline { last_error }) => {
                    if let Some(error) = last_error {
                        tracing::warn!(target: "settlement_sync", error, stime = window.start, page,
                            "stopped for the deadline while retrying a page");
                    }
                    return Ok(WindowEnd::OutOfTime);
                }
                Err(source) => {
                    return Err(SyncError::Api {
                        stime: window.start,
                        etime: window.end,
                        page,
                        source,
                    });
                }
            };
            let received = answer.changes.len();
            let stored = self
                .store
                .store_settlement_changes(&answer.changes, OffsetDateTime::now_utc())
                .await?;
            summary.pages += 1;
            summary.changes_received += received as u64;
            summary.items_written += stored.items as u64;
            summary.views_updated += stored.views_updated as u64;
            summary.dynamodb_calls += stored.calls as u64;
            if received < self.page_size as usize {
                return Ok(WindowEnd::Done);
            }
        }
        Err(SyncError::TooManyPages {
            stime: window.start,
            etime: window.end,
            pages: self.max_pages_per_window,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_select_the_mode() {
        assert_eq!(
            Mode::from_event(&json!({"source": "aws.events", "detail-type": "Scheduled Event"})),
            Ok(Mode::Scheduled)
        );
        assert_eq!(Mode::from_event(&json!({})), Ok(Mode::Scheduled));
        assert_eq!(Mode::from_event(&json!(null)), Ok(Mode::Scheduled));
        assert_eq!(
            Mode::from_event(&json!({"from": 1_700_000_000, "to": "1700086400"})),
            Ok(Mode::Backfill {
                from: 1_700_000_000,
                to: 1_700_086_400
            })
        );
        for bad in [
            json!({"from": 5}),
            json!({"to": 5}),
            json!({"from": 10, "to": 5}),
            json!({"from": 5, "to": 5}),
            json!({"from": "x", "to": 5}),
            json!({"from": 1.5, "to": 5}),
            json!({"from": 0, "to": MAX_BACKFILL_SECONDS + 1}),
        ] {
            assert!(Mode::from_event(&bad).is_err(), "{bad}");
        }
    }
}
