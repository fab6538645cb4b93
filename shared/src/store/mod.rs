//! DynamoDB access: small functions over one `aws_sdk_dynamodb::Client` and the bundle's table.
//!
//! Idempotency is always a conditional write: a record is created with `attribute_not_exists`,
//! a view only moves forward under a version condition. A feed may read what it already has
//! (`batch::get_many`) to skip rows it stored before, but never to decide what a write may do: the
//! write's own condition does that.

pub mod batch;
pub mod checkpoint;
mod config;

pub use config::StoreConfig;

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;

use crate::keys::{CHANGED_AT, CHANGED_DAY, PREVIOUS_STATUS, VIEW_CHANGES};

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
        /// A transaction cancelled because another request touched the same items.
        conflict: bool,
    },
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
            conflict: false,
        }
    }

    /// An error the service answered with (after the SDK gave up retrying).
    pub(crate) fn service<E>(operation: &'static str, err: E) -> Self
    where
        E: ProvideErrorMetadata + StdError,
    {
        StoreError::Sdk {
            operation,
            code: err.code().map(str::to_owned),
            detail: DisplayErrorContext(&err).to_string(),
            conflict: false,
        }
    }

    /// The DynamoDB error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::Sdk { code, .. } => code.as_deref(),
            StoreError::Unexpected { .. } => None,
        }
    }
}

/// The bundle's table and the client to reach it. Cheap to clone (clones share the counters).
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) table: String,
    record_ttl: Option<Duration>,
    /// Transactions tried again after a `TransactionConflict`, since this store was built.
    conflicts_retried: Arc<AtomicU64>,
    /// The `<counter key>#<hour>` whose cap of kept refused deliveries this process saw reached
    /// ([`crate::refused`]): the rest of that hour's refusals make no DynamoDB request.
    pub(crate) refused_cap_reached: Arc<std::sync::Mutex<Option<String>>>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>, record_ttl_days: u32) -> Self {
        Self {
            client,
            table: table.into(),
            record_ttl: (record_ttl_days > 0)
                .then(|| Duration::from_secs(u64::from(record_ttl_days) * 86_400)),
            conflicts_retried: Arc::new(AtomicU64::new(0)),
            refused_cap_reached: Arc::default(),
        }
    }

    /// How many transactions were tried again after a `TransactionConflict` (another request on
    /// the same items at the same moment), by this store and its clones.
    pub fn conflicts_retried(&self) -> u64 {
        self.conflicts_retried.load(Ordering::Relaxed)
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
    pub(crate) fn expires_at(&self, received_at: OffsetDateTime) -> Option<AttributeValue> {
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

/// `changed_at`'s fixed-width text (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC), so text order is time order
/// (RFC 3339 with optional fractions is not: `…:00.5Z` sorts before `…:00Z`).
pub fn changed_at(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// An update expression over placeholders: `SET #f0 = :f0, … [REMOVE #r0, …]`, with the name and
/// value maps it needs. Every attribute goes through a placeholder, so reserved words (`status`, …)
/// are harmless.
#[derive(Debug, Clone)]
pub(crate) struct UpdateExpression {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

impl UpdateExpression {
    pub fn new(set: Vec<(&str, AttributeValue)>, remove: &[&str]) -> Self {
        Self::with_defaults(set, &[], remove)
    }

    /// [`UpdateExpression::new`] plus `defaults`: each `(name, source, value)` sets `name` to the
    /// value of the item's attribute `source` when it has one, else to `value`
    /// (`#name = if_not_exists(#source, :value)`).
    pub fn with_defaults(
        set: Vec<(&str, AttributeValue)>,
        defaults: &[(&str, &str, AttributeValue)],
        remove: &[&str],
    ) -> Self {
        let mut names = HashMap::with_capacity(set.len() + 2 * defaults.len() + remove.len() + 1);
        let mut values = HashMap::with_capacity(set.len() + defaults.len() + 1);
        let mut sets = Vec::with_capacity(set.len() + defaults.len());
        for (i, (name, value)) in set.into_iter().enumerate() {
            sets.push(format!("#f{i} = :f{i}"));
            names.insert(format!("#f{i}"), name.to_owned());
            values.insert(format!(":f{i}"), value);
        }
        for (i, (name, source, value)) in defaults.iter().enumerate() {
            sets.push(format!("#d{i} = if_not_exists(#ds{i}, :d{i})"));
            names.insert(format!("#d{i}"), (*name).to_owned());
            names.insert(format!("#ds{i}"), (*source).to_owned());
            values.insert(format!(":d{i}"), value.clone());
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !remove.is_empty() {
            let removes: Vec<String> = (0..remove.len()).map(|i| format!("#r{i}")).collect();
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
            for (i, name) in remove.iter().enumerate() {
                names.insert(format!("#r{i}"), (*name).to_owned());
            }
        }
        Self {
            expression,
            names,
            values,
        }
    }
}

/// A view item that only moves forward: it is updated when it has no `version_attribute` yet or
/// a smaller one than `version`, and the update sets `version_attribute` to `version`.
#[derive(Debug, Clone)]
pub(crate) struct ForwardUpdate {
    pub pk: String,
    pub sk: &'static str,
    /// The update of the other attributes (it must not name `version_attribute`).
    pub update: UpdateExpression,
    pub version_attribute: &'static str,
    pub version: String,
    /// The view's status attribute, if it has one: its value before the update is kept in
    /// [`PREVIOUS_STATUS`] (`""` when it had none).
    pub status_attribute: Option<&'static str>,
}

impl ForwardUpdate {
    const CONDITION: &'static str = "attribute_not_exists(#version) OR #version < :version";

    /// The update as sent, at `now`. Besides the version it sets what the hand-off needs to
    /// rebuild the event of the view's current version from the item alone (`ops republish`):
    /// the day and time of the change (the `changes` index), the number of changes, and the
    /// status before this one. DynamoDB evaluates every operand against the item as it was, so
    /// `previous_status = status, status = :new` needs no read.
    fn parts_at(
        &self,
        now: OffsetDateTime,
    ) -> (String, HashMap<String, String>, HashMap<String, AttributeValue>) {
        let mut names = self.update.names.clone();
        let mut values = self.update.values.clone();
        let changed_at = changed_at(now);
        let mut set = String::from(
            "SET #version = :version, #changed_day = :changed_day, #changed_at = :changed_at, \
             #view_changes = if_not_exists(#view_changes, :zero) + :one, ",
        );
        for (name, attribute) in [
            ("#version", self.version_attribute),
            ("#changed_day", CHANGED_DAY),
            ("#changed_at", CHANGED_AT),
            ("#view_changes", VIEW_CHANGES),
        ] {
            names.insert(name.to_owned(), attribute.to_owned());
        }
        values.insert(":version".to_owned(), s(&self.version));
        values.insert(
            ":changed_day".to_owned(),
            s(crate::keys::changed_day_key(&changed_at[..10], &self.pk)),
        );
        values.insert(":changed_at".to_owned(), s(changed_at));
        values.insert(":zero".to_owned(), n(0));
        values.insert(":one".to_owned(), n(1));
        // The trace of the write that made this version (issue #30.1): the publisher hands it on
        // as the event's trace header. A version written outside a trace keeps none.
        let header = crate::trace::current_header();
        if let Some(header) = &header {
            set.push_str("#trace_header = :trace_header, ");
            values.insert(":trace_header".to_owned(), s(header));
        }
        names.insert("#trace_header".to_owned(), crate::trace::TRACE_HEADER.to_owned());
        if let Some(status) = self.status_attribute {
            set.push_str("#previous_status = if_not_exists(#status_before, :no_status), ");
            names.insert("#previous_status".to_owned(), PREVIOUS_STATUS.to_owned());
            names.insert("#status_before".to_owned(), status.to_owned());
            values.insert(":no_status".to_owned(), s(""));
        }
        let mut expression = self.update.expression.replacen("SET ", &set, 1);
        if header.is_none() {
            // Not the trace of an older version: none.
            match expression.find(" REMOVE ") {
                Some(at) => expression.insert_str(at + " REMOVE ".len(), "#trace_header, "),
                None => expression.push_str(" REMOVE #trace_header"),
            }
        }
        (expression, names, values)
    }

    fn parts(&self) -> (String, HashMap<String, String>, HashMap<String, AttributeValue>) {
        self.parts_at(OffsetDateTime::now_utc())
    }
}

/// What happened to a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewWrite {
    /// The record has no view to update.
    NoView,
    /// The view now reflects this record.
    Updated,
    /// The view already reflects a newer record (an out-of-order delivery); left as it was.
    AlreadyNewer,
}

/// The result of creating a record once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordWrite {
    /// DynamoDB confirmed the new record, together with its view update.
    Created { view: ViewWrite },
    /// A record with this key already exists; nothing was written.
    Duplicate {
        /// Whether the stored record says the same thing (`None`: the store did not return it).
        same_content: Option<bool>,
    },
}

impl RecordWrite {
    /// The requests the write took (a `TransactionConflict` tried again not counted).
    pub fn requests(self) -> u64 {
        match self {
            RecordWrite::Created {
                view: ViewWrite::AlreadyNewer,
            } => 2,
            _ => 1,
        }
    }
}

/// Attribute holding a digest of what a record says, to tell a true retry from a replay.
pub const CONTENT_HASH: &str = "content_hash";

const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// The condition of a record created once: its key is new.
const NEW_RECORD: &str = "attribute_not_exists(pk)";
/// Pauses before trying a transaction again after a `TransactionConflict` (plus up to 10 ms jitter).
const CONFLICT_PAUSES: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(60)];

/// The outcome of a conditional create.
enum PutOnce {
    Created,
    /// The key existed; the stored item, when the store returned it.
    Exists {
        stored: Option<Item>,
    },
}

/// The outcome of a conditional create together with its forward-only view.
enum PutWithView {
    Created,
    /// The record's key existed (whatever the view's condition said); nothing was written.
    Exists {
        stored: Option<Item>,
    },
    /// The record is new but the view is already newer; nothing was written.
    ViewNewer,
}

fn duplicate(stored: Option<&Item>, content_hash: &str) -> RecordWrite {
    RecordWrite::Duplicate {
        same_content: stored
            .and_then(|item| get_s(item, CONTENT_HASH))
            .map(|stored_hash| stored_hash == content_hash),
    }
}

impl Store {
    /// Creates `record` exactly once (`attribute_not_exists(pk)`), with `content_hash` in its
    /// `content_hash` attribute, and moves its forward-only `view` (if any) up to it — both in
    /// one request.
    ///
    /// With a view, the record and the view update go in one `TransactWriteItems`: one round
    /// trip, and never a record without its view (nothing to repair after a failure half-way).
    /// A duplicate is that one request failing its condition; the stored record comes back with
    /// the cancellation (`ALL_OLD`, no extra read) and its `content_hash` is compared with
    /// `content_hash`, so a true retry and a replay with other content are told apart. Only an
    /// out-of-order delivery (the view is already newer) takes a second request: the record
    /// alone. Without a view the record is one conditional `PutItem`.
    ///
    /// Any error is returned, so the caller answers failure and the partner retries.
    pub(crate) async fn create_once(
        &self,
        record: impl Fn() -> Item,
        content_hash: &str,
        view: Option<ForwardUpdate>,
    ) -> Result<RecordWrite, StoreError> {
        self.write_once(record, content_hash, view, NEW_RECORD).await
    }

    /// [`Store::create_once`] with another condition on the record: `condition` instead of "its
    /// key is new" (a parked record re-run replaces itself only while it is still parked). A
    /// record failing it is [`RecordWrite::Duplicate`].
    pub(crate) async fn write_once(
        &self,
        record: impl Fn() -> Item,
        content_hash: &str,
        view: Option<ForwardUpdate>,
        condition: &'static str,
    ) -> Result<RecordWrite, StoreError> {
        // Built per request rather than cloned: the common path sends it once; only a retried
        // conflict or an out-of-order event builds it again.
        let record = || {
            let mut item = record();
            item.insert(CONTENT_HASH.to_owned(), s(content_hash));
            item
        };
        let Some(view) = view else {
            return Ok(match self.put_once(record(), condition).await? {
                PutOnce::Created => RecordWrite::Created {
                    view: ViewWrite::NoView,
                },
                PutOnce::Exists { stored } => duplicate(stored.as_ref(), content_hash),
            });
        };
        match self
            .put_with_view_retrying_conflicts(&record, &view, condition)
            .await?
        {
            PutWithView::Created => Ok(RecordWrite::Created {
                view: ViewWrite::Updated,
            }),
            PutWithView::Exists { stored } => Ok(duplicate(stored.as_ref(), content_hash)),
            PutWithView::ViewNewer => Ok(match self.put_once(record(), condition).await? {
                PutOnce::Created => RecordWrite::Created {
                    view: ViewWrite::AlreadyNewer,
                },
                PutOnce::Exists { stored } => duplicate(stored.as_ref(), content_hash),
            }),
        }
    }

    /// The record, created only if its key is new.
    async fn put_once(&self, record: Item, condition: &'static str) -> Result<PutOnce, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .instrument(tracing::info_span!(target: crate::trace::TARGET, "DynamoDB", operation = "PutItem", table = %self.table))
            .await;
        match result {
            Ok(_) => Ok(PutOnce::Created),
            Err(err) => match err.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    Ok(PutOnce::Exists { stored: failed.item })
                }
                other => Err(StoreError::service("PutItem", other)),
            },
        }
    }

    /// [`Store::put_with_view`], tried again after a short pause when another request on the same
    /// items made the transaction fail (`TransactionConflict`; the other request's outcome decides
    /// what this one finds on the next try).
    async fn put_with_view_retrying_conflicts(
        &self,
        record: &impl Fn() -> Item,
        view: &ForwardUpdate,
        condition: &'static str,
    ) -> Result<PutWithView, StoreError> {
        let mut pauses = CONFLICT_PAUSES.iter();
        loop {
            match self.put_with_view(record(), view, condition).await {
                Err(StoreError::Sdk { conflict: true, .. }) if let Some(pause) = pauses.next() => {
                    self.conflicts_retried.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(target: "store", pk = %view.pk, "transaction conflict; trying again");
                    tokio::time::sleep(*pause + Duration::from_millis(fastrand::u64(0..10))).await;
                }
                other => return other,
            }
        }
    }

    /// The record (only if its key is new) and the view update (only if it moves the view
    /// forward), all or nothing, in one request.
    async fn put_with_view(
        &self,
        record: Item,
        view: &ForwardUpdate,
        condition: &'static str,
    ) -> Result<PutWithView, StoreError> {
        const OPERATION: &str = "TransactWriteItems";
        let built = |e: BuildError| StoreError::Unexpected {
            operation: OPERATION,
            detail: e.to_string(),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(built)?;
        let (expression, names, values) = view.parts();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&view.pk))
            .key("sk", s(view.sk))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .condition_expression(ForwardUpdate::CONDITION)
            .build()
            .map_err(built)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .instrument(tracing::info_span!(target: crate::trace::TARGET, "DynamoDB", operation = "TransactWriteItems", table = %self.table))
            .await;
        let cancelled = match result {
            Ok(_) => return Ok(PutWithView::Created),
            Err(err) => match err.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => cancelled,
                other => return Err(StoreError::service(OPERATION, other)),
            },
        };
        // One reason per item, in order; "None" for an item that was fine.
        let reasons = cancelled.cancellation_reasons();
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        match (code(0), code(1)) {
            (CONDITION_FAILED, _) => Ok(PutWithView::Exists {
                stored: reasons[0].item().cloned(),
            }),
            ("None", CONDITION_FAILED) => Ok(PutWithView::ViewNewer),
            // TransactionConflict (another request on the same items), throttling, ...
            _ => {
                let conflict = reasons.iter().any(|r| r.code() == Some("TransactionConflict"));
                let mut error = StoreError::service(OPERATION, cancelled);
                if let StoreError::Sdk { conflict: c, .. } = &mut error {
                    *c = conflict;
                }
                Err(error)
            }
        }
    }

    /// Every item of the partition `pk` (all pages): an order's view, records and settlement
    /// changes.
    pub async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| StoreError::sdk("Query", e))
    }

    /// A forward-only view update on its own.
    pub(crate) async fn update_forward(&self, view: &ForwardUpdate) -> Result<ViewWrite, StoreError> {
        let (expression, names, values) = view.parts();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&view.pk))
            .key("sk", s(view.sk))
            .update_expression(expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .condition_expression(ForwardUpdate::CONDITION)
            .send()
            .instrument(tracing::info_span!(target: crate::trace::TARGET, "DynamoDB", operation = "UpdateItem", table = %self.table))
            .await;
        match result {
            Ok(_) => Ok(ViewWrite::Updated),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(ViewWrite::AlreadyNewer)
            }
            Err(err) => Err(StoreError::sdk("UpdateItem", err)),
        }
    }
}

/// A version string that orders events by a number first, then an id: the number zero-padded to
/// 20 digits, then `#`, then the id (plain unsigned integers zero-padded so they compare as
/// numbers, other ids after all of them, as text).
pub fn version(number: u64, id: &str) -> String {
    let id = if crate::json::is_plain_unsigned_integer(id) && id.len() <= 20 {
        format!("{id:0>20}")
    } else {
        format!("~{id}")
    };
    format!("{number:020}#{id}")
}

/// A digest over several parts, each length-prefixed so no two different part lists collide.
pub fn digest(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client whose DynamoDB answers each request with the next of `answers` (status, body).
    /// Only for the transaction error mapping, which the local server cannot produce on demand
    /// (it serves one request at a time, so no two transactions ever conflict there).
    fn answering(
        answers: Vec<(u16, &'static str)>,
    ) -> (Store, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        let http = aws_smithy_http_client::test_util::infallible_client_fn(move |_request| {
            let i = count.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[i.min(answers.len() - 1)];
            http::Response::builder().status(status).body(body).unwrap()
        });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "a", "b", None, None, "t",
            ))
            .endpoint_url("http://127.0.0.1:1")
            .http_client(http)
            .build();
        (Store::new(Client::from_conf(config), "t", 0), served)
    }

    fn cancelled(reasons: &str) -> String {
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":{reasons}}}"#
        )
    }

    fn a_view() -> ForwardUpdate {
        ForwardUpdate {
            pk: "V#1".into(),
            sk: "V",
            update: UpdateExpression::new(vec![("v", s("1"))], &[]),
            version_attribute: "v",
            version: "1".into(),
            status_attribute: None,
        }
    }

    fn record() -> Item {
        Item::from([("pk".to_owned(), s("R#1")), ("sk".to_owned(), s("R"))])
    }

    #[tokio::test]
    async fn a_transaction_conflict_is_tried_again_and_then_succeeds() {
        let conflict: &'static str = cancelled(r#"[{"Code":"None"},{"Code":"TransactionConflict"}]"#).leak();
        let (store, served) = answering(vec![(400, conflict), (200, "{}")]);
        let written = store.create_once(record, "h", Some(a_view())).await.unwrap();
        assert_eq!(
            written,
            RecordWrite::Created {
                view: ViewWrite::Updated
            }
        );
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn lasting_transaction_conflicts_are_an_error() {
        let conflict: &'static str = cancelled(r#"[{"Code":"TransactionConflict"},{"Code":"None"}]"#).leak();
        let (store, served) = answering(vec![(400, conflict)]);
        let err = store.create_once(record, "h", Some(a_view())).await.unwrap_err();
        assert!(matches!(err, StoreError::Sdk { conflict: true, .. }), "{err:?}");
        assert_eq!(
            served.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "first try and two more"
        );
    }

    #[tokio::test]
    async fn cancellation_reasons_tell_a_duplicate_from_a_newer_view() {
        let duplicate: &'static str = cancelled(
            r#"[{"Code":"ConditionalCheckFailed","Item":{"pk":{"S":"R#1"},"sk":{"S":"R"},"content_hash":{"S":"h"}}},{"Code":"ConditionalCheckFailed"}]"#,
        )
        .leak();
        let (store, served) = answering(vec![(400, duplicate)]);
        let written = store.create_once(record, "h", Some(a_view())).await.unwrap();
        assert_eq!(
            written,
            RecordWrite::Duplicate {
                same_content: Some(true)
            }
        );
        assert_eq!(
            served.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "one failed request"
        );

        let newer: &'static str = cancelled(r#"[{"Code":"None"},{"Code":"ConditionalCheckFailed"}]"#).leak();
        let (store, served) = answering(vec![(400, newer), (200, "{}")]);
        let written = store.create_once(record, "h", Some(a_view())).await.unwrap();
        assert_eq!(
            written,
            RecordWrite::Created {
                view: ViewWrite::AlreadyNewer
            }
        );
        assert_eq!(
            served.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the record alone after"
        );
    }

    #[test]
    fn versions_order_by_number_then_id() {
        assert!(version(100, "9") < version(101, "1"));
        assert!(version(100, "9") < version(100, "10"));
        assert!(version(100, "99999") < version(100, "abc"));
        assert_eq!(version(5, "7"), version(5, "7"));
    }

    #[test]
    fn digests_are_length_prefixed() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_eq!(digest(&["a", "b"]), digest(&["a", "b"]));
    }

    #[test]
    fn update_expressions_use_placeholders_only() {
        let u = UpdateExpression::new(vec![("status", s("1")), ("order_id", s("2"))], &["queue_pk"]);
        assert_eq!(u.expression, "SET #f0 = :f0, #f1 = :f1 REMOVE #r0");
        assert_eq!(u.names["#f0"], "status");
        assert_eq!(u.names["#r0"], "queue_pk");
        assert_eq!(u.values.len(), 2);
    }

    #[test]
    fn a_forward_update_sets_its_version_under_its_condition() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_440_539).unwrap();
        let (expression, names, values) = a_view().parts_at(at);
        assert_eq!(
            expression,
            "SET #version = :version, #changed_day = :changed_day, #changed_at = :changed_at, \
             #view_changes = if_not_exists(#view_changes, :zero) + :one, #f0 = :f0 REMOVE #trace_header",
            "outside a trace, the version keeps no trace of an older one"
        );
        assert_eq!(names["#version"], "v");
        assert_eq!(names["#trace_header"], crate::trace::TRACE_HEADER);
        assert_eq!(values[":version"], s("1"));
        assert_eq!(
            values[":changed_day"],
            s(crate::keys::changed_day_key("2026-11-23", &a_view().pk))
        );
        assert_eq!(values[":changed_at"], s("2026-11-23T13:28:59.000Z"));
        // With a status: the one before is kept, read by DynamoDB itself (no read here).
        let view = ForwardUpdate {
            status_attribute: Some("status"),
            ..a_view()
        };
        let (expression, names, _) = view.parts_at(at);
        assert!(
            expression.contains("#previous_status = if_not_exists(#status_before, :no_status), #f0 = :f0")
        );
        assert_eq!(names["#status_before"], "status");
        assert_eq!(names["#previous_status"], PREVIOUS_STATUS);
        assert_eq!(
            ForwardUpdate::CONDITION,
            "attribute_not_exists(#version) OR #version < :version"
        );
    }
}
