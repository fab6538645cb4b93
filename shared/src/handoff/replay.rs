//! Replay (`ops republish`): re-emits the events of order views from the table, with the same
//! ids, for a consumer that was down or is new.
//!
//! What is replayed is the event of each view's **current** version (and every settlement change,
//! which is insert-only and so always current): the table keeps an order's newest state, not its
//! history. A replayed event is the very event the publisher sent for that version — same
//! `event_id`, `DetailType`, `changes` and `previous_status` — because every view update keeps
//! what the event needs (`view_changes`, `previous_status`; see `store::ForwardUpdate`). An older
//! version of a view is never replayed; a consumer applying events forward by `view_version` ends
//! in the same state either way.
//!
//! Reads are queries, never a scan: a time range reads the `changes` index (the UTC day of each
//! item's latest change, keys only) one page of a day partition at a time and fetches the items
//! with [`Store::get_whole`] (`BatchGetItem`), keeping those whose `changed_at` is in the range;
//! one order is [`Store::partition`]. An item changed inside the range and again after it is found under its later day:
//! a range replays what changed in it and has not changed since.

use aws_sdk_dynamodb::types::AttributeValue;
use time::{Date, OffsetDateTime};

use super::publish::{BatchOutcome, Bus, RetrySettings, publish_events};
use super::{Describe, Image, OrderEvent, ViewChange};
use crate::keys::{CHANGED_AT, CHANGED_DAY, CHANGES_INDEX, changed_day_keys};
use crate::store::{Item, Store, StoreError, changed_at, get_s, s};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayOutcome {
    /// Items read (views, settlement changes and, for one order, its records).
    pub items: usize,
    /// Their events, and how publishing them went.
    pub events: usize,
    pub published: BatchOutcome,
}

/// The table's items as a replay sees them: the current item, no old image.
pub fn events_of(items: &[Item], views: &[Describe]) -> Vec<OrderEvent> {
    let mut events: Vec<OrderEvent> = items
        .iter()
        .filter_map(|item| {
            let change = ViewChange {
                event_name: "INSERT".to_owned(),
                sequence_number: String::new(),
                pk: get_s(item, "pk")?.to_owned(),
                sk: get_s(item, "sk")?.to_owned(),
                old: None,
                new: Some(image(item)),
            };
            views.iter().find_map(|describe| describe(&change))
        })
        .collect();
    events.sort_by(|a, b| (&a.table_key.pk, &a.view_version).cmp(&(&b.table_key.pk, &b.view_version)));
    events
}

/// An item's string and number attributes as text, as the stream reader sees them.
fn image(item: &Item) -> Image {
    item.iter()
        .filter_map(|(name, value)| match value {
            AttributeValue::S(text) | AttributeValue::N(text) => Some((name.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

fn day_text(day: Date) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), u8::from(day.month()), day.day())
}

/// Republishes the events of the items that changed in `[from, to)`, one day of the index at a
/// time, to `bus`.
pub async fn republish_range(
    store: &Store,
    from: OffsetDateTime,
    to: OffsetDateTime,
    views: &[Describe],
    bus: &dyn Bus,
    retry: RetrySettings,
) -> Result<ReplayOutcome, StoreError> {
    let (from_text, to_text) = (changed_at(from), changed_at(to));
    let mut outcome = ReplayOutcome::default();
    let mut day = from.to_offset(time::UtcOffset::UTC).date();
    let last = to.to_offset(time::UtcOffset::UTC).date();
    while day <= last && from < to {
        // Each of the day's index keys (its shards), one page at a time (up to 1 MB of keys), so
        // a busy day never has to fit in memory.
        let (mut indexed, mut kept) = (0, 0);
        for key in changed_day_keys(&day_text(day)) {
            let mut pages = store
                .client
                .query()
                .table_name(&store.table)
                .index_name(CHANGES_INDEX)
                .key_condition_expression("#day = :day")
                .expression_attribute_names("#day", CHANGED_DAY)
                .expression_attribute_values(":day", s(key))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| StoreError::sdk("Query", e))?;
                indexed += page.items().len();
                let keys: Vec<(String, String)> = page
                    .items()
                    .iter()
                    .filter_map(|k| Some((get_s(k, "pk")?.to_owned(), get_s(k, "sk")?.to_owned())))
                    .collect();
                let items: Vec<Item> = store
                    .get_whole(&keys)
                    .await?
                    .0
                    .into_values()
                    .filter(|item| {
                        get_s(item, CHANGED_AT)
                            .is_some_and(|at| at >= from_text.as_str() && at < to_text.as_str())
                    })
                    .collect();
                kept += items.len();
                publish_items(&items, views, bus, retry, &mut outcome).await;
            }
        }
        tracing::info!(target: "republish", day = %day_text(day), indexed, items = kept,
            events = outcome.events, published = outcome.published.published,
            failed = outcome.published.failed, "day replayed");
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    Ok(outcome)
}

/// Republishes the events of the items of the partitions `pks` (one order, by partner).
pub async fn republish_partitions(
    store: &Store,
    pks: &[String],
    views: &[Describe],
    bus: &dyn Bus,
    retry: RetrySettings,
) -> Result<ReplayOutcome, StoreError> {
    let mut outcome = ReplayOutcome::default();
    for pk in pks {
        let items = store.partition(pk).await?;
        publish_items(&items, views, bus, retry, &mut outcome).await;
    }
    Ok(outcome)
}

async fn publish_items(
    items: &[Item],
    views: &[Describe],
    bus: &dyn Bus,
    retry: RetrySettings,
    outcome: &mut ReplayOutcome,
) {
    let events = events_of(items, views);
    outcome.items += items.len();
    outcome.events += events.len();
    let done = publish_events(&events, bus, retry).await;
    let total = &mut outcome.published;
    total.records += done.records;
    total.published += done.published;
    total.failed += done.failed;
    total.put_events_requests += done.put_events_requests;
    if total.first_failure.is_none() {
        total.first_failure = done.first_failure;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_calendar_days() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_440_539).unwrap();
        assert_eq!(day_text(at.date()), "2026-11-23");
        assert_eq!(
            day_text(Date::from_calendar_date(2027, time::Month::January, 5).unwrap()),
            "2027-01-05"
        );
    }

    #[test]
    fn items_that_are_no_view_give_no_event() {
        let record = Item::from([
            ("pk".to_owned(), s("LB#PUSH#1")),
            ("sk".to_owned(), s("PUSH")),
            ("item_type".to_owned(), s("linkbest_push")),
        ]);
        assert!(events_of(&[record], crate::VIEWS).is_empty());
    }
}
