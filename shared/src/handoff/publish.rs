//! Publishing a batch of stream records: each record becomes at most one event (the partners'
//! [`Describe`]s decide), events go to the bus in `PutEvents` requests within EventBridge's
//! limits (10 entries, 256 KB), entries the bus refused are retried with backoff, and the answer
//! to Lambda names the first record not published (`ReportBatchItemFailures`): Lambda retries
//! from there, so nothing after a failure is skipped. A record that cannot be read (a poison
//! record) is logged and counted once and reported the same way; the event source mapping's
//! bounded retries, bisection and on-failure destination then move it out of the shard's way.

use std::time::Duration;

use serde::Serialize;

use super::Describe;
use super::contract::OrderEvent;
use super::stream::{read_record, sequence_number};
use crate::feed::BoxFuture;

/// EventBridge's limits for one `PutEvents` request.
pub const MAX_ENTRIES: usize = 10;
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// One entry of a `PutEvents` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: String,
    pub detail_type: &'static str,
    /// The [`OrderEvent`] as JSON.
    pub detail: String,
    /// The record it comes from (for the answer to Lambda).
    pub sequence_number: String,
}

impl Entry {
    /// EventBridge's size of an entry: its strings' UTF-8 bytes (plus the bus name and time,
    /// which [`MAX_REQUEST_BYTES`] leaves room for).
    pub fn size(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len() + 64
    }
}

/// Why a whole `PutEvents` request failed (throttled, unreachable, …): every entry of it counts as
/// not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents failed: {0}")]
pub struct BusError(pub String);

/// The bus port: EventBridge in AWS (`aws-sdk-eventbridge`), a stand-in speaking its wire protocol
/// locally. Answers, per entry in order, `None` when published or the error code when refused.
pub trait Bus: Send + Sync {
    fn put_events<'a>(&'a self, entries: &'a [Entry])
    -> BoxFuture<'a, Result<Vec<Option<String>>, BusError>>;
}

/// How hard to try a refused entry again within one invocation.
#[derive(Debug, Clone, Copy)]
pub struct RetrySettings {
    pub attempts: u32,
    pub first_pause: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_pause: Duration::from_millis(100),
        }
    }
}

/// What one batch did; logged as one line and emitted as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    pub records: usize,
    /// Events the bus accepted.
    pub published: usize,
    /// Records that changed no view (no event).
    pub no_event: usize,
    /// Events refused for good in this invocation (Lambda retries them).
    pub failed: usize,
    /// Records that could not be read.
    pub poison: usize,
    pub put_events_requests: usize,
    /// The first record not published: Lambda's batch item failure (none: all done).
    pub first_failure: Option<String>,
}

/// Splits entries into `PutEvents` requests: at most [`MAX_ENTRIES`] and [`MAX_REQUEST_BYTES`]
/// each, in order.
pub fn requests(entries: &[Entry]) -> Vec<&[Entry]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let size = entry.size();
        if i > start && (i - start == MAX_ENTRIES || bytes + size > MAX_REQUEST_BYTES) {
            out.push(&entries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < entries.len() {
        out.push(&entries[start..]);
    }
    out
}

/// The entry of an event.
pub fn entry(event: &OrderEvent, sequence_number: &str) -> Entry {
    Entry {
        source: event.source(),
        detail_type: event.detail_type(),
        detail: serde_json::to_string(event).expect("an event always serializes"),
        sequence_number: sequence_number.to_owned(),
    }
}

/// Publishes the events of `records` (the `Records` of one stream event) to `bus`.
pub async fn publish(
    records: &[serde_json::Value],
    views: &[Describe],
    bus: &dyn Bus,
    retry: RetrySettings,
) -> BatchOutcome {
    let mut outcome = BatchOutcome {
        records: records.len(),
        ..BatchOutcome::default()
    };
    // Events of the records up to the first poison one, in stream order.
    let mut entries = Vec::new();
    let mut poison_at = None;
    for record in records {
        match read_record(record) {
            Ok(change) => match views.iter().find_map(|describe| describe(&change)) {
                Some(event) => entries.push(entry(&event, &change.sequence_number)),
                None => outcome.no_event += 1,
            },
            Err(problem) => {
                outcome.poison += 1;
                let sequence = sequence_number(record);
                tracing::error!(target: "publisher", outcome = "poison", error = %problem,
                    sequence_number = sequence.as_deref(),
                    "stream record not understood; reported as failed (retried, then to the on-failure destination)");
                poison_at = Some(sequence.unwrap_or_default());
                break;
            }
        }
    }
    send(&entries, bus, retry, &mut outcome).await;
    // The first record not published: the first refused entry's, else the poison record.
    outcome.first_failure = outcome.first_failure.take().or(poison_at);
    outcome
}

/// Publishes `events` (a replay): the same requests and retries as [`publish`]; each entry is
/// named by its event's id (`first_failure` is the first event id not published).
pub async fn publish_events(events: &[OrderEvent], bus: &dyn Bus, retry: RetrySettings) -> BatchOutcome {
    let entries: Vec<Entry> = events.iter().map(|e| entry(e, &e.event_id)).collect();
    let mut outcome = BatchOutcome {
        records: events.len(),
        ..BatchOutcome::default()
    };
    send(&entries, bus, retry, &mut outcome).await;
    outcome
}

/// Sends `entries` and counts in `outcome` what was published, what was refused for good and the
/// first entry refused.
async fn send(entries: &[Entry], bus: &dyn Bus, retry: RetrySettings, outcome: &mut BatchOutcome) {
    let refused = send_with_retries(entries, bus, retry, outcome).await;
    outcome.published = entries.len() - refused.len();
    outcome.failed = refused.len();
    outcome.first_failure = refused.first().map(|&i| entries[i].sequence_number.clone());
}

/// Sends `entries`, retrying refused ones with doubling pauses; the indexes refused for good.
async fn send_with_retries(
    entries: &[Entry],
    bus: &dyn Bus,
    retry: RetrySettings,
    outcome: &mut BatchOutcome,
) -> Vec<usize> {
    let mut pending: Vec<usize> = (0..entries.len()).collect();
    let mut pause = retry.first_pause;
    for attempt in 1..=retry.attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        let batch: Vec<Entry> = pending.iter().map(|&i| entries[i].clone()).collect();
        let mut refused = Vec::new();
        let mut offset = 0;
        for request in requests(&batch) {
            outcome.put_events_requests += 1;
            let answers = match bus.put_events(request).await {
                Ok(answers) if answers.len() == request.len() => answers,
                Ok(answers) => vec![
                    Some(format!("{} answers for {} entries", answers.len(), request.len()));
                    request.len()
                ],
                Err(e) => vec![Some(e.0); request.len()],
            };
            for (j, answer) in answers.into_iter().enumerate() {
                if let Some(code) = answer {
                    tracing::warn!(target: "publisher", error_code = %code, attempt,
                        sequence_number = %entries[pending[offset + j]].sequence_number,
                        "event refused by the bus");
                    refused.push(pending[offset + j]);
                }
            }
            offset += request.len();
        }
        pending = refused;
        if !pending.is_empty() && attempt < retry.attempts {
            tokio::time::sleep(
                pause + Duration::from_millis(fastrand::u64(0..=pause.as_millis() as u64 / 2)),
            )
            .await;
            pause *= 2;
        }
    }
    pending.sort_unstable();
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(n: usize, detail_bytes: usize) -> Entry {
        Entry {
            source: "partner-ingest.linkbest".into(),
            detail_type: "Order Seen",
            detail: "x".repeat(detail_bytes),
            sequence_number: format!("{n:021}"),
        }
    }

    /// A bus that accepts everything and counts its requests.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl Bus for Counting {
        fn put_events<'a>(
            &'a self,
            entries: &'a [Entry],
        ) -> BoxFuture<'a, Result<Vec<Option<String>>, BusError>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Box::pin(async move { Ok(vec![None; entries.len()]) })
        }
    }

    /// A Linkbest view record as the stream carries it: order `n` moved to version `v`.
    fn view_record(n: usize, v: u64) -> serde_json::Value {
        let pk = format!("LB#ORDER#SO{n:06}");
        let version = format!("{v:020}#{n:020}");
        serde_json::json!({
            "eventID": format!("{n}"), "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"pk": {"S": pk}, "sk": {"S": "ORDER"}},
                "NewImage": {"pk": {"S": pk}, "sk": {"S": "ORDER"}, "item_type": {"S": "linkbest_order"},
                             "order_sn": {"S": format!("SO{n:06}")}, "status": {"S": "1"},
                             "orders_price": {"S": "129.90"}, "currency": {"S": "CNY"},
                             "state_version": {"S": version}, "push_version": {"S": version}},
                "OldImage": {"pk": {"S": pk}, "sk": {"S": "ORDER"}, "item_type": {"S": "linkbest_order"},
                             "status": {"S": "0"}, "state_version": {"S": "0"}},
                "SequenceNumber": format!("{n:021}"), "SizeBytes": 400,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        })
    }

    /// Cost: 1,000 view changes, handed over in the event source mapping's batches of 100, take
    /// 100 `PutEvents` requests (the floor at 10 entries a request; the goal is at most 110).
    #[tokio::test]
    async fn a_thousand_view_changes_take_a_hundred_put_events_requests() {
        let views: &[Describe] = &[crate::linkbest::handoff::describe];
        let bus = Counting(std::sync::atomic::AtomicUsize::new(0));
        let records: Vec<serde_json::Value> = (0..1_000).map(|n| view_record(n, 1_795_440_539)).collect();
        let mut published = 0;
        for batch in records.chunks(100) {
            let outcome = publish(batch, views, &bus, RetrySettings::default()).await;
            assert_eq!(outcome.first_failure, None);
            published += outcome.published;
        }
        assert_eq!(published, 1_000);
        assert_eq!(bus.0.load(std::sync::atomic::Ordering::Relaxed), 100);
    }

    #[test]
    fn requests_respect_the_entry_and_size_limits_in_order() {
        let entries: Vec<Entry> = (0..25).map(|n| e(n, 100)).collect();
        let sizes: Vec<usize> = requests(&entries).iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        let big: Vec<Entry> = (0..5).map(|n| e(n, 100 * 1024)).collect();
        let chunks = requests(&big);
        assert_eq!(chunks.iter().map(|r| r.len()).collect::<Vec<_>>(), [2, 2, 1]);
        for chunk in &chunks {
            assert!(chunk.iter().map(Entry::size).sum::<usize>() <= MAX_REQUEST_BYTES);
        }
        let flat: Vec<&Entry> = chunks.iter().flat_map(|c| c.iter()).collect();
        assert!(
            flat.windows(2)
                .all(|w| w[0].sequence_number < w[1].sequence_number)
        );
        assert!(requests(&[]).is_empty());
    }
}
