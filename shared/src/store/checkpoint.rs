//! A feed's checkpoint and its lease: one item per feed (its [`CheckpointKey`]).
//!
//! The lease is taken with a condition (`lease_until < now`) and returns the checkpoint (and where
//! an unfinished catch-up resumes) in the same call; the checkpoint moves only forward and only
//! for the lease holder, with every sub-window a run has stored (`save_progress`).

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::{ITEM_TYPE, Store, StoreError, get_n, get_s, n, s, timestamp};
use crate::feed::CheckpointKey;
use crate::feed::windows::{OffsetResume, Resume};

/// `item_type` of a checkpoint.
pub const CHECKPOINT_ITEM_TYPE: &str = "feed_checkpoint";

/// The checkpoint's lease, held by one run at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// This run holds the lease; the checkpoint as stored (`None` before anything was stored),
    /// and where the last run left an unfinished catch-up.
    Acquired {
        checkpoint: Option<i64>,
        resume: Option<Resume>,
    },
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
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                let resume = get_n(&item, "resume_from").map(|from| Resume {
                    from,
                    span: get_n(&item, "resume_span"),
                    full_at: get_n(&item, "resume_full_at"),
                    offset: get_n(&item, "resume_etime").map(|etime| OffsetResume {
                        etime,
                        page: get_n::<u32>(&item, "resume_page").unwrap_or(1),
                    }),
                });
                Ok(Lease::Acquired {
                    checkpoint: get_n(&item, "checkpoint"),
                    resume,
                })
            }
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
    /// than the stored checkpoint, and ends an unfinished catch-up (the run reached its target).
    /// `Ok(false)`: the checkpoint was already at or past `end` (it never moves backwards; nothing
    /// was written). Losing the lease is an error.
    pub async fn advance_checkpoint(
        &self,
        key: CheckpointKey,
        owner: &str,
        end: i64,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.save_progress(key, owner, Some(end), None, at).await
    }

    /// One write of what a run has stored so far, if `owner` still holds the lease: the checkpoint
    /// moves to `checkpoint` when given (only forward: `Ok(false)` and nothing written when the
    /// stored one is at or past it), and the catch-up's resume point is set to `resume`, or
    /// removed when `None` (the run reached its target). Losing the lease is an error.
    pub async fn save_progress(
        &self,
        key: CheckpointKey,
        owner: &str,
        checkpoint: Option<i64>,
        resume: Option<Resume>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut update = self
            .update_checkpoint_item(key)
            .expression_attribute_values(":owner", s(owner));
        let mut condition = "lease_owner = :owner".to_owned();
        if let Some(end) = checkpoint {
            set.push("checkpoint = :end, checkpoint_updated_at = :at");
            condition.push_str(" AND (attribute_not_exists(checkpoint) OR checkpoint < :end)");
            update = update
                .expression_attribute_values(":end", n(end))
                .expression_attribute_values(":at", s(timestamp(at)));
        }
        match resume {
            None => remove.extend([
                "resume_from",
                "resume_span",
                "resume_full_at",
                "resume_etime",
                "resume_page",
            ]),
            Some(resume) => {
                set.push("resume_from = :from");
                update = update.expression_attribute_values(":from", n(resume.from));
                match resume.span {
                    Some(span) => {
                        set.push("resume_span = :span");
                        update = update.expression_attribute_values(":span", n(span));
                    }
                    None => remove.push("resume_span"),
                }
                match resume.full_at {
                    Some(full_at) => {
                        set.push("resume_full_at = :full_at");
                        update = update.expression_attribute_values(":full_at", n(full_at));
                    }
                    None => remove.push("resume_full_at"),
                }
                match resume.offset {
                    Some(offset) => {
                        set.push("resume_etime = :etime, resume_page = :page");
                        update = update
                            .expression_attribute_values(":etime", n(offset.etime))
                            .expression_attribute_values(":page", n(offset.page));
                    }
                    None => remove.extend(["resume_etime", "resume_page"]),
                }
            }
        }
        let mut expression = String::new();
        if !set.is_empty() {
            expression = format!("SET {}", set.join(", "));
        }
        if !remove.is_empty() {
            expression = format!("{expression} REMOVE {}", remove.join(", "));
        }
        let result = update
            .update_expression(expression.trim())
            .condition_expression(condition)
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
