//! The table definition of `template.yaml`, applied to a local (or any) DynamoDB endpoint.
//!
//! `template.yaml` is the one definition of the table: this reads its `AWS::DynamoDB::Table`
//! resource (keys, attribute definitions, global secondary indexes, streams, TTL) and creates the
//! same table under another name. Billing is always on demand, as in the template.

use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
};
use serde_norway::Value;

/// The parts of the table resource that shape a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub attributes: Vec<(String, String)>,
    pub key_schema: Vec<(String, String)>,
    pub global_indexes: Vec<IndexDefinition>,
    pub stream_view_type: Option<String>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{key} missing or not a plain string"))
}

fn pairs(v: Option<&Value>, a: &str, b: &str) -> Result<Vec<(String, String)>, String> {
    v.and_then(Value::as_sequence)
        .map(|seq| seq.iter().map(|e| Ok((text(e, a)?, text(e, b)?))).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// Reads the single `AWS::DynamoDB::Table` resource of a SAM/CloudFormation template.
pub fn read_table_definition(template: &Path) -> Result<TableDefinition, String> {
    let source = std::fs::read_to_string(template).map_err(|e| format!("{}: {e}", template.display()))?;
    let doc: Value = serde_norway::from_str(&source).map_err(|e| format!("{}: {e}", template.display()))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or("template has no Resources")?;
    let tables: Vec<&Value> = resources
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"))
        .collect();
    let [table] = tables.as_slice() else {
        return Err(format!(
            "expected one AWS::DynamoDB::Table, found {}",
            tables.len()
        ));
    };
    let props = table.get("Properties").ok_or("table has no Properties")?;
    let global_indexes = props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|seq| {
            seq.iter()
                .map(|gsi| {
                    let projection = gsi.get("Projection").ok_or("index has no Projection")?;
                    Ok(IndexDefinition {
                        name: text(gsi, "IndexName")?,
                        key_schema: pairs(gsi.get("KeySchema"), "AttributeName", "KeyType")?,
                        projection_type: text(projection, "ProjectionType")?,
                        non_key_attributes: projection
                            .get("NonKeyAttributes")
                            .and_then(Value::as_sequence)
                            .map(|s| s.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                            .unwrap_or_default(),
                    })
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(TableDefinition {
        attributes: pairs(
            props.get("AttributeDefinitions"),
            "AttributeName",
            "AttributeType",
        )?,
        key_schema: pairs(props.get("KeySchema"), "AttributeName", "KeyType")?,
        global_indexes,
        stream_view_type: props
            .get("StreamSpecification")
            .map(|s| text(s, "StreamViewType"))
            .transpose()?,
        ttl_attribute: props
            .get("TimeToLiveSpecification")
            .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
            .map(|t| text(t, "AttributeName"))
            .transpose()?,
    })
}

/// The definition in the workspace's `template.yaml`.
pub fn workspace_table_definition() -> TableDefinition {
    read_table_definition(&crate::workspace_root().join("template.yaml"))
        .expect("template.yaml defines the table")
}

fn key_schema(pairs: &[(String, String)]) -> Result<Vec<KeySchemaElement>, String> {
    pairs
        .iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Whether a table gets the template's stream. The template's stream is for consumers outside
/// the bundle; nothing the functions do reads it, and DynamoDB semantics of a write do not depend
/// on it. DynamoDB Local, though, keeps every stream record of the process in SQLite and looks the
/// stream up on every write (`getStreamDescription`): with streams the integration tests cost
/// DynamoDB Local some 280 CPU-seconds, without them some 80 (measured 2026-11-29, same binary),
/// and each write gets slower as the total written grows (after some 10,000 deliveries `make soak`
/// measured DynamoDB Local's bookkeeping, not the bundle). So test tables have no stream; the
/// table of `make run` / `make smoke`, the bench's and the sample-event tests' are the template's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// As `template.yaml` says (`NEW_AND_OLD_IMAGES`).
    AsTemplate,
    /// No stream.
    Off,
}

/// Creates the template's table under `name`, waits until it is active, and enables TTL.
pub async fn create_table(client: &Client, name: &str) -> Result<(), String> {
    create_table_with(client, name, Stream::AsTemplate).await
}

/// [`create_table`] with or without the template's stream.
pub async fn create_table_with(client: &Client, name: &str, stream: Stream) -> Result<(), String> {
    let mut def = workspace_table_definition();
    if stream == Stream::Off {
        def.stream_view_type = None;
    }
    let attributes = def
        .attributes
        .iter()
        .map(|(n, t)| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::from(t.as_str()))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = def
        .global_indexes
        .iter()
        .map(|gsi| {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(gsi.projection_type.as_str()))
                .set_non_key_attributes(
                    (!gsi.non_key_attributes.is_empty()).then(|| gsi.non_key_attributes.clone()),
                )
                .build();
            GlobalSecondaryIndex::builder()
                .index_name(&gsi.name)
                .set_key_schema(Some(key_schema(&gsi.key_schema)?))
                .projection(projection)
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let streams = def.stream_view_type.as_deref().map(|view| {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view))
            .build()
            .expect("stream_enabled is set")
    });
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&def.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .set_stream_specification(streams)
        .send()
        .await
        .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;

    for _ in 0..600 {
        let status = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?
            .table
            .and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    if let Some(attribute) = def.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_defines_the_single_table_design() {
        let def = workspace_table_definition();
        assert_eq!(
            def.key_schema,
            [
                ("pk".to_owned(), "HASH".to_owned()),
                ("sk".to_owned(), "RANGE".to_owned())
            ]
        );
        assert_eq!(def.ttl_attribute.as_deref(), Some(shared::store::TTL_ATTRIBUTE));
        assert_eq!(def.stream_view_type.as_deref(), Some("NEW_AND_OLD_IMAGES"));
    }
}
