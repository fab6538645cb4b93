//! Re-running what the feeds kept under `LB#UNLINKED` (issue #29.2): settlement changes
//! (`SETTLE#…`) and listed rows (`LIST#…`) that named no usable `OrderSn` when they were read.
//! Once the reader is fixed (or the partner's row was a reader's blind spot), `ops reprocess
//! unlinked` reads each kept raw row again with today's reader; a row that names an order now is
//! stored through its feed's own path (conditional, idempotent) and only then leaves
//! `LB#UNLINKED` (a conditional delete) — so running it twice, or beside the schedule, stores
//! nothing twice.

use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::keys::{LINKBEST_UNLINKED_PK, LIST_SK_PREFIX, SETTLEMENT_SK_PREFIX, linkbest_order_pk};
use crate::linkbest::orders::OrderRow;
use crate::linkbest::settlement::{SettlementChange, change_record};
use crate::refused::Rerun;
use crate::store::{Item, Store, StoreError, get_s, s};

/// The items kept under `LB#UNLINKED`, in sort-key order: all of them, or those whose sort key
/// starts with `sk_prefix` (`SETTLE#`, `LIST#`, or one item's whole key). One query.
pub async fn parked(store: &Store, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
    let mut query = store
        .client
        .query()
        .table_name(&store.table)
        .expression_attribute_values(":pk", s(LINKBEST_UNLINKED_PK))
        .consistent_read(true);
    // A key condition takes no empty string: no prefix is the whole partition.
    query = if sk_prefix.is_empty() {
        query.key_condition_expression("pk = :pk")
    } else {
        query
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":prefix", s(sk_prefix))
    };
    query
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| StoreError::sdk("Query", e))
}

fn at(item: &Item, name: &str) -> OffsetDateTime {
    get_s(item, name)
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .unwrap_or_else(OffsetDateTime::now_utc)
}

/// Re-runs one item of [`parked`].
pub async fn rerun(store: &Store, item: &Item, dry_run: bool) -> Rerun {
    let (Some(sk), Some(raw)) = (get_s(item, "sk"), get_s(item, "raw")) else {
        return Rerun::Unchanged("not a kept row (no sk or raw)".to_owned());
    };
    let Ok(raw) = RawValue::from_string(raw.to_owned()) else {
        return Rerun::Unchanged("the kept row is not JSON".to_owned());
    };
    if sk.starts_with(SETTLEMENT_SK_PREFIX) {
        let Some(change) = SettlementChange::from_row(&raw) else {
            return Rerun::Unchanged("the kept row is not a JSON object".to_owned());
        };
        let fetched_at = at(item, "fetched_at");
        let record = change_record(&change, fetched_at);
        if record.pk == LINKBEST_UNLINKED_PK {
            return Rerun::Unchanged("it still names no usable OrderSn".to_owned());
        }
        if dry_run {
            return match store.exists(&record.pk, &record.sk).await {
                Ok(stored_before) => Rerun::WouldAccept {
                    key: format!("{} {}", record.pk, record.sk),
                    stored_before,
                },
                Err(e) => Rerun::Failed(e.to_string()),
            };
        }
        let key = format!("{} {}", record.pk, record.sk);
        return match store.store_settlement_changes(&[change], fetched_at).await {
            Ok(_) => settle(store, sk, key).await,
            Err(e) => Rerun::Failed(e.to_string()),
        };
    }
    if sk.starts_with(LIST_SK_PREFIX) {
        let row = match OrderRow::from_row(&raw) {
            Ok(OrderRow::Listed(row)) => row,
            Ok(OrderRow::Unlinked(row)) => return Rerun::Unchanged(row.reason),
            Err(e) => return Rerun::Unchanged(e),
        };
        let key = linkbest_order_pk(&row.order_sn);
        if dry_run {
            return Rerun::WouldAccept {
                key: format!("{key} (listed row)"),
                stored_before: false,
            };
        }
        let listed_at = at(item, "listed_at");
        return match store
            .store_listed_orders(vec![OrderRow::Listed(row)], listed_at, listed_at.unix_timestamp())
            .await
        {
            Ok(_) => settle(store, sk, key).await,
            Err(e) => Rerun::Failed(e.to_string()),
        };
    }
    Rerun::Unchanged(format!("unknown kind of kept row {sk:?}"))
}

/// The row is stored under its order: out of `LB#UNLINKED` (conditional: another run may have
/// been first, which is fine).
async fn settle(store: &Store, sk: &str, key: String) -> Rerun {
    let result = store
        .client
        .delete_item()
        .table_name(&store.table)
        .key("pk", s(LINKBEST_UNLINKED_PK))
        .key("sk", s(sk))
        .condition_expression("attribute_exists(pk)")
        .send()
        .await;
    match result {
        Ok(_) => Rerun::Accepted {
            key,
            outcome: "stored",
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Rerun::AlreadyReprocessed("stored".to_owned())
        }
        Err(e) => Rerun::Failed(StoreError::sdk("DeleteItem", e).to_string()),
    }
}
