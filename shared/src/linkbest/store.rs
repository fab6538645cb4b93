//! Storage of Linkbest order pushes (each with its order view update, see `linkbest::view`).

use time::OffsetDateTime;

use crate::keys::{
    DELIVERY_OF, LINKBEST_RECENT_PUSHES_QUEUE, PUSH_SK, QUEUE_PK, QUEUE_SK, linkbest_delivery_of,
    linkbest_push_pk, queue_key,
};
use crate::linkbest::push::{OrderLink, OrderPush};
use crate::store::{
    ITEM_TYPE, Item, RecordWrite, Store, StoreError, TTL_ATTRIBUTE, changed_at, digest, n, s, timestamp,
};

/// `item_type` of a push record.
pub const PUSH_ITEM_TYPE: &str = "linkbest_push";

/// A push about to be stored, with what the handler knows about its delivery.
#[derive(Debug, Clone, Copy)]
pub struct NewPush<'a> {
    pub push: &'a OrderPush,
    pub raw_body: &'a str,
    pub received_at: OffsetDateTime,
    /// The Lambda request id of the delivery that stored it, for tracing.
    pub lambda_request_id: Option<&'a str>,
}

/// A digest of what a push says (event, time, data), to tell a true retry from a replay.
pub fn content_hash(push: &OrderPush) -> String {
    digest(&[&push.event_type, &push.create_time, &push.data])
}

impl Store {
    /// Stores a push exactly once, keyed by its PushId, with its order view when `Data` names an
    /// order (see [`Store::create_once`]). The view only moves forward (see [`super::view`]).
    pub async fn store_linkbest_push(&self, new: &NewPush<'_>) -> Result<RecordWrite, StoreError> {
        let view = match &new.push.order {
            OrderLink::Order(order) => Some(super::view::push_update(new.push, order, new.received_at)),
            _ => None,
        };
        self.create_once(|| self.push_item(new), &content_hash(new.push), view)
            .await
    }

    /// The record of one push: its parsed header fields and the raw body exactly as received,
    /// which holds `Data` byte for byte. Nothing is kept twice (DynamoDB bills by item size, and
    /// the stream carries every byte again): no separate copy of `Data`, no `Sign` attribute
    /// (once verified it proves nothing more).
    /// (Public for the benchmarks, which time building it.)
    pub fn push_item(&self, new: &NewPush<'_>) -> Item {
        let push = new.push;
        let mut item = Item::from([
            ("pk".to_owned(), s(linkbest_push_pk(&push.push_id))),
            ("sk".to_owned(), s(PUSH_SK)),
            (ITEM_TYPE.to_owned(), s(PUSH_ITEM_TYPE)),
            ("push_id".to_owned(), s(&push.push_id)),
            ("event_type".to_owned(), s(&push.event_type)),
            ("create_time".to_owned(), n(push.create_time_secs)),
            ("raw_body".to_owned(), s(new.raw_body)),
            ("received_at".to_owned(), s(timestamp(new.received_at))),
        ]);
        if let OrderLink::Order(order) = &push.order {
            item.insert("order_sn".to_owned(), s(&order.order_sn));
            item.insert(DELIVERY_OF.to_owned(), s(linkbest_delivery_of(&order.order_sn)));
        }
        // Among the recent pushes `ops latest` reads (a sharded queue of the `queue` index).
        let pk = linkbest_push_pk(&push.push_id);
        item.insert(
            QUEUE_PK.to_owned(),
            s(queue_key(LINKBEST_RECENT_PUSHES_QUEUE, &pk)),
        );
        item.insert(
            QUEUE_SK.to_owned(),
            s(format!("{}#{}", changed_at(new.received_at), push.push_id)),
        );
        if let Some(id) = new.lambda_request_id {
            item.insert("lambda_request_id".to_owned(), s(id));
        }
        if let Some(expires_at) = self.expires_at(new.received_at) {
            item.insert(TTL_ATTRIBUTE.to_owned(), expires_at);
        }
        item
    }
}
