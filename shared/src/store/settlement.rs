//! Storage of Linkbest settlement changes, the settlement part of the Linkbest order view, and the
//! sync checkpoint with its lease.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure, WriteRequest};
use futures_util::{StreamExt, TryStreamExt, stream};
use time::OffsetDateTime;
use time::macros::format_description;

use super::{
    ForwardUpdate, ITEM_TYPE, Item, Store, StoreError, UpdateExpression, ViewWrite, digest, get_n, get_s, s,
    timestamp,
};
use crate::keys::{
    LINKBEST_SYNC_PK, LINKBEST_UNLINKED_PK, ORDER_SK, SETTLEMENT_CHECKPOINT_SK, SETTLEMENT_SK_PREFIX,
    linkbest_order_pk, validate_id,
};
use crate::linkbest_api::SettlementChange;
use crate::store::linkbest::ORDER_ITEM_TYPE;

/// `item_type` of a settlement change.
pub const CHANGE_ITEM_TYPE: &str = "linkbest_settlement_change";
/// `item_type` of the checkpoint.
pub const CHECKPOINT_ITEM_TYPE: &str = "linkbest_settlement_checkpoint";
/// Attribute of the order view holding the version of the settlement change it reflects.
pub const SETTLE_VERSION: &str = "settle_version";

/// DynamoDB's limit of items in one `BatchWriteItem`.
const BATCH_SIZE: usize = 25;
/// Concurrent DynamoDB calls while storing one page.
const CONCURRENCY: usize = 8;
/// Rounds of resending items DynamoDB left unprocessed before giving up.
const UNPROCESSED_ROUNDS: u32 = 8;

/// The stored form of one change: its key and item.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub pk: String,
    pub sk: String,
    pub item: Item,
}

/// A digest of the fields that tell one change of an order from another.
pub fn change_digest(change: &SettlementChange) -> String {
    let parts: Vec<String> = change
        .identity_fields()
        .iter()
        .map(|v| {
            v.as_deref()
                .map_or_else(|| "\u{0}".to_owned(), |v| format!("={v}"))
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    digest(&refs)
}

/// `ModifyAt` when it has the documented form `yyyy-MM-dd HH:mm:ss` (so it orders as text).
fn ordered_modify_at(change: &SettlementChange) -> Option<&str> {
    let at = change.modify_at.as_deref()?;
    time::PrimitiveDateTime::parse(
        at,
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()
    .map(|_| at)
}

/// The key of a change: under its order (`LB#ORDER#<OrderSn>`, sort key
/// `SETTLE#<ModifyAt>#<digest>`), so the same change read twice (overlap, retry) is the same item
/// and one query returns an order's view with its settlement history. A change without a usable
/// `OrderSn` is kept under `LB#UNLINKED`, keyed by a digest of its raw JSON.
pub fn change_record(change: &SettlementChange, fetched_at: OffsetDateTime) -> ChangeRecord {
    let order_sn = change.order_sn.as_deref().filter(|sn| validate_id(sn).is_ok());
    let modify_at = change
        .modify_at
        .as_deref()
        .filter(|at| !at.is_empty() && at.len() <= 64)
        .unwrap_or("-");
    let (pk, digest16) = match order_sn {
        Some(sn) => (linkbest_order_pk(sn), change_digest(change)[..32].to_owned()),
        None => (
            LINKBEST_UNLINKED_PK.to_owned(),
            digest(&[&change.raw])[..32].to_owned(),
        ),
    };
    let sk = format!("{SETTLEMENT_SK_PREFIX}{modify_at}#{digest16}");
    let mut item = Item::from([
        ("pk".to_owned(), s(&pk)),
        ("sk".to_owned(), s(&sk)),
        (ITEM_TYPE.to_owned(), s(CHANGE_ITEM_TYPE)),
        ("raw".to_owned(), s(&change.raw)),
        ("fetched_at".to_owned(), s(timestamp(fetched_at))),
    ]);
    let fields = [
        ("order_sn", &change.order_sn),
        ("order_time", &change.order_time),
        ("sub_id", &change.sub_id),
        ("confirm_price_old", &change.confirm_price_old),
        ("modify_price", &change.modify_price),
        ("confirm_price", &change.confirm_price),
        (
            "confirm_siter_commission_old",
            &change.confirm_siter_commission_old,
        ),
        ("modify_siter_commission", &change.modify_siter_commission),
        ("confirm_siter_commission", &change.confirm_siter_commission),
        ("modify_at", &change.modify_at),
        ("program_id", &change.program_id),
        ("program_name", &change.program_name),
        ("charge_currency", &change.charge_currency),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    ChangeRecord { pk, sk, item }
}

/// The settlement part of the order view for the newest change of an order: current confirmed
/// price and commission, forward only by (`ModifyAt`, digest).
fn settle_view_update(change: &SettlementChange, at: OffsetDateTime) -> Option<ForwardUpdate> {
    let order_sn = change.order_sn.as_deref().filter(|sn| validate_id(sn).is_ok())?;
    let modify_at = ordered_modify_at(change)?;
    let version = format!("{modify_at}#{}", change_digest(change));
    let mut set = vec![
        (ITEM_TYPE, s(ORDER_ITEM_TYPE)),
        ("order_sn", s(order_sn)),
        (SETTLE_VERSION, s(&version)),
        ("settle_modify_at", s(modify_at)),
        ("settle_updated_at", s(timestamp(at))),
    ];
    let optional = [
        ("confirm_price", &change.confirm_price),
        ("confirm_siter_commission", &change.confirm_siter_commission),
        ("charge_currency", &change.charge_currency),
    ];
    set.extend(
        optional
            .into_iter()
            .filter_map(|(n, v)| v.as_ref().map(|v| (n, s(v)))),
    );
    Some(ForwardUpdate {
        pk: linkbest_order_pk(order_sn),
        sk: ORDER_SK,
        update: UpdateExpression::new(set, &[]),
        version_attribute: SETTLE_VERSION,
        version,
    })
}

/// What storing one page did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredChanges {
    /// Distinct change items written (a change read twice is one item, overwritten in place).
    pub items: usize,
    /// Order views moved forward.
    pub views_updated: usize,
    /// DynamoDB calls made.
    pub calls: usize,
}

/// The checkpoint's lease, held by one run at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// This run holds the lease; the checkpoint as stored (`None` before the first full window).
    Acquired { checkpoint: Option<i64> },
    /// Another run holds it until `until` (unix seconds).
    HeldByOther { owner: String, until: i64 },
}

impl Store {
    /// Stores one page of changes: the change items in batches of 25 (idempotent puts: the key
    /// is derived from the change), then the order view of each order named, from its newest
    /// change, forward only. Every write is confirmed before this returns `Ok`.
    pub async fn store_settlement_changes(
        &self,
        changes: &[SettlementChange],
        fetched_at: OffsetDateTime,
    ) -> Result<StoredChanges, StoreError> {
        let mut records: BTreeMap<(String, String), Item> = BTreeMap::new();
        for change in changes {
            let record = change_record(change, fetched_at);
            records.insert((record.pk, record.sk), record.item);
        }
        let items = records.len();
        let writes: Vec<WriteRequest> = records
            .into_values()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item is set"),
                    )
                    .build()
            })
            .collect();
        let batches: Vec<Vec<WriteRequest>> =
            writes.chunks(BATCH_SIZE).map(<[WriteRequest]>::to_vec).collect();
        let batch_calls: usize = stream::iter(batches)
            .map(|batch| self.write_batch(batch))
            .buffer_unordered(CONCURRENCY)
            .try_fold(0, |sum, calls| async move { Ok(sum + calls) })
            .await?;

        // The newest change of each order (by ModifyAt, then digest) shapes its view.
        let mut newest: HashMap<String, ForwardUpdate> = HashMap::new();
        for update in changes
            .iter()
            .filter_map(|change| settle_view_update(change, fetched_at))
        {
            match newest.get(&update.pk) {
                Some(current) if current.version >= update.version => {}
                _ => {
                    newest.insert(update.pk.clone(), update);
                }
            }
        }
        let updates: Vec<ForwardUpdate> = newest.into_values().collect();
        let view_calls = updates.len();
        let views_updated = stream::iter(updates)
            .map(|update| async move { self.update_forward(&update).await })
            .buffer_unordered(CONCURRENCY)
            .try_fold(0, |sum, write| async move {
                Ok(sum + usize::from(write == ViewWrite::Updated))
            })
            .await?;
        Ok(StoredChanges {
            items,
            views_updated,
            calls: batch_calls + view_calls,
        })
    }

    /// One `BatchWriteItem`, resending what DynamoDB leaves unprocessed; returns the calls made.
    async fn write_batch(&self, batch: Vec<WriteRequest>) -> Result<usize, StoreError> {
        let mut pending = batch;
        let mut calls = 0;
        for round in 0..UNPROCESSED_ROUNDS {
            calls += 1;
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| StoreError::sdk("BatchWriteItem", e))?;
            pending = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(calls);
            }
            tokio::time::sleep(Duration::from_millis(50 << round.min(5))).await;
        }
        Err(StoreError::Unexpected {
            operation: "BatchWriteItem",
            detail: format!(
                "{} items still unprocessed after {UNPROCESSED_ROUNDS} rounds",
                pending.len()
            ),
        })
    }

    /// An `UpdateItem` of the checkpoint item (table and key set).
    fn update_checkpoint_item(&self) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(LINKBEST_SYNC_PK))
            .key("sk", s(SETTLEMENT_CHECKPOINT_SK))
    }

    /// Takes the checkpoint's lease for `owner` until `until` (unix seconds) unless another run
    /// holds an unexpired one, and returns the checkpoint in the same call (no read before write).
    pub async fn acquire_settlement_lease(
        &self,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<Lease, StoreError> {
        let result = self
            .update_checkpoint_item()
            .update_expression("SET #type = :type, lease_owner = :owner, lease_until = :until")
            .condition_expression("attribute_not_exists(lease_until) OR lease_until < :now")
            .expression_attribute_names("#type", ITEM_TYPE)
            .expression_attribute_values(":type", s(CHECKPOINT_ITEM_TYPE))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", super::n(until))
            .expression_attribute_values(":now", super::n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Lease::Acquired {
                checkpoint: output
                    .attributes
                    .as_ref()
                    .and_then(|item| get_n(item, "checkpoint")),
            }),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let held = failed.item.unwrap_or_default();
                    Ok(Lease::HeldByOther {
                        owner: get_s(&held, "lease_owner").unwrap_or("?").to_owned(),
                        until: get_n(&held, "lease_until").unwrap_or(0),
                    })
                }
                other => Err(StoreError::service("UpdateItem", other)),
            },
        }
    }

    /// Moves the checkpoint to `end` if `owner` still holds the lease and `end` is later than the
    /// stored checkpoint. `Ok(false)`: the checkpoint was already at or past `end` (it never moves
    /// backwards). Losing the lease is an error.
    pub async fn advance_settlement_checkpoint(
        &self,
        owner: &str,
        end: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_checkpoint_item()
            .update_expression("SET checkpoint = :end, checkpoint_updated_at = :at")
            .condition_expression(
                "lease_owner = :owner AND (attribute_not_exists(checkpoint) OR checkpoint < :end)",
            )
            .expression_attribute_values(":end", super::n(end))
            .expression_attribute_values(":at", s(timestamp(at)))
            .expression_attribute_values(":owner", s(owner))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    let stored = failed.item.unwrap_or_default();
                    if get_s(&stored, "lease_owner") == Some(owner) {
                        Ok(false)
                    } else {
                        Err(StoreError::Unexpected {
                            operation: "UpdateItem",
                            detail: "the settlement lease was lost to another run".into(),
                        })
                    }
                }
                other => Err(StoreError::service("UpdateItem", other)),
            },
        }
    }

    /// Gives the lease back (if `owner` still holds it), so the next run need not wait for it to
    /// expire.
    pub async fn release_settlement_lease(&self, owner: &str) -> Result<(), StoreError> {
        let result = self
            .update_checkpoint_item()
            .update_expression("REMOVE lease_owner, lease_until")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(()),
                other => Err(StoreError::service("UpdateItem", other)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(order_sn: Option<&str>, modify_at: Option<&str>, price: &str) -> SettlementChange {
        SettlementChange {
            order_sn: order_sn.map(Into::into),
            modify_at: modify_at.map(Into::into),
            confirm_price: Some(price.into()),
            raw: format!("{{\"p\":{price}}}"),
            ..Default::default()
        }
    }

    #[test]
    fn the_same_change_read_twice_has_the_same_key_and_different_changes_do_not() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let a = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1.00"), at);
        let again = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1.00"), at);
        let other = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "2.00"), at);
        assert_eq!((&a.pk, &a.sk), (&again.pk, &again.sk));
        assert_ne!(a.sk, other.sk);
        assert_eq!(a.pk, "LB#ORDER#SO1");
        assert!(a.sk.starts_with("SETTLE#2026-11-22 10:00:00#"));
    }

    #[test]
    fn changes_without_a_usable_order_are_kept_unlinked() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let r = change_record(&change(None, None, "1.00"), at);
        assert_eq!(r.pk, LINKBEST_UNLINKED_PK);
        assert!(r.sk.starts_with("SETTLE#-#"));
        let r = change_record(&change(Some("bad sn"), Some("x"), "1.00"), at);
        assert_eq!(r.pk, LINKBEST_UNLINKED_PK);
    }

    #[test]
    fn only_well_formed_modify_at_orders_the_view() {
        let at = OffsetDateTime::UNIX_EPOCH;
        assert!(settle_view_update(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1"), at).is_some());
        assert!(settle_view_update(&change(Some("SO1"), Some("22/11/2026"), "1"), at).is_none());
        assert!(settle_view_update(&change(Some("SO1"), None, "1"), at).is_none());
        let older = settle_view_update(&change(Some("SO1"), Some("2026-11-22 09:59:59"), "9"), at).unwrap();
        let newer = settle_view_update(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1"), at).unwrap();
        assert!(older.version < newer.version);
    }
}
