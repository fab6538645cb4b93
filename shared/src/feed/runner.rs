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

/// What the source has shown of its page size during one run. A short page ends its window only
/// on evidence: the source once served a page of the requested size (it honours `PageSize`), or
/// it was seen to cap pages at a smaller size and the page is shorter than that. Without either,
/// a short page may be a cap: the next page is asked for, and if it holds rows the cap is learnt
/// (pages of that size count as full from then on). So a server-side limit below `PageSize`
/// never ends a window early; the price is one extra request per run until a full page is seen.
#[derive(Debug, Clone, Copy)]
pub struct PageEvidence {
    requested: u32,
    honoured: bool,
    cap: Option<u32>,
}

/// What a page of some length says about its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageVerdict {
    /// Full: more may follow.
    Full,
    /// Short on evidence: the window's last page.
    Last,
    /// Short, but possibly a server-side cap: look at the next page.
    Unsure,
}

impl PageEvidence {
    pub fn new(requested: u32) -> Self {
        Self {
            requested,
            honoured: false,
            cap: None,
        }
    }

    /// The number of rows that makes a page full.
    pub fn full_at(&self) -> u32 {
        self.cap.unwrap_or(self.requested)
    }

    /// Judges a page of `rows` rows.
    pub fn judge(&mut self, rows: u64) -> PageVerdict {
        if rows >= u64::from(self.requested) {
            self.honoured = true;
        }
        if rows >= u64::from(self.full_at()) {
            PageVerdict::Full
        } else if rows == 0 || self.honoured || self.cap.is_some() {
            PageVerdict::Last
        } else {
            PageVerdict::Unsure
        }
    }

    /// The page after a page of `short` rows held rows: the source caps pages at `short`.
    pub fn learn_cap(&mut self, short: u64) {
        self.cap = Some(short.clamp(1, u64::from(self.requested)) as u32);
    }
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
        let mut evidence = PageEvidence::new(feed.settings().page_size);
        for window in windows {
            match self
                .sync_window(feed, window, deadline, &mut evidence, summary)
                .await?
            {
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
        let mut evidence = PageEvidence::new(feed.settings().page_size);
        for window in windows {
            match self
                .sync_window(feed, window, deadline, &mut evidence, summary)
                .await?
            {
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
        evidence: &mut PageEvidence,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let stop_at = deadline
            .checked_sub(self.deadline_margin)
            .unwrap_or_else(Instant::now);
        if feed.paging() == Paging::Offset {
            return self
                .page_by_offset(feed, window, stop_at, evidence, summary)
                .await;
        }
        // Sub-windows still to read, the leftmost last (read first).
        let mut pending = vec![window];
        while let Some(w) = pending.pop() {
            if w.end - w.start <= 1 {
                if let WindowEnd::OutOfTime = self.page_by_offset(feed, w, stop_at, evidence, summary).await?
                {
                    return Ok(WindowEnd::OutOfTime);
                }
                continue;
            }
            let full_at = evidence.full_at();
            let Some(counts) = self
                .page(feed, w, 1, PageUse::ProbeIfFull { full_at }, stop_at, summary)
                .await?
            else {
                return Ok(WindowEnd::OutOfTime);
            };
            let rows = counts.rows_probed.max(counts.rows_received);
            let halves = match evidence.judge(rows) {
                PageVerdict::Full => true,
                PageVerdict::Last => false,
                PageVerdict::Unsure => {
                    // Stored already; is there a page 2 of this sub-window (a server-side cap)?
                    let Some(next) = self.page(feed, w, 2, PageUse::Probe, stop_at, summary).await? else {
                        return Ok(WindowEnd::OutOfTime);
                    };
                    if next.rows_probed > 0 {
                        evidence.learn_cap(rows);
                    }
                    next.rows_probed > 0
                }
            };
            if halves {
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

    /// Pages 1, 2, … of `window` until a page that is short on evidence (see [`PageEvidence`]).
    async fn page_by_offset(
        &self,
        feed: &dyn Feed,
        window: Window,
        stop_at: Instant,
        evidence: &mut PageEvidence,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let settings = *feed.settings();
        let mut unsure: Option<u64> = None;
        for page in 1..=settings.max_pages_per_window {
            let Some(counts) = self
                .page(feed, window, page, PageUse::Store, stop_at, summary)
                .await?
            else {
                return Ok(WindowEnd::OutOfTime);
            };
            if let Some(short) = unsure.take()
                && counts.rows_received > 0
            {
                evidence.learn_cap(short);
            }
            match evidence.judge(counts.rows_received) {
                PageVerdict::Full => {}
                PageVerdict::Last => return Ok(WindowEnd::Done),
                PageVerdict::Unsure => unsure = Some(counts.rows_received),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_page_ends_a_window_only_on_evidence() {
        // Nothing known yet: a short page may be a server-side cap.
        let mut e = PageEvidence::new(200);
        assert_eq!(e.judge(0), PageVerdict::Last, "an empty page always ends it");
        assert_eq!(e.judge(100), PageVerdict::Unsure);
        // The next page held rows: the source serves 100 a page.
        e.learn_cap(100);
        assert_eq!(e.full_at(), 100);
        assert_eq!(e.judge(100), PageVerdict::Full);
        assert_eq!(e.judge(99), PageVerdict::Last);
        // A source seen to honour PageSize: short is short.
        let mut e = PageEvidence::new(200);
        assert_eq!(e.judge(200), PageVerdict::Full);
        assert_eq!(e.judge(150), PageVerdict::Last);
    }
}
