//! Refused deliveries, kept so they can be re-run (issue #29.1).
//!
//! A delivery refused for its signature, its window or because the partner's secret could not be
//! read is, most often, a genuine order meeting a wrong, late-rotated or unreadable secret: the
//! partner retries for a while (iGV 35 minutes, Linkbest about 45) and then gives up. So the
//! function keeps what it needs to verify the delivery again — the raw body and the signed headers
//! — and `ops reprocess refused` re-runs it, once the secret is fixed, through the very path a
//! live delivery takes (same verification, same conditional write: running it twice stores
//! nothing twice).
//!
//! Bounded three ways, so a flood of forged requests cannot turn into a bill: each kept delivery
//! expires after `REFUSED_KEEP_DAYS` (DynamoDB TTL), a body over `REFUSED_KEEP_MAX_BYTES` is not
//! kept, and at most `REFUSED_KEEP_MAX_PER_HOUR` are kept per partner and hour (a conditional
//! counter; the rest counted `RefusedNotKept`). Keeping never changes the answer: the partner
//! gets the refusal it would have got, whatever the table said.
//!
//! Items: `<partner>REFUSED#<digest>` / `REFUSED` (the digest of partner, headers and body: the
//! same request refused twice is kept once), in the `queue` index under `<partner>REFUSED`
//! (sharded, by receipt time) while waiting to be re-run; the hour's counter under
//! `<partner>REFUSED_KEPT` / `<hour>`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::config::{ConfigError, number};
use crate::keys::{QUEUE_PK, QUEUE_SK, queue_key, queue_keys};
use crate::store::{ITEM_TYPE, Item, Store, StoreError, TTL_ATTRIBUTE, changed_at, digest, get_s, n, s};

/// `item_type` of a kept refused delivery.
pub const REFUSED_ITEM_TYPE: &str = "refused_delivery";
/// Sort key of a kept refused delivery.
pub const REFUSED_SK: &str = "REFUSED";
/// Default `REFUSED_KEEP_DAYS`: a week, long enough for a weekend's wrong secret.
pub const DEFAULT_KEEP_DAYS: u32 = 7;
/// Default `REFUSED_KEEP_MAX_BYTES`: the callback's own body limit; a Linkbest push is a few KiB.
pub const DEFAULT_KEEP_MAX_BYTES: usize = 16 * 1024;
/// Default `REFUSED_KEEP_MAX_PER_HOUR` per partner: one a second on average.
pub const DEFAULT_KEEP_MAX_PER_HOUR: u64 = 3_600;

/// One partner's refused deliveries: the key prefixes they are kept under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedSource {
    /// `linkbest` or `igv`, as `ops reprocess refused` names it.
    pub name: &'static str,
    /// Partition-key prefix of a kept delivery (`IGV#REFUSED#`).
    pub prefix: &'static str,
    /// The `queue` index queue they wait in (`IGV#REFUSED`).
    pub queue: &'static str,
    /// Partition key of the hourly counters (`IGV#REFUSED_KEPT`).
    pub counter_pk: &'static str,
}

/// How refused deliveries are kept (`REFUSED_KEEP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepRefused {
    /// `REFUSED_KEEP_DAYS` (default 7; 0 = keep none).
    pub days: u32,
    /// `REFUSED_KEEP_MAX_BYTES` (default 16384): a larger body is not kept.
    pub max_bytes: usize,
    /// `REFUSED_KEEP_MAX_PER_HOUR` (default 3600): per partner and UTC hour.
    pub max_per_hour: u64,
}

impl Default for KeepRefused {
    fn default() -> Self {
        Self {
            days: DEFAULT_KEEP_DAYS,
            max_bytes: DEFAULT_KEEP_MAX_BYTES,
            max_per_hour: DEFAULT_KEEP_MAX_PER_HOUR,
        }
    }
}

impl KeepRefused {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            days: number(env, "REFUSED_KEEP_DAYS", DEFAULT_KEEP_DAYS)?,
            max_bytes: number(env, "REFUSED_KEEP_MAX_BYTES", DEFAULT_KEEP_MAX_BYTES)?,
            max_per_hour: number(env, "REFUSED_KEEP_MAX_PER_HOUR", DEFAULT_KEEP_MAX_PER_HOUR)?,
        })
    }
}

/// A refused delivery as the function saw it.
#[derive(Debug, Clone)]
pub struct Refused<'a> {
    /// Why it was refused, in words (the log's reason).
    pub reason: String,
    /// The refusal's kind: `bad_signature`, `outside_window`, `secrets_unavailable`.
    pub kind: &'static str,
    /// The headers needed to verify it again, lower-case names.
    pub headers: Vec<(&'static str, String)>,
    pub raw_body: &'a [u8],
    pub received_at: OffsetDateTime,
    pub lambda_request_id: Option<&'a str>,
}

/// What keeping a refused delivery came to (the log line's `kept`; never the answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Kept now.
    Kept,
    /// The same request was kept before.
    AlreadyKept,
    /// Not kept: `REFUSED_KEEP_DAYS` is 0.
    Off,
    /// Not kept: over `REFUSED_KEEP_MAX_BYTES`.
    TooLarge,
    /// Not kept: the hour's `REFUSED_KEEP_MAX_PER_HOUR` was reached.
    OverHourlyCap,
    /// Not kept: the table failed (logged; the answer is the refusal either way).
    Failed(String),
}

impl Kept {
    pub fn word(&self) -> &'static str {
        match self {
            Kept::Kept => "kept",
            Kept::AlreadyKept => "already_kept",
            Kept::Off => "off",
            Kept::TooLarge => "too_large",
            Kept::OverHourlyCap => "over_hourly_cap",
            Kept::Failed(_) => "failed",
        }
    }

    /// The metric this adds one to: kept (now or before), or not kept when it should have been.
    pub fn metric(&self) -> Option<&'static str> {
        match self {
            Kept::Kept | Kept::AlreadyKept => Some(crate::metrics::names::REFUSED_KEPT),
            Kept::Off => None,
            _ => Some(crate::metrics::names::REFUSED_NOT_KEPT),
        }
    }
}

/// A kept refused delivery, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptDelivery {
    pub pk: String,
    pub kind: String,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
    /// When it first arrived (unix ms): a re-run verifies the window against this moment.
    pub received_ms: i64,
    /// Set once it was re-run and stored (or found stored).
    pub reprocessed: Option<String>,
}

impl KeptDelivery {
    pub fn from_item(item: &Item) -> Option<Self> {
        let raw_body = match (item.get("raw_body"), item.get("raw_body_bytes")) {
            (Some(AttributeValue::S(text)), _) => text.clone().into_bytes(),
            (_, Some(AttributeValue::B(bytes))) => bytes.as_ref().to_vec(),
            _ => return None,
        };
        let headers = match item.get("headers") {
            Some(AttributeValue::M(map)) => {
                let mut h: Vec<(String, String)> = map
                    .iter()
                    .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.clone(), v.clone())))
                    .collect();
                h.sort();
                h
            }
            _ => Vec::new(),
        };
        Some(Self {
            pk: get_s(item, "pk")?.to_owned(),
            kind: get_s(item, "refused_kind").unwrap_or_default().to_owned(),
            reason: get_s(item, "refused_reason").unwrap_or_default().to_owned(),
            headers,
            raw_body,
            received_ms: crate::store::get_n(item, "received_ms")?,
            reprocessed: get_s(item, "reprocessed").map(str::to_owned),
        })
    }

    pub fn received_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.received_ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// What re-running one kept refused delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rerun {
    /// Refused again, or still not understood / unlinked (why): it stays where it waits.
    Unchanged(String),
    /// Dry run: it would be accepted now; `stored_before` says whether its record (`key`) is
    /// already stored (then storing it would change nothing).
    WouldAccept { key: String, stored_before: bool },
    /// Accepted through the live path: `outcome` is the live answer's word (`stored`,
    /// `duplicate`, …); it leaves the waiting queue.
    Accepted { key: String, outcome: &'static str },
    /// The table or the secret store failed: it stays waiting; run the command again.
    Failed(String),
    /// Re-run before (the outcome then): nothing done.
    AlreadyReprocessed(String),
}

impl Rerun {
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Rerun::Unchanged(why) => json!({"result": "unchanged", "reason": why}),
            Rerun::WouldAccept { key, stored_before } => {
                json!({"result": "would_accept", "record": key, "stored_before": stored_before})
            }
            Rerun::Accepted { key, outcome } => {
                json!({"result": "accepted", "record": key, "outcome": outcome})
            }
            Rerun::Failed(why) => json!({"result": "failed", "reason": why}),
            Rerun::AlreadyReprocessed(outcome) => {
                json!({"result": "already_reprocessed", "outcome": outcome})
            }
        }
    }
}

/// A partner's live delivery path, able to run a kept refused delivery again.
pub trait Rerunner: Sync {
    fn source(&self) -> &'static RefusedSource;
    fn rerun<'a>(&'a self, kept: &'a KeptDelivery, dry_run: bool) -> crate::feed::BoxFuture<'a, Rerun>;
}

/// One kept refused delivery and what re-running it came to.
#[derive(Debug, Clone)]
pub struct Reprocessed {
    pub pk: String,
    pub kind: String,
    pub received_ms: i64,
    pub rerun: Rerun,
}

impl Reprocessed {
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.rerun.to_json();
        v["key"] = self.pk.clone().into();
        v["refused_kind"] = self.kind.clone().into();
        v["received_ms"] = self.received_ms.into();
        v
    }
}

/// Re-runs each kept refused delivery of `items` (read by [`Store::waiting_refused`] or
/// [`Store::kept_refused`]) through `live`; one accepted leaves the waiting queue (a conditional
/// update). Without `dry_run` nothing is written but by the live path and that update.
pub async fn reprocess(
    store: &Store,
    live: &dyn Rerunner,
    items: &[Item],
    dry_run: bool,
) -> Result<Vec<Reprocessed>, StoreError> {
    let mut done = Vec::with_capacity(items.len());
    for item in items {
        let Some(kept) = KeptDelivery::from_item(item) else {
            continue;
        };
        let rerun = match &kept.reprocessed {
            Some(outcome) => Rerun::AlreadyReprocessed(outcome.clone()),
            None => live.rerun(&kept, dry_run).await,
        };
        if let Rerun::Accepted { outcome, .. } = &rerun
            && !dry_run
        {
            store.settle_refused(&kept.pk, outcome).await?;
        }
        done.push(Reprocessed {
            pk: kept.pk,
            kind: kept.kind,
            received_ms: kept.received_ms,
            rerun,
        });
    }
    Ok(done)
}

/// A conditional update's outcome: applied (`true`), or its condition did not hold (`false`).
fn applied<T, R>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>>,
) -> Result<bool, StoreError>
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::sdk("UpdateItem", e)),
    }
}

/// `<YYYY-MM-DDTHH>`: the UTC hour a counter counts.
fn hour(at: OffsetDateTime) -> String {
    changed_at(at)[..13].to_owned()
}

impl Store {
    /// Keeps one refused delivery of `source`, bounded by `keep`: the hour's counter first (a
    /// conditional update: no read), then the item (a conditional put: the same request kept
    /// once). Never fails: what happened is the answer.
    pub async fn keep_refused(
        &self,
        source: &RefusedSource,
        keep: &KeepRefused,
        refused: &Refused<'_>,
    ) -> Kept {
        if keep.days == 0 {
            return Kept::Off;
        }
        if refused.raw_body.len() > keep.max_bytes {
            return Kept::TooLarge;
        }
        let expires = refused.received_at.unix_timestamp() + i64::from(keep.days) * 86_400;
        // Past the cap, a flood costs no request: once this process saw the hour full, the rest of
        // its refusals are counted without asking DynamoDB (a failed condition bills a unit too).
        let full = format!("{}#{}", source.counter_pk, hour(refused.received_at));
        let seen_full = |store: &Store| {
            store
                .refused_cap_reached
                .lock()
                .is_ok_and(|reached| reached.as_deref() == Some(full.as_str()))
        };
        if seen_full(self) {
            return Kept::OverHourlyCap;
        }
        match self
            .count_refused(source, keep, refused.received_at, expires)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                if let Ok(mut reached) = self.refused_cap_reached.lock() {
                    *reached = Some(full);
                }
                return Kept::OverHourlyCap;
            }
            Err(e) => return Kept::Failed(e.to_string()),
        }
        let mut header_parts: Vec<String> = refused.headers.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        header_parts.sort();
        let body_hex = hex::encode(refused.raw_body);
        let mut parts: Vec<&str> = vec![source.name];
        parts.extend(header_parts.iter().map(String::as_str));
        parts.push(&body_hex);
        let id = digest(&parts)[..32].to_owned();
        let pk = format!("{}{id}", source.prefix);
        let received_ms = refused.received_at.unix_timestamp_nanos() / 1_000_000;
        let headers: HashMap<String, AttributeValue> = refused
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), s(v)))
            .collect();
        let mut item = Item::from([
            ("pk".to_owned(), s(&pk)),
            ("sk".to_owned(), s(REFUSED_SK)),
            (ITEM_TYPE.to_owned(), s(REFUSED_ITEM_TYPE)),
            ("partner".to_owned(), s(source.name)),
            ("refused_kind".to_owned(), s(refused.kind)),
            ("refused_reason".to_owned(), s(&refused.reason)),
            ("received_ms".to_owned(), n(received_ms)),
            (
                "received_at".to_owned(),
                s(crate::store::timestamp(refused.received_at)),
            ),
            (TTL_ATTRIBUTE.to_owned(), n(expires)),
            (QUEUE_PK.to_owned(), s(queue_key(source.queue, &pk))),
            (
                QUEUE_SK.to_owned(),
                s(format!("{}#{id}", changed_at(refused.received_at))),
            ),
        ]);
        // No empty map: a Linkbest push signs its body alone (and DynamoDB Local's stream writes
        // an empty map in a form the SDK cannot read).
        if !headers.is_empty() {
            item.insert("headers".to_owned(), AttributeValue::M(headers));
        }
        match std::str::from_utf8(refused.raw_body) {
            Ok(text) => item.insert("raw_body".to_owned(), s(text)),
            Err(_) => item.insert(
                "raw_body_bytes".to_owned(),
                AttributeValue::B(Blob::new(refused.raw_body)),
            ),
        };
        if let Some(id) = refused.lambda_request_id {
            item.insert("lambda_request_id".to_owned(), s(id));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Kept::Kept,
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Kept::AlreadyKept
            }
            Err(e) => Kept::Failed(StoreError::sdk("PutItem", e).to_string()),
        }
    }

    /// One more kept this hour, unless the hour's cap is reached (`false`).
    async fn count_refused(
        &self,
        source: &RefusedSource,
        keep: &KeepRefused,
        at: OffsetDateTime,
        expires: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(source.counter_pk))
            .key("sk", s(hour(at)))
            .update_expression("SET kept = if_not_exists(kept, :zero) + :one, #ttl = :ttl, item_type = :type")
            .condition_expression("attribute_not_exists(kept) OR kept < :cap")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(keep.max_per_hour))
            .expression_attribute_values(":ttl", n(expires))
            .expression_attribute_values(":type", s("refused_counter"))
            .send()
            .await;
        applied(result)
    }

    /// The kept refused deliveries of `source` still waiting to be re-run, received in
    /// `[from, to)` (a query of every shard of its queue, merged oldest first; never a scan).
    pub async fn waiting_refused(
        &self,
        source: &RefusedSource,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for key in queue_keys(source.queue) {
            let found: Vec<Item> = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(crate::keys::QUEUE_INDEX)
                .key_condition_expression("queue_pk = :q AND queue_sk BETWEEN :from AND :to")
                .expression_attribute_values(":q", s(key))
                .expression_attribute_values(":from", s(changed_at(from)))
                .expression_attribute_values(":to", s(changed_at(to)))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| StoreError::sdk("Query", e))?;
            items.extend(found);
        }
        items.sort_by(|a, b| get_s(a, QUEUE_SK).cmp(&get_s(b, QUEUE_SK)));
        Ok(items)
    }

    /// Whether the item `pk` / `sk` exists (a consistent read of its key only).
    pub async fn exists(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item.is_some())
            .map_err(|e| StoreError::sdk("GetItem", e))
    }

    /// One kept refused delivery by its key (a consistent read).
    pub async fn kept_refused(&self, pk: &str) -> Result<Option<Item>, StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(REFUSED_SK))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| StoreError::sdk("GetItem", e))
    }

    /// Marks a kept refused delivery as re-run (`outcome`: what storing it came to) and takes it
    /// out of its queue. Conditional on it still being there; `false` when another run was first.
    pub async fn settle_refused(&self, pk: &str, outcome: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(REFUSED_SK))
            .update_expression("SET reprocessed = :o, reprocessed_at = :at REMOVE queue_pk, queue_sk")
            .condition_expression("attribute_exists(queue_pk)")
            .expression_attribute_values(":o", s(outcome))
            .expression_attribute_values(":at", s(crate::store::timestamp(OffsetDateTime::now_utc())))
            .send()
            .await;
        applied(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup;

    #[test]
    fn defaults_and_off() {
        assert_eq!(
            KeepRefused::from_lookup(&lookup(&[])).unwrap(),
            KeepRefused::default()
        );
        let off = KeepRefused::from_lookup(&lookup(&[("REFUSED_KEEP_DAYS", "0")])).unwrap();
        assert_eq!(off.days, 0);
        assert!(KeepRefused::from_lookup(&lookup(&[("REFUSED_KEEP_MAX_PER_HOUR", "x")])).is_err());
        assert_eq!(Kept::Off.metric(), None);
        assert_eq!(Kept::OverHourlyCap.metric(), Some("RefusedNotKept"));
        assert_eq!(Kept::AlreadyKept.metric(), Some("RefusedKept"));
    }

    #[test]
    fn counters_count_utc_hours() {
        let at = OffsetDateTime::from_unix_timestamp(1_765_000_000).unwrap();
        assert_eq!(hour(at), "2025-12-06T05");
    }
}
