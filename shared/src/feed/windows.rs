//! Settlement sync windows (pure): which `Stime`/`Etime` spans a run asks Linkbest for.
//!
//! The checkpoint is the end of the last fully synced window (unix seconds). A scheduled run syncs
//! from the checkpoint, minus an overlap re-read for late-arriving changes, up to now minus a small
//! safety lag, in windows of at most one day. A backfill syncs exactly the range it is given.

use crate::linkbest::api::MAX_WINDOW_SECONDS;

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

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            max_span: MAX_WINDOW_SECONDS,
            overlap: 3_600,
            safety_lag: 300,
            initial_lookback: MAX_WINDOW_SECONDS,
        }
    }
}

/// `[from, to)` cut into consecutive windows of at most `max_span` seconds (clamped to one day).
pub fn split(from: i64, to: i64, max_span: i64) -> Vec<Window> {
    let span = max_span.clamp(1, MAX_WINDOW_SECONDS);
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
                prop_assert!(w.end - w.start <= MAX_WINDOW_SECONDS);
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
