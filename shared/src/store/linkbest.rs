//! Storage of Linkbest order pushes and the Linkbest order view.

use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{ITEM_TYPE, Item, SetExpression, Store, StoreError, TTL_ATTRIBUTE, get_s, n, s, timestamp};
use crate::keys::{ORDER_SK, PUSH_SK, linkbest_order_pk, linkbest_push_pk};
use crate::linkbest_push::{OrderFields, OrderLink, OrderPush};

/// `item_type` of a push record.
pub const PUSH_ITEM_TYPE: &str = "linkbest_push";
/// `item_type` of an order view.
pub const ORDER_ITEM_TYPE: &str = "linkbest_order";
/// Attribute of the order view holding the version of the push it reflects.
pub const PUSH_VERSION: &str = "push_version";

/// How often a push write is attempted when DynamoDB reports a transaction conflict
/// (another write to the same order at the same moment).
const TRANSACTION_ATTEMPTS: u32 = 4;

/// A push about to be stored, with what the handler knows about its delivery.
#[derive(Debug, Clone, Copy)]
pub struct NewPush<'a> {
    pub push: &'a OrderPush,
    pub raw_body: &'a str,
    pub received_at: OffsetDateTime,
    /// The Lambda request id of the delivery that stored it, for tracing.
    pub lambda_request_id: Option<&'a str>,
}

/// What happened to the order view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewWrite {
    /// The push names no usable order.
    NoOrder,
    /// The view now reflects this push.
    Updated,
    /// The view already reflects a newer push (an out-of-order delivery); left as it was.
    AlreadyNewer,
}

/// The result of storing a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushWrite {
    /// DynamoDB confirmed the new record (and the view, in the same transaction).
    Created { view: ViewWrite },
    /// A record with this PushId already exists; nothing was overwritten.
    Duplicate {
        /// Whether the stored push says the same thing (`None`: the store did not return it).
        same_content: Option<bool>,
        /// The order view was behind the stored push and has been brought forward.
        view_repaired: bool,
    },
}

/// A digest of what a push says (event, time, data), to tell a true retry from a replay.
pub fn content_hash(push: &OrderPush) -> String {
    let mut hasher = Sha256::new();
    for part in [&push.event_type, &push.create_time, &push.data] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl Store {
    /// Stores a push exactly once, keyed by its PushId.
    ///
    /// A push that names an order is written together with the order view in one transaction,
    /// so the view can never miss a stored push; the view only moves forward (by `CreateTime`,
    /// then PushId). A push older than the view is stored alone. A push whose PushId exists
    /// already changes nothing and reports the stored content's likeness.
    pub async fn store_linkbest_push(&self, new: &NewPush<'_>) -> Result<PushWrite, StoreError> {
        let OrderLink::Order(order) = &new.push.order else {
            return self.put_push_record(new, ViewWrite::NoOrder).await;
        };
        let mut attempt = 1;
        loop {
            let transaction = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(self.push_put(new)?).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.view_update(new, order)?)
                        .build(),
                );
            let err = match transaction.send().await {
                Ok(_) => {
                    return Ok(PushWrite::Created {
                        view: ViewWrite::Updated,
                    });
                }
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| (r.code().unwrap_or("None").to_owned(), r.item().cloned()))
                    .collect::<Vec<_>>(),
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    vec![("TransactionConflict".to_owned(), None)]
                }
                _ => return Err(StoreError::sdk("TransactWriteItems", err)),
            };
            let codes: Vec<&str> = reasons.iter().map(|(c, _)| c.as_str()).collect();
            match codes.as_slice() {
                ["ConditionalCheckFailed", view_code] => {
                    let same_content = same_content(reasons[0].1.as_ref(), new.push);
                    // The view accepted this push's version although the push is stored: it is
                    // behind (e.g. it was deleted). Bring it forward, but only from a true retry:
                    // a replay with other content must not change anything.
                    let view_repaired = *view_code == "None"
                        && same_content == Some(true)
                        && self.update_view(new, order).await? == ViewWrite::Updated;
                    return Ok(PushWrite::Duplicate {
                        same_content,
                        view_repaired,
                    });
                }
                ["None", "ConditionalCheckFailed"] => {
                    return self.put_push_record(new, ViewWrite::AlreadyNewer).await;
                }
                _ if codes.contains(&"TransactionConflict") && attempt < TRANSACTION_ATTEMPTS => {
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                    attempt += 1;
                }
                _ if codes.contains(&"TransactionConflict") => {
                    return Err(StoreError::Conflict {
                        operation: "TransactWriteItems",
                        attempts: attempt,
                    });
                }
                _ => {
                    return Err(StoreError::Unexpected {
                        operation: "TransactWriteItems",
                        detail: format!("cancellation reasons {codes:?}"),
                    });
                }
            }
        }
    }

    /// The record of one push: parsed fields, `Data` and the raw body exactly as received.
    fn push_item(&self, new: &NewPush<'_>) -> Item {
        let push = new.push;
        let mut item = Item::from([
            ("pk".to_owned(), s(linkbest_push_pk(&push.push_id))),
            ("sk".to_owned(), s(PUSH_SK)),
            (ITEM_TYPE.to_owned(), s(PUSH_ITEM_TYPE)),
            ("push_id".to_owned(), s(&push.push_id)),
            ("event_type".to_owned(), s(&push.event_type)),
            ("create_time".to_owned(), n(push.create_time_secs)),
            ("sign".to_owned(), s(&push.sign)),
            ("data".to_owned(), s(&push.data)),
            ("raw_body".to_owned(), s(new.raw_body)),
            ("received_at".to_owned(), s(timestamp(new.received_at))),
            ("content_hash".to_owned(), s(content_hash(push))),
        ]);
        if let OrderLink::Order(order) = &push.order {
            item.insert("order_sn".to_owned(), s(&order.order_sn));
        }
        if let Some(id) = new.lambda_request_id {
            item.insert("lambda_request_id".to_owned(), s(id));
        }
        if let Some(expires_at) = self.expires_at(new.received_at) {
            item.insert(TTL_ATTRIBUTE.to_owned(), expires_at);
        }
        item
    }

    fn push_put(&self, new: &NewPush<'_>) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(self.push_item(new)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unexpected {
                operation: "TransactWriteItems",
                detail: e.to_string(),
            })
    }

    /// The forward-only update of the order view for `new`.
    fn view_expression(&self, new: &NewPush<'_>, order: &OrderFields) -> SetExpression {
        let push = new.push;
        let mut fields = vec![
            (ITEM_TYPE, s(ORDER_ITEM_TYPE)),
            ("order_sn", s(&order.order_sn)),
            (PUSH_VERSION, s(push.version())),
            ("last_push_id", s(&push.push_id)),
            ("last_event_type", s(&push.event_type)),
            ("last_create_time", n(push.create_time_secs)),
            ("last_data", s(&push.data)),
            ("push_updated_at", s(timestamp(new.received_at))),
        ];
        fields.extend(
            order
                .details
                .iter()
                .map(|(attribute, value)| (*attribute, s(value))),
        );
        SetExpression::new(fields).with_condition_operand("pv", PUSH_VERSION, s(push.version()))
    }

    const VIEW_CONDITION: &'static str = "attribute_not_exists(#pv) OR #pv < :pv";

    fn view_update(&self, new: &NewPush<'_>, order: &OrderFields) -> Result<Update, StoreError> {
        let expr = self.view_expression(new, order);
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(linkbest_order_pk(&order.order_sn)))
            .key("sk", s(ORDER_SK))
            .update_expression(expr.expression)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .condition_expression(Self::VIEW_CONDITION)
            .build()
            .map_err(|e| StoreError::Unexpected {
                operation: "TransactWriteItems",
                detail: e.to_string(),
            })
    }

    /// The forward-only view update on its own (repair of a view that is behind).
    async fn update_view(&self, new: &NewPush<'_>, order: &OrderFields) -> Result<ViewWrite, StoreError> {
        let expr = self.view_expression(new, order);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(linkbest_order_pk(&order.order_sn)))
            .key("sk", s(ORDER_SK))
            .update_expression(expr.expression)
            .set_expression_attribute_names(Some(expr.names))
            .set_expression_attribute_values(Some(expr.values))
            .condition_expression(Self::VIEW_CONDITION)
            .send()
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

    /// The push record alone, created only if its PushId is new.
    async fn put_push_record(&self, new: &NewPush<'_>, view: ViewWrite) -> Result<PushWrite, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.push_item(new)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PushWrite::Created { view }),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => Ok(PushWrite::Duplicate {
                    same_content: same_content(failed.item(), new.push),
                    view_repaired: false,
                }),
                _ => Err(StoreError::sdk("PutItem", err)),
            },
        }
    }
}

fn same_content(stored: Option<&Item>, push: &OrderPush) -> Option<bool> {
    stored
        .and_then(|item| get_s(item, "content_hash"))
        .map(|hash| hash == content_hash(push))
}

/// 20 ms, 40 ms, 80 ms … plus up to as much again at random, so colliding writers spread out.
fn conflict_backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.min(6);
    Duration::from_millis(base + fastrand::u64(0..=base))
}
