//! The `orders` feed: `orders.query.get` with `OrderField=UpdateTime`, every order that changed in
//! a window (`linkbest-order-list.md`). It is how orders that Order Push 2.0 gave up on (after
//! ~45 minutes of retries) are found again.
//!
//! Each listed order is kept as received (every field as exact text, the whole row raw) under its
//! order's partition, sort key `LIST#<digest of the row>`, and moves the order view forward by the
//! rule of [`super::view`]. What a page costs is what is new in it: one `BatchGetItem` per 100
//! rows reads the views' last listed digests, a row identical to its view's last listed row is not
//! written again, and a new row is one `TransactWriteItems` (record + view). The read only skips
//! work: what a write may do is decided by the write's own condition.
//!
//! **Missed pushes.** A row for an order that neither a push nor an earlier listing ever stored is
//! counted once (`OrdersFoundOnlyByPoll`), logged with its `OrderSn`, and its record carries the
//! sparse `queue` index keys of `LB#FOUND_ONLY_BY_POLL` (by `listed_at`), so the orders found only
//! by poll in a time range are one query. A row whose `Status` differs from what the pushes and
//! earlier listings told (`push_status`, `list_status`) and is newer than the newest push is
//! counted `StatusFoundOnlyByPoll` the same way (queue `LB#STATUS_FOUND_ONLY_BY_POLL`). The
//! feed's default safety lag is the push horizon, so a listed order's pushes have all been tried
//! by the time it is read.

use std::collections::BTreeMap;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::value::RawValue;
use time::OffsetDateTime;

use super::api::{MAX_ROW_BYTES, ORDERS_SERVICE, text};
use super::client::Service;
use super::feed::{FeedDecl, Pages, Rows};
use super::view::{
    LIST_DIGEST, LIST_STATUS, ListedState, PUSH_STATUS, PUSH_VERSION, STATE_VERSION, list_update,
    list_version,
};
use crate::feed::{BoxFuture, CheckpointKey, PageCounts, PageError, PageRequest, Paging};
use crate::json::RawObject;
use crate::keys::{
    LINKBEST_FOUND_ONLY_BY_POLL_QUEUE, LINKBEST_STATUS_FOUND_ONLY_BY_POLL_QUEUE, LINKBEST_SYNC_PK,
    LINKBEST_UNLINKED_PK, LIST_SK_PREFIX, ORDER_SK, ORDERS_CHECKPOINT_SK, QUEUE_PK, QUEUE_SK,
    linkbest_order_pk, queue_key, validate_id,
};
use crate::store::batch::{CONCURRENCY, Key};
use crate::store::{ITEM_TYPE, Item, RecordWrite, Store, StoreError, ViewWrite, digest, get_s, s, timestamp};

/// `item_type` of a listed order.
pub const LISTED_ITEM_TYPE: &str = "linkbest_listed_order";
/// `item_type` of a listed row that names no usable order (under `LB#UNLINKED`).
pub const UNLINKED_ITEM_TYPE: &str = "linkbest_unlinked_row";

/// The feed's declaration.
pub const ORDERS: FeedDecl = FeedDecl {
    name: "orders",
    service: Service {
        name: ORDERS_SERVICE,
        params: &[("OrderField", "UpdateTime")],
    },
    // An order updated moves to a later window: offset pages could skip a row.
    paging: Paging::SplitWhenFull,
    checkpoint: CheckpointKey {
        pk: LINKBEST_SYNC_PK,
        sk: ORDERS_CHECKPOINT_SK,
    },
};

/// The order fields of a row: (Linkbest name, attribute). `OrderSn` is read separately (it is the
/// key) and `Id` is kept as `list_id`.
const FIELDS: &[(&str, &str)] = &[
    ("Id", "list_id"),
    ("ProgramId", "program_id"),
    ("ProgramName", "program_name"),
    ("WebsiteId", "website_id"),
    ("LinkId", "link_id"),
    ("SubId", "sub_id"),
    ("ParentOrderSn", "parent_order_sn"),
    ("OrderTime", "order_time"),
    ("OrdersPrice", "orders_price"),
    ("SiterCommission", "siter_commission"),
    ("Currency", "currency"),
    ("Status", "status"),
];

/// One row of the order list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOrder {
    /// `OrderSn`, a valid key id.
    pub order_sn: String,
    /// The other fields present, as (attribute, exact text), in [`FIELDS`] order.
    pub fields: Vec<(&'static str, String)>,
    /// The row's JSON exactly as received.
    pub raw: String,
    /// A digest of `raw`: the same row read again has the same digest.
    pub digest: String,
}

impl ListedOrder {
    pub fn field(&self, attribute: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(a, _)| *a == attribute)
            .map(|(_, v)| v.as_str())
    }
}

/// A row of the order list that names no usable order: kept as received under `LB#UNLINKED`
/// (sort key `LIST#<digest>`), counted (`RowsUnlinked`) and alarmed, never blocking its feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlinkedRow {
    pub raw: String,
    pub digest: String,
    pub reason: String,
}

/// One row of an order list page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRow {
    Listed(ListedOrder),
    Unlinked(UnlinkedRow),
}

impl OrderRow {
    /// Reads one row. A row that is not an object, carries none of the order fields (it is not
    /// an order row: a wrapper or another shape) or is over [`MAX_ROW_BYTES`] refuses its page;
    /// an order row without a usable `OrderSn` is kept unlinked.
    pub fn from_row(raw: &RawValue) -> Result<Self, String> {
        if raw.get().len() > MAX_ROW_BYTES {
            return Err(format!(
                "a row of {} bytes (at most {MAX_ROW_BYTES})",
                raw.get().len()
            ));
        }
        let object = RawObject::from_raw(raw).ok_or("a row is not a JSON object")?;
        let fields: Vec<(&'static str, String)> = FIELDS
            .iter()
            .filter_map(|(name, attribute)| text(&object, name, &[]).map(|v| (*attribute, v)))
            .collect();
        let digest = digest(&[raw.get()])[..32].to_owned();
        let order_sn = match object.field("OrderSn", &[]) {
            Ok(Some(_)) => text(&object, "OrderSn", &[])
                .ok_or_else(|| "its OrderSn is not a string or number".to_owned())
                .and_then(|sn| {
                    validate_id(&sn)
                        .map(|()| sn)
                        .map_err(|e| format!("its OrderSn {e}"))
                }),
            Ok(None) if fields.is_empty() => {
                return Err("a row carries none of the order fields".to_owned());
            }
            Ok(None) => Err("it has no OrderSn".to_owned()),
            Err(e) => Err(format!("its OrderSn is {e}")),
        };
        Ok(match order_sn {
            Ok(order_sn) => OrderRow::Listed(ListedOrder {
                order_sn,
                fields,
                digest,
                raw: raw.get().to_owned(),
            }),
            Err(reason) => OrderRow::Unlinked(UnlinkedRow {
                raw: raw.get().to_owned(),
                digest,
                reason,
            }),
        })
    }
}

/// Reads every row of an order list page (see [`OrderRow::from_row`] for what refuses a page).
pub fn parse_orders(rows: &[&RawValue]) -> Result<Vec<OrderRow>, String> {
    rows.iter().map(|row| OrderRow::from_row(row)).collect()
}

/// What the view said before a row was written (the pre-read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub state_version: Option<String>,
    pub push_version: Option<String>,
    pub push_status: Option<String>,
    pub list_digest: Option<String>,
    pub list_status: Option<String>,
}

impl Known {
    fn from_item(item: &Item) -> Self {
        let get = |name: &str| get_s(item, name).map(str::to_owned);
        Self {
            state_version: get(STATE_VERSION),
            push_version: get(PUSH_VERSION),
            push_status: get(PUSH_STATUS),
            list_digest: get(LIST_DIGEST),
            list_status: get(LIST_STATUS),
        }
    }
}

/// What a row tells that nothing else had told (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// Nothing new beyond the row itself.
    Nothing,
    /// No push and no earlier listing ever stored this order.
    OrderFoundOnlyByPoll,
    /// The order's status, newer than its newest push, that neither the pushes nor an earlier
    /// listing told.
    StatusFoundOnlyByPoll,
}

/// What `row`, listed at `listed_at`, tells beyond what the view `known` holds (`None`: no view).
pub fn finding(known: Option<&Known>, row: &ListedOrder, listed_at: OffsetDateTime) -> Finding {
    let Some(known) = known.filter(|k| k.push_version.is_some() || k.list_digest.is_some()) else {
        return Finding::OrderFoundOnlyByPoll;
    };
    let (Some(pushed), Some(push_status), Some(status)) =
        (&known.push_version, &known.push_status, row.field("status"))
    else {
        return Finding::Nothing;
    };
    let newer_than_pushes = list_version(listed_at.unix_timestamp(), &row.digest) > *pushed;
    if newer_than_pushes && status != push_status && Some(status) != known.list_status.as_deref() {
        Finding::StatusFoundOnlyByPoll
    } else {
        Finding::Nothing
    }
}

/// What a row is, against the view's last listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relisting {
    /// Not the view's last listed row: store it (and let the version rule decide the view).
    New,
    /// The view's last listed row read again (an overlap, a retry, a backfill): nothing new.
    ReadAgain,
    /// The view's last listed row, but a push moved the view since and the row was returned for
    /// a window that starts after that push: with `OrderField=UpdateTime` the order was updated
    /// after the push, back to what the list said before (Linkbest pushes only created,
    /// confirmed, settled and invalidated, so such a revert comes without a push). It is newer
    /// information: applied, and counted as a status found only by poll.
    Reverted,
    /// The view's last listed row, a push moved the view since, and the window started at or
    /// before that push (`pushed`, its `CreateTime`): the row alone cannot tell a revert after the
    /// push from the order as it was. The orders feed asks again for `[pushed + 1, window end)`:
    /// the order is there only if it was updated after the push (issue #28.8).
    Ambiguous { pushed: i64 },
}

/// The unix seconds a push version (`CreateTime` in 20 digits, `#`, id) starts with.
fn push_time(push_version: &str) -> Option<i64> {
    push_version.get(..20)?.parse().ok()
}

/// Whether `row`, returned for a window starting at `window_start`, tells the view `known`
/// anything (see [`Relisting`]).
pub fn relisting(known: Option<&Known>, row: &ListedOrder, window_start: i64) -> Relisting {
    let Some(known) = known else {
        return Relisting::New;
    };
    if known.list_digest.as_deref() != Some(row.digest.as_str()) {
        return Relisting::New;
    }
    let view_is_the_push = known.push_version.is_some() && known.state_version == known.push_version;
    match known.push_version.as_deref().and_then(push_time) {
        Some(pushed) if view_is_the_push && window_start > pushed => Relisting::Reverted,
        Some(pushed) if view_is_the_push => Relisting::Ambiguous { pushed },
        _ => Relisting::ReadAgain,
    }
}

/// The record of a listed order: every field as text, the raw row, when it was listed, and the
/// queue keys of its finding.
fn listed_item(row: &ListedOrder, listed_at: OffsetDateTime, finding: Finding) -> Item {
    let listed = timestamp(listed_at);
    let mut item = Item::from([
        ("pk".to_owned(), s(linkbest_order_pk(&row.order_sn))),
        ("sk".to_owned(), s(format!("{LIST_SK_PREFIX}{}", row.digest))),
        (ITEM_TYPE.to_owned(), s(LISTED_ITEM_TYPE)),
        ("order_sn".to_owned(), s(&row.order_sn)),
        ("raw".to_owned(), s(&row.raw)),
        ("listed_at".to_owned(), s(&listed)),
    ]);
    for (attribute, value) in &row.fields {
        item.insert((*attribute).to_owned(), s(value));
    }
    let queue = match finding {
        Finding::Nothing => None,
        Finding::OrderFoundOnlyByPoll => {
            Some((LINKBEST_FOUND_ONLY_BY_POLL_QUEUE, "order_found_only_by_poll"))
        }
        Finding::StatusFoundOnlyByPoll => Some((
            LINKBEST_STATUS_FOUND_ONLY_BY_POLL_QUEUE,
            "status_found_only_by_poll",
        )),
    };
    if let Some((queue, finding)) = queue {
        item.insert("finding".to_owned(), s(finding));
        item.insert(
            QUEUE_PK.to_owned(),
            s(queue_key(queue, &linkbest_order_pk(&row.order_sn))),
        );
        item.insert(QUEUE_SK.to_owned(), s(format!("{listed}#{}", row.order_sn)));
    }
    item
}

/// The order list feed's rows.
pub struct OrderRows;

impl Rows for OrderRows {
    type Row = OrderRow;

    fn parse(rows: &[&RawValue]) -> Result<Vec<OrderRow>, String> {
        parse_orders(rows)
    }

    /// Stores the page; then, for rows that alone cannot tell a revert after a push from the
    /// order as it was ([`Relisting::Ambiguous`]), asks again for the part of the window after
    /// each such push: a row found there unchanged was updated after the push (a revert) and is
    /// stored as such. Rare by nature: after a push the list normally shows a new row.
    fn store<'a>(
        store: &'a Store,
        rows: Vec<OrderRow>,
        fetched_at: OffsetDateTime,
        request: PageRequest,
        more: &'a Pages<'a, OrderRow>,
    ) -> BoxFuture<'a, Result<PageCounts, PageError>> {
        Box::pin(async move {
            let (mut counts, recheck) = store
                .store_listed_orders_checked(rows, fetched_at, request.stime)
                .await?;
            let mut by_push: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
            for (row, pushed) in recheck {
                // A push at the window's very end: whatever came after it is in the next window,
                // which starts after the push (and so tells a revert by itself).
                if pushed + 1 < request.etime {
                    by_push
                        .entry(pushed)
                        .or_default()
                        .push((row.order_sn, row.digest));
                }
            }
            for (pushed, wanted) in by_push {
                let after = more.window(pushed + 1, request.etime).await?;
                let rows: Vec<OrderRow> = after
                    .into_iter()
                    .filter(|row| match row {
                        OrderRow::Listed(l) => {
                            wanted.iter().any(|(sn, d)| *sn == l.order_sn && *d == l.digest)
                        }
                        OrderRow::Unlinked(_) => false,
                    })
                    .collect();
                tracing::info!(target: "sync", feed = "orders", pushed, etime = request.etime,
                    asked = wanted.len(), updated_after_the_push = rows.len(),
                    "asked again for the part of the window after a push");
                if !rows.is_empty() {
                    counts += store.store_listed_orders(rows, fetched_at, pushed + 1).await?;
                }
            }
            Ok(counts)
        })
    }
}

impl Store {
    /// Stores the rows of one order list page that are new (see the module doc). Rows of one
    /// order are written one after another, orders concurrently; every write is confirmed before
    /// this returns `Ok`.
    pub async fn store_listed_orders(
        &self,
        rows: Vec<OrderRow>,
        listed_at: OffsetDateTime,
        window_start: i64,
    ) -> Result<PageCounts, StoreError> {
        Ok(self
            .store_listed_orders_checked(rows, listed_at, window_start)
            .await?
            .0)
    }

    /// [`Store::store_listed_orders`], and the rows it could not decide on alone
    /// ([`Relisting::Ambiguous`]) with the push time each was ambiguous against.
    pub async fn store_listed_orders_checked(
        &self,
        rows: Vec<OrderRow>,
        listed_at: OffsetDateTime,
        window_start: i64,
    ) -> Result<(PageCounts, Vec<(ListedOrder, i64)>), StoreError> {
        let mut by_order: BTreeMap<String, Vec<ListedOrder>> = BTreeMap::new();
        let mut unlinked = Vec::new();
        for row in rows {
            match row {
                OrderRow::Listed(row) => by_order.entry(row.order_sn.clone()).or_default().push(row),
                OrderRow::Unlinked(row) => unlinked.push(row),
            }
        }
        let mut counts = self.store_unlinked_rows(unlinked, listed_at).await?;
        let keys: Vec<Key> = by_order
            .keys()
            .map(|sn| (linkbest_order_pk(sn), ORDER_SK.to_owned()))
            .collect();
        let attributes = [STATE_VERSION, PUSH_VERSION, PUSH_STATUS, LIST_DIGEST, LIST_STATUS];
        let (views, get_calls) = self.get_many(&keys, &attributes).await?;
        counts.dynamodb_calls += get_calls;
        let orders: Vec<(Option<Known>, Vec<ListedOrder>)> = by_order
            .into_iter()
            .map(|(sn, rows)| {
                let key = (linkbest_order_pk(&sn), ORDER_SK.to_owned());
                (views.get(&key).map(Known::from_item), rows)
            })
            .collect();
        let per_order: Vec<(PageCounts, Vec<(ListedOrder, i64)>)> = stream::iter(orders)
            .map(|(known, rows)| self.store_order_rows(known, rows, listed_at, window_start))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut ambiguous = Vec::new();
        for (c, a) in per_order {
            counts += c;
            ambiguous.extend(a);
        }
        Ok((counts, ambiguous))
    }

    /// Keeps each unlinked row once (a conditional put; a row read again writes nothing).
    async fn store_unlinked_rows(
        &self,
        rows: Vec<UnlinkedRow>,
        listed_at: OffsetDateTime,
    ) -> Result<PageCounts, StoreError> {
        let mut counts = PageCounts::default();
        for row in rows {
            let item = || {
                Item::from([
                    ("pk".to_owned(), s(LINKBEST_UNLINKED_PK)),
                    ("sk".to_owned(), s(format!("{LIST_SK_PREFIX}{}", row.digest))),
                    (ITEM_TYPE.to_owned(), s(UNLINKED_ITEM_TYPE)),
                    ("raw".to_owned(), s(&row.raw)),
                    ("unlinked_reason".to_owned(), s(&row.reason)),
                    ("listed_at".to_owned(), s(timestamp(listed_at))),
                ])
            };
            let written = self.create_once(item, &row.digest, None).await?;
            counts.dynamodb_calls += written.requests();
            if let RecordWrite::Created { .. } = written {
                counts.items_written += 1;
                counts.rows_unlinked += 1;
                tracing::warn!(target: "sync", feed = "orders", reason = %row.reason,
                    digest = %row.digest, "listed row names no usable order; kept under LB#UNLINKED");
            }
        }
        Ok(counts)
    }

    async fn store_order_rows(
        &self,
        mut known: Option<Known>,
        rows: Vec<ListedOrder>,
        listed_at: OffsetDateTime,
        window_start: i64,
    ) -> Result<(PageCounts, Vec<(ListedOrder, i64)>), StoreError> {
        let mut counts = PageCounts::default();
        let mut ambiguous = Vec::new();
        for row in rows {
            let finding = match relisting(known.as_ref(), &row, window_start) {
                Relisting::New => finding(known.as_ref(), &row, listed_at),
                Relisting::ReadAgain => continue, // nothing new
                Relisting::Ambiguous { pushed } => {
                    ambiguous.push((row, pushed));
                    continue;
                }
                Relisting::Reverted => Finding::StatusFoundOnlyByPoll,
            };
            let state = ListedState {
                order_sn: &row.order_sn,
                digest: &row.digest,
                listed_at,
                list_id: row.field("list_id"),
                status: row.field("status"),
                shared: row
                    .fields
                    .iter()
                    .filter(|(a, _)| *a != "list_id")
                    .map(|(a, v)| (*a, v.as_str()))
                    .collect(),
            };
            let view = list_update(&state);
            let written = self
                .create_once(
                    || listed_item(&row, listed_at, finding),
                    &row.digest,
                    Some(view.clone()),
                )
                .await?;
            counts.dynamodb_calls += written.requests();
            match written {
                RecordWrite::Created { view: outcome } => {
                    counts.items_written += 1;
                    counts.views_updated += u64::from(outcome == ViewWrite::Updated);
                    match finding {
                        Finding::OrderFoundOnlyByPoll => {
                            counts.found_only_by_poll += 1;
                            tracing::warn!(target: "sync", feed = "orders", order_sn = %row.order_sn,
                                listed_at = %timestamp(listed_at),
                                "order found only by poll: no push was ever stored for it");
                        }
                        Finding::StatusFoundOnlyByPoll => {
                            counts.status_found_only_by_poll += 1;
                            tracing::warn!(target: "sync", feed = "orders", order_sn = %row.order_sn,
                                status = row.field("status"),
                                push_status = known.as_ref().and_then(|k| k.push_status.as_deref()),
                                "status found only by poll: the pushes never told it");
                        }
                        Finding::Nothing => {}
                    }
                }
                // The row was listed before (the order went back to an earlier state): the record
                // is there, the view may still need to move to it.
                RecordWrite::Duplicate { .. } => {
                    counts.dynamodb_calls += 1;
                    if self.update_forward(&view).await? == ViewWrite::Updated {
                        counts.views_updated += 1;
                        if finding == Finding::StatusFoundOnlyByPoll {
                            counts.status_found_only_by_poll += 1;
                            tracing::warn!(target: "sync", feed = "orders", order_sn = %row.order_sn,
                                status = row.field("status"),
                                push_status = known.as_ref().and_then(|k| k.push_status.as_deref()),
                                window_start,
                                "status reverted without a push: the list's row is again the one \
                                 listed before, updated after the newest push");
                        }
                    }
                }
            }
            // The next row of the same order compares with this one.
            let known = known.get_or_insert_with(Known::default);
            known.list_digest = Some(row.digest.clone());
            known.list_status = row
                .field("status")
                .map(str::to_owned)
                .or(known.list_status.take());
        }
        Ok((counts, ambiguous))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linkbest::api::parse_envelope;

    fn rows(body: &str) -> Result<Vec<ListedOrder>, String> {
        let envelope = parse_envelope(body).map_err(|e| e.to_string())?;
        envelope
            .rows
            .iter()
            .map(|row| match OrderRow::from_row(row)? {
                OrderRow::Listed(order) => Ok(order),
                OrderRow::Unlinked(row) => Err(row.reason),
            })
            .collect()
    }

    fn page(body: &str) -> Result<Vec<OrderRow>, String> {
        parse_orders(&parse_envelope(body).map_err(|e| e.to_string())?.rows)
    }

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn rows_as_object_or_list_every_field_optional_amounts_exact() {
        let one = rows(r#"{"Status":0,"Data":{"OrderSn":"SO1","OrdersPrice":12.50,"SiterCommission":"0.63","Status":"1"}}"#)
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(
            one[0].field("orders_price"),
            Some("12.50"),
            "money never through f64"
        );
        assert_eq!(one[0].field("siter_commission"), Some("0.63"));
        assert_eq!(one[0].field("status"), Some("1"));
        assert_eq!(one[0].field("currency"), None);
        let list = rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"orderSn":12345678901234567890,"Id":7,"Extra":{"x":1}}]}"#)
            .unwrap();
        assert_eq!(list[1].order_sn, "12345678901234567890", "ids keep every digit");
        assert_eq!(list[1].field("list_id"), Some("7"));
        assert!(
            list[1].raw.contains("Extra"),
            "the raw row keeps fields nobody reads"
        );
        let odd =
            rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1","Status":{"a":1},"Currency":["USD"]}]}"#).unwrap();
        assert_eq!(odd[0].field("status"), None, "a non-scalar field is left out");
        assert_eq!(rows(r#"{"Status":0,"Data":null}"#).unwrap(), vec![]);
    }

    #[test]
    fn a_row_without_a_usable_order_is_kept_unlinked_not_refusing_its_page() {
        for odd in [
            r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"Id":1}]}"#,
            r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"OrderSn":"bad sn","Status":"1"}]}"#,
            r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"OrderSn":""}]}"#,
            r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"OrderSn":{"a":1}}]}"#,
            r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"OrderSn":"A","orderSn":"B"}]}"#,
        ] {
            let read = page(odd).unwrap_or_else(|e| panic!("{odd}: {e}"));
            assert!(matches!(read[0], OrderRow::Listed(_)), "{odd}");
            assert!(matches!(read[1], OrderRow::Unlinked(_)), "{odd}");
        }
        // Not an order row at all: refused (a wrapper or another shape must not pass for a row).
        for bad in [
            r#"{"Status":0,"Data":{"Rows":[{"OrderSn":"A"}],"Count":1}}"#,
            r#"{"Status":0,"Data":[{"OrderSn":"SO1"},{"Unknown":1}]}"#,
        ] {
            assert!(page(bad).is_err(), "{bad}");
        }
        let huge = format!(
            r#"{{"Status":0,"Data":[{{"OrderSn":"SO1","ProgramName":"{}"}}]}}"#,
            "x".repeat(MAX_ROW_BYTES)
        );
        assert!(page(&huge).is_err());
    }

    #[test]
    fn the_same_row_has_the_same_digest() {
        let a = rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1","Status":"0"}]}"#).unwrap();
        let b = rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1","Status":"0"}]}"#).unwrap();
        let c = rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1","Status":"1"}]}"#).unwrap();
        assert_eq!(a[0].digest, b[0].digest);
        assert_ne!(a[0].digest, c[0].digest);
    }

    #[test]
    fn a_row_listed_again_is_news_only_when_updated_after_the_push_that_moved_the_view() {
        let row = &rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1","Status":"0"}]}"#).unwrap()[0];
        let pushed_at = 1_800_000_000u64;
        let push = crate::linkbest::view::push_version(pushed_at, "9");
        let listed_before = list_version(1_799_999_000, &row.digest);
        let view = |state: &str| Known {
            state_version: Some(state.to_owned()),
            push_version: Some(push.clone()),
            push_status: Some("1".into()),
            list_digest: Some(row.digest.clone()),
            list_status: Some("0".into()),
        };
        let after = pushed_at as i64 + 1;
        assert_eq!(relisting(None, row, after), Relisting::New);
        assert_eq!(
            relisting(Some(&view(&push)), row, after),
            Relisting::Reverted,
            "the push moved the view, the list says the old row again, updated after the push"
        );
        assert_eq!(
            relisting(Some(&view(&push)), row, pushed_at as i64),
            Relisting::Ambiguous {
                pushed: pushed_at as i64
            },
            "a window starting at or before the push cannot tell alone: the feed asks again for \
             the part after the push (#28.8)"
        );
        assert_eq!(
            relisting(Some(&view(&listed_before)), row, after),
            Relisting::ReadAgain,
            "the view already holds this listing"
        );
        let other = Known {
            list_digest: Some("other".into()),
            ..view(&push)
        };
        assert_eq!(relisting(Some(&other), row, after), Relisting::New);
    }

    #[test]
    fn findings() {
        let row = &rows(r#"{"Status":0,"Data":[{"OrderSn":"SO1","Status":"1"}]}"#).unwrap()[0];
        let listed = at(1_800_000_000);
        assert_eq!(finding(None, row, listed), Finding::OrderFoundOnlyByPoll);
        assert_eq!(
            finding(Some(&Known::default()), row, listed),
            Finding::OrderFoundOnlyByPoll
        );
        let pushed = |status: Option<&str>, at: u64| Known {
            push_version: Some(crate::linkbest::view::push_version(at, "9")),
            push_status: status.map(Into::into),
            ..Known::default()
        };
        assert_eq!(
            finding(Some(&pushed(Some("1"), 1_799_999_000)), row, listed),
            Finding::Nothing
        );
        assert_eq!(
            finding(Some(&pushed(Some("0"), 1_799_999_000)), row, listed),
            Finding::StatusFoundOnlyByPoll
        );
        assert_eq!(
            finding(Some(&pushed(Some("0"), 1_800_000_100)), row, listed),
            Finding::Nothing,
            "a push newer than the listing told the newest status"
        );
        assert_eq!(
            finding(Some(&pushed(None, 1_799_999_000)), row, listed),
            Finding::Nothing,
            "pushes that carry no status told nothing to compare with"
        );
        let listed_before = Known {
            list_digest: Some("other".into()),
            list_status: Some("1".into()),
            ..pushed(Some("0"), 1_799_999_000)
        };
        assert_eq!(
            finding(Some(&listed_before), row, listed),
            Finding::Nothing,
            "counted once"
        );
    }
}
