//! The feed machine: a scheduled, paged, checkpointed pull of one partner feed, and a manual
//! backfill of a given range. Partner-neutral: a feed is a [`Feed`] (its name, checkpoint item,
//! paging settings, and how one page is fetched and stored); everything else lives here.
//!
//! A scheduled run takes the feed's lease (so two runs of one feed never sync at once), plans its
//! windows from the feed's checkpoint ([`windows`]), reads each window in sub-windows that fit a
//! page or page by page, has every page stored before asking for the next, and saves its progress
//! with every sub-window (or page) it stored: the checkpoint moves as far as everything before it
//! is stored, and an unfinished catch-up keeps where it resumes ([`windows::Resume`]). It stops
//! starting new pages shortly before the Lambda deadline; the next run continues from there, so
//! every run that stores a page moves the feed on, whatever a window holds. A backfill pages
//! exactly the range it is given and never touches the checkpoint or the lease.

pub mod invocation;
pub mod runner;
pub mod windows;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use tokio::time::Instant;

pub use invocation::{BadEvent, Invocation, Mode, Selection};

pub use runner::{FeedRunner, RunSummary, SyncError};
use windows::WindowSettings;

use crate::store::StoreError;

/// A boxed future, so feeds of different kinds can sit in one list.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a feed keeps its checkpoint and lease: one item of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointKey {
    pub pk: &'static str,
    pub sk: &'static str,
}

/// How a feed pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSettings {
    /// Rows asked per page; a shorter page ends a window.
    pub page_size: u32,
    pub windows: WindowSettings,
}

/// How a feed's windows are paged (a property of the feed's data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Page 1, 2, … of the window until a short page. Safe for append-only rows (rows that appear
    /// in a window while it is read only make a later page repeat a row).
    Offset,
    /// Cut a window whose first page is full in halves until each fits one page. For rows that can
    /// leave a window while it is read (an order updated moves to a later window): with offset
    /// pages, every row behind it would shift forward and one would be skipped.
    SplitWhenFull,
}

/// What to do with a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageUse {
    /// Store its rows.
    Store,
    /// Store its rows unless the page holds `full_at` rows or more (the window will be read again
    /// in halves); such a page reports its rows probed and writes nothing. `full_at` is the
    /// requested page size, or the smaller page size the source was seen to serve.
    ProbeIfFull { full_at: u32 },
    /// Only count its rows (`rows_probed`): is there anything past a short page?
    Probe,
}

/// One page asked of a feed's source: the window `[stime, etime]` (unix seconds) and the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub stime: i64,
    pub etime: i64,
    /// From 1.
    pub page: u32,
    pub page_size: u32,
}

/// What storing one page did; summed into the run's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PageCounts {
    /// Rows of the pages stored.
    pub rows_received: u64,
    /// Rows of full pages read only to learn that their window must be cut in halves
    /// ([`Paging::SplitWhenFull`]); they are read again, and stored, in the halves.
    pub rows_probed: u64,
    /// Items written (a row read again that is already stored is not written again).
    pub items_written: u64,
    /// Order views moved forward.
    pub views_updated: u64,
    /// DynamoDB requests made.
    pub dynamodb_calls: u64,
    /// Orders the feed found that no push ever told about (first listing).
    pub found_only_by_poll: u64,
    /// Orders whose status the feed learned before (or instead of) the pushes.
    pub status_found_only_by_poll: u64,
    /// Rows written that name no usable order (`LB#UNLINKED`): kept, counted, alarmed.
    pub rows_unlinked: u64,
}

impl std::ops::AddAssign for PageCounts {
    fn add_assign(&mut self, other: Self) {
        self.rows_received += other.rows_received;
        self.rows_probed += other.rows_probed;
        self.items_written += other.items_written;
        self.views_updated += other.views_updated;
        self.dynamodb_calls += other.dynamodb_calls;
        self.found_only_by_poll += other.found_only_by_poll;
        self.status_found_only_by_poll += other.status_found_only_by_poll;
        self.rows_unlinked += other.rows_unlinked;
    }
}

/// One page synced: what storing it did, and a digest of its rows as received (an offset page
/// equal to the one before it means the source ignores `Page`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncedPage {
    pub counts: PageCounts,
    pub digest: u64,
}

/// Why fetching a page failed (after the source's own retries).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("request timed out")]
    Timeout,
    #[error("HTTP {0}")]
    Http(u16),
    #[error("rate limited (HTTP 429)")]
    RateLimited { retry_after: Option<Duration> },
    /// The answer cannot be used (not the envelope, rows of the wrong shape, too large, …): the
    /// whole page is refused and nothing of it is written.
    #[error("page refused: {0}")]
    Refused(String),
    #[error("Status {status}: {message}")]
    Status { status: i64, message: String },
    /// The credentials to sign the request with cannot be read (e.g. a secret in Secrets
    /// Manager): asking again now does not help.
    #[error("credentials not available: {0}")]
    Credentials(String),
    /// The run's deadline came before the page arrived (`last_error`: of the attempts before).
    #[error("the run's deadline came first (last error: {})", last_error.as_deref().unwrap_or("none"))]
    Deadline { last_error: Option<String> },
}

impl FetchError {
    /// Everything is retried but a client error (4xx other than 429): a bad request, key or
    /// signature does not get better by asking again.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, FetchError::Http(code) if (400..500).contains(code))
            && !matches!(self, FetchError::Deadline { .. } | FetchError::Credentials(_))
    }
}

/// Why one page could not be synced.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One feed: a small declaration (name, checkpoint item, settings) and how a page is fetched and
/// stored. Implemented per partner (`linkbest::feed`); nothing here knows a partner's signing or
/// envelope.
pub trait Feed: Send + Sync {
    /// The feed's name in events, logs and metrics (`settlement`, `orders`).
    fn name(&self) -> &'static str;
    fn checkpoint(&self) -> CheckpointKey;
    fn settings(&self) -> &FeedSettings;
    fn paging(&self) -> Paging;
    /// Fetches one page (retrying transient failures, giving up at `stop_at` with
    /// [`FetchError::Deadline`]) and stores it as `page_use` says. A page is stored whole or not at
    /// all: every row is checked before anything is written, and every write is confirmed before
    /// this returns.
    fn sync_page<'a>(
        &'a self,
        request: PageRequest,
        page_use: PageUse,
        fetched_at: OffsetDateTime,
        stop_at: Instant,
    ) -> BoxFuture<'a, Result<SyncedPage, PageError>>;
    /// HTTP requests sent so far (retries included), for the run summary.
    fn requests_sent(&self) -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_everything_else_is_retried() {
        assert!(!FetchError::Http(400).is_retryable());
        assert!(!FetchError::Http(403).is_retryable());
        assert!(FetchError::Http(500).is_retryable());
        assert!(FetchError::Http(503).is_retryable());
        assert!(FetchError::RateLimited { retry_after: None }.is_retryable());
        assert!(FetchError::Timeout.is_retryable());
        assert!(FetchError::Refused("x".into()).is_retryable());
        assert!(
            FetchError::Status {
                status: 1,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(!FetchError::Deadline { last_error: None }.is_retryable());
    }
}

#[cfg(test)]
mod layering {
    /// The feed machine is partner-neutral: none of its files imports a partner's module (issue
    /// #30: `windows` used to take Linkbest's window limit, which took `PageRequest` from here).
    #[test]
    fn the_feed_machine_imports_no_partner() {
        for (name, text) in [
            ("mod.rs", include_str!("mod.rs")),
            ("runner.rs", include_str!("runner.rs")),
            ("windows.rs", include_str!("windows.rs")),
            ("invocation.rs", include_str!("invocation.rs")),
        ] {
            for partner in ["crate::linkbest", "crate::igv"] {
                let import = format!("use {partner}");
                assert!(!text.contains(&import), "{name} imports {partner}");
            }
        }
    }
}
