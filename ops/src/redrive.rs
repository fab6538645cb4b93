//! Emptying the failure queues (issue #29.3), one command per kind of queue:
//!
//! - a rule target's failure queue (`AwaitingDeliveryRuleFailureQueue`, `ForwardingFailureQueue`):
//!   each message is an event as EventBridge hands it to a target; it is sent to the bus again
//!   (or to one consumer's own bus) and deleted once the bus accepted it;
//! - the publisher's failure queue (`PublisherFailureQueue`): each message is the event source
//!   mapping's record of a batch it gave up on (`DDBStreamBatchInfo`: shard and sequence numbers,
//!   no keys). The records are read back from the table's stream for their keys and exactly those
//!   orders republished (their current versions, with the ids they were sent with); once the
//!   stream no longer holds them (it keeps 24 hours), the views that changed between the batch's
//!   first and last record are (a superset; consumers drop doubles by `detail.event_id`). Deleted
//!   once published.
//!
//! A message is deleted only after everything it stood for was accepted, so a run stopped half
//! way, or run twice, sends at most some events again — never loses one. (The awaiting-delivery
//! queue's own dead-letter queue needs no command of ours: SQS's redrive moves its messages back,
//! `aws sqs start-message-move-task --source-arn <dead-letter queue ARN>`.)

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde::Serialize;
use serde_json::Value;
use shared::handoff::contract::{Change, SOURCE_PREFIX};
use shared::handoff::publish::{Bus, Entry, RetrySettings, publish_entries};
use shared::handoff::replay::{republish_partitions, republish_range};
use shared::store::Store;
use time::OffsetDateTime;

/// How long a received message stays hidden from other readers while it is handled.
const VISIBILITY_SECONDS: i32 = 300;

/// What a redrive came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedriveOutcome {
    /// Messages read from the queue.
    pub messages: usize,
    /// Events sent (again) and accepted.
    pub events: usize,
    /// Messages deleted (everything they stood for accepted).
    pub deleted: usize,
    /// Messages left in the queue (visible again after 5 minutes), and the first reason.
    pub left: usize,
    pub first_problem: Option<String>,
    /// Publisher batches whose records the stream no longer held (replayed by time instead).
    pub by_time: usize,
}

impl RedriveOutcome {
    fn keep(&mut self, why: String) {
        self.left += 1;
        self.first_problem.get_or_insert(why);
    }
}

/// One page of messages (up to 10), hidden for [`VISIBILITY_SECONDS`].
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(VISIBILITY_SECONDS)
        .wait_time_seconds(0)
        .send()
        .await
        .map(|out| out.messages.unwrap_or_default())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    message: &aws_sdk_sqs::types::Message,
) -> Result<(), String> {
    sqs.delete_message()
        .queue_url(queue_url)
        .receipt_handle(message.receipt_handle().unwrap_or_default())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

/// The entry to send again for an event as a target received it (`source`, `detail-type`,
/// `detail`): only the bundle's own events (a known source and `DetailType`).
pub fn entry_of(event: &Value) -> Result<Entry, String> {
    let source = event["source"].as_str().unwrap_or_default();
    if !source.starts_with(SOURCE_PREFIX) {
        return Err(format!("not an order event (source {source:?})"));
    }
    let detail_type = event["detail-type"].as_str().unwrap_or_default();
    let detail_type = Change::ALL
        .iter()
        .map(|c| c.detail_type())
        .find(|t| *t == detail_type)
        .ok_or_else(|| format!("unknown detail-type {detail_type:?}"))?;
    if !event["detail"].is_object() {
        return Err("the event has no detail object".to_owned());
    }
    Ok(Entry {
        source: source.to_owned(),
        detail_type,
        detail: event["detail"].to_string(),
        sequence_number: event["id"].as_str().unwrap_or_default().to_owned(),
        trace_header: None,
    })
}

/// Empties a rule target's failure queue onto `bus` (see the module's notes).
pub async fn rule_failures(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    bus: &dyn Bus,
    retry: RetrySettings,
) -> Result<RedriveOutcome, String> {
    let mut outcome = RedriveOutcome::default();
    loop {
        let messages = receive(sqs, queue_url).await?;
        if messages.is_empty() {
            return Ok(outcome);
        }
        let mut entries = Vec::new();
        let mut sendable = Vec::new();
        for message in messages {
            outcome.messages += 1;
            let event: Value =
                serde_json::from_str(message.body().unwrap_or_default()).unwrap_or(Value::Null);
            match entry_of(&event) {
                Ok(entry) => {
                    entries.push(entry);
                    sendable.push(message);
                }
                Err(why) => outcome.keep(why),
            }
        }
        let sent = publish_entries(bus, &entries, retry).await;
        for (i, message) in sendable.iter().enumerate() {
            match &sent[i] {
                None => {
                    outcome.events += 1;
                    delete(sqs, queue_url, message).await?;
                    outcome.deleted += 1;
                }
                Some(why) => outcome.keep(why.clone()),
            }
        }
        if outcome.left > 0 && outcome.deleted == 0 {
            // Nothing passes (the bus refuses, or the messages are not ours): stop rather than
            // read the same hidden messages' successors for ever.
            return Ok(outcome);
        }
    }
}

/// The part of the event source mapping's failure record this needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBatch {
    pub stream_arn: String,
    pub shard_id: String,
    pub start: String,
    pub end: String,
    pub first_arrival: Option<OffsetDateTime>,
    pub last_arrival: Option<OffsetDateTime>,
}

impl StreamBatch {
    /// Reads `DDBStreamBatchInfo` of an on-failure record.
    pub fn from_record(record: &Value) -> Result<Self, String> {
        let info = &record["DDBStreamBatchInfo"];
        let text = |name: &str| {
            info[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("DDBStreamBatchInfo has no {name}"))
        };
        let time = |name: &str| {
            info[name]
                .as_str()
                .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
        };
        Ok(Self {
            stream_arn: text("streamArn")?,
            shard_id: text("shardId")?,
            start: text("startSequenceNumber")?,
            end: text("endSequenceNumber")?,
            first_arrival: time("approximateArrivalOfFirstRecord"),
            last_arrival: time("approximateArrivalOfLastRecord"),
        })
    }
}

/// Sequence numbers are decimal strings of any length: compare them as numbers.
fn sequence_le(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    (a.len(), a) <= (b.len(), b)
}

/// The table keys (`pk`) of the batch's records, read back from the stream; `None` when the
/// stream no longer holds them.
pub async fn batch_keys(
    streams: &aws_sdk_dynamodbstreams::Client,
    batch: &StreamBatch,
) -> Result<Option<Vec<String>>, String> {
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&batch.stream_arn)
        .shard_id(&batch.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(&batch.start)
        .send()
        .await;
    let mut iterator = match iterator {
        Ok(out) => out.shard_iterator,
        Err(e) => {
            let e = e.into_service_error();
            if e.is_trimmed_data_access_exception() || e.is_resource_not_found_exception() {
                return Ok(None);
            }
            return Err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string());
        }
    };
    let mut keys = Vec::new();
    let mut reached_end = false;
    while let Some(current) = iterator.take() {
        let page = streams
            .get_records()
            .shard_iterator(current)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
        if page.records().is_empty() {
            break;
        }
        for record in page.records() {
            let Some(data) = record.dynamodb() else { continue };
            let sequence = data.sequence_number().unwrap_or_default();
            if !sequence_le(sequence, &batch.end) {
                reached_end = true;
                break;
            }
            if let Some(aws_sdk_dynamodbstreams::types::AttributeValue::S(pk)) =
                data.keys().and_then(|k| k.get("pk"))
                && !keys.contains(pk)
            {
                keys.push(pk.clone());
            }
            if sequence == batch.end {
                reached_end = true;
            }
        }
        if reached_end {
            break;
        }
        iterator = page.next_shard_iterator;
    }
    Ok(if keys.is_empty() && !reached_end {
        None
    } else {
        Some(keys)
    })
}

/// Empties the publisher's failure queue (see the module's notes).
pub async fn publisher_failures(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    streams: &aws_sdk_dynamodbstreams::Client,
    store: &Store,
    bus: &dyn Bus,
    retry: RetrySettings,
) -> Result<RedriveOutcome, String> {
    let mut outcome = RedriveOutcome::default();
    loop {
        let messages = receive(sqs, queue_url).await?;
        if messages.is_empty() {
            return Ok(outcome);
        }
        let deleted_before = outcome.deleted;
        for message in messages {
            outcome.messages += 1;
            let record: Value =
                serde_json::from_str(message.body().unwrap_or_default()).unwrap_or(Value::Null);
            let batch = match StreamBatch::from_record(&record) {
                Ok(batch) => batch,
                Err(why) => {
                    outcome.keep(why);
                    continue;
                }
            };
            let replayed = match batch_keys(streams, &batch).await? {
                Some(pks) => republish_partitions(store, &pks, shared::VIEWS, bus, retry).await,
                None => {
                    let (Some(first), Some(last)) = (batch.first_arrival, batch.last_arrival) else {
                        outcome.keep("the stream no longer holds the batch and it names no times".to_owned());
                        continue;
                    };
                    outcome.by_time += 1;
                    republish_range(
                        store,
                        first - time::Duration::seconds(1),
                        last + time::Duration::seconds(2),
                        shared::VIEWS,
                        bus,
                        retry,
                    )
                    .await
                }
            };
            match replayed {
                Ok(r) if r.published.failed == 0 => {
                    outcome.events += r.events;
                    delete(sqs, queue_url, &message).await?;
                    outcome.deleted += 1;
                }
                Ok(r) => outcome.keep(format!(
                    "{} events not published: {:?}",
                    r.published.failed, r.published.first_failure
                )),
                Err(e) => outcome.keep(e.to_string()),
            }
        }
        if outcome.deleted == deleted_before {
            return Ok(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(sequence_le("9", "10"));
        assert!(!sequence_le("10", "9"));
        assert!(sequence_le("000000000000000000010", "10"));
        assert!(sequence_le(
            "100000000000000000000000000001",
            "100000000000000000000000000002"
        ));
    }

    #[test]
    fn only_the_bundles_own_events_are_sent_again() {
        let event = serde_json::json!({"id": "e1", "source": "partner-ingest.igv",
            "detail-type": "Order Awaiting Delivery", "detail": {"event_id": "x"}});
        let entry = entry_of(&event).unwrap();
        assert_eq!(
            (entry.source.as_str(), entry.detail_type),
            ("partner-ingest.igv", "Order Awaiting Delivery")
        );
        assert_eq!(entry.detail, r#"{"event_id":"x"}"#);
        let foreign = serde_json::json!({"source": "aws.s3", "detail-type": "Order Seen", "detail": {}});
        assert!(entry_of(&foreign).is_err());
        let odd =
            serde_json::json!({"source": "partner-ingest.igv", "detail-type": "Order Lost", "detail": {}});
        assert!(entry_of(&odd).is_err());
    }

    #[test]
    fn the_mappings_failure_record_names_the_batch() {
        let record = serde_json::json!({"requestContext": {"condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {"shardId": "shardId-1", "startSequenceNumber": "100",
            "endSequenceNumber": "120", "approximateArrivalOfFirstRecord": "2026-12-07T01:00:00Z",
            "approximateArrivalOfLastRecord": "2026-12-07T01:00:05Z", "batchSize": 3,
            "streamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"}});
        let batch = StreamBatch::from_record(&record).unwrap();
        assert_eq!((batch.start.as_str(), batch.end.as_str()), ("100", "120"));
        assert!(batch.first_arrival.is_some() && batch.last_arrival.is_some());
        assert!(StreamBatch::from_record(&serde_json::json!({})).is_err());
    }
}
