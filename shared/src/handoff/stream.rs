//! One record of the table's stream (the exact `Records[i]` Lambda sends, read with
//! `aws_lambda_events`' DynamoDB types) as a partner-neutral [`ViewChange`]. Each record is read
//! on its own, so a record of any shape is one poison record, never a failed batch.

use std::collections::HashMap;

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;
use serde_dynamo::AttributeValue;

use crate::keys::{PREVIOUS_STATUS, VIEW_CHANGES};

/// An item image: its string and number attributes as text (numbers keep their literal digits);
/// other types are left out (no view attribute has one).
pub type Image = HashMap<String, String>;

/// One stream record: which item changed and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChange {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    /// The record's sequence number in its shard (what a batch item failure names).
    pub sequence_number: String,
    pub pk: String,
    pub sk: String,
    /// The item before and after the change (`None`: it did not exist).
    pub old: Option<Image>,
    pub new: Option<Image>,
}

impl ViewChange {
    /// A string attribute of the new image.
    pub fn new_s(&self, name: &str) -> Option<&str> {
        self.new.as_ref()?.get(name).map(String::as_str)
    }

    /// A string attribute of the old image.
    pub fn old_s(&self, name: &str) -> Option<&str> {
        self.old.as_ref()?.get(name).map(String::as_str)
    }

    /// Whether this change created the view: no old image and, when the item counts its changes
    /// (`view_changes`), its first. A replay reads the current item alone (no old image), so the
    /// count decides there; an item written before the count existed replays as first seen.
    pub fn first_version(&self) -> bool {
        self.old.is_none() && self.new_s(VIEW_CHANGES).is_none_or(|n| n == "1")
    }

    /// The view's `status` attribute before this change: the old image's, or on a replay what the
    /// item kept in `previous_status` (`""`: none).
    pub fn previous(&self, status: &str) -> Option<&str> {
        if self.old.is_some() {
            return self.old_s(status);
        }
        self.new_s(PREVIOUS_STATUS).filter(|s| !s.is_empty())
    }
}

/// Why a stream record cannot be read (a poison record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Poison {
    #[error("not a DynamoDB stream record: {0}")]
    Shape(String),
    #[error("the record has no {0}")]
    Missing(&'static str),
}

fn image(item: &serde_dynamo::Item) -> Option<Image> {
    let inner = item.inner();
    if inner.is_empty() {
        return None;
    }
    Some(
        inner
            .iter()
            .filter_map(|(name, value)| match value {
                AttributeValue::S(text) | AttributeValue::N(text) => Some((name.clone(), text.clone())),
                _ => None,
            })
            .collect(),
    )
}

/// Reads one record of a DynamoDB stream event.
pub fn read_record(record: &serde_json::Value) -> Result<ViewChange, Poison> {
    // Deserialized from the borrowed value: no copy of the record on the publisher's hot path.
    let record = EventRecord::deserialize(record).map_err(|e| Poison::Shape(e.to_string()))?;
    let sequence_number = record
        .change
        .sequence_number
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or(Poison::Missing("SequenceNumber"))?;
    let keys = image(&record.change.keys).ok_or(Poison::Missing("Keys"))?;
    let key = |name: &'static str| keys.get(name).cloned().ok_or(Poison::Missing(name));
    Ok(ViewChange {
        event_name: record.event_name.clone(),
        sequence_number,
        pk: key("pk")?,
        sk: key("sk")?,
        old: image(&record.change.old_image),
        new: image(&record.change.new_image),
    })
}

/// The sequence number of a record, if it has one wherever it is (for a poison record's batch
/// item failure).
pub fn sequence_number(record: &serde_json::Value) -> Option<String> {
    record
        .pointer("/dynamodb/SequenceNumber")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_modify_record_with_both_images() {
        let record = json!({
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1795440540.0,
                "Keys": {"pk": {"S": "LB#ORDER#SO1"}, "sk": {"S": "ORDER"}},
                "OldImage": {"pk": {"S": "LB#ORDER#SO1"}, "sk": {"S": "ORDER"}, "status": {"S": "0"}},
                "NewImage": {"pk": {"S": "LB#ORDER#SO1"}, "sk": {"S": "ORDER"}, "status": {"S": "1"},
                             "last_create_time": {"N": "1795440539"}, "flag": {"BOOL": true}},
                "SequenceNumber": "100000000000000000001", "SizeBytes": 120,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"
        });
        let change = read_record(&record).unwrap();
        assert_eq!(change.event_name, "MODIFY");
        assert_eq!(
            (change.pk.as_str(), change.sk.as_str()),
            ("LB#ORDER#SO1", "ORDER")
        );
        assert_eq!(change.old_s("status"), Some("0"));
        assert_eq!(change.new_s("status"), Some("1"));
        assert_eq!(change.new_s("last_create_time"), Some("1795440539"));
        assert_eq!(change.new_s("flag"), None);
        assert_eq!(change.sequence_number, "100000000000000000001");
    }

    #[test]
    fn records_of_other_shapes_are_poison_not_panics() {
        for bad in [
            json!(null),
            json!(42),
            json!({}),
            json!({"eventName": "INSERT", "dynamodb": {"SizeBytes": 1}}),
            json!({"eventName": "INSERT", "dynamodb": {"SizeBytes": 1, "SequenceNumber": "1"}}),
            json!({"eventName": "INSERT", "dynamodb": {"SizeBytes": 1, "SequenceNumber": "1",
                   "Keys": {"pk": {"N": "5"}}}}),
            json!({"eventName": "INSERT", "dynamodb": {"SizeBytes": "x", "SequenceNumber": "1"}}),
        ] {
            assert!(read_record(&bad).is_err(), "{bad}");
        }
    }
}
