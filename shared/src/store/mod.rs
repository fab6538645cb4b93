//! DynamoDB access: small functions over one `aws_sdk_dynamodb::Client` and the bundle's table.
//!
//! Idempotency is always a conditional write: a record is created with `attribute_not_exists`,
//! a view only moves forward under a version condition. Nothing here reads before it writes.

pub mod linkbest;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::StoreConfig;

/// An item as the SDK sees it.
pub type Item = HashMap<String, AttributeValue>;

/// The `item_type` attribute every item carries, so a scan or an export reads at a glance.
pub const ITEM_TYPE: &str = "item_type";
/// The TTL attribute of the table (unix seconds); only raw records carry it, and only when
/// `RECORD_TTL_DAYS` is set.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A failed DynamoDB call. The message names the operation and the service's error code; it
/// never holds item contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {operation} failed: {detail}")]
    Sdk {
        operation: &'static str,
        code: Option<String>,
        detail: String,
    },
    #[error("DynamoDB {operation}: transaction conflicts persisted after {attempts} attempts")]
    Conflict { operation: &'static str, attempts: u32 },
    #[error("DynamoDB {operation} answered unexpectedly: {detail}")]
    Unexpected { operation: &'static str, detail: String },
}

impl StoreError {
    pub(crate) fn sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        StoreError::Sdk {
            operation,
            code: err.code().map(str::to_owned),
            detail: DisplayErrorContext(&err).to_string(),
        }
    }

    /// The DynamoDB error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Sdk { code, .. } => code.as_deref(),
            StoreError::Conflict { .. } => Some("TransactionConflict"),
            StoreError::Unexpected { .. } => None,
        }
    }
}

/// The bundle's table and the client to reach it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    record_ttl: Option<Duration>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>, record_ttl_days: u32) -> Self {
        Self {
            client,
            table: table.into(),
            record_ttl: (record_ttl_days > 0)
                .then(|| Duration::from_secs(u64::from(record_ttl_days) * 86_400)),
        }
    }

    pub fn from_config(client: Client, config: &StoreConfig) -> Self {
        Self::new(client, config.table_name.clone(), config.record_ttl_days)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The `expires_at` value for a raw record received at `received_at`, if records expire.
    fn expires_at(&self, received_at: OffsetDateTime) -> Option<AttributeValue> {
        self.record_ttl
            .map(|ttl| n(received_at.unix_timestamp().saturating_add(ttl.as_secs() as i64)))
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// RFC 3339 UTC timestamp, as every `*_at` attribute is written.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// `SET #f0 = :f0, #f1 = :f1, …` over `fields`, with the name and value maps it needs.
/// Every attribute goes through a placeholder, so reserved words (`status`, …) are harmless.
pub(crate) struct SetExpression {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl SetExpression {
    pub fn new(fields: Vec<(&str, AttributeValue)>) -> Self {
        let mut parts = Vec::with_capacity(fields.len());
        let mut names = HashMap::with_capacity(fields.len() + 1);
        let mut values = HashMap::with_capacity(fields.len() + 1);
        for (i, (name, value)) in fields.into_iter().enumerate() {
            parts.push(format!("#f{i} = :f{i}"));
            names.insert(format!("#f{i}"), name.to_owned());
            values.insert(format!(":f{i}"), value);
        }
        Self {
            expression: format!("SET {}", parts.join(", ")),
            names,
            values,
        }
    }

    /// Adds a placeholder for a condition: `#name` → `attribute`, `:name` → `value`.
    pub fn with_condition_operand(mut self, name: &str, attribute: &str, value: AttributeValue) -> Self {
        self.names.insert(format!("#{name}"), attribute.to_owned());
        self.values.insert(format!(":{name}"), value);
        self
    }
}
