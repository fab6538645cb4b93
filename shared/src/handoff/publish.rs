//! Publishing a batch of stream records: each record becomes at most one event (the partners'
//! [`Describe`]s decide), events go to the bus in `PutEvents` requests within EventBridge's
//! limits (10 entries, 256 KB), a round's requests in flight together (up to [`MAX_IN_FLIGHT`]),
//! entries the bus refused are retried with backoff, and the answer to Lambda names the first
//! record not published (`ReportBatchItemFailures`): Lambda retries from there, so nothing after
//! a failure is skipped.
//!
//! Two things end a batch other than success (issue #27.5):
//! - **The deadline**: no request or pause runs past it; what is still unsent is reported, so
//!   the invocation answers before Lambda's timeout would fail the whole batch.
//! - **A poison record** — unreadable, an event over EventBridge's size, or an entry refused for
//!   its content (`InvalidArgument`, `MalformedDetail`) — is set aside by the code itself
//!   ([`super::set_aside`]: logged, counted, kept in the table where `ops set-aside` reads it)
//!   and counts as handled: the records after it are published, and the event source mapping can
//!   retry a shard for as long as its records live, so an EventBridge brownout holds the shard
//!   (iterator age rises, alarmed) instead of emptying it into the failure queue.

use std::time::Duration;

use serde::Serialize;

use super::Describe;
use super::contract::{Change, OrderEvent};
use super::set_aside::{SetAside, SetAsideRecord};
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
    /// The X-Ray trace header of the write that made the version (issue #30.1), sent as the
    /// entry's `TraceHeader` so the consumer's trace links back to the push or callback.
    pub trace_header: Option<String>,
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

/// Requests of one round in flight together: a batch of 100 records is 10 requests, sent at once
/// (a shard then publishes ~10 entries per request latency: 3,300 events/s at 30 ms).
pub const MAX_IN_FLIGHT: usize = 10;

/// What the publisher needs besides the records: the bus, where poison goes, how hard to retry,
/// and when to stop.
#[derive(Clone, Copy)]
pub struct Publisher<'a> {
    pub bus: &'a dyn Bus,
    pub set_aside: &'a dyn SetAside,
    pub retry: RetrySettings,
    /// No request or pause runs past this (the invocation's deadline less a margin); `None`: no
    /// limit (a replay from `ops`).
    pub deadline: Option<tokio::time::Instant>,
}

/// What one batch did; logged as one line and emitted as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    pub records: usize,
    /// Events the bus accepted.
    pub published: usize,
    /// Records that changed no view (no event).
    pub no_event: usize,
    /// Events not published in this invocation (refused, or unsent at the deadline; Lambda
    /// retries them).
    pub failed: usize,
    /// Records that can never become an event (unreadable, too large, refused for content).
    pub poison: usize,
    /// Poison records written to the set-aside partition (the rest are reported as failed).
    pub set_aside: usize,
    /// Whether the deadline stopped the retries (or requests) before every event was published.
    pub deadline_reached: bool,
    /// Events of orders entering the awaiting-delivery queue from another status (not a first
    /// status): genuine when a status came before payment, but also what a re-signed retry of a
    /// status-1 callback never stored before a later status looks like (docs/consumers.md ("Hand-off"),
    /// the residual risk); counted and alarmed so a person looks before fulfilment.
    pub awaiting_after_other_status: usize,
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
        trace_header: None,
    }
}

/// Whether an entry error code is about the entry's content (it will never be accepted), as
/// EventBridge's `PutEventsResultEntry` documents them. `InternalFailure` and
/// `ThrottlingException` are retryable; access and account errors are the deployment's, not the
/// record's: retried (the shard holds, alarmed) rather than set aside.
pub fn refused_for_content(answer: &str) -> bool {
    let code = answer.split(':').next().unwrap_or_default().trim();
    matches!(code, "InvalidArgument" | "MalformedDetail")
}

/// One record's way through a batch.
enum Fate {
    NoEvent,
    Event(usize),
    Poison(SetAsideRecord),
}

/// Publishes the events of `records` (the `Records` of one stream event).
pub async fn publish(records: &[serde_json::Value], views: &[Describe], to: Publisher<'_>) -> BatchOutcome {
    let mut outcome = BatchOutcome {
        records: records.len(),
        ..BatchOutcome::default()
    };
    let mut entries = Vec::new();
    let mut table_pks = Vec::new();
    let mut fates: Vec<(String, Fate)> = Vec::with_capacity(records.len());
    for record in records {
        let sequence = sequence_number(record).unwrap_or_default();
        let fate = match read_record(record) {
            Ok(change) => match views.iter().find_map(|describe| describe(&change)) {
                Some(event) => {
                    if event.changes.contains(&Change::AwaitingDelivery) && event.previous_status.is_some() {
                        outcome.awaiting_after_other_status += 1;
                        tracing::warn!(target: "publisher", outcome = "awaiting_after_other_status",
                            table_pk = %change.pk, previous_status = event.previous_status.as_deref(),
                            "an order entered the awaiting-delivery queue from another status: check it before fulfilment");
                    }
                    let mut entry = entry(&event, &change.sequence_number);
                    entry.trace_header = change.new_s(crate::trace::TRACE_HEADER).map(str::to_owned);
                    if entry.size() > MAX_REQUEST_BYTES {
                        let reason = format!(
                            "the event is {} bytes, over EventBridge's {MAX_REQUEST_BYTES}",
                            entry.size()
                        );
                        Fate::Poison(SetAsideRecord::new(&sequence, reason, Some(change.pk), record))
                    } else {
                        entries.push(entry);
                        table_pks.push(change.pk);
                        Fate::Event(entries.len() - 1)
                    }
                }
                None => {
                    outcome.no_event += 1;
                    Fate::NoEvent
                }
            },
            Err(problem) => Fate::Poison(SetAsideRecord::new(
                &sequence,
                format!("stream record not understood: {problem}"),
                None,
                record,
            )),
        };
        fates.push((sequence, fate));
    }
    let answers = send(&entries, to.bus, to.retry, to.deadline, &mut outcome).await;
    // Entries refused for their content become poison too (they would block the shard for ever).
    for (sequence, fate) in &mut fates {
        if let Fate::Event(i) = fate
            && let Some(code) = answers[*i].as_deref().filter(|code| refused_for_content(code))
        {
            let reason = format!("the bus refused the event for its content: {code}");
            let record = records
                .iter()
                .find(|r| sequence_number(r).as_deref() == Some(sequence.as_str()))
                .unwrap_or(&serde_json::Value::Null);
            *fate = Fate::Poison(SetAsideRecord::new(
                sequence,
                reason,
                Some(table_pks[*i].clone()),
                record,
            ));
        }
    }
    let mut first_failure = None;
    for (sequence, fate) in &fates {
        let handled = match fate {
            Fate::NoEvent => true,
            Fate::Event(i) => answers[*i].is_none(),
            Fate::Poison(poison) => set_aside(poison, to, &mut outcome).await,
        };
        if !handled && first_failure.is_none() {
            first_failure = Some(sequence.clone());
        }
    }
    outcome.published = answers.iter().filter(|a| a.is_none()).count();
    outcome.failed = answers
        .iter()
        .filter(|a| a.as_deref().is_some_and(|code| !refused_for_content(code)))
        .count();
    outcome.first_failure = first_failure;
    outcome
}

/// Sets a poison record aside; whether it was (if not, it is reported and Lambda retries it).
async fn set_aside(poison: &SetAsideRecord, to: Publisher<'_>, outcome: &mut BatchOutcome) -> bool {
    outcome.poison += 1;
    let kept = if to.deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
        Err("the deadline came first".to_owned())
    } else {
        to.set_aside.set_aside(poison).await.map_err(|e| e.to_string())
    };
    match &kept {
        Ok(()) => {
            outcome.set_aside += 1;
            tracing::error!(target: "publisher", outcome = "set_aside", reason = %poison.reason,
                sequence_number = %poison.sequence_number, table_pk = poison.table_pk.as_deref(),
                "poison record set aside (ops set-aside); the records after it go on");
        }
        Err(error) => {
            tracing::error!(target: "publisher", outcome = "poison", reason = %poison.reason, error = %error,
                sequence_number = %poison.sequence_number,
                "poison record could not be set aside; reported as failed (Lambda retries it)");
        }
    }
    kept.is_ok()
}

/// Publishes `events` (a replay): the same requests and retries as [`publish`]; each entry is
/// named by its event's id (`first_failure` is the first event id not published).
pub async fn publish_events(events: &[OrderEvent], bus: &dyn Bus, retry: RetrySettings) -> BatchOutcome {
    let entries: Vec<Entry> = events.iter().map(|e| entry(e, &e.event_id)).collect();
    let mut outcome = BatchOutcome {
        records: events.len(),
        ..BatchOutcome::default()
    };
    let answers = send(&entries, bus, retry, None, &mut outcome).await;
    outcome.published = answers.iter().filter(|a| a.is_none()).count();
    outcome.failed = entries.len() - outcome.published;
    outcome.first_failure = answers
        .iter()
        .position(Option::is_some)
        .map(|i| entries[i].sequence_number.clone());
    outcome
}

/// Sends `entries` as they are (an operator's redrive of events a rule's target never got), with
/// the publisher's retries: per entry, `None` when the bus accepted it, else the last error.
pub async fn publish_entries(bus: &dyn Bus, entries: &[Entry], retry: RetrySettings) -> Vec<Option<String>> {
    let mut outcome = BatchOutcome::default();
    send(entries, bus, retry, None, &mut outcome).await
}

/// One `PutEvents` request: per entry, `None` when published or the error (a request that fails
/// as a whole, or gets no answer before `deadline`, refuses every entry).
async fn put(
    bus: &dyn Bus,
    request: &[Entry],
    deadline: Option<tokio::time::Instant>,
) -> Vec<Option<String>> {
    let sent = bus.put_events(request);
    let answer = match deadline {
        Some(d) => tokio::time::timeout_at(d, sent)
            .await
            .unwrap_or_else(|_| Err(BusError("no answer before the deadline".into()))),
        None => sent.await,
    };
    match answer {
        Ok(answers) if answers.len() == request.len() => answers,
        Ok(answers) => {
            vec![Some(format!("{} answers for {} entries", answers.len(), request.len())); request.len()]
        }
        Err(e) => vec![Some(e.0); request.len()],
    }
}

/// Sends `entries`, retrying refused ones with doubling pauses until `deadline`; per entry, in
/// order, `None` when published or the last error (an entry refused for its content is not
/// retried).
async fn send(
    entries: &[Entry],
    bus: &dyn Bus,
    retry: RetrySettings,
    deadline: Option<tokio::time::Instant>,
    outcome: &mut BatchOutcome,
) -> Vec<Option<String>> {
    let mut last: Vec<Option<String>> = vec![Some("not sent".to_owned()); entries.len()];
    let mut pending: Vec<usize> = (0..entries.len()).collect();
    let mut pause = retry.first_pause;
    let before_deadline = |d: Option<tokio::time::Instant>, wait: Duration| {
        d.is_none_or(|d| tokio::time::Instant::now() + wait < d)
    };
    for attempt in 1..=retry.attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        if !before_deadline(deadline, Duration::ZERO) {
            outcome.deadline_reached = true;
            break;
        }
        let batch: Vec<Entry> = pending.iter().map(|&i| entries[i].clone()).collect();
        let chunks = requests(&batch);
        outcome.put_events_requests += chunks.len();
        // Up to MAX_IN_FLIGHT requests at once, answers in order (a plain loop: a closure here
        // would make the future's Send bound fail to hold for every lifetime, rust-lang#102211).
        let mut answers: Vec<Vec<Option<String>>> = Vec::with_capacity(chunks.len());
        for group in chunks.chunks(MAX_IN_FLIGHT) {
            let mut sends = Vec::with_capacity(group.len());
            for &request in group {
                sends.push(put(bus, request, deadline));
            }
            answers.extend(futures_util::future::join_all(sends).await);
        }
        let mut refused = Vec::new();
        for (&i, answer) in pending.iter().zip(answers.into_iter().flatten()) {
            if let Some(code) = &answer {
                tracing::warn!(target: "publisher", error_code = %code, attempt,
                    sequence_number = %entries[i].sequence_number, "event refused by the bus");
                if !refused_for_content(code) {
                    refused.push(i);
                }
            }
            last[i] = answer;
        }
        pending = refused;
        if !pending.is_empty() && attempt < retry.attempts {
            let wait = pause + Duration::from_millis(fastrand::u64(0..=pause.as_millis() as u64 / 2));
            if !before_deadline(deadline, wait) {
                outcome.deadline_reached = true;
                break;
            }
            tokio::time::sleep(wait).await;
            pause *= 2;
        }
    }
    last
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
            trace_header: None,
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
        let kept = Kept::default();
        for batch in records.chunks(100) {
            let outcome = publish(batch, views, to(&bus, &kept, None)).await;
            assert_eq!(outcome.first_failure, None);
            published += outcome.published;
        }
        assert_eq!(published, 1_000);
        assert_eq!(bus.0.load(std::sync::atomic::Ordering::Relaxed), 100);
    }

    /// Poison records kept in memory (the table in the integration tests); `fail` refuses them.
    #[derive(Default)]
    struct Kept {
        records: std::sync::Mutex<Vec<SetAsideRecord>>,
        fail: bool,
    }

    impl SetAside for Kept {
        fn set_aside<'a>(
            &'a self,
            record: &'a SetAsideRecord,
        ) -> BoxFuture<'a, Result<(), crate::store::StoreError>> {
            Box::pin(async move {
                if self.fail {
                    return Err(crate::store::StoreError::Unexpected {
                        operation: "PutItem",
                        detail: "the table is unreachable".into(),
                    });
                }
                self.records.lock().unwrap().push(record.clone());
                Ok(())
            })
        }
    }

    const QUICK: RetrySettings = RetrySettings {
        attempts: 3,
        first_pause: Duration::from_millis(1),
    };

    fn to<'a>(bus: &'a dyn Bus, kept: &'a Kept, deadline: Option<tokio::time::Instant>) -> Publisher<'a> {
        Publisher {
            bus,
            set_aside: kept,
            retry: QUICK,
            deadline,
        }
    }

    /// A bus that answers after `latency`, refuses entries whose detail names a `refuse` order
    /// with `code`, fails whole requests while `down`, and records the most requests in flight.
    struct Slow {
        latency: Duration,
        refuse: Option<(&'static str, &'static str)>,
        down: bool,
        in_flight: std::sync::atomic::AtomicUsize,
        most_in_flight: std::sync::atomic::AtomicUsize,
        requests: std::sync::atomic::AtomicUsize,
    }

    impl Slow {
        fn new(latency: Duration) -> Self {
            Self {
                latency,
                refuse: None,
                down: false,
                in_flight: Default::default(),
                most_in_flight: Default::default(),
                requests: Default::default(),
            }
        }
    }

    impl Bus for Slow {
        fn put_events<'a>(
            &'a self,
            entries: &'a [Entry],
        ) -> BoxFuture<'a, Result<Vec<Option<String>>, BusError>> {
            use std::sync::atomic::Ordering::SeqCst;
            Box::pin(async move {
                self.requests.fetch_add(1, SeqCst);
                let now = self.in_flight.fetch_add(1, SeqCst) + 1;
                self.most_in_flight.fetch_max(now, SeqCst);
                tokio::time::sleep(self.latency).await;
                self.in_flight.fetch_sub(1, SeqCst);
                if self.down {
                    return Err(BusError("ThrottlingException: Rate exceeded".into()));
                }
                Ok(entries
                    .iter()
                    .map(|e| match self.refuse {
                        Some((order, code)) if e.detail.contains(order) => Some(format!("{code}: refused")),
                        _ => None,
                    })
                    .collect())
            })
        }
    }

    fn seq(n: usize) -> String {
        format!("{n:021}")
    }

    /// A batch's requests are in flight together (the first-failure rule still holds: see below).
    #[tokio::test]
    async fn a_batchs_requests_are_in_flight_together() {
        let views: &[Describe] = &[crate::linkbest::handoff::describe];
        let bus = Slow::new(Duration::from_millis(30));
        let kept = Kept::default();
        let records: Vec<serde_json::Value> = (0..100).map(|n| view_record(n, 1_795_440_539)).collect();
        let outcome = publish(&records, views, to(&bus, &kept, None)).await;
        assert_eq!((outcome.published, outcome.first_failure), (100, None));
        assert_eq!(
            bus.most_in_flight.load(std::sync::atomic::Ordering::SeqCst),
            MAX_IN_FLIGHT
        );
    }

    /// A poison record anywhere is set aside and the records after it are published; an entry
    /// the bus refuses for its content is set aside after one try, never retried.
    #[tokio::test]
    async fn poison_is_set_aside_and_the_records_after_it_go_on() {
        let views: &[Describe] = &[crate::linkbest::handoff::describe];
        let mut records: Vec<serde_json::Value> = (0..30).map(|n| view_record(n, 1_795_440_539)).collect();
        records.insert(
            7,
            serde_json::json!({"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "poison-7"}}),
        );
        let mut bus = Slow::new(Duration::ZERO);
        bus.refuse = Some(("SO000020", "MalformedDetail"));
        let kept = Kept::default();
        let outcome = publish(&records, views, to(&bus, &kept, None)).await;
        assert_eq!(outcome.first_failure, None, "{outcome:?}");
        assert_eq!((outcome.published, outcome.poison, outcome.set_aside), (29, 2, 2));
        assert_eq!(
            bus.requests.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "no retry of a content refusal"
        );
        let kept = kept.records.lock().unwrap().clone();
        assert_eq!(kept[0].sequence_number, "poison-7");
        assert!(kept[0].record.contains("poison-7"));
        assert_eq!(kept[1].sequence_number, seq(20));
        assert_eq!(kept[1].table_pk.as_deref(), Some("LB#ORDER#SO000020"));
        assert!(kept[1].reason.contains("MalformedDetail"), "{}", kept[1].reason);

        // When the set-aside itself fails, the poison record is reported (Lambda retries it).
        let failing = Kept {
            fail: true,
            ..Kept::default()
        };
        let outcome = publish(&records, views, to(&bus, &failing, None)).await;
        assert_eq!(outcome.first_failure.as_deref(), Some("poison-7"));
        assert_eq!(outcome.set_aside, 0);
    }

    /// An access error is the deployment's, not the record's: retried and reported, never set
    /// aside (setting aside every record would empty the shard as the failure queue did).
    #[tokio::test]
    async fn a_refusal_that_is_not_about_the_content_holds_the_batch() {
        let views: &[Describe] = &[crate::linkbest::handoff::describe];
        let records: Vec<serde_json::Value> = (0..12).map(|n| view_record(n, 1_795_440_539)).collect();
        let mut bus = Slow::new(Duration::ZERO);
        bus.refuse = Some(("SO00000", "AccessDeniedException"));
        let kept = Kept::default();
        let outcome = publish(&records, views, to(&bus, &kept, None)).await;
        assert_eq!(outcome.first_failure, Some(seq(0)));
        assert_eq!((outcome.published, outcome.failed, outcome.set_aside), (2, 10, 0));
    }

    /// A brownout (every request throttled): nothing is set aside, the answer names the first
    /// record, so Lambda retries the batch and the shard holds.
    #[tokio::test]
    async fn a_brownout_holds_the_batch() {
        let views: &[Describe] = &[crate::linkbest::handoff::describe];
        let records: Vec<serde_json::Value> = (0..25).map(|n| view_record(n, 1_795_440_539)).collect();
        let mut bus = Slow::new(Duration::ZERO);
        bus.down = true;
        let kept = Kept::default();
        let outcome = publish(&records, views, to(&bus, &kept, None)).await;
        assert_eq!(outcome.first_failure, Some(seq(0)));
        assert_eq!((outcome.published, outcome.failed, outcome.poison), (0, 25, 0));
        assert_eq!(outcome.put_events_requests, 3 * QUICK.attempts as usize);
    }

    /// The deadline: a bus that does not answer in time leaves the batch reported from its first
    /// record, and the call returns at the deadline, not when the bus answers.
    #[tokio::test]
    async fn the_deadline_ends_the_batch_with_its_first_record_reported() {
        let views: &[Describe] = &[crate::linkbest::handoff::describe];
        let records: Vec<serde_json::Value> = (0..25).map(|n| view_record(n, 1_795_440_539)).collect();
        let bus = Slow::new(Duration::from_secs(3_600));
        let kept = Kept::default();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        let outcome = tokio::time::timeout(
            Duration::from_secs(60),
            publish(&records, views, to(&bus, &kept, Some(deadline))),
        )
        .await
        .expect("publish returns at its deadline");
        assert_eq!(outcome.first_failure, Some(seq(0)));
        assert!(outcome.deadline_reached, "{outcome:?}");
        assert_eq!(outcome.published, 0);
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
