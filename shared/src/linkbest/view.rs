//! The Linkbest order view (`LB#ORDER#<OrderSn>` / `ORDER`): what the pushes and the order list
//! say about one order, the newest information winning whichever channel brought it.
//!
//! **The version rule.** Every update of the view carries a version and is applied only if it is
//! greater than the view's `state_version` (the condition of every write; see
//! [`crate::store::ForwardUpdate`]). Versions are text that sorts by time first:
//! - a push: `CreateTime` (20 digits) `#` PushId (numeric ids zero-padded, others after them):
//!   the moment Linkbest created the event;
//! - a list row: the moment it was listed (our clock when Linkbest answered, 20 digits) `#!`
//!   the row's digest. The order list answers with the order's state at that moment, so it is
//!   newer than every push created before it and older than every push created after it. `!`
//!   sorts before any digit or `~`: in the very same second a push wins.
//!
//! So a late push (retried for up to 45 minutes) never overwrites what a later listing said, and a
//! listing never overwrites a push created after it. Re-reading a row (overlap, backfill, retry)
//! changes nothing: a row identical to the view's last listed row (`list_digest`) is not written
//! again. The push part (`push_version`, `last_push_id`, …, `push_status`) and the list part
//! (`list_version`, `list_digest`, `listed_at`, `list_id`, `list_status`) record each channel's
//! newest winning update; the shared fields (`status`, `orders_price`, `siter_commission`,
//! `currency`, `program_id`, …) hold the winner's values.

use time::OffsetDateTime;

use super::push::{OrderFields, OrderPush};
use crate::keys::{ORDER_SK, linkbest_order_pk};
use crate::store::{ForwardUpdate, ITEM_TYPE, UpdateExpression, n, s, timestamp};

/// `item_type` of an order view.
pub const ORDER_ITEM_TYPE: &str = "linkbest_order";
/// The version every update of the view is compared with.
pub const STATE_VERSION: &str = "state_version";
/// The version of the newest push that updated the view.
pub const PUSH_VERSION: &str = "push_version";
/// The status the newest such push carried (what the pushes told us).
pub const PUSH_STATUS: &str = "push_status";
/// The version and digest of the newest list row that updated the view.
pub const LIST_VERSION: &str = "list_version";
pub const LIST_DIGEST: &str = "list_digest";
/// The status that list row carried.
pub const LIST_STATUS: &str = "list_status";

/// The version of a push (see the module doc).
pub fn push_version(create_time: u64, push_id: &str) -> String {
    crate::store::version(create_time, push_id)
}

/// The version of a list row listed at `listed_at` (unix seconds) with `digest`.
pub fn list_version(listed_at: i64, digest: &str) -> String {
    format!("{:020}#!{digest}", listed_at.max(0))
}

/// The rule every view update is applied under: only a greater version moves the view.
pub fn moves_forward(current: Option<&str>, candidate: &str) -> bool {
    current.is_none_or(|current| current < candidate)
}

/// The view update for a push that names an order.
pub(crate) fn push_update(
    push: &OrderPush,
    order: &OrderFields,
    received_at: OffsetDateTime,
) -> ForwardUpdate {
    let version = push.version();
    let mut fields = vec![
        (ITEM_TYPE, s(ORDER_ITEM_TYPE)),
        ("order_sn", s(&order.order_sn)),
        (PUSH_VERSION, s(&version)),
        ("last_push_id", s(&push.push_id)),
        ("last_event_type", s(&push.event_type)),
        ("last_create_time", n(push.create_time_secs)),
        ("push_updated_at", s(timestamp(received_at))),
    ];
    if let Some((_, status)) = order.details.iter().find(|(attribute, _)| *attribute == "status") {
        fields.push((PUSH_STATUS, s(status)));
    }
    fields.extend(
        order
            .details
            .iter()
            .map(|(attribute, value)| (*attribute, s(value))),
    );
    ForwardUpdate {
        pk: linkbest_order_pk(&order.order_sn),
        sk: ORDER_SK,
        update: UpdateExpression::new(fields, &[]),
        version_attribute: STATE_VERSION,
        version,
        status_attribute: Some("status"),
    }
}

/// What a list row brings to the view.
pub(crate) struct ListedState<'a> {
    pub order_sn: &'a str,
    pub digest: &'a str,
    pub listed_at: OffsetDateTime,
    pub list_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// The shared fields the row carries, as (attribute, exact text).
    pub shared: Vec<(&'static str, &'a str)>,
}

/// The view update for a list row.
pub(crate) fn list_update(row: &ListedState<'_>) -> ForwardUpdate {
    let version = list_version(row.listed_at.unix_timestamp(), row.digest);
    let mut fields = vec![
        (ITEM_TYPE, s(ORDER_ITEM_TYPE)),
        ("order_sn", s(row.order_sn)),
        (LIST_VERSION, s(&version)),
        (LIST_DIGEST, s(row.digest)),
        ("listed_at", s(timestamp(row.listed_at))),
    ];
    if let Some(id) = row.list_id {
        fields.push(("list_id", s(id)));
    }
    if let Some(status) = row.status {
        fields.push((LIST_STATUS, s(status)));
    }
    fields.extend(
        row.shared
            .iter()
            .map(|(attribute, value)| (*attribute, s(*value))),
    );
    ForwardUpdate {
        pk: linkbest_order_pk(row.order_sn),
        sk: ORDER_SK,
        update: UpdateExpression::new(fields, &[]),
        version_attribute: STATE_VERSION,
        version,
        status_attribute: Some("status"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions_sort_by_time_then_push_over_list() {
        let push = push_version(1_800_000_000, "17");
        let list_same_second = list_version(1_800_000_000, "ab12");
        let list_next_second = list_version(1_800_000_001, "00");
        assert!(list_same_second < push, "a push wins its own second");
        assert!(push < list_next_second);
        assert!(push_version(1_800_000_000, "abc") > list_same_second);
        assert!(moves_forward(None, &push));
        assert!(
            !moves_forward(Some(&push), &push),
            "the same update twice is not applied twice"
        );
    }

    /// One update from either channel, at a time.
    #[derive(Debug, Clone)]
    enum Update {
        Push { at: u64, id: u64 },
        List { at: i64, digest: String },
    }

    impl Update {
        fn version(&self) -> String {
            match self {
                Update::Push { at, id } => push_version(*at, &id.to_string()),
                Update::List { at, digest } => list_version(*at, digest),
            }
        }
        /// How new the information is, by the model alone (never through `version()`): when it
        /// is from; within a second a push wins over a listing; pushes by PushId as a number,
        /// listings by digest.
        fn newness(&self) -> (u64, u8, u64, String) {
            match self {
                Update::Push { at, id } => (*at, 1, *id, String::new()),
                Update::List { at, digest } => (*at as u64, 0, 0, digest.clone()),
            }
        }
    }

    fn update() -> impl Strategy<Value = Update> {
        prop_oneof![
            (1_700_000_000u64..1_700_000_050, 1u64..1_000_000_000_000)
                .prop_map(|(at, id)| Update::Push { at, id }),
            (1_700_000_000i64..1_700_000_050, "[0-9a-f]{8}")
                .prop_map(|(at, digest)| Update::List { at, digest }),
        ]
    }

    proptest! {
        /// Any interleaving of pushes and list rows for one order, each delivered any number of
        /// times, ends on the newest one, as DynamoDB's condition applies them.
        #[test]
        fn any_interleaving_ends_on_the_newest(
            updates in prop::collection::vec(update(), 1..20),
            order in prop::collection::vec(0usize..1000, 1..60),
        ) {
            let mut state: Option<String> = None;
            let mut applied = Vec::new();
            for i in order.iter().map(|i| i % updates.len()).chain(0..updates.len()) {
                let candidate = updates[i].version();
                if moves_forward(state.as_deref(), &candidate) {
                    state = Some(candidate);
                    applied.push(i);
                }
            }
            let newest = updates.iter().max_by_key(|u| u.newness()).unwrap();
            prop_assert_eq!(state.unwrap(), newest.version());
            // Every applied update was newer than the one before it: never backwards.
            for pair in applied.windows(2) {
                prop_assert!(updates[pair[0]].version() < updates[pair[1]].version());
            }
        }
    }
}
