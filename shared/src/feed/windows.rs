//! Settlement sync windows (pure): which `Stime`/`Etime` spans a run asks Linkbest for.
//!
//! The checkpoint is the end of the last fully synced window (unix seconds). A scheduled run syncs
//! from the checkpoint, minus an overlap re-read for late-arriving changes, up to now minus a small
//! safety lag, in windows of at most one day. A backfill syncs exactly the range it is given.

/// One request span: `Stime` = `start`, `Etime` = `end`, with `0 < end - start <= max span`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

/// How a scheduled run plans its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSettings {
    /// Longest window, at most one day (the API refuses more).
    pub max_span: i64,
    /// How far before the checkpoint every run re-reads.
    pub overlap: i64,
    /// How far behind now a run stops, so changes still being written are not half-read.
    pub safety_lag: i64,
    /// Where the very first run starts, counted back from now (no checkpoint yet).
    pub initial_lookback: i64,
}

/// The longest window the feed machine ever asks for: one day. A partner may allow less (its
/// settings then say so: Linkbest's is exactly one day, `linkbest::api::MAX_WINDOW_SECONDS`); the
/// machine knows no partner (no import of a partner's module here).
pub const MAX_SPAN: i64 = 86_400;

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            max_span: MAX_SPAN,
            overlap: 3_600,
            safety_lag: 300,
            initial_lookback: MAX_SPAN,
        }
    }
}

/// Where the next scheduled run of a feed continues while a catch-up is unfinished: kept in the
/// feed's checkpoint item by every run that stored something and did not reach its target (it
/// stopped for its deadline, or failed), removed by the run that reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Everything the catch-up read before this was stored: the next run reads from here, without
    /// the overlap (which a run re-reads only when it starts from a caught-up checkpoint). Can be
    /// before the checkpoint: a run that stopped inside the overlap it re-reads.
    pub from: i64,
    /// The last span of a sub-window that fitted one page ([`crate::feed::Paging::SplitWhenFull`]),
    /// so the next run starts with a span that fits instead of probing for one again.
    pub span: Option<i64>,
    /// The page size the source was seen to serve whole (the runner's page evidence), so a short
    /// page ends a sub-window without asking for the page after it.
    pub full_at: Option<u32>,
    /// Offset paging stopped inside the window `[from, etime]`: its pages before `page` are stored.
    pub offset: Option<OffsetResume>,
}

/// A window paged by offset that a run left unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetResume {
    pub etime: i64,
    /// The first page not yet stored (from 2).
    pub page: u32,
}

/// What a scheduled run reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub windows: Vec<Window>,
    /// The first window continues an unfinished offset window from this page (by offset, whatever
    /// the feed's paging).
    pub first_page: Option<u32>,
    /// The span to start sub-windows with ([`Resume::span`]).
    pub span: Option<i64>,
}

/// The plan of a scheduled run at `now`: from the resume point where a catch-up is unfinished
/// (no overlap, an unfinished offset window first), else [`scheduled_windows`].
pub fn scheduled_plan(
    checkpoint: Option<i64>,
    resume: Option<Resume>,
    now: i64,
    settings: &WindowSettings,
) -> Plan {
    let Some(resume) = resume else {
        return Plan {
            windows: scheduled_windows(checkpoint, now, settings),
            first_page: None,
            span: None,
        };
    };
    let target = now - settings.safety_lag;
    match resume.offset {
        Some(offset) if offset.etime > resume.from => {
            let mut windows = vec![Window {
                start: resume.from,
                end: offset.etime,
            }];
            windows.extend(split(offset.etime, target, settings.max_span));
            Plan {
                windows,
                first_page: Some(offset.page.max(1)),
                span: resume.span,
            }
        }
        _ => Plan {
            windows: split(resume.from, target, settings.max_span),
            first_page: None,
            span: resume.span,
        },
    }
}

/// `[from, to)` cut into consecutive windows of at most `max_span` seconds (clamped to one day).
pub fn split(from: i64, to: i64, max_span: i64) -> Vec<Window> {
    let span = max_span.clamp(1, MAX_SPAN);
    let mut windows = Vec::new();
    let mut start = from;
    while start < to {
        let end = start.saturating_add(span).min(to);
        windows.push(Window { start, end });
        start = end;
    }
    windows
}

/// The windows of a scheduled run at `now` with the stored `checkpoint` (if any). Empty when the
/// checkpoint is already at `now - safety_lag`.
pub fn scheduled_windows(checkpoint: Option<i64>, now: i64, settings: &WindowSettings) -> Vec<Window> {
    let target = now - settings.safety_lag;
    let synced_to = checkpoint.unwrap_or(target - settings.initial_lookback);
    if target <= synced_to {
        return Vec::new();
    }
    split(synced_to - settings.overlap.max(0), target, settings.max_span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_gap_is_cut_into_day_windows_from_the_overlap_to_now_minus_the_lag() {
        let s = WindowSettings {
            max_span: DAY,
            overlap: 3_600,
            safety_lag: 300,
            initial_lookback: DAY,
        };
        let now = 10 * DAY;
        let w = scheduled_windows(Some(7 * DAY), now, &s);
        assert_eq!(w.first().unwrap().start, 7 * DAY - 3_600);
        assert_eq!(w.last().unwrap().end, now - 300);
        assert_eq!(w.len(), 4);
        assert!(w.iter().all(|w| w.end - w.start <= DAY));
    }

    #[test]
    fn the_first_run_starts_at_the_initial_lookback() {
        let s = WindowSettings {
            max_span: DAY,
            overlap: 0,
            safety_lag: 0,
            initial_lookback: 3 * DAY,
        };
        let w = scheduled_windows(None, 100 * DAY, &s);
        assert_eq!(w, split(97 * DAY, 100 * DAY, DAY));
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn nothing_to_do_when_the_checkpoint_is_current() {
        let s = WindowSettings::default();
        assert!(scheduled_windows(Some(1_000), 1_000 + s.safety_lag, &s).is_empty());
        assert!(scheduled_windows(Some(2_000), 1_000, &s).is_empty());
    }

    #[test]
    fn spans_are_clamped_to_one_day() {
        let w = split(0, 3 * DAY, 10 * DAY);
        assert_eq!(w.len(), 3);
        assert!(split(5, 5, DAY).is_empty());
        assert!(split(6, 5, DAY).is_empty());
    }

    #[test]
    fn a_resumed_run_starts_where_the_last_stopped_without_the_overlap() {
        let s = WindowSettings {
            max_span: DAY,
            overlap: 3_600,
            safety_lag: 300,
            initial_lookback: DAY,
        };
        let now = 10 * DAY;
        // Stopped inside the overlap, before the checkpoint: no overlap again, so it moves on.
        let resume = Resume {
            from: 7 * DAY - 1_000,
            span: Some(60),
            full_at: None,
            offset: None,
        };
        let plan = scheduled_plan(Some(7 * DAY), Some(resume), now, &s);
        assert_eq!(plan.windows, split(7 * DAY - 1_000, now - 300, DAY));
        assert_eq!((plan.first_page, plan.span), (None, Some(60)));
        // An unfinished offset window comes first, whole, from its page.
        let resume = Resume {
            from: 8 * DAY,
            span: None,
            full_at: Some(200),
            offset: Some(OffsetResume {
                etime: 8 * DAY + 500,
                page: 7,
            }),
        };
        let plan = scheduled_plan(Some(7 * DAY), Some(resume), now, &s);
        assert_eq!(
            plan.windows[0],
            Window {
                start: 8 * DAY,
                end: 8 * DAY + 500
            }
        );
        assert_eq!(plan.windows[1].start, 8 * DAY + 500);
        assert_eq!(plan.windows.last().unwrap().end, now - 300);
        assert_eq!(plan.first_page, Some(7));
        // No resume: the overlap as before.
        let plan = scheduled_plan(Some(7 * DAY), None, now, &s);
        assert_eq!(plan.windows, scheduled_windows(Some(7 * DAY), now, &s));
    }

    proptest! {
        #[test]
        fn windows_tile_the_range_and_never_exceed_a_day(
            from in -1_000_000_000i64..2_000_000_000,
            len in 0i64..40 * DAY,
            span in -5i64..3 * DAY,
        ) {
            let windows = split(from, from + len, span);
            let mut at = from;
            for w in &windows {
                prop_assert_eq!(w.start, at);
                prop_assert!(w.end > w.start);
                prop_assert!(w.end - w.start <= MAX_SPAN);
                at = w.end;
            }
            prop_assert_eq!(at, from + len.max(0));
        }

        #[test]
        fn scheduled_runs_cover_everything_after_the_checkpoint(
            checkpoint in 0i64..1_000_000_000,
            gap in 0i64..30 * DAY,
            overlap in 0i64..2 * DAY,
            lag in 0i64..3_600,
        ) {
            let s = WindowSettings { max_span: DAY, overlap, safety_lag: lag, initial_lookback: DAY };
            let now = checkpoint + gap;
            let windows = scheduled_windows(Some(checkpoint), now, &s);
            if now - lag > checkpoint {
                prop_assert!(windows.first().unwrap().start <= checkpoint - overlap);
                prop_assert_eq!(windows.last().unwrap().end, now - lag);
            } else {
                prop_assert!(windows.is_empty());
            }
        }
    }
}
