//! Linkbest's views in the hand-off: a change of the order view (`LB#ORDER#<OrderSn>` / `ORDER`,
//! moved by pushes and the order list) and a new settlement change of an order (its settlement
//! state is its newest change) become one event each. A record that changed no view version (a
//! duplicate, a re-read, a raw record, a checkpoint) is none.

use super::settlement::CHANGE_ITEM_TYPE;
use super::view::{ORDER_ITEM_TYPE, PUSH_VERSION, STATE_VERSION};
use crate::handoff::contract::rfc3339_from_epoch;
use crate::handoff::{Change, Channel, OrderEvent, TableKey, ViewChange};
use crate::keys::{LINKBEST_ORDER_PREFIX, ORDER_SK};
use crate::store::ITEM_TYPE;

pub const PARTNER: &str = "linkbest";

/// The event of a Linkbest view change, if it is one (see the module doc).
pub fn describe(change: &ViewChange) -> Option<OrderEvent> {
    if !change.pk.starts_with(LINKBEST_ORDER_PREFIX) {
        return None;
    }
    match change.new_s(ITEM_TYPE)? {
        ORDER_ITEM_TYPE if change.sk == ORDER_SK => order_view(change),
        CHANGE_ITEM_TYPE if change.event_name == "INSERT" => settlement_change(change),
        // Records (pushes, listed rows): the view update they came with is the event.
        _ => None,
    }
}

fn key(change: &ViewChange) -> TableKey {
    TableKey {
        pk: change.pk.clone(),
        sk: change.sk.clone(),
    }
}

fn order_view(change: &ViewChange) -> Option<OrderEvent> {
    let version = change.new_s(STATE_VERSION)?;
    if change.old_s(STATE_VERSION) == Some(version) {
        return None; // no new view version
    }
    let from_push = change.new_s(PUSH_VERSION) == Some(version);
    let channel = if from_push {
        Channel::Push
    } else {
        Channel::OrderList
    };
    let mut event = OrderEvent::new(PARTNER, key(change), version, channel);
    if let Some(sn) = change.new_s("order_sn") {
        event.order.insert("order_sn", sn.to_owned());
    }
    let (status, previous) = (change.new_s("status"), change.previous("status"));
    event.status = status.map(str::to_owned);
    event.previous_status = previous.map(str::to_owned);
    if change.first_version() {
        event.changes.push(Change::Seen);
        if !from_push {
            event.changes.push(Change::FoundOnlyByPoll);
        }
    } else if previous != status {
        event.changes.push(Change::StatusChanged);
    } else {
        event.changes.push(Change::Updated);
    }
    event.changes.sort();
    if from_push {
        // Linkbest signs EventType, PushId and CreateTime: the push's `Data` (the order number,
        // the status, the amounts) is not covered. The list and the settlement feed come from
        // Linkbest's API over TLS, on a request we signed.
        event.hints = [
            "order.order_sn",
            "table_key",
            "status",
            "previous_status",
            "amounts",
            "currency",
        ]
        .map(str::to_owned)
        .to_vec();
    }
    for field in ["orders_price", "siter_commission"] {
        if let Some(amount) = change.new_s(field) {
            event.add_amount(field, amount);
        }
    }
    event.currency = change.new_s("currency").map(str::to_owned);
    if from_push {
        event.occurred_at = change
            .new_s("last_create_time")
            .and_then(|t| rfc3339_from_epoch(t, false));
        event.stored_at = change.new_s("push_updated_at").map(str::to_owned);
    } else {
        // The list's row is the order's state when Linkbest answered.
        event.occurred_at = change.new_s("listed_at").map(str::to_owned);
        event.stored_at = event.occurred_at.clone();
    }
    Some(event)
}

fn settlement_change(change: &ViewChange) -> Option<OrderEvent> {
    // A settlement change is a view of its own: its own table key (the order's `pk`, its own
    // `SETTLE#<ModifyAt>#<digest>` sort key) and that sort key as its one version, so a consumer
    // keeping one row per `table_key` never lets it stand in the order view's row (issue #28.1:
    // a `SETTLE#…` version there sorts after every view version and hid every later status).
    let mut event = OrderEvent::new(PARTNER, key(change), &change.sk, Channel::Settlement);
    event.changes.push(Change::SettlementChanged);
    if let Some(sn) = change.new_s("order_sn") {
        event.order.insert("order_sn", sn.to_owned());
    }
    for field in [
        "confirm_price",
        "confirm_price_old",
        "modify_price",
        "confirm_siter_commission",
        "confirm_siter_commission_old",
        "modify_siter_commission",
    ] {
        if let Some(amount) = change.new_s(field) {
            event.add_amount(field, amount);
        }
    }
    event.currency = change.new_s("charge_currency").map(str::to_owned);
    // `ModifyAt` as Linkbest wrote it (`yyyy-MM-dd HH:mm:ss`, no time zone given).
    event.occurred_at = change.new_s("modify_at").map(str::to_owned);
    event.stored_at = change.new_s("fetched_at").map(str::to_owned);
    Some(event)
}
