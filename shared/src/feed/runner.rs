//! Runs one feed: a scheduled run from its checkpoint, or a backfill of a range.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::windows::{OffsetResume, Resume, Window, scheduled_plan, split};
use super::{
    CheckpointKey, Feed, FetchError, Mode, PageCounts, PageError, PageRequest, PageUse, Paging, SyncedPage,
};
use crate::store::checkpoint::Lease;
use crate::store::{Store, StoreError};

/// Why a run of one feed failed (what it stored stays stored, and its progress saved).
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
        "{feed} window {stime}..{etime}: page {page} holds exactly the rows of the page before (does the API ignore Page?)"
    )]
    PageRepeated {
        feed: &'static str,
        stime: i64,
        etime: i64,
        page: u32,
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
    /// Where the next run continues when this one did not reach its target: a scheduled run's
    /// resume point (kept in the checkpoint item), or an incomplete backfill's `from` for the next
    /// invocation.
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

/// What a run has stored so far, and where a scheduled run saves it.
struct Progress<'a> {
    /// A scheduled run's checkpoint item and lease owner; a backfill saves nothing.
    saved_in: Option<(CheckpointKey, &'a str)>,
    /// The checkpoint as stored.
    checkpoint: Option<i64>,
    /// The checkpoint item holds a resume point (to remove once the run reaches its target).
    resume_stored: bool,
    /// Where the run would resume now: everything it read before this is stored.
    resume: Option<Resume>,
    /// The span of the next sub-window (split paging).
    span: Option<i64>,
    /// The density of the sub-windows read lately (split paging).
    density: Density,
    /// What the source has shown of its page size (kept in the resume point).
    evidence: PageEvidence,
}

/// The share of a full page a sub-window is aimed at: close enough to full that few requests are
/// spent, far enough that a denser stretch rarely overflows it.
const SPAN_AIM: f64 = 0.75;

/// How many rows a second the sub-windows read lately held (each weighted 3/4 of the one after
/// it), to aim the next sub-window at [`SPAN_AIM`] of a page.
#[derive(Debug, Clone, Copy, Default)]
struct Density {
    rows: f64,
    seconds: f64,
}

impl Density {
    /// A sub-window of `seconds` held `rows` rows (at least: a full page counts as `full_at`).
    fn observe(&mut self, rows: u64, seconds: i64) {
        self.rows = self.rows * 0.75 + rows as f64;
        self.seconds = self.seconds * 0.75 + seconds.max(1) as f64;
    }

    /// The next span after one of `last` seconds: aimed at `SPAN_AIM` of `full_at` rows at the
    /// density seen, growing at most fourfold.
    fn next_span(&self, last: i64, full_at: u32) -> i64 {
        let most = last.saturating_mul(4).max(1);
        if self.rows <= 0.0 {
            return most;
        }
        let aimed = SPAN_AIM * f64::from(full_at) * self.seconds / self.rows;
        (aimed as i64).clamp(1, most)
    }
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

    /// The evidence kept from an earlier run ([`PageEvidence::known_full_at`]): a page size the
    /// source serves whole. One above `requested` (the setting was lowered since) is no evidence.
    pub fn restored(requested: u32, known_full_at: Option<u32>) -> Self {
        let mut evidence = Self::new(requested);
        match known_full_at {
            Some(n) if n == requested => evidence.honoured = true,
            Some(n) if n > 0 && n < requested => evidence.cap = Some(n),
            _ => {}
        }
        evidence
    }

    /// The page size the source was seen to serve whole, if there is evidence of one.
    pub fn known_full_at(&self) -> Option<u32> {
        (self.honoured || self.cap.is_some()).then(|| self.full_at())
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
            Mode::Backfill { from, to } => {
                self.backfill(feed, (from, to), owner, now, deadline, &mut summary)
                    .await
            }
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
        let key = feed.checkpoint();
        let Some((checkpoint, resume)) = self.take_lease(feed, owner, now, deadline, summary).await? else {
            return Ok(());
        };
        summary.checkpoint_before = checkpoint;
        summary.checkpoint_after = checkpoint;
        let mut progress = Progress {
            saved_in: Some((key, owner)),
            checkpoint,
            resume_stored: resume.is_some(),
            resume,
            span: resume.and_then(|r| r.span),
            density: Density::default(),
            evidence: PageEvidence::restored(feed.settings().page_size, resume.and_then(|r| r.full_at)),
        };
        let result = self
            .sync_scheduled(feed, &mut progress, now, deadline, summary)
            .await;
        if summary.result != "completed" && summary.result != "up_to_date" {
            summary.resume_from = progress.resume.map(|r| r.from);
        }
        self.give_lease_back(feed, owner, summary).await;
        summary.lag_seconds = summary.checkpoint_after.map(|c| now_s - c);
        result
    }

    async fn sync_scheduled(
        &self,
        feed: &dyn Feed,
        progress: &mut Progress<'_>,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        let plan = scheduled_plan(
            progress.checkpoint,
            progress.resume,
            now.unix_timestamp(),
            &feed.settings().windows,
        );
        summary.windows_planned = plan.windows.len();
        if plan.windows.is_empty() {
            summary.result = "up_to_date";
            return Ok(());
        }
        let mut first_page = plan.first_page;
        for window in plan.windows {
            let end = self
                .sync_window(feed, window, first_page.take(), deadline, progress, summary)
                .await?;
            if let WindowEnd::OutOfTime = end {
                summary.result = "deadline";
                return Ok(());
            }
            summary.windows_completed += 1;
        }
        // The target is reached: the next run starts from the checkpoint again, with the overlap.
        if let Some((key, owner)) = progress.saved_in
            && progress.resume_stored
        {
            summary.counts.dynamodb_calls += 1;
            self.store
                .save_progress(key, owner, None, None, OffsetDateTime::now_utc())
                .await?;
            progress.resume_stored = false;
        }
        progress.resume = None;
        summary.result = "completed";
        Ok(())
    }

    /// Everything the run read before `from` is stored (and, with `offset`, the pages of the
    /// window `[from, etime]` before `page`): a scheduled run saves it in one write, the checkpoint
    /// moving to `from` when that is past it (not inside an unfinished offset window).
    async fn stored_up_to(
        &self,
        progress: &mut Progress<'_>,
        summary: &mut RunSummary,
        from: i64,
        offset: Option<OffsetResume>,
    ) -> Result<(), SyncError> {
        let resume = Resume {
            from,
            span: progress.span,
            full_at: progress.evidence.known_full_at(),
            offset,
        };
        progress.resume = Some(resume);
        let Some((key, owner)) = progress.saved_in else {
            return Ok(());
        };
        let checkpoint = (offset.is_none() && progress.checkpoint.is_none_or(|c| from > c)).then_some(from);
        summary.counts.dynamodb_calls += 1;
        self.store
            .save_progress(key, owner, checkpoint, Some(resume), OffsetDateTime::now_utc())
            .await?;
        progress.resume_stored = true;
        if checkpoint.is_some() {
            progress.checkpoint = checkpoint;
            summary.checkpoint_after = checkpoint;
        }
        Ok(())
    }

    /// A backfill of `[from, to)`: it takes the feed's lease like a scheduled run (so a backfill
    /// and the schedule, or two backfills, never write the same feed at once: the second ends at
    /// once with `lease_held` and is invoked again later), and never moves the checkpoint.
    async fn backfill(
        &self,
        feed: &dyn Feed,
        (from, to): (i64, i64),
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        summary.mode = "backfill";
        if self
            .take_lease(feed, owner, now, deadline, summary)
            .await?
            .is_none()
        {
            // Nothing done: invoke the backfill again later, from its start.
            summary.resume_from = Some(from);
            return Ok(());
        }
        let result = self.backfill_windows(feed, from, to, deadline, summary).await;
        self.give_lease_back(feed, owner, summary).await;
        result
    }

    /// Takes the feed's lease for `owner` (the checkpoint and the resume point come with it), or
    /// `None` with the summary's result `lease_held` when another run holds it. The lease outlives
    /// this invocation's deadline, so no other run of the feed starts while this one may still
    /// write; a crashed run's lease expires on its own.
    async fn take_lease(
        &self,
        feed: &dyn Feed,
        owner: &str,
        now: OffsetDateTime,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<Option<(Option<i64>, Option<Resume>)>, SyncError> {
        let now_s = now.unix_timestamp();
        let remaining = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
        summary.counts.dynamodb_calls += 1;
        match self
            .store
            .acquire_lease(feed.checkpoint(), owner, now_s, now_s + remaining + 60)
            .await?
        {
            Lease::Acquired { checkpoint, resume } => Ok(Some((checkpoint, resume))),
            Lease::HeldByOther { owner: holder, until } => {
                tracing::info!(target: "sync", feed = feed.name(), mode = summary.mode, holder, until,
                    "another run holds the feed's lease; this one does nothing");
                summary.result = "lease_held";
                Ok(None)
            }
        }
    }

    /// Releases the feed's lease (one that cannot be released expires on its own).
    async fn give_lease_back(&self, feed: &dyn Feed, owner: &str, summary: &mut RunSummary) {
        summary.counts.dynamodb_calls += 1;
        if let Err(e) = self.store.release_lease(feed.checkpoint(), owner).await {
            tracing::warn!(target: "sync", feed = feed.name(), error = %e,
                "could not release the lease; it will expire");
        }
    }

    async fn backfill_windows(
        &self,
        feed: &dyn Feed,
        from: i64,
        to: i64,
        deadline: Instant,
        summary: &mut RunSummary,
    ) -> Result<(), SyncError> {
        let windows = split(from, to, feed.settings().windows.max_span);
        summary.windows_planned = windows.len();
        let mut progress = Progress {
            saved_in: None,
            checkpoint: None,
            resume_stored: false,
            resume: None,
            span: None,
            density: Density::default(),
            evidence: PageEvidence::new(feed.settings().page_size),
        };
        for window in windows {
            let end = self
                .sync_window(feed, window, None, deadline, &mut progress, summary)
                .await?;
            if let WindowEnd::OutOfTime = end {
                summary.result = "deadline";
                // The next backfill's `from`: an offset window is read again from its first page.
                summary.resume_from = Some(progress.resume.map_or(window.start, |r| r.from));
                return Ok(());
            }
            summary.windows_completed += 1;
        }
        summary.result = "completed";
        Ok(())
    }

    /// One window, every row of it stored before this returns `Done`, the progress saved with
    /// every sub-window (or page) stored.
    ///
    /// [`Paging::Offset`]: page 1 (or `first_page`, resuming), 2, … until a short page, each
    /// stored before the next is asked for. [`Paging::SplitWhenFull`]: every read is one page of a
    /// sub-window, left to right: a full page is not stored but the sub-window cut shorter (at
    /// least in half), so each stored page is the whole of its sub-window at one moment and rows
    /// leaving a window while it is read cannot make offset pages skip any. Each sub-window is
    /// aimed at three quarters of a page at the density seen lately ([`Density`]), so a window
    /// far fuller than a page costs about 1.4 requests per page it holds rather than the two to
    /// four of halving from the top. A one-second window that still fills a page is paged by
    /// offset.
    async fn sync_window(
        &self,
        feed: &dyn Feed,
        window: Window,
        first_page: Option<u32>,
        deadline: Instant,
        progress: &mut Progress<'_>,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let stop_at = deadline
            .checked_sub(self.deadline_margin)
            .unwrap_or_else(Instant::now);
        // An unfinished offset window (`first_page`) is finished by offset whatever the paging:
        // with split paging it is a one-second sub-window, and the plan's next window follows it.
        if feed.paging() == Paging::Offset || first_page.is_some() {
            return self
                .page_by_offset(feed, window, first_page.unwrap_or(1), stop_at, progress, summary)
                .await;
        }
        let mut at = window.start;
        while at < window.end {
            let end = progress
                .span
                .map_or(window.end, |span| at.saturating_add(span).min(window.end));
            let w = Window { start: at, end };
            if end - at <= 1 {
                if let WindowEnd::OutOfTime = self
                    .page_by_offset(feed, w, 1, stop_at, progress, summary)
                    .await?
                {
                    return Ok(WindowEnd::OutOfTime);
                }
                at = end;
                continue;
            }
            let full_at = progress.evidence.full_at();
            let Some(page) = self
                .page(feed, w, 1, PageUse::ProbeIfFull { full_at }, stop_at, summary)
                .await?
            else {
                return Ok(WindowEnd::OutOfTime);
            };
            let rows = page.counts.rows_probed.max(page.counts.rows_received);
            let fits = match progress.evidence.judge(rows) {
                PageVerdict::Full => false,
                PageVerdict::Last => true,
                PageVerdict::Unsure => {
                    // Stored already; is there a page 2 of this sub-window (a server-side cap)?
                    let Some(next) = self.page(feed, w, 2, PageUse::Probe, stop_at, summary).await? else {
                        return Ok(WindowEnd::OutOfTime);
                    };
                    if next.counts.rows_probed > 0 {
                        progress.evidence.learn_cap(rows);
                    }
                    next.counts.rows_probed == 0
                }
            };
            let full_at = progress.evidence.full_at();
            if fits {
                progress.density.observe(rows, end - at);
                progress.span = Some(progress.density.next_span(end - at, full_at));
                self.stored_up_to(progress, summary, end, None).await?;
                at = end;
            } else {
                progress.density.observe(rows.max(u64::from(full_at)), end - at);
                let shrunk = progress.density.next_span(end - at, full_at);
                progress.span = Some(shrunk.min((end - at) / 2).max(1));
            }
        }
        Ok(WindowEnd::Done)
    }

    /// Pages `first_page`, `first_page + 1`, … of `window` until a page that is short on evidence
    /// (see [`PageEvidence`]), the progress saved after every page stored. A page that holds
    /// exactly the rows of the one before fails the run: the source ignores `Page`.
    async fn page_by_offset(
        &self,
        feed: &dyn Feed,
        window: Window,
        first_page: u32,
        stop_at: Instant,
        progress: &mut Progress<'_>,
        summary: &mut RunSummary,
    ) -> Result<WindowEnd, SyncError> {
        let mut unsure: Option<u64> = None;
        let mut previous: Option<u64> = None;
        for page in first_page.max(1).. {
            let Some(synced) = self
                .page(feed, window, page, PageUse::Store, stop_at, summary)
                .await?
            else {
                return Ok(WindowEnd::OutOfTime);
            };
            let counts = synced.counts;
            if counts.rows_received > 0 && previous == Some(synced.digest) {
                return Err(SyncError::PageRepeated {
                    feed: feed.name(),
                    stime: window.start,
                    etime: window.end,
                    page,
                });
            }
            previous = Some(synced.digest);
            if let Some(short) = unsure.take()
                && counts.rows_received > 0
            {
                progress.evidence.learn_cap(short);
            }
            match progress.evidence.judge(counts.rows_received) {
                PageVerdict::Full => {}
                PageVerdict::Last => {
                    self.stored_up_to(progress, summary, window.end, None).await?;
                    return Ok(WindowEnd::Done);
                }
                PageVerdict::Unsure => unsure = Some(counts.rows_received),
            }
            let offset = OffsetResume {
                etime: window.end,
                page: page + 1,
            };
            self.stored_up_to(progress, summary, window.start, Some(offset))
                .await?;
        }
        unreachable!("pages are counted until the window ends or the run stops")
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
    ) -> Result<Option<SyncedPage>, SyncError> {
        if Instant::now() >= stop_at {
            return Ok(None);
        }
        let request = PageRequest {
            stime: window.start,
            etime: window.end,
            page,
            page_size: feed.settings().page_size,
        };
        let synced = match feed
            .sync_page(request, page_use, OffsetDateTime::now_utc(), stop_at)
            .await
        {
            Ok(synced) => synced,
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
        summary.counts += synced.counts;
        Ok(Some(synced))
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
