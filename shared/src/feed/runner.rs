//! Runs one feed: a scheduled run from its checkpoint, or a backfill of a range.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::windows::{Window, scheduled_windows, split};
use super::{Feed, FetchError, Mode, PageCounts, PageError, PageRequest, PageUse, Paging};
use crate::store::checkpoint::Lease;
use crate::store::{Store, StoreError};

/// Why a run of one feed failed (its checkpoint stays at the last fully stored window).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{feed} window {stime}..{etime} page {page}: {source}")]
    Fetch {
        feed: &'static str,
        stime: i64,
        etime: i64,
        page: u32,
        #[source]
        source: FetchError,
    },
    #[error(
        "{feed} window {stime}..{etime} still returns full pages after {pages} pages (does the API ignore Page?)"
    )]
    TooManyPages {
        feed: &'static str,
        stime: i64,
        etime: i64,
        pages: u32,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one run of one feed did; logged as one JSON line and returned in the invocation's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub feed: &'static str,
    pub mode: &'static str,
    /// `completed`, `deadline` (stopped before the Lambda deadline; the next run continues),
    /// `lease_held` (another run of this feed is syncing), `up_to_date`, or `failed`.
    pub result: &'static str,
    pub windows_planned: usize,
    pub windows_completed: usize,
    pub pages: u64,
    #[serde(flatten)]
    pub counts: PageCounts,
    pub http_requests: u64,
    pub checkpoint_before: Option<i64>,
    pub checkpoint_after: Option<i64>,
    /// Seconds between now and the checkpoint after the run (scheduled runs).
    pub lag_seconds: Option<i64>,
    /// For an incomplete backfill: where to continue (`from` of the next invocation).
    pub resume_from: Option<i64>,
    pub duration_ms: u64,
}

/// Runs feeds against the table's checkpoints. Built once per cold start.
#[derive(Debug, Clone)]
pub struct FeedRunner {
    store: Store,
    /// No new page is started this close to the deadline.
    deadline_margin: Duration,
}

/// How a window ended.
enum WindowEnd {
    Done,
    OutOfTime,
}

impl FeedRunner {
    pub fn new(store: Store, deadline_margin: Duration) -> Self {
        Self {
            store,
            deadline_margin,
        }
    }

    /// Runs `feed` once. `owner` names this run in the lease (the Lambda request id); `now` is the
    /// wall clock; `deadline` is when the invocation must have answered. The summary says what was
    /// done even when the run failed (pages stored before the failure stay stored).
    pub async fn run(
        &self,
        feed: &dyn Feed,
        mode: Mode,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
    ) -> (RunSummary, Result<(), SyncError>) {
        let started = Instant::now();
        let requests_before = feed.requests_sent();
        let mut summary = RunSummary {
            feed: feed.name(),
            ..RunSummary::default()
        };
        let result = match mode {
            Mode::Scheduled => self.scheduled(feed, owner, now, deadline, &mut summary).await,
            Mode::Backfill { from, to } => self.backfill(feed, from, to, deadline, &mut summary).await,
        };
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary.http_requests = feed.requests_sent() - requests_before;
        if result.is_err() {
            summary.result = "failed";
        }
        (summary, result)
    }

    async fn scheduled(
        &self,
        feed: &dyn Feed,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        summary.mode = "scheduled";
        let now_s = now.unix_timestamp();
        // The lease outlives this invocation's deadline, so no other run of the feed starts while
        // this one may still write; a crashed run's lease expires on its own.
        let remaining = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
        let until = now_s + remaining + 60;
        let key = feed.checkpoint();
        summary.counts.dynamodb_calls += 1;
        let checkpoint = match self.store.acquire_lease(key, owner, now_s, until).await? {
            Lease::Acquired { checkpoint } => checkpoint,
            Lease::HeldByOther { owner: holder, until } => {
                tracing::info!(target: "sync", feed = feed.name(), holder, until,
                    "another run holds the feed's lease; skipping");
                summary.result = "lease_held";
                return Ok(());
            }
        };
        summary.checkpoint_before = checkpoint;
        summary.checkpoint_after = checkpoint;
        let result = self
            .sync_scheduled(feed, owner, checkpoint, now, deadline, summary)
            .await;
        summary.counts.dynamodb_calls += 1;
        if let Err(e) = self.store.release_lease(key, owner).await {
            tracing::warn!(target: "sync", feed = feed.name(), error = %e,
                "could not release the lease; it will expire");
        }
        summary.lag_seconds = summary.checkpoint_after.map(|c| now_s - c);
        result
    }

    async fn sync_scheduled(
        &self,
        feed: &dyn Feed,
        owner: &str,
        checkpoint: Option<i64>,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        let windows = scheduled_windows(checkpoint, now.unix_timestamp(), &feed.settings().windows);
        summary.windows_planned = windows.len();
        if windows.is_empty() {
            summary.result = "up_to_date";
            return Ok(());
        }
        for window in windows {
            match self.sync_window(feed, window, deadline, summary).await? {
                WindowEnd::OutOfTime => {
                    summary.result = "deadline";
                    return Ok(());
                }
                WindowEnd::Done => {
                    summary.windows_completed += 1;
                    summary.counts.dynamodb_calls += 1;
                    if self
                        .store
                        .advance_checkpoint(feed.checkpoint(), owner, window.end, OffsetDateTime::now_utc())
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
        feed: &dyn Feed,
        from: i64,
        to: i64,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        summary.mode = "backfill";
        let windows = split(from, to, feed.settings().windows.max_span);
        summary.windows_planned = windows.len();
        for window in windows {
            match self.sync_window(feed, window, deadline, summary).await? {
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

    /// One window, every row of it stored before this returns `Done`.
    ///
    /// [`Paging::Offset`]: page 1, 2, … until a short page, each stored before the next is asked
    /// for. [`Paging::SplitWhenFull`]: every read is one page of a (sub-)window; a full page is not
    /// stored but its window cut in two halves, read left to right, so each stored page is the
    /// whole of its sub-window at one moment and rows leaving a window while it is read cannot make
    /// offset pages skip any. A one-second window that still fills a page is paged by offset.
    async fn sync_window(
        &self,
        feed: &dyn Feed,
        window: Window,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let stop_at = deadline
            .checked_sub(self.deadline_margin)
            .unwrap_or_else(Instant::now);
        if feed.paging() == Paging::Offset {
            return self.page_by_offset(feed, window, stop_at, summary).await;
        }
        // Sub-windows still to read, the leftmost last (read first).
        let mut pending = vec![window];
        while let Some(w) = pending.pop() {
            if w.end - w.start <= 1 {
                if let WindowEnd::OutOfTime = self.page_by_offset(feed, w, stop_at, summary).await? {
                    return Ok(WindowEnd::OutOfTime);
                }
                continue;
            }
            let Some(counts) = self
                .page(feed, w, 1, PageUse::ProbeIfFull, stop_at, summary)
                .await?
            else {
                return Ok(WindowEnd::OutOfTime);
            };
            if counts.rows_probed >= u64::from(feed.settings().page_size) {
                let mid = w.start + (w.end - w.start) / 2;
                pending.push(Window {
                    start: mid,
                    end: w.end,
                });
                pending.push(Window {
                    start: w.start,
                    end: mid,
                });
            }
        }
        Ok(WindowEnd::Done)
    }

    /// Pages 1, 2, … of `window` until a short page.
    async fn page_by_offset(
        &self,
        feed: &dyn Feed,
        window: Window,
        stop_at: Instant,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let settings = *feed.settings();
        for page in 1..=settings.max_pages_per_window {
            let Some(counts) = self
                .page(feed, window, page, PageUse::Store, stop_at, summary)
                .await?
            else {
                return Ok(WindowEnd::OutOfTime);
            };
            if counts.rows_received < u64::from(settings.page_size) {
                return Ok(WindowEnd::Done);
            }
        }
        Err(SyncError::TooManyPages {
            feed: feed.name(),
            stime: window.start,
            etime: window.end,
            pages: settings.max_pages_per_window,
        })
    }

    /// One page, counted into `summary`; `None` when the deadline came first (a clean stop: the
    /// window stays unfinished).
    async fn page(
        &self,
        feed: &dyn Feed,
        window: Window,
        page: u32,
        page_use: PageUse,
        stop_at: Instant,
        summary: &mut RunSummary,
    ) -> Result<Option<PageCounts>, SyncError> {
        if Instant::now() >= stop_at {
            return Ok(None);
        }
        let request = PageRequest {
            stime: window.start,
            etime: window.end,
            page,
            page_size: feed.settings().page_size,
        };
        let counts = match feed
            .sync_page(request, page_use, OffsetDateTime::now_utc(), stop_at)
            .await
        {
            Ok(counts) => counts,
            Err(PageError::Fetch(FetchError::Deadline { last_error })) => {
                if let Some(error) = last_error {
                    tracing::warn!(target: "sync", feed = feed.name(), error, stime = window.start, page,
                        "stopped for the deadline while retrying a page");
                }
                return Ok(None);
            }
            Err(PageError::Fetch(source)) => {
                return Err(SyncError::Fetch {
                    feed: feed.name(),
                    stime: window.start,
                    etime: window.end,
                    page,
                    source,
                });
            }
            Err(PageError::Store(e)) => return Err(e.into()),
        };
        summary.pages += 1;
        summary.counts += counts;
        Ok(Some(counts))
    }
}
