//! The single-table key design (see docs/design.md ("Data model")).
//!
//! Every item has a string partition key `pk` and sort key `sk`. The partition key is a fixed
//! prefix naming the item type followed by the partner's id. No prefix is a prefix of another, so
//! whatever characters an id holds, an item of one type can never land on another type's key.
//! Ids are still bounded and restricted (see [`validate_id`]) before they become part of a key.

/// Partition-key prefix of a Linkbest order push record: `LB#PUSH#<PushId>`.
pub const LINKBEST_PUSH_PREFIX: &str = "LB#PUSH#";
/// Partition-key prefix of a Linkbest order (the order view and its settlement changes).
pub const LINKBEST_ORDER_PREFIX: &str = "LB#ORDER#";

/// Partition-key prefix of an iGV order status callback record: `IGV#CB#<X-Request-Id>`.
pub const IGV_CALLBACK_PREFIX: &str = "IGV#CB#";
/// Partition-key prefix of an iGV order view: `IGV#ORDER#<orderId>`.
pub const IGV_ORDER_PREFIX: &str = "IGV#ORDER#";

/// Partition key of Linkbest settlement changes that name no usable `OrderSn`.
pub const LINKBEST_UNLINKED_PK: &str = "LB#UNLINKED";
/// Partition key of the Linkbest feeds' checkpoints and leases (one item per feed).
pub const LINKBEST_SYNC_PK: &str = "LB#SYNC";

/// Partition-key prefix of a Linkbest push refused for its signature, window or secret, kept to
/// be re-run (`LB#REFUSED#<digest>`, see [`crate::refused`]); its queue and hourly counters.
pub const LINKBEST_REFUSED_PREFIX: &str = "LB#REFUSED#";
pub const LINKBEST_REFUSED_QUEUE: &str = "LB#REFUSED";
pub const LINKBEST_REFUSED_KEPT_PK: &str = "LB#REFUSED_KEPT";
/// The same for iGV callbacks (`IGV#REFUSED#<digest>`).
pub const IGV_REFUSED_PREFIX: &str = "IGV#REFUSED#";
pub const IGV_REFUSED_QUEUE: &str = "IGV#REFUSED";
pub const IGV_REFUSED_KEPT_PK: &str = "IGV#REFUSED_KEPT";

/// Partition key of stream records the hand-off set aside (poison: they can never become an
/// event); sort key: the record's sequence number. Rare by nature, so one key.
pub const HANDOFF_SET_ASIDE_PK: &str = "HANDOFF#SET_ASIDE";

/// Sort key of a Linkbest push record.
pub const PUSH_SK: &str = "PUSH";
/// Sort key of an order view item.
pub const ORDER_SK: &str = "ORDER";
/// Sort-key prefix of a settlement change: `SETTLE#<ModifyAt>#<digest>`.
pub const SETTLEMENT_SK_PREFIX: &str = "SETTLE#";
/// Sort key of the settlement feed's checkpoint.
pub const SETTLEMENT_CHECKPOINT_SK: &str = "CHECKPOINT";
/// Sort key of the orders feed's checkpoint.
pub const ORDERS_CHECKPOINT_SK: &str = "CHECKPOINT#orders";
/// Sort-key prefix of a listed order (a row of the order list): `LIST#<digest>`.
pub const LIST_SK_PREFIX: &str = "LIST#";
/// Sort key of an iGV callback record.
pub const CALLBACK_SK: &str = "CALLBACK";

/// The sparse `queue` index: only items waiting in a work queue carry `queue_pk` / `queue_sk`.
pub const QUEUE_INDEX: &str = "queue";
pub const QUEUE_PK: &str = "queue_pk";
pub const QUEUE_SK: &str = "queue_sk";
/// The queue of iGV orders awaiting delivery (`sellerOrderStatus` 1), oldest callback first.
pub const IGV_AWAITING_DELIVERY_QUEUE: &str = "IGV#AWAITING_DELIVERY";
/// iGV orders whose status went back to 1 after a later status had been applied (a callback
/// re-signed with a fresh `X-Timestamp` after its first deliveries failed, or a genuine return):
/// held here for a person instead of re-entering the awaiting-delivery queue, which could deliver
/// the same order twice.
pub const IGV_AWAITING_DELIVERY_HELD_QUEUE: &str = "IGV#AWAITING_DELIVERY_HELD";
/// Authentic iGV callbacks whose body could not be understood, oldest first (stored raw,
/// answered 200; a person reads them: `ops` or a query of the `queue` index).
pub const IGV_NOT_UNDERSTOOD_QUEUE: &str = "IGV#NOT_UNDERSTOOD";
/// Listed orders no push ever told about (the orders feed's first listing), by `listed_at`.
pub const LINKBEST_FOUND_ONLY_BY_POLL_QUEUE: &str = "LB#FOUND_ONLY_BY_POLL";
/// Listed orders whose status the list told before the pushes did, by `listed_at`.
pub const LINKBEST_STATUS_FOUND_ONLY_BY_POLL_QUEUE: &str = "LB#STATUS_FOUND_ONLY_BY_POLL";

/// Recent deliveries in the `queue` index, newest read first by `ops latest` (issue #29.4): every
/// stored push / understood callback record is in its partner's queue, sharded like every queue,
/// by `queue_sk` = `<received_at, fixed width>#<id>`.
pub const LINKBEST_RECENT_PUSHES_QUEUE: &str = "LB#RECENT_PUSHES";
pub const IGV_RECENT_CALLBACKS_QUEUE: &str = "IGV#RECENT_CALLBACKS";

/// The `deliveries` index (issue #29.4): push and callback records by the order they name
/// (`delivery_of` = `LB#<OrderSn>` / `IGV#<orderId>`), then by `received_at`. Keys only; what
/// `ops order` reads instead of a scan.
pub const DELIVERIES_INDEX: &str = "deliveries";
pub const DELIVERY_OF: &str = "delivery_of";

/// `delivery_of` of a Linkbest push naming `order_sn`.
pub fn linkbest_delivery_of(order_sn: &str) -> String {
    format!("LB#{order_sn}")
}

/// `delivery_of` of an iGV callback about `order_id`.
pub fn igv_delivery_of(order_id: &str) -> String {
    format!("IGV#{order_id}")
}

/// The hand-off's replay index: order views and settlement changes by the UTC day of their latest
/// change, spread over [`CHANGES_DAY_SHARDS`] keys (`YYYY-MM-DD#NN`, [`changed_day_key`]), then by
/// order (`pk`). Keys only.
pub const CHANGES_INDEX: &str = "changes";
pub const CHANGED_DAY: &str = "changed_day";
/// How many partition keys of the `changes` index one UTC day is spread over (issue #27, README
/// "Capacity"): every order's first change of a day writes its index entry (2 write units inside
/// a transaction), so a festival's 2,000 new orders a second are 4,000 units/s: 250 per key, where
/// one DynamoDB partition serves 1,000.
pub const CHANGES_DAY_SHARDS: u32 = 16;

/// The `changes` index key of an item of partition `pk` that changed on `day` (`YYYY-MM-DD`):
/// `<day>#<shard>`, the shard a stable hash (FNV-1a) of `pk`, so an order's items of one day
/// share one key and the day's orders spread evenly.
pub fn changed_day_key(day: &str, pk: &str) -> String {
    format!("{day}#{:02}", shard_of(pk, CHANGES_DAY_SHARDS))
}

/// A stable shard of partition `pk` among `shards` (FNV-1a: the same on every machine and
/// release, unlike the standard library's hasher).
pub fn shard_of(pk: &str, shards: u32) -> u32 {
    let hash = pk.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash % shards
}

/// How many `queue` index keys each work queue many orders enter is spread over (issue #27, README
/// "Capacity"): the awaiting-delivery queue takes every paid iGV order (500 a second at the
/// stated peak, ~2 write units each as the item enters and changes in the index), the
/// found-only-by-poll queues every order the list finds that the pushes missed. 16 keys keep each
/// under a tenth of a partition's 1,000 units/s at the peak.
pub const QUEUE_SHARDS: u32 = 16;

/// The `queue` index key of the item of partition `pk` in `queue`: `<queue>#<shard>`.
pub fn queue_key(queue: &str, pk: &str) -> String {
    format!("{queue}#{:02}", shard_of(pk, QUEUE_SHARDS))
}

/// Every `queue` index key of `queue`: its shards, and the queue alone (the key of items queued
/// before the queues were sharded). A reader queries each (oldest first within each) and merges
/// them by `queue_sk`.
pub fn queue_keys(queue: &str) -> Vec<String> {
    (0..QUEUE_SHARDS)
        .map(|shard| format!("{queue}#{shard:02}"))
        .chain(std::iter::once(queue.to_owned()))
        .collect()
}

/// Whether `queue_pk` is one of `queue`'s keys (a shard of it, or the queue alone).
pub fn in_queue(queue_pk: &str, queue: &str) -> bool {
    queue_pk == queue
        || queue_pk
            .strip_prefix(queue)
            .and_then(|rest| rest.strip_prefix('#'))
            .is_some_and(|shard| shard.len() == 2 && shard.bytes().all(|b| b.is_ascii_digit()))
}

/// Every `changes` index key of `day`: its shards, and the day alone (the key of items written
/// before the index was sharded).
pub fn changed_day_keys(day: &str) -> Vec<String> {
    (0..CHANGES_DAY_SHARDS)
        .map(|shard| format!("{day}#{shard:02}"))
        .chain([day.to_owned()])
        .collect()
}
/// When the item last changed (RFC 3339, UTC): what `ops republish --from --to` filters on.
pub const CHANGED_AT: &str = "changed_at";
/// How many times a view moved forward (1: its first version), so the event of its current
/// version can be rebuilt from the item alone.
pub const VIEW_CHANGES: &str = "view_changes";
/// The view's status before its latest change (`""`: it had none).
pub const PREVIOUS_STATUS: &str = "previous_status";

/// All partition-key prefixes in use; a test proves none is a prefix of another.
/// (Fixed keys such as `LB#SYNC` and `LB#UNLINKED` are listed too: no prefix may start them.)
pub const ALL_PREFIXES: &[&str] = &[
    LINKBEST_PUSH_PREFIX,
    LINKBEST_ORDER_PREFIX,
    LINKBEST_UNLINKED_PK,
    LINKBEST_SYNC_PK,
    HANDOFF_SET_ASIDE_PK,
    IGV_CALLBACK_PREFIX,
    IGV_ORDER_PREFIX,
    LINKBEST_REFUSED_PREFIX,
    LINKBEST_REFUSED_KEPT_PK,
    IGV_REFUSED_PREFIX,
    IGV_REFUSED_KEPT_PK,
];

/// Longest partner id accepted as part of a key.
pub const MAX_ID_LEN: usize = 128;

/// Why an id cannot become part of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    #[error("holds a character outside printable ASCII")]
    BadCharacter,
}

/// Checks an id that becomes part of a key: 1 to [`MAX_ID_LEN`] bytes of printable ASCII
/// (`!` to `~`; no spaces, no control characters, nothing that needs Unicode normalisation).
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

pub fn linkbest_push_pk(push_id: &str) -> String {
    format!("{LINKBEST_PUSH_PREFIX}{push_id}")
}

pub fn linkbest_order_pk(order_sn: &str) -> String {
    format!("{LINKBEST_ORDER_PREFIX}{order_sn}")
}

pub fn igv_callback_pk(request_id: &str) -> String {
    format!("{IGV_CALLBACK_PREFIX}{request_id}")
}

pub fn igv_order_pk(order_id: &str) -> String {
    format!("{IGV_ORDER_PREFIX}{order_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_prefix_is_a_prefix_of_another() {
        for a in ALL_PREFIXES {
            for b in ALL_PREFIXES {
                if a != b {
                    assert!(!b.starts_with(a), "{a} is a prefix of {b}");
                }
            }
        }
    }

    #[test]
    fn ids_are_bounded_and_printable() {
        assert_eq!(validate_id(""), Err(IdError::Empty));
        assert_eq!(validate_id(&"9".repeat(129)), Err(IdError::TooLong));
        assert!(validate_id(&"9".repeat(128)).is_ok());
        assert_eq!(validate_id("a b"), Err(IdError::BadCharacter));
        assert_eq!(validate_id("a\nb"), Err(IdError::BadCharacter));
        assert_eq!(validate_id("ä"), Err(IdError::BadCharacter));
        assert!(validate_id("SO-1689644928115784#x").is_ok());
    }

    #[test]
    fn a_hostile_id_cannot_reach_another_types_key() {
        // An order number crafted to look like a push key still lands under the order prefix.
        let pk = linkbest_order_pk("PUSH#1");
        assert_ne!(pk, linkbest_push_pk("1"));
        assert!(pk.starts_with(LINKBEST_ORDER_PREFIX));
    }

    #[test]
    fn a_queue_spreads_over_its_keys_and_its_keys_are_told_apart() {
        let mut counts = [0u32; QUEUE_SHARDS as usize];
        for n in 0..32_000u32 {
            let key = queue_key(
                IGV_AWAITING_DELIVERY_QUEUE,
                &igv_order_pk(&format!("1689{n:012}")),
            );
            assert!(in_queue(&key, IGV_AWAITING_DELIVERY_QUEUE), "{key}");
            assert!(!in_queue(&key, IGV_AWAITING_DELIVERY_HELD_QUEUE), "{key}");
            let shard: usize = key.rsplit('#').next().unwrap().parse().unwrap();
            counts[shard] += 1;
        }
        let share = 32_000 / QUEUE_SHARDS;
        assert!(
            counts.iter().all(|&c| c > share * 8 / 10 && c < share * 12 / 10),
            "{counts:?}"
        );
        let keys = queue_keys(LINKBEST_FOUND_ONLY_BY_POLL_QUEUE);
        assert_eq!(keys.len(), QUEUE_SHARDS as usize + 1);
        assert!(
            keys.iter()
                .all(|k| in_queue(k, LINKBEST_FOUND_ONLY_BY_POLL_QUEUE))
        );
        assert!(!in_queue(
            IGV_AWAITING_DELIVERY_HELD_QUEUE,
            IGV_AWAITING_DELIVERY_QUEUE
        ));
        assert!(!in_queue("IGV#AWAITING_DELIVERY#1", IGV_AWAITING_DELIVERY_QUEUE));
        assert!(!in_queue(
            LINKBEST_STATUS_FOUND_ONLY_BY_POLL_QUEUE,
            LINKBEST_FOUND_ONLY_BY_POLL_QUEUE
        ));
    }

    #[test]
    fn a_day_of_the_changes_index_spreads_evenly_over_its_keys() {
        // A festival's orders of one day: no key takes much more than its share.
        let mut counts = [0u32; CHANGES_DAY_SHARDS as usize];
        let keys = changed_day_keys("2026-11-11");
        for n in 0..160_000 {
            let key = changed_day_key("2026-11-11", &linkbest_order_pk(&format!("SO20261111{n:08}")));
            let shard = keys
                .iter()
                .position(|k| *k == key)
                .expect("one of the day's keys");
            counts[shard] += 1;
        }
        let share = 160_000 / CHANGES_DAY_SHARDS;
        assert!(
            counts.iter().all(|c| *c < share * 11 / 10),
            "{counts:?} (a share is {share})"
        );
        // An order's key is stable (items written earlier stay where replay looks).
        assert_eq!(
            changed_day_key("2026-11-11", "LB#ORDER#SO1"),
            changed_day_key("2026-11-11", "LB#ORDER#SO1")
        );
        assert_eq!(keys.len(), CHANGES_DAY_SHARDS as usize + 1);
        assert_eq!(
            keys.last().unwrap(),
            "2026-11-11",
            "the day alone, as before sharding"
        );
    }
}
