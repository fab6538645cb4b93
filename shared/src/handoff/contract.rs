//! The event contract (schema version 1; JSON Schema in `schemas/order-event.v1.json`, the
//! README's "Hand-off"). One EventBridge event per committed version of an order view:
//! `Source` `partner-ingest.<partner>`, `DetailType` the most specific of the [`Change`]s it
//! carries, `Detail` an [`OrderEvent`]. Its `event_id` is derived from the partner, the view's key
//! and the view's version, so a re-delivered or replayed event carries the same id.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::digest;

/// The `schema_version` of every event this code writes.
pub const SCHEMA_VERSION: u32 = 1;
/// `Source` of an event: this prefix and the partner's name.
pub const SOURCE_PREFIX: &str = "partner-ingest.";

/// What one change of an order view told. One event may carry several (an iGV order first seen
/// with status 1 is seen and awaiting delivery); its `DetailType` is the first of them in this
/// order, and `detail.changes` lists all, so a rule can match either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// iGV: the order is paid and awaits delivery (status 1 entered the fulfilment queue).
    AwaitingDelivery,
    /// Linkbest: the order list brought an order no push ever stored (the pushes lost it).
    FoundOnlyByPoll,
    /// Linkbest: a settlement change (price or commission adjustment) of the order.
    SettlementChanged,
    /// The order's status moved.
    StatusChanged,
    /// The first version of the order's view.
    Seen,
    /// Any other change of the view (amounts, program, …).
    Updated,
}

impl Change {
    /// The event's `DetailType` when this is its most specific change.
    pub fn detail_type(self) -> &'static str {
        match self {
            Change::AwaitingDelivery => "Order Awaiting Delivery",
            Change::FoundOnlyByPoll => "Order Found Only By Poll",
            Change::SettlementChanged => "Order Settlement Changed",
            Change::StatusChanged => "Order Status Changed",
            Change::Seen => "Order Seen",
            Change::Updated => "Order Updated",
        }
    }

    /// Every `DetailType` an event can have.
    pub const ALL: [Change; 6] = [
        Change::AwaitingDelivery,
        Change::FoundOnlyByPoll,
        Change::SettlementChanged,
        Change::StatusChanged,
        Change::Seen,
        Change::Updated,
    ];
}

/// Which channel brought the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Push,
    Callback,
    OrderList,
    Settlement,
}

/// The table key that fetches everything known about the order (`Query` on `pk`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableKey {
    pub pk: String,
    pub sk: String,
}

/// The `Detail` of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEvent {
    pub schema_version: u32,
    /// Stable: the same view version always has the same id (drop doubles by it).
    pub event_id: String,
    /// `linkbest` or `igv`.
    pub partner: &'static str,
    /// The order's ids exactly as text (`order_sn`; iGV `order_id`, `order_num`).
    pub order: BTreeMap<&'static str, String>,
    /// What the change told, most specific first (at least one).
    pub changes: Vec<Change>,
    /// The status in the partner's words, and the one before, when known.
    pub status: Option<String>,
    pub previous_status: Option<String>,
    /// Amounts as exact decimal strings, by the partner's field (`orders_price`, …).
    pub amounts: BTreeMap<&'static str, String>,
    pub currency: Option<String>,
    pub channel: Channel,
    /// The view's version: apply events of one order forward only by it (text comparison).
    pub view_version: String,
    /// When the partner said it happened (RFC 3339, or the partner's own text where it gave no
    /// time zone, e.g. Linkbest's `ModifyAt`), and when it was stored here (RFC 3339).
    pub occurred_at: Option<String>,
    pub stored_at: Option<String>,
    pub table_key: TableKey,
    /// Every field that came from a body no signature covers (iGV's body; Linkbest's push `Data`),
    /// and every amount left out for not being an exact decimal: hints, never authoritative (ask
    /// the partner's order API before acting on them).
    pub hints: Vec<String>,
}

/// Whether `amount` is an exact decimal as the schema wants it (`-?digits[.digits]`).
pub fn is_exact_decimal(amount: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = amount.strip_prefix('-').unwrap_or(amount);
    match unsigned.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(unsigned),
    }
}

impl OrderEvent {
    /// Adds the amount `field` = `amount` when it is an exact decimal; else leaves it out and says
    /// so in `hints` (an event never fails the schema for a partner's malformed amount).
    pub fn add_amount(&mut self, field: &'static str, amount: &str) {
        if is_exact_decimal(amount) {
            self.amounts.insert(field, amount.to_owned());
        } else {
            self.hints
                .push(format!("amounts.{field}: not an exact decimal, left out"));
        }
    }

    /// An event of `partner` for the view at `table_key`, version `view_version`, with its id.
    pub fn new(partner: &'static str, table_key: TableKey, view_version: &str, channel: Channel) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            event_id: event_id(partner, &table_key, view_version),
            partner,
            order: BTreeMap::new(),
            changes: Vec::new(),
            status: None,
            previous_status: None,
            amounts: BTreeMap::new(),
            currency: None,
            channel,
            view_version: view_version.to_owned(),
            occurred_at: None,
            stored_at: None,
            table_key,
            hints: Vec::new(),
        }
    }

    /// `Source` of the event.
    pub fn source(&self) -> String {
        format!("{SOURCE_PREFIX}{}", self.partner)
    }

    /// `DetailType`: the most specific change.
    pub fn detail_type(&self) -> &'static str {
        self.changes
            .iter()
            .min()
            .copied()
            .unwrap_or(Change::Updated)
            .detail_type()
    }
}

/// The stable id of a view version: 32 hex digits of a digest of the partner, the view's key
/// and its version.
pub fn event_id(partner: &str, key: &TableKey, view_version: &str) -> String {
    digest(&[partner, &key.pk, &key.sk, view_version])[..32].to_owned()
}

/// Unix seconds (or milliseconds, with `millis`) as RFC 3339, when the text is a number.
pub fn rfc3339_from_epoch(text: &str, millis: bool) -> Option<String> {
    let number: i128 = text.parse().ok()?;
    let nanos = if millis {
        number * 1_000_000
    } else {
        number * 1_000_000_000
    };
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    at.format(&time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimals_are_what_the_schema_accepts() {
        for ok in ["0", "12", "12.90", "-9.9000", "129.90"] {
            assert!(is_exact_decimal(ok), "{ok}");
        }
        for bad in ["", "-", "12.", ".5", "12,90", "1e3", "+1", "NaN", "１２"] {
            assert!(!is_exact_decimal(bad), "{bad}");
        }
    }

    fn key() -> TableKey {
        TableKey {
            pk: "LB#ORDER#SO1".into(),
            sk: "ORDER".into(),
        }
    }

    #[test]
    fn ids_are_stable_per_view_version_and_differ_otherwise() {
        let a = event_id("linkbest", &key(), "v1");
        assert_eq!(a, event_id("linkbest", &key(), "v1"), "a replay has the same id");
        assert_ne!(a, event_id("linkbest", &key(), "v2"));
        assert_ne!(a, event_id("igv", &key(), "v1"));
        assert_eq!(a.len(), 32);
    }

    #[test]
    fn the_detail_type_is_the_most_specific_change() {
        let mut e = OrderEvent::new("igv", key(), "v", Channel::Callback);
        e.changes = vec![Change::Seen, Change::AwaitingDelivery, Change::StatusChanged];
        assert_eq!(e.detail_type(), "Order Awaiting Delivery");
        e.changes = vec![Change::Updated];
        assert_eq!(e.detail_type(), "Order Updated");
        assert_eq!(e.source(), "partner-ingest.igv");
    }

    #[test]
    fn epochs_become_rfc3339() {
        assert_eq!(
            rfc3339_from_epoch("1795440539", false).as_deref(),
            Some("2026-11-23T13:28:59Z")
        );
        assert_eq!(
            rfc3339_from_epoch("1734850099000", true).as_deref(),
            Some("2024-12-22T06:48:19Z")
        );
        assert_eq!(rfc3339_from_epoch("soon", false), None);
    }
}
