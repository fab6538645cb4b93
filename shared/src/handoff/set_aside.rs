//! Poison records set aside by the publisher itself (issue #27.5): a stream record that can never
//! become an event — unreadable, an event larger than EventBridge takes, or an entry the bus
//! refuses for its content (`InvalidArgument`, `MalformedDetail`) — is written to the table under
//! [`HANDOFF_SET_ASIDE_PK`] (sort key: its sequence number) with the reason and the raw record,
//! then counted as handled, so the records after it are published and the shard never stops on it.
//!
//! Why the table and not the event source mapping's failure queue: the mapping retries a shard
//! for as long as its records live (so an EventBridge brownout holds the shard instead of
//! emptying it into a queue), which only works when the code itself moves the one record that
//! can never pass out of the way. `ops set-aside` lists them (one query); once the cause is fixed,
//! `ops republish --order ID` sends the order's current view.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use time::OffsetDateTime;

use crate::feed::BoxFuture;
use crate::keys::HANDOFF_SET_ASIDE_PK;
use crate::store::{Store, StoreError, s, timestamp};

/// Item type of a set-aside record.
pub const SET_ASIDE_ITEM_TYPE: &str = "handoff_set_aside";
/// At most this much of the raw record is kept (an item holds 400 KB; a record is at most two
/// item images).
pub const MAX_KEPT_RECORD_BYTES: usize = 100 * 1024;

/// A record the publisher can never publish, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideRecord {
    /// The record's sequence number in its shard (empty when the record has none).
    pub sequence_number: String,
    /// Why it cannot be published (the reader's error, the bus's error code, the size).
    pub reason: String,
    /// The table key of the view it is about, when the record could be read.
    pub table_pk: Option<String>,
    /// The raw record as Lambda handed it (JSON; cut at [`MAX_KEPT_RECORD_BYTES`]).
    pub record: String,
}

impl SetAsideRecord {
    pub fn new(
        sequence_number: &str,
        reason: String,
        table_pk: Option<String>,
        record: &serde_json::Value,
    ) -> Self {
        let mut raw = record.to_string();
        if raw.len() > MAX_KEPT_RECORD_BYTES {
            let mut cut = MAX_KEPT_RECORD_BYTES;
            while !raw.is_char_boundary(cut) {
                cut -= 1;
            }
            raw.truncate(cut);
        }
        Self {
            sequence_number: sequence_number.to_owned(),
            reason,
            table_pk,
            record: raw,
        }
    }
}

/// Where poison records go: the table in AWS and locally ([`Store`]).
pub trait SetAside: Send + Sync {
    fn set_aside<'a>(&'a self, record: &'a SetAsideRecord) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl SetAside for Store {
    /// One conditional put: a record set aside twice (a retried batch) keeps its first item.
    fn set_aside<'a>(&'a self, record: &'a SetAsideRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = OffsetDateTime::now_utc();
            let sk = if record.sequence_number.is_empty() {
                format!("NO_SEQUENCE#{}", crate::store::digest(&[&record.record]))
            } else {
                record.sequence_number.clone()
            };
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(HANDOFF_SET_ASIDE_PK))
                .item("sk", s(sk))
                .item("item_type", s(SET_ASIDE_ITEM_TYPE))
                .item("reason", s(&record.reason))
                .item("record", s(&record.record))
                .item("set_aside_at", s(timestamp(now)))
                .condition_expression("attribute_not_exists(pk)");
            if let Some(pk) = &record.table_pk {
                put = put.item("table_pk", s(pk));
            }
            if let Some(expires) = self.expires_at(now) {
                put = put.item(crate::store::TTL_ATTRIBUTE, expires);
            }
            match put.send().await {
                Ok(_) => Ok(()),
                Err(err) => match err.into_service_error() {
                    PutItemError::ConditionalCheckFailedException(_) => Ok(()),
                    other => Err(StoreError::service("PutItem", other)),
                },
            }
        })
    }
}

/// A set-aside that keeps nothing: every poison record stays reported as failed. For tools and
/// tests where no record can be poison (one would then show as a failure, not vanish).
pub struct KeepNothing;

impl SetAside for KeepNothing {
    fn set_aside<'a>(&'a self, record: &'a SetAsideRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            Err(StoreError::Unexpected {
                operation: "PutItem",
                detail: format!("nothing is set aside here (the record: {})", record.reason),
            })
        })
    }
}

/// The set-aside records, oldest first (what `ops set-aside` prints).
pub async fn list(store: &Store) -> Result<Vec<crate::store::Item>, StoreError> {
    store.partition(HANDOFF_SET_ASIDE_PK).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_record_is_cut_on_a_character_boundary() {
        let record = serde_json::json!({ "x": "é".repeat(MAX_KEPT_RECORD_BYTES) });
        let kept = SetAsideRecord::new("1", "too large".into(), None, &record);
        assert!(kept.record.len() <= MAX_KEPT_RECORD_BYTES);
        assert!(kept.record.len() > MAX_KEPT_RECORD_BYTES - 4);
        let small = SetAsideRecord::new(
            "2",
            "r".into(),
            Some("LB#ORDER#1".into()),
            &serde_json::json!([1]),
        );
        assert_eq!(small.record, "[1]");
    }
}
