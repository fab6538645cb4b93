//! A Linkbest feed: one open API service paged by the feed machine. A feed is a declaration
//! ([`FeedDecl`]: name, service and its parameters, checkpoint item) plus its [`Rows`] (how a
//! page's rows are checked, turned into items and stored). Adding a feed is a new module with
//! those two, listed in `linkbest::sync`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use serde_json::value::RawValue;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::client::{LinkbestClient, Service};
use crate::feed::{
    BoxFuture, CheckpointKey, Feed, FeedSettings, PageCounts, PageError, PageRequest, PageUse, Paging,
    SyncedPage,
};
use crate::store::Store;

/// What names a Linkbest feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedDecl {
    /// In events, logs, metrics, settings (`SETTLEMENT_*`, `ORDERS_*`).
    pub name: &'static str,
    pub service: Service,
    pub checkpoint: CheckpointKey,
    pub paging: Paging,
}

/// How the rows of a feed's pages become items.
pub trait Rows: Send + Sync + 'static {
    type Row: Send + Sync + 'static;

    /// Checks and reads every row of a page; any unusable row refuses the whole page (with the
    /// reason), so nothing of it is written.
    fn parse(rows: &[&RawValue]) -> Result<Vec<Self::Row>, String>;

    /// Stores one page's rows, fetched at `fetched_at` for the window `request`; every write is
    /// confirmed before this returns. `more` reads another window of the same service (the
    /// orders feed asks again for the part of a window after a push when a row alone cannot tell
    /// a revert from a re-read: issue #28.8).
    fn store<'a>(
        store: &'a Store,
        rows: Vec<Self::Row>,
        fetched_at: OffsetDateTime,
        request: PageRequest,
        more: &'a Pages<'a, Self::Row>,
    ) -> BoxFuture<'a, Result<PageCounts, PageError>>;
}

/// Reads every row of a window of the feed's service, page after page until a short one.
pub struct Pages<'a, Row> {
    client: &'a LinkbestClient,
    service: Service,
    page_size: u32,
    stop_at: Instant,
    parse: fn(&[&RawValue]) -> Result<Vec<Row>, String>,
}

impl<Row> Pages<'_, Row> {
    /// Every row updated in `[stime, etime)`.
    pub async fn window(&self, stime: i64, etime: i64) -> Result<Vec<Row>, PageError> {
        let mut rows = Vec::new();
        for page in 1.. {
            let request = PageRequest {
                stime,
                etime,
                page,
                page_size: self.page_size,
            };
            let got = self
                .client
                .page(self.service, &request, self.stop_at, self.parse)
                .await?;
            let short = got.len() < self.page_size as usize;
            rows.extend(got);
            if short || page >= 1_000 {
                break;
            }
        }
        Ok(rows)
    }
}

/// A Linkbest feed, ready for the feed machine.
pub struct LinkbestFeed<R: Rows> {
    decl: FeedDecl,
    settings: FeedSettings,
    client: Arc<LinkbestClient>,
    store: Store,
    rows: PhantomData<fn() -> R>,
}

impl<R: Rows> LinkbestFeed<R> {
    pub fn new(decl: FeedDecl, settings: FeedSettings, client: Arc<LinkbestClient>, store: Store) -> Self {
        Self {
            decl,
            settings,
            client,
            store,
            rows: PhantomData,
        }
    }
}

impl<R: Rows> Feed for LinkbestFeed<R> {
    fn name(&self) -> &'static str {
        self.decl.name
    }

    fn checkpoint(&self) -> CheckpointKey {
        self.decl.checkpoint
    }

    fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    fn paging(&self) -> Paging {
        self.decl.paging
    }

    fn sync_page<'a>(
        &'a self,
        request: PageRequest,
        page_use: PageUse,
        fetched_at: OffsetDateTime,
        stop_at: Instant,
    ) -> BoxFuture<'a, Result<SyncedPage, PageError>> {
        Box::pin(async move {
            let (rows, digest) = self
                .client
                .page(self.decl.service, &request, stop_at, |raw| {
                    let mut hasher = DefaultHasher::new();
                    for row in raw {
                        row.get().hash(&mut hasher);
                    }
                    R::parse(raw).map(|rows| (rows, hasher.finish()))
                })
                .await?;
            let received = rows.len() as u64;
            let probe_only = match page_use {
                PageUse::Store => false,
                PageUse::ProbeIfFull { full_at } => received >= u64::from(full_at),
                PageUse::Probe => true,
            };
            if probe_only {
                return Ok(SyncedPage {
                    counts: PageCounts {
                        rows_probed: received,
                        ..PageCounts::default()
                    },
                    digest,
                });
            }
            let more = Pages {
                client: &self.client,
                service: self.decl.service,
                page_size: request.page_size,
                stop_at,
                parse: R::parse,
            };
            let mut counts = R::store(&self.store, rows, fetched_at, request, &more).await?;
            counts.rows_received = received;
            Ok(SyncedPage { counts, digest })
        })
    }

    fn requests_sent(&self) -> u64 {
        self.client.requests_sent()
    }
}
