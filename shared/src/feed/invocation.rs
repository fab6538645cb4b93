//! What one invocation of the scheduled sync asks for, read from its event.
//!
//! - `{"feed": "<name>"}`: a scheduled run of that feed (what each feed's schedule sends);
//! - `{"feed": "<name>", "from": <unix s>, "to": <unix s>}`: a backfill of that feed;
//! - `{"from": …, "to": …}` without a feed: a backfill of the default feed (kept so the older
//!   event form goes on meaning what it meant);
//! - anything else (an EventBridge event without input, `{}`): a scheduled run of every feed.

use serde_json::Value;

/// Longest range one backfill invocation accepts.
pub const MAX_BACKFILL_SECONDS: i64 = 400 * 86_400;

/// How one feed is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the checkpoint to now (the schedule).
    Scheduled,
    /// Exactly `[from, to)`, checkpoint untouched.
    Backfill { from: i64, to: i64 },
}

/// Which feeds an invocation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    One(String),
}

/// An invocation's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub feeds: Selection,
    pub mode: Mode,
}

/// Why an invocation's event cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sync request: {0}")]
pub struct BadEvent(pub String);

impl Invocation {
    /// Reads an event. `feeds` are the names a `feed` may take; `backfill_default` is the feed a
    /// backfill without a `feed` means.
    pub fn from_event(event: &Value, feeds: &[&str], backfill_default: &str) -> Result<Self, BadEvent> {
        let field = |name: &str| event.get(name).filter(|v| !v.is_null());
        let named = match field("feed") {
            None => None,
            Some(Value::String(name)) if feeds.contains(&name.as_str()) => Some(name.clone()),
            Some(other) => {
                return Err(BadEvent(format!(
                    "\"feed\" must be one of {feeds:?}, got {other}"
                )));
            }
        };
        let mode = match (field("from"), field("to")) {
            (None, None) => Mode::Scheduled,
            (Some(from), Some(to)) => backfill(from, to)?,
            _ => return Err(BadEvent("give both \"from\" and \"to\" (unix seconds)".into())),
        };
        let feeds = match (named, mode) {
            (Some(name), _) => Selection::One(name),
            (None, Mode::Backfill { .. }) => Selection::One(backfill_default.to_owned()),
            (None, Mode::Scheduled) => Selection::All,
        };
        Ok(Self { feeds, mode })
    }
}

fn backfill(from: &Value, to: &Value) -> Result<Mode, BadEvent> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FEEDS: &[&str] = &["settlement", "orders"];

    fn read(event: Value) -> Result<Invocation, BadEvent> {
        Invocation::from_event(&event, FEEDS, "settlement")
    }

    #[test]
    fn events_select_feeds_and_mode() {
        let all = Invocation {
            feeds: Selection::All,
            mode: Mode::Scheduled,
        };
        assert_eq!(
            read(json!({"source": "aws.events", "detail-type": "Scheduled Event"})),
            Ok(all.clone())
        );
        assert_eq!(read(json!({})), Ok(all.clone()));
        assert_eq!(read(json!(null)), Ok(all));
        assert_eq!(
            read(json!({"feed": "orders"})),
            Ok(Invocation {
                feeds: Selection::One("orders".into()),
                mode: Mode::Scheduled
            })
        );
        assert_eq!(
            read(json!({"feed": "orders", "from": 1_700_000_000, "to": "1700086400"})),
            Ok(Invocation {
                feeds: Selection::One("orders".into()),
                mode: Mode::Backfill {
                    from: 1_700_000_000,
                    to: 1_700_086_400
                }
            })
        );
        assert_eq!(
            read(json!({"from": 1_700_000_000, "to": 1_700_086_400})),
            Ok(Invocation {
                feeds: Selection::One("settlement".into()),
                mode: Mode::Backfill {
                    from: 1_700_000_000,
                    to: 1_700_086_400
                }
            }),
            "the older form is a settlement backfill"
        );
    }

    #[test]
    fn unusable_events_are_refused() {
        for bad in [
            json!({"from": 5}),
            json!({"to": 5}),
            json!({"from": 10, "to": 5}),
            json!({"from": 5, "to": 5}),
            json!({"from": "x", "to": 5}),
            json!({"from": 1.5, "to": 5}),
            json!({"from": 0, "to": MAX_BACKFILL_SECONDS + 1}),
            json!({"feed": "refunds"}),
            json!({"feed": 1}),
            json!({"feed": ["orders"]}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad}");
        }
    }
}
