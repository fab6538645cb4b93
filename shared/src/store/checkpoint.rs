//! A feed's checkpoint and its lease: one item per feed (its [`CheckpointKey`]).
//!
//! The lease is taken with a condition (`lease_until < now`) and returns the checkpoint in the
//! same call; the checkpoint moves only forward and only for the lease holder.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::{ITEM_TYPE, Store, StoreError, get_n, get_s, n, s, timestamp};
use crate::feed::CheckpointKey;

/// `item_type` of a checkpoint.
pub const CHECKPOINT_ITEM_TYPE: &str = "feed_checkpoint";

/// The checkpoint's lease, held by one run at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// This run holds the lease; the checkpoint as stored (`None` before the first full window).
    Acquired { checkpoint: Option<i64> },
    /// Another run holds it until `until` (unix seconds).
    HeldByOther { owner: String, until: i64 },
}

impl Store {
    /// An `UpdateItem` of the checkpoint item (table and key set).
    fn update_checkpoint_item(&self, key: CheckpointKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key.pk))
            .key("sk", s(key.sk))
    }

    /// Takes the lease of `key` for `owner` until `until` (unix seconds) unless another run holds
    /// an unexpired one, and returns the checkpoint in the same call (no read before write).
    pub async fn acquire_lease(
        &self,
        key: CheckpointKey,
        owner: &str,
        now: i64,
        until: i64,
    ) -> Result<Lease, StoreError> {
        let result = self
            .update_checkpoint_item(key)
            .update_expression("SET #type = :type, lease_owner = :owner, lease_until = :until")
            .condition_expression("attribute_not_exists(lease_until) OR lease_until < :now")
            .expression_attribute_names("#type", ITEM_TYPE)
            .expression_attribute_values(":type", s(CHECKPOINT_ITEM_TYPE))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
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

    /// Moves the checkpoint of `key` to `end` if `owner` still holds the lease and `end` is later
    /// than the stored checkpoint. `Ok(false)`: the checkpoint was already at or past `end` (it
    /// never moves backwards). Losing the lease is an error.
    pub async fn advance_checkpoint(
        &self,
        key: CheckpointKey,
        owner: &str,
        end: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_checkpoint_item(key)
            .update_expression("SET checkpoint = :end, checkpoint_updated_at = :at")
            .condition_expression(
                "lease_owner = :owner AND (attribute_not_exists(checkpoint) OR checkpoint < :end)",
            )
            .expression_attribute_values(":end", n(end))
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
                            detail: format!("the lease of {}/{} was lost to another run", key.pk, key.sk),
                        })
                    }
                }
                other => Err(StoreError::service("UpdateItem", other)),
            },
        }
    }

    /// Gives the lease of `key` back (if `owner` still holds it), so the next run need not wait for
    /// it to expire.
    pub async fn release_lease(&self, key: CheckpointKey, owner: &str) -> Result<(), StoreError> {
        let result = self
            .update_checkpoint_item(key)
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
