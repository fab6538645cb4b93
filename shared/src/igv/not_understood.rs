//! Re-running authentic callbacks whose body was not understood (issue #29.2).
//!
//! Such a callback is stored raw under its `X-Request-Id` in the `IGV#NOT_UNDERSTOOD` queue (see
//! [`crate::igv::store`]). Once the parser is fixed, `ops reprocess not-understood` reads the raw
//! body again; one that is understood now replaces its parked record with the record a live
//! delivery would have written, together with the forward-only order view, in one transaction
//! conditional on the record still being parked — so running it twice, or beside a live retry,
//! applies it once.

use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::igv::protocol::{CallbackHeaders, parse_body};
use crate::igv::store::NewCallback;
use crate::keys::{IGV_NOT_UNDERSTOOD_QUEUE, QUEUE_INDEX, igv_order_pk};
use crate::refused::Rerun;
use crate::store::{Item, RecordWrite, Store, StoreError, get_n, get_s, s};

/// The parked callbacks of the `IGV#NOT_UNDERSTOOD` queue, oldest first (`X-Timestamp`, unix
/// ms, in `[from_ms, to_ms]`); one query.
pub async fn parked(store: &Store, from_ms: u64, to_ms: u64) -> Result<Vec<Item>, StoreError> {
    store
        .client
        .query()
        .table_name(&store.table)
        .index_name(QUEUE_INDEX)
        .key_condition_expression("queue_pk = :q AND queue_sk BETWEEN :from AND :to")
        .expression_attribute_values(":q", s(IGV_NOT_UNDERSTOOD_QUEUE))
        .expression_attribute_values(":from", s(format!("{from_ms:020}")))
        .expression_attribute_values(":to", s(format!("{to_ms:020}~")))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| StoreError::sdk("Query", e))
}

/// Re-runs one parked callback (an item of [`parked`], or the record read by its key).
pub async fn rerun(store: &Store, item: &Item, dry_run: bool) -> Rerun {
    let Some(problem) = get_s(item, "not_understood") else {
        return Rerun::AlreadyReprocessed("understood".to_owned());
    };
    let Some(text) = item.get("raw_body").and_then(|v| v.as_s().ok()) else {
        return Rerun::Unchanged(format!("the body is not UTF-8 ({problem})"));
    };
    let callback = match parse_body(text) {
        Ok(callback) => callback,
        Err(e) => return Rerun::Unchanged(e.to_string()),
    };
    let view = igv_order_pk(&callback.order_id);
    if dry_run {
        return Rerun::WouldAccept {
            key: format!(
                "{view} (sellerOrderStatus {})",
                callback.seller_order_status.as_deref().unwrap_or("none")
            ),
            stored_before: false,
        };
    }
    let (Some(request_id), Some(timestamp_ms)) =
        (get_s(item, "request_id"), get_n::<u64>(item, "x_timestamp"))
    else {
        return Rerun::Unchanged("the parked record has no X-Request-Id or X-Timestamp".to_owned());
    };
    let received_at = get_s(item, "received_at")
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .unwrap_or_else(OffsetDateTime::now_utc);
    let headers = CallbackHeaders {
        request_id: request_id.to_owned(),
        timestamp: timestamp_ms.to_string(),
        timestamp_ms,
        signature: String::new(),
    };
    let new = NewCallback {
        headers: &headers,
        callback: &callback,
        raw_body: text,
        received_at,
        lambda_request_id: get_s(item, "lambda_request_id"),
    };
    match store.replace_parked_igv_callback(&new, problem).await {
        Ok(RecordWrite::Created { .. }) => Rerun::Accepted {
            key: view,
            outcome: "stored",
        },
        Ok(RecordWrite::Duplicate { .. }) => Rerun::AlreadyReprocessed("understood".to_owned()),
        Err(e) => Rerun::Failed(e.to_string()),
    }
}

/// `raw_body` of a parked record, for the operator's listing.
pub fn raw_body(item: &Item) -> Option<&str> {
    item.get("raw_body").and_then(|v| {
        if let AttributeValue::S(s) = v {
            Some(s.as_str())
        } else {
            None
        }
    })
}
