//! The `settlement` feed: `orders.settlement.get`, paged settlement changes (price and commission
//! adjustments), each kept as received under its order's partition.
//!
//! Storing a page costs what is new in it: the changes' keys are derived from their content, one
//! `BatchGetItem` per 100 tells which are stored already, and the rest go in `BatchWriteItem`s of
//! 25 (idempotent puts). The order's settlement state is not copied into the order view: it is the
//! newest change of the order's partition (`SETTLE#<ModifyAt>#…` sorts by `ModifyAt`), one query
//! away ([`Store::latest_settlement`]).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::api::{MAX_ROW_BYTES, SETTLEMENT_SERVICE, text};
use super::client::Service;
use super::feed::{FeedDecl, Pages, Rows};
use crate::feed::{BoxFuture, CheckpointKey, PageCounts, PageError, PageRequest, Paging};
use crate::json::RawObject;
use crate::keys::{
    CHANGED_AT, CHANGED_DAY, LINKBEST_SYNC_PK, LINKBEST_UNLINKED_PK, SETTLEMENT_CHECKPOINT_SK,
    SETTLEMENT_SK_PREFIX, changed_day_key, linkbest_order_pk, validate_id,
};
use crate::store::batch::Key;
use crate::store::{ITEM_TYPE, Item, Store, StoreError, changed_at, digest, get_s, s, timestamp};

/// `item_type` of a settlement change.
pub const CHANGE_ITEM_TYPE: &str = "linkbest_settlement_change";

/// The feed's declaration. Its checkpoint item is the one the settlement sync always used.
pub const SETTLEMENT: FeedDecl = FeedDecl {
    name: "settlement",
    service: Service {
        name: SETTLEMENT_SERVICE,
        params: &[],
    },
    // Changes are events: they only ever appear, at their ModifyAt.
    paging: Paging::Offset,
    checkpoint: CheckpointKey {
        pk: LINKBEST_SYNC_PK,
        sk: SETTLEMENT_CHECKPOINT_SK,
    },
};

/// One settlement change, every field exact text and optional (the document marks all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementChange {
    pub order_sn: Option<String>,
    pub order_time: Option<String>,
    pub sub_id: Option<String>,
    pub confirm_price_old: Option<String>,
    pub modify_price: Option<String>,
    pub confirm_price: Option<String>,
    pub confirm_siter_commission_old: Option<String>,
    pub modify_siter_commission: Option<String>,
    pub confirm_siter_commission: Option<String>,
    pub modify_at: Option<String>,
    pub program_id: Option<String>,
    pub program_name: Option<String>,
    pub charge_currency: Option<String>,
    /// The change's JSON exactly as received.
    pub raw: String,
}

impl SettlementChange {
    /// Reads one row (a JSON object; the caller checked that).
    pub fn from_row(raw: &RawValue) -> Option<Self> {
        let object = RawObject::from_raw(raw)?;
        Some(Self {
            order_sn: text(&object, "OrderSn", &[]),
            order_time: text(&object, "OrderTime", &[]),
            sub_id: text(&object, "SubId", &[]),
            confirm_price_old: text(&object, "ConfirmPriceOld", &[]),
            modify_price: text(&object, "ModifyPrice", &[]),
            confirm_price: text(&object, "ConfirmPrice", &[]),
            confirm_siter_commission_old: text(&object, "ConfirmSiterCommissionOld", &[]),
            modify_siter_commission: text(&object, "ModifySiterCommission", &[]),
            confirm_siter_commission: text(&object, "ConfirmSiterCommission", &[]),
            modify_at: text(&object, "ModifyAt", &[]),
            program_id: text(&object, "ProgramId", &[]),
            program_name: text(&object, "ProgramName", &[]),
            charge_currency: text(&object, "ChargeCurrency", &["Charge Currency"]),
            raw: raw.get().to_owned(),
        })
    }

    /// True when the row carries none of the document's fields.
    pub fn is_empty(&self) -> bool {
        [
            &self.order_sn,
            &self.order_time,
            &self.sub_id,
            &self.program_id,
            &self.program_name,
        ]
        .into_iter()
        .chain(self.identity_fields())
        .all(Option::is_none)
    }

    /// The fields that tell one change from another (everything but the order's descriptive
    /// fields), in a fixed order.
    pub fn identity_fields(&self) -> [&Option<String>; 8] {
        [
            &self.modify_at,
            &self.confirm_price_old,
            &self.modify_price,
            &self.confirm_price,
            &self.confirm_siter_commission_old,
            &self.modify_siter_commission,
            &self.confirm_siter_commission,
            &self.charge_currency,
        ]
    }
}

/// Reads every row of a settlement page. Every field may be missing, but not all of them; a row
/// that is not an object, carries none of the fields, or is longer than [`MAX_ROW_BYTES`],
/// refuses the page.
pub fn parse_changes(rows: &[&RawValue]) -> Result<Vec<SettlementChange>, String> {
    rows.iter()
        .map(|row| {
            if row.get().len() > MAX_ROW_BYTES {
                return Err(format!(
                    "a row of {} bytes (at most {MAX_ROW_BYTES})",
                    row.get().len()
                ));
            }
            let change =
                SettlementChange::from_row(row).ok_or_else(|| "a row is not a JSON object".to_owned())?;
            if change.is_empty() {
                // Not a change in any form the document describes (a wrapper, another shape):
                // stored, it would pass for one change and hide what it holds.
                return Err("a row carries none of the settlement fields".to_owned());
            }
            Ok(change)
        })
        .collect()
}

/// The stored form of one change: its key and item.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub pk: String,
    pub sk: String,
    pub item: Item,
}

/// A digest of the fields that tell one change of an order from another.
pub fn change_digest(change: &SettlementChange) -> String {
    let parts: Vec<String> = change
        .identity_fields()
        .iter()
        .map(|v| {
            v.as_deref()
                .map_or_else(|| "\u{0}".to_owned(), |v| format!("={v}"))
        })
        .collect();
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    digest(&refs)
}

/// The key of a change: under its order (`LB#ORDER#<OrderSn>`, sort key
/// `SETTLE#<ModifyAt>#<digest>`), so the same change read twice (overlap, retry) is the same item
/// and one query returns an order's view with its settlement history. A change without a usable
/// `OrderSn` is kept under `LB#UNLINKED`, keyed by a digest of its raw JSON.
pub fn change_record(change: &SettlementChange, fetched_at: OffsetDateTime) -> ChangeRecord {
    let order_sn = change.order_sn.as_deref().filter(|sn| validate_id(sn).is_ok());
    let modify_at = change
        .modify_at
        .as_deref()
        .filter(|at| !at.is_empty() && at.len() <= 64)
        .unwrap_or("-");
    let (pk, digest16) = match order_sn {
        Some(sn) => (linkbest_order_pk(sn), change_digest(change)[..32].to_owned()),
        None => (
            LINKBEST_UNLINKED_PK.to_owned(),
            digest(&[&change.raw])[..32].to_owned(),
        ),
    };
    let sk = format!("{SETTLEMENT_SK_PREFIX}{modify_at}#{digest16}");
    let mut item = Item::from([
        ("pk".to_owned(), s(&pk)),
        ("sk".to_owned(), s(&sk)),
        (ITEM_TYPE.to_owned(), s(CHANGE_ITEM_TYPE)),
        ("raw".to_owned(), s(&change.raw)),
        ("fetched_at".to_owned(), s(timestamp(fetched_at))),
    ]);
    let fields = [
        ("order_sn", &change.order_sn),
        ("order_time", &change.order_time),
        ("sub_id", &change.sub_id),
        ("confirm_price_old", &change.confirm_price_old),
        ("modify_price", &change.modify_price),
        ("confirm_price", &change.confirm_price),
        (
            "confirm_siter_commission_old",
            &change.confirm_siter_commission_old,
        ),
        ("modify_siter_commission", &change.modify_siter_commission),
        ("confirm_siter_commission", &change.confirm_siter_commission),
        ("modify_at", &change.modify_at),
        ("program_id", &change.program_id),
        ("program_name", &change.program_name),
        ("charge_currency", &change.charge_currency),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            item.insert(name.to_owned(), s(value));
        }
    }
    if order_sn.is_some() {
        // The trace of the run that read it, handed on with its event (issue #30.1).
        if let Some(header) = crate::trace::current_header() {
            item.insert(crate::trace::TRACE_HEADER.to_owned(), s(header));
        }
        // A change of an order is an event of the hand-off: in its replay index.
        let at = changed_at(fetched_at);
        item.insert(CHANGED_DAY.to_owned(), s(changed_day_key(&at[..10], &pk)));
        item.insert(CHANGED_AT.to_owned(), s(at));
    }
    ChangeRecord { pk, sk, item }
}

/// The settlement feed's rows.
pub struct SettlementRows;

impl Rows for SettlementRows {
    type Row = SettlementChange;

    fn parse(rows: &[&RawValue]) -> Result<Vec<SettlementChange>, String> {
        parse_changes(rows)
    }

    fn store<'a>(
        store: &'a Store,
        rows: Vec<SettlementChange>,
        fetched_at: OffsetDateTime,
        _request: PageRequest,
        _more: &'a Pages<'a, SettlementChange>,
    ) -> BoxFuture<'a, Result<PageCounts, PageError>> {
        Box::pin(async move { Ok(store.store_settlement_changes(&rows, fetched_at).await?) })
    }
}

impl Store {
    /// Stores the changes of one page that are not stored yet (a change read again, by an overlap,
    /// a retry or a backfill, is already there and costs no write; its first `fetched_at` stays).
    /// Every write is confirmed before this returns `Ok`.
    pub async fn store_settlement_changes(
        &self,
        changes: &[SettlementChange],
        fetched_at: OffsetDateTime,
    ) -> Result<PageCounts, StoreError> {
        let mut records: BTreeMap<Key, Item> = BTreeMap::new();
        for change in changes {
            let record = change_record(change, fetched_at);
            records.insert((record.pk, record.sk), record.item);
        }
        let keys: Vec<Key> = records.keys().cloned().collect();
        let (stored, get_calls) = self.get_many(&keys, &[]).await?;
        let new: Vec<Item> = records
            .into_iter()
            .filter(|(key, _)| !stored.contains_key(key))
            .map(|(_, item)| item)
            .collect();
        let items_written = new.len() as u64;
        let rows_unlinked = new
            .iter()
            .filter(|item| get_s(item, "pk") == Some(LINKBEST_UNLINKED_PK))
            .count() as u64;
        let put_calls = if new.is_empty() {
            0
        } else {
            self.put_many(new).await?
        };
        Ok(PageCounts {
            items_written,
            rows_unlinked,
            dynamodb_calls: get_calls + put_calls,
            ..PageCounts::default()
        })
    }

    /// The newest settlement change of an order (its settlement state), one query.
    pub async fn latest_settlement(&self, order_sn: &str) -> Result<Option<Item>, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(linkbest_order_pk(order_sn)))
            .expression_attribute_values(":prefix", AttributeValue::S(SETTLEMENT_SK_PREFIX.to_owned()))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", e))?;
        Ok(page.items().first().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(order_sn: Option<&str>, modify_at: Option<&str>, price: &str) -> SettlementChange {
        SettlementChange {
            order_sn: order_sn.map(Into::into),
            modify_at: modify_at.map(Into::into),
            confirm_price: Some(price.into()),
            raw: format!("{{\"p\":{price}}}"),
            ..Default::default()
        }
    }

    fn rows(body: &str) -> Result<Vec<SettlementChange>, String> {
        let envelope = super::super::api::parse_envelope(body).map_err(|e| e.to_string())?;
        parse_changes(&envelope.rows)
    }

    #[test]
    fn the_same_change_read_twice_has_the_same_key_and_different_changes_do_not() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let a = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1.00"), at);
        let again = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1.00"), at);
        let other = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "2.00"), at);
        assert_eq!((&a.pk, &a.sk), (&again.pk, &again.sk));
        assert_ne!(a.sk, other.sk);
        assert_eq!(a.pk, "LB#ORDER#SO1");
        assert!(a.sk.starts_with("SETTLE#2026-11-22 10:00:00#"));
    }

    #[test]
    fn changes_without_a_usable_order_are_kept_unlinked() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let r = change_record(&change(None, None, "1.00"), at);
        assert_eq!(r.pk, LINKBEST_UNLINKED_PK);
        assert!(r.sk.starts_with("SETTLE#-#"));
        let r = change_record(&change(Some("bad sn"), Some("x"), "1.00"), at);
        assert_eq!(r.pk, LINKBEST_UNLINKED_PK);
    }

    #[test]
    fn a_row_with_none_of_the_fields_refuses_the_page() {
        for bad in [
            r#"{"Status":0,"Data":{"Rows":[{"OrderSn":"A"}],"Count":1}}"#,
            r#"{"Status":0,"Data":[{"ModifyAt":"2026-11-22 10:00:00"},{"Unknown":1}]}"#,
            r#"{"Status":0,"Data":{}}"#,
        ] {
            assert!(rows(bad).is_err(), "{bad}");
        }
        assert_eq!(
            rows(r#"{"Status":0,"Data":{"ModifyPrice":"1.0000"}}"#)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            rows(r#"{"Status":0,"Data":{"List":[{"OrderSn":"A"},{"OrderSn":"B"}],"Total":2}}"#)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn newer_changes_sort_later_in_the_partition() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let older = change_record(&change(Some("SO1"), Some("2026-11-22 09:59:59"), "9"), at);
        let newer = change_record(&change(Some("SO1"), Some("2026-11-22 10:00:00"), "1"), at);
        assert!(older.sk < newer.sk);
    }

    #[test]
    fn pages_parse_with_every_field_exact() {
        let doc = r#"{"Status":0,"Message":"string","Data":{"OrderSn":"string","OrderTime":"string","SubId":"string","ConfirmPriceOld":null,"ModifyPrice":null,"ConfirmPrice":null,"ConfirmSiterCommissionOld":null,"ModifySiterCommission":"string","ConfirmSiterCommission":"string","ModifyAt":"string","ProgramId":"string","ProgramName":"string","ChargeCurrency":"string"}}"#;
        let changes = rows(doc).unwrap();
        let c = &changes[0];
        assert_eq!(c.confirm_price, None);
        assert_eq!(c.confirm_siter_commission.as_deref(), Some("string"));
        assert_eq!(c.charge_currency.as_deref(), Some("string"));
        let exact = rows(r#"{"Status":0,"Data":{"ConfirmPrice":1.1000,"Charge Currency":"USD"}}"#).unwrap();
        assert_eq!(
            exact[0].confirm_price.as_deref(),
            Some("1.1000"),
            "money never through f64"
        );
        assert_eq!(exact[0].charge_currency.as_deref(), Some("USD"));
        let list = rows(r#"{"Status":"0","Data":[{"OrderSn":"A"},{"orderSn":"B"}]}"#).unwrap();
        assert_eq!(
            list.iter()
                .map(|c| c.order_sn.clone().unwrap())
                .collect::<Vec<_>>(),
            ["A", "B"]
        );
    }
}
