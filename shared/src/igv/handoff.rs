//! iGV's view in the hand-off: a change of the order view (`IGV#ORDER#<orderId>` / `ORDER`)
//! becomes one event; an order entering the awaiting-delivery queue is marked so, which is what a
//! fulfilment worker waits for. The callback's body is not signed: status, order number and the
//! other body fields are hints (ask iGV's order API before acting), the order id and the time are
//! the signed request's.

use super::protocol::AWAITING_DELIVERY;
use super::store::{ORDER_ITEM_TYPE, QUEUED_IN, STATUS_VERSION};
use crate::handoff::contract::rfc3339_from_epoch;
use crate::handoff::{Change, Channel, OrderEvent, TableKey, ViewChange};
use crate::keys::{IGV_AWAITING_DELIVERY_QUEUE, IGV_ORDER_PREFIX, ORDER_SK, QUEUE_PK, in_queue};
use crate::store::ITEM_TYPE;

pub const PARTNER: &str = "igv";

/// The event of an iGV view change, if it is one.
pub fn describe(change: &ViewChange) -> Option<OrderEvent> {
    if !change.pk.starts_with(IGV_ORDER_PREFIX)
        || change.sk != ORDER_SK
        || change.new_s(ITEM_TYPE) != Some(ORDER_ITEM_TYPE)
    {
        return None;
    }
    let version = change.new_s(STATUS_VERSION)?;
    if change.old_s(STATUS_VERSION) == Some(version) {
        return None;
    }
    let key = TableKey {
        pk: change.pk.clone(),
        sk: change.sk.clone(),
    };
    let mut event = OrderEvent::new(PARTNER, key, version, Channel::Callback);
    for (field, name) in [("order_id", "order_id"), ("order_num", "order_num")] {
        if let Some(id) = change.new_s(field) {
            event.order.insert(name, id.to_owned());
        }
    }
    let (status, previous) = (
        change.new_s("seller_order_status"),
        change.previous("seller_order_status"),
    );
    event.status = status.map(str::to_owned);
    event.previous_status = previous.map(str::to_owned);
    if change.first_version() {
        event.changes.push(Change::Seen);
    } else if previous != status {
        event.changes.push(Change::StatusChanged);
    } else {
        event.changes.push(Change::Updated);
    }
    let queued = |queue: Option<&str>| queue.is_some_and(|q| in_queue(q, IGV_AWAITING_DELIVERY_QUEUE));
    // Live (an old image): the queue before and after the change. On a replay (no old image): the
    // queue this version put the order in — `queued_in`, which a fulfilment worker taking the
    // order out of the queue leaves in place (items written before it existed: `queue_pk`) — and
    // before it, the queue exactly when the status was 1 (it is queued now, so it was never held).
    let (new_queue, was_queued) = match change.old {
        Some(_) => (change.new_s(QUEUE_PK), queued(change.old_s(QUEUE_PK))),
        None => (
            change.new_s(QUEUED_IN).or_else(|| change.new_s(QUEUE_PK)),
            previous == Some(AWAITING_DELIVERY),
        ),
    };
    if queued(new_queue) && !was_queued {
        event.changes.push(Change::AwaitingDelivery);
    }
    event.changes.sort();
    event.occurred_at = change
        .new_s("last_x_timestamp")
        .and_then(|t| rfc3339_from_epoch(t, true));
    event.stored_at = change.new_s("status_updated_at").map(str::to_owned);
    // iGV signs only X-Request-Id and X-Timestamp: the order id (and so the table key and the
    // event id), the status and the order number come from the unsigned body.
    event.hints = [
        "order.order_id",
        "table_key",
        "status",
        "previous_status",
        "order.order_num",
    ]
    .map(str::to_owned)
    .to_vec();
    Some(event)
}
