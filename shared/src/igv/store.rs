//! Storage of iGV order status callbacks and the iGV order view.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::igv::protocol::{CallbackHeaders, StatusCallback};
use crate::keys::{
    CALLBACK_SK, DELIVERY_OF, IGV_AWAITING_DELIVERY_HELD_QUEUE, IGV_AWAITING_DELIVERY_QUEUE,
    IGV_NOT_UNDERSTOOD_QUEUE, IGV_RECENT_CALLBACKS_QUEUE, ORDER_SK, QUEUE_PK, QUEUE_SK, igv_callback_pk,
    igv_delivery_of, igv_order_pk, queue_key,
};
use crate::store::{
    ForwardUpdate, ITEM_TYPE, Item, RecordWrite, Store, StoreError, TTL_ATTRIBUTE, UpdateExpression,
    changed_at, digest, n, s, timestamp, version,
};

/// `item_type` of a callback record.
pub const CALLBACK_ITEM_TYPE: &str = "igv_callback";
/// `item_type` of an iGV order view.
pub const ORDER_ITEM_TYPE: &str = "igv_order";
/// Attribute of the order view holding the version of the callback it reflects.
pub const STATUS_VERSION: &str = "status_version";
/// Attribute of the order view set by every status other than 1: the queue a later status 1 goes
/// to — the held queue once the order has been in status 1 (a re-signed retry of its status-1
/// callback must not deliver it twice), else the awaiting-delivery queue (a status that came
/// before the order was paid never keeps it out of fulfilment).
pub const QUEUE_HOLD: &str = "queue_hold";
/// Attribute of the order view set by a status 1: where a later status other than 1 sends the
/// order's next status 1 (the held queue). Its presence says "this order has been in status 1".
pub const PAID_HOLD: &str = "paid_hold";
/// Attribute of the order view set with `queue_pk` by a status 1 — the queue the order went into —
/// and kept when a fulfilment worker takes the order out of the queue (`REMOVE queue_pk,
/// queue_sk`), so a replay of this version is still "Order Awaiting Delivery" (issue #28.3).
/// Removed by any other status.
pub const QUEUED_IN: &str = "queued_in";

/// A callback about to be stored, with what the handler knows about its delivery.
#[derive(Debug, Clone, Copy)]
pub struct NewCallback<'a> {
    pub headers: &'a CallbackHeaders,
    pub callback: &'a StatusCallback,
    pub raw_body: &'a str,
    pub received_at: OffsetDateTime,
    pub lambda_request_id: Option<&'a str>,
}

/// An authentic callback (signature and replay window passed) whose body could not be read.
#[derive(Debug, Clone, Copy)]
pub struct UnreadableCallback<'a> {
    pub headers: &'a CallbackHeaders,
    pub raw_body: &'a [u8],
    /// Why the body could not be read (for the person who reads it).
    pub problem: &'a str,
    pub received_at: OffsetDateTime,
    pub lambda_request_id: Option<&'a str>,
}

/// A digest of what the (unsigned) body says, field by field, so a retry that formats the JSON
/// differently still counts as the same content.
pub fn content_hash(callback: &StatusCallback) -> String {
    let field = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(|| "\u{0}".to_owned(), |v| format!("={v}"))
    };
    digest(&[
        &callback.order_id,
        &field(&callback.order_num),
        &field(&callback.seller_order_status),
        &field(&callback.created_at),
        &field(&callback.buyer_id),
    ])
}

/// `queue_sk` of an order awaiting delivery: oldest callback first, then by order id.
pub fn awaiting_delivery_sort_key(timestamp_ms: u64, order_id: &str) -> String {
    format!("{timestamp_ms:020}#{order_id}")
}

impl Store {
    /// Stores an authentic callback whose body could not be understood exactly once, keyed by
    /// `X-Request-Id`, raw (text, or bytes when not UTF-8), with the problem, in the
    /// `IGV#NOT_UNDERSTOOD` queue of the `queue` index; no order view is touched. iGV gives up
    /// after three attempts and there is no iGV feed to read it back: refusing it would lose it.
    pub async fn store_unreadable_igv_callback(
        &self,
        new: &UnreadableCallback<'_>,
    ) -> Result<RecordWrite, StoreError> {
        let h = new.headers;
        let item = || {
            let mut item = self.callback_record(h, new.received_at, new.lambda_request_id);
            item.extend([
                ("not_understood".to_owned(), s(new.problem)),
                (QUEUE_PK.to_owned(), s(IGV_NOT_UNDERSTOOD_QUEUE)),
                (
                    QUEUE_SK.to_owned(),
                    s(awaiting_delivery_sort_key(h.timestamp_ms, &h.request_id)),
                ),
            ]);
            match std::str::from_utf8(new.raw_body) {
                Ok(text) => item.insert("raw_body".to_owned(), s(text)),
                Err(_) => item.insert(
                    "raw_body_bytes".to_owned(),
                    AttributeValue::B(Blob::new(new.raw_body)),
                ),
            };
            item
        };
        let content = digest(&["unreadable", &hex::encode(new.raw_body)]);
        self.create_once(item, &content, None).await
    }

    /// Stores a callback exactly once, keyed by `X-Request-Id`, together with the forward-only
    /// order view (by `X-Timestamp`, ties by request id). See [`Store::create_once`].
    pub async fn store_igv_callback(&self, new: &NewCallback<'_>) -> Result<RecordWrite, StoreError> {
        // X-Timestamp is not part of the content: a retry may carry a fresh one. Record and view
        // are written together, so both carry the timestamp of the delivery that was stored.
        let view = order_view_update(new, new.headers.timestamp_ms);
        self.create_once(
            || self.callback_item(new),
            &content_hash(new.callback),
            Some(view),
        )
        .await
    }

    /// Replaces a parked (not understood) callback record with the record of `new` — the same
    /// `X-Request-Id`, its body understood now — and moves the order view, in one transaction
    /// conditional on the record still being parked (issue #29.2). The record keeps `problem` as
    /// `was_not_understood`. [`RecordWrite::Duplicate`]: it was not parked any more.
    pub async fn replace_parked_igv_callback(
        &self,
        new: &NewCallback<'_>,
        problem: &str,
    ) -> Result<RecordWrite, StoreError> {
        let view = order_view_update(new, new.headers.timestamp_ms);
        let record = || {
            let mut item = self.callback_item(new);
            item.insert("was_not_understood".to_owned(), s(problem));
            item
        };
        self.write_once(
            record,
            &content_hash(new.callback),
            Some(view),
            "attribute_exists(not_understood)",
        )
        .await
    }

    /// What every callback record holds: its key, the signed headers, when and by which
    /// invocation it was received, and its expiry.
    fn callback_record(
        &self,
        h: &CallbackHeaders,
        received_at: OffsetDateTime,
        lambda_request_id: Option<&str>,
    ) -> Item {
        let mut item = Item::from([
            ("pk".to_owned(), s(igv_callback_pk(&h.request_id))),
            ("sk".to_owned(), s(CALLBACK_SK)),
            (ITEM_TYPE.to_owned(), s(CALLBACK_ITEM_TYPE)),
            ("request_id".to_owned(), s(&h.request_id)),
            ("x_timestamp".to_owned(), n(h.timestamp_ms)),
            ("received_at".to_owned(), s(timestamp(received_at))),
        ]);
        if let Some(id) = lambda_request_id {
            item.insert("lambda_request_id".to_owned(), s(id));
        }
        if let Some(expires_at) = self.expires_at(received_at) {
            item.insert(TTL_ATTRIBUTE.to_owned(), expires_at);
        }
        item
    }

    fn callback_item(&self, new: &NewCallback<'_>) -> Item {
        let cb = new.callback;
        let mut item = self.callback_record(new.headers, new.received_at, new.lambda_request_id);
        let pk = igv_callback_pk(&new.headers.request_id);
        item.extend([
            ("order_id".to_owned(), s(&cb.order_id)),
            ("raw_body".to_owned(), s(new.raw_body)),
            (DELIVERY_OF.to_owned(), s(igv_delivery_of(&cb.order_id))),
            // Among the recent callbacks `ops latest` reads (a sharded queue of the `queue` index).
            (QUEUE_PK.to_owned(), s(queue_key(IGV_RECENT_CALLBACKS_QUEUE, &pk))),
            (
                QUEUE_SK.to_owned(),
                s(format!(
                    "{}#{}",
                    changed_at(new.received_at),
                    new.headers.request_id
                )),
            ),
        ]);
        let optional = [
            ("order_num", &cb.order_num),
            ("seller_order_status", &cb.seller_order_status),
            ("created_at", &cb.created_at),
            ("buyer_id", &cb.buyer_id),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                item.insert(name.to_owned(), s(value));
            }
        }
        item
    }
}

/// The order view update: latest seller status, and membership of the awaiting-delivery queue
/// (the sparse `queue` index) exactly while the latest status is 1.
fn order_view_update(new: &NewCallback<'_>, timestamp_ms: u64) -> ForwardUpdate {
    let (h, cb) = (new.headers, new.callback);
    let version = version(timestamp_ms, &h.request_id);
    let mut set = vec![
        (ITEM_TYPE, s(ORDER_ITEM_TYPE)),
        ("order_id", s(&cb.order_id)),
        ("last_request_id", s(&h.request_id)),
        ("last_x_timestamp", n(timestamp_ms)),
        ("status_updated_at", s(timestamp(new.received_at))),
    ];
    let optional = [
        ("order_num", &cb.order_num),
        ("seller_order_status", &cb.seller_order_status),
        ("created_at", &cb.created_at),
        ("buyer_id", &cb.buyer_id),
    ];
    set.extend(
        optional
            .into_iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| (name, s(v)))),
    );
    let mut remove: &[&str] = &[];
    let mut defaults = Vec::new();
    // The queue's key is one of its shards (the order's, no hot key at a festival's peak).
    let awaiting = queue_key(IGV_AWAITING_DELIVERY_QUEUE, &igv_order_pk(&cb.order_id));
    if cb.awaits_delivery() {
        // Into the queue `queue_hold` names when a status other than 1 came first (the held
        // queue once the order had been in status 1, else the awaiting-delivery queue), else
        // into the awaiting-delivery queue; and the order is marked as having been in status 1
        // (one update, no read).
        defaults.push((QUEUE_PK, QUEUE_HOLD, s(awaiting.clone())));
        defaults.push((QUEUED_IN, QUEUE_HOLD, s(awaiting)));
        set.push((
            QUEUE_SK,
            s(awaiting_delivery_sort_key(h.timestamp_ms, &cb.order_id)),
        ));
        set.push((PAID_HOLD, s(IGV_AWAITING_DELIVERY_HELD_QUEUE)));
    } else if cb.seller_order_status.is_some() {
        // Out of the queue; a later status 1 is held only if the order has been in status 1.
        remove = &[QUEUE_PK, QUEUE_SK, QUEUED_IN];
        defaults.push((QUEUE_HOLD, PAID_HOLD, s(awaiting)));
    }
    ForwardUpdate {
        pk: igv_order_pk(&cb.order_id),
        sk: ORDER_SK,
        update: UpdateExpression::with_defaults(set, &defaults, remove),
        version_attribute: STATUS_VERSION,
        version,
        status_attribute: Some("seller_order_status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cb(status: Option<&str>, order_num: Option<&str>) -> StatusCallback {
        StatusCallback {
            order_id: "1689644928115784".into(),
            order_num: order_num.map(Into::into),
            seller_order_status: status.map(Into::into),
            created_at: None,
            buyer_id: None,
        }
    }

    #[test]
    fn content_hash_tells_absent_from_empty_and_fields_apart() {
        assert_ne!(
            content_hash(&cb(Some("1"), None)),
            content_hash(&cb(None, Some("1")))
        );
        assert_ne!(content_hash(&cb(None, Some(""))), content_hash(&cb(None, None)));
        assert_eq!(
            content_hash(&cb(Some("1"), None)),
            content_hash(&cb(Some("1"), None))
        );
    }
}
