//! What Lambda's event source mapping does for the publisher, on DynamoDB Local's own stream: read
//! the table's stream (`aws-sdk-dynamodbstreams`: DescribeTable for the stream, DescribeStream,
//! GetShardIterator from TRIM_HORIZON, GetRecords), keep the records the template's
//! `FilterCriteria` let through, and hand them over as the exact event Lambda sends
//! (`{"Records": [{"eventID", "eventName", "eventVersion", "eventSource", "awsRegion",
//! "dynamodb": {"Keys", "NewImage", "OldImage", "SequenceNumber", "SizeBytes",
//! "StreamViewType", "ApproximateCreationDateTime"}, "eventSourceARN"}]}`).

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue as StreamValue, ShardIteratorType};
use serde_json::{Map, Value, json};

use crate::workspace_root;

/// A client of the real DynamoDB Streams SDK for the tests' backend (DynamoDB Local's own stream
/// API on its endpoint, or AWS's from the environment), built like the tests' DynamoDB client.
pub async fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    let loader = match crate::backend() {
        crate::Backend::Local { endpoint } => aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local", "local", None, None, "testkit",
            ))
            .endpoint_url(endpoint),
        // Another DynamoDB endpoint serves its streams too (DynamoDB Local does), unless the
        // streams' own variable says otherwise.
        crate::Backend::External => match (
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
                .ok()
                .filter(|e| !e.is_empty()),
            std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB_STREAMS"),
        ) {
            (Some(endpoint), None) => {
                aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint)
            }
            _ => aws_config::defaults(aws_config::BehaviorVersion::latest()),
        },
    };
    let sdk = loader
        .http_client(shared::tls::sdk_https_client(shared::tls::TrustRoots::System))
        .load()
        .await;
    aws_sdk_dynamodbstreams::Client::new(&sdk)
}

/// DynamoDB JSON of one stream attribute value (what Lambda's event carries).
fn json_value(value: &StreamValue) -> Value {
    match value {
        StreamValue::S(s) => json!({ "S": s }),
        StreamValue::N(n) => json!({ "N": n }),
        StreamValue::B(b) => json!({ "B": aws_smithy_types::base64::encode(b.as_ref()) }),
        StreamValue::Bool(b) => json!({ "BOOL": b }),
        StreamValue::Null(_) => json!({ "NULL": true }),
        StreamValue::Ss(v) => json!({ "SS": v }),
        StreamValue::Ns(v) => json!({ "NS": v }),
        StreamValue::Bs(v) => {
            json!({ "BS": v.iter().map(|b| aws_smithy_types::base64::encode(b.as_ref())).collect::<Vec<_>>() })
        }
        StreamValue::L(v) => json!({ "L": v.iter().map(json_value).collect::<Vec<_>>() }),
        StreamValue::M(m) => json!({ "M": image(m) }),
        _ => json!({ "NULL": true }),
    }
}

fn image(map: &HashMap<String, StreamValue>) -> Map<String, Value> {
    map.iter().map(|(k, v)| (k.clone(), json_value(v))).collect()
}

/// A reader of one table's stream that remembers where each shard's reading stopped, as an
/// event source mapping does: each [`StreamCursor::poll`] returns the records written since the
/// last one, oldest first per shard, as Lambda's event records.
pub struct StreamCursor {
    streams: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Per shard: the next iterator (`None`: the shard is closed and read to its end).
    iterators: HashMap<String, Option<String>>,
}

impl StreamCursor {
    /// A cursor at the start (TRIM_HORIZON) of `table`'s latest stream.
    pub async fn open(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Self {
        let arn = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("describe_table")
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        Self {
            streams: streams_client().await,
            arn,
            iterators: HashMap::new(),
        }
    }

    /// The records written since the last poll.
    pub async fn poll(&mut self) -> Vec<Value> {
        let description = self
            .streams
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .expect("describe_stream")
            .stream_description
            .expect("a stream description");
        let mut out = Vec::new();
        for shard in description.shards() {
            let id = shard.shard_id().unwrap_or_default().to_owned();
            if !self.iterators.contains_key(&id) {
                let first = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("get_shard_iterator")
                    .shard_iterator;
                self.iterators.insert(id.clone(), first);
            }
            while let Some(current) = self.iterators.get(&id).cloned().flatten() {
                let page = self
                    .streams
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .expect("get_records");
                let got = page.records().len();
                out.extend(page.records().iter().filter_map(|r| lambda_record(r, &self.arn)));
                self.iterators
                    .insert(id.clone(), page.next_shard_iterator.clone());
                // An open shard always hands back a next iterator: stop once it has nothing more.
                if got == 0 {
                    break;
                }
            }
        }
        out
    }
}

/// One stream record as Lambda's event record.
fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record, arn: &str) -> Option<Value> {
    let change = record.dynamodb()?;
    let mut dynamodb = json!({
        "Keys": image(change.keys().unwrap_or(&HashMap::new())),
        "SequenceNumber": change.sequence_number().unwrap_or_default(),
        "SizeBytes": change.size_bytes().unwrap_or_default(),
        "StreamViewType": change.stream_view_type().map(|v| v.as_str()).unwrap_or("NEW_AND_OLD_IMAGES"),
        "ApproximateCreationDateTime": change.approximate_creation_date_time().map(|t| t.secs() as f64).unwrap_or_default(),
    });
    if let Some(new) = change.new_image() {
        dynamodb["NewImage"] = Value::Object(image(new));
    }
    if let Some(old) = change.old_image() {
        dynamodb["OldImage"] = Value::Object(image(old));
    }
    Some(json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region().unwrap_or("us-east-1"),
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    }))
}

/// Every record of `table`'s stream so far, oldest first, as Lambda's event records.
pub async fn records(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<Value> {
    StreamCursor::open(dynamodb, table).await.poll().await
}

/// The `FilterCriteria` patterns of the publisher's stream event in `template.yaml`.
pub fn template_filters() -> Vec<Value> {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template");
    let block = template
        .split("\n  PublisherFunction:\n")
        .nth(1)
        .expect("the publisher")
        .split("FilterCriteria:")
        .nth(1)
        .expect("its filter criteria");
    block
        .lines()
        .skip(2)
        .map_while(|line| line.trim().strip_prefix("- Pattern: "))
        .map(|p| serde_json::from_str(p.trim_matches('\'')).expect("a JSON pattern"))
        .collect()
}

/// Whether `event` matches an event pattern of exact values (what the template's filters and
/// rules use): every key of the pattern is in the event, nested objects match recursively, and an
/// array is the list of allowed values; an array in the event matches when any element is allowed
/// (EventBridge's and Lambda's filtering rules).
pub fn matches(pattern: &Value, event: &Value) -> bool {
    match (pattern, event) {
        (Value::Object(keys), _) => keys
            .iter()
            .all(|(key, inner)| event.get(key).is_some_and(|value| matches(inner, value))),
        (Value::Array(allowed), Value::Array(values)) => values.iter().any(|v| allowed.contains(v)),
        (Value::Array(allowed), _) => allowed.contains(event),
        (other, _) => other == event,
    }
}

/// The `EventPattern` of the rule `name` in `template.yaml`, as JSON.
pub fn rule_pattern(name: &str) -> Value {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template");
    let doc: serde_norway::Value = serde_norway::from_str(&template).expect("YAML");
    let pattern = &doc["Resources"][name]["Properties"]["EventPattern"];
    serde_json::to_value(pattern).expect("a JSON pattern")
}

/// The records any of the template's filters lets through, in stream order.
pub fn filtered(records: &[Value]) -> Vec<Value> {
    let filters = template_filters();
    assert!(
        !filters.is_empty(),
        "the template filters the publisher's records"
    );
    records
        .iter()
        .filter(|r| filters.iter().any(|f| matches(f, r)))
        .cloned()
        .collect()
}

/// The event Lambda would send the publisher for `records`: those any template filter lets
/// through, in stream order.
pub fn lambda_event(records: &[Value]) -> Value {
    json!({ "Records": filtered(records) })
}
