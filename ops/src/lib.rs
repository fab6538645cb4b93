//! The operator's read-mostly views of the table, against the deployed table or the local
//! DynamoDB: latest deliveries, one order across both partners and every channel, the orders the
//! pushes missed, the feeds' checkpoints.
//!
//! Every read is a query or a key read, never a scan (issue #29.4): `latest` reads the recent
//! deliveries' queues of the `queue` index (newest first, every shard), `order` the order's
//! partitions and the `deliveries` index (then the records by key), `missed` the found-only-by-poll
//! queues, the checkpoints their keys. Only the one-time migrations scan.

pub mod redrive;
pub mod replay;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};
use shared::feed::CheckpointKey;
use shared::igv::store::CALLBACK_ITEM_TYPE;
use shared::keys::{
    DELIVERIES_INDEX, DELIVERY_OF, IGV_RECENT_CALLBACKS_QUEUE, LINKBEST_FOUND_ONLY_BY_POLL_QUEUE,
    LINKBEST_RECENT_PUSHES_QUEUE, LINKBEST_STATUS_FOUND_ONLY_BY_POLL_QUEUE, LIST_SK_PREFIX, ORDER_SK,
    QUEUE_INDEX, QUEUE_PK, QUEUE_SK, SETTLEMENT_SK_PREFIX, igv_delivery_of, igv_order_pk,
    linkbest_delivery_of, linkbest_order_pk, queue_key, queue_keys,
};
use shared::linkbest::store::PUSH_ITEM_TYPE;
use shared::store::Item;

pub type OpsResult<T> = Result<T, String>;

fn err(e: impl std::error::Error) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}

/// `ops republish`'s arguments without a trailing `--bus BUS`, and the bus to publish to: BUS,
/// else `default` (`EVENT_BUS_NAME`).
pub fn split_bus<'a>(args: &'a [&'a str], default: &'a str) -> Result<(&'a [&'a str], &'a str), String> {
    match args {
        [rest @ .., "--bus", bus] if !bus.is_empty() && !bus.starts_with("--") => Ok((rest, bus)),
        [.., "--bus"] => Err("--bus needs a bus name or ARN".to_owned()),
        _ => Ok((args, default)),
    }
}

/// An item as JSON: strings and numbers as they are stored, other types in DynamoDB's notation.
pub fn item_json(item: &Item) -> Value {
    let mut object = Map::new();
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    for key in keys {
        let value = match &item[key] {
            AttributeValue::S(s) => Value::from(s.as_str()),
            AttributeValue::N(n) => serde_json::from_str(n).unwrap_or_else(|_| Value::from(n.as_str())),
            AttributeValue::Bool(b) => Value::from(*b),
            other => Value::from(format!("{other:?}")),
        };
        object.insert(key.clone(), value);
    }
    Value::Object(object)
}

/// How `ops` prints its answer: JSON lines (the default) or a table (`--format table`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

impl Format {
    /// Takes `--format json|table` out of `args` (anywhere after the command).
    pub fn take(args: &mut Vec<String>) -> Result<Self, String> {
        let Some(at) = args.iter().position(|a| a == "--format") else {
            return Ok(Format::Json);
        };
        let format = match args.get(at + 1).map(String::as_str) {
            Some("json") => Format::Json,
            Some("table") => Format::Table,
            other => return Err(format!("--format takes json or table, not {other:?}")),
        };
        args.drain(at..at + 2);
        Ok(format)
    }

    /// Prints `rows`: one JSON object a line, or a table of their fields.
    pub fn print(self, rows: &[Value]) {
        match self {
            Format::Json => rows.iter().for_each(|row| println!("{row}")),
            Format::Table => print!("{}", table(rows)),
        }
    }
}

/// `rows` as a table: a column per field (in order of first appearance), values as text (cut at
/// 60 characters), a header line.
pub fn table(rows: &[Value]) -> String {
    const WIDEST: usize = 60;
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(map) = row {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let cell = |row: &Value, column: &str| -> String {
        let text = match row.get(column) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let text = text.replace(['\n', '\t'], " ");
        if text.chars().count() > WIDEST {
            format!("{}…", text.chars().take(WIDEST - 1).collect::<String>())
        } else {
            text
        }
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|c| cell(row, c)).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: &[String]| -> String {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v}{}", " ".repeat(w - v.chars().count())))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&columns);
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// An item's string attribute (empty when it has none).
pub fn s(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// The checkpoint and its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub checkpoint: Option<i64>,
    pub lag_seconds: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
}

/// One order across both partners and every channel.
#[derive(Debug, Clone, Default)]
pub struct OrderReport {
    /// `LB#ORDER#<id>` / `ORDER`: the Linkbest order view (both channels, newest wins).
    pub linkbest: Vec<Item>,
    /// `LB#ORDER#<id>` / `LIST#…`: the rows the order list showed, oldest listing first.
    pub listed: Vec<Item>,
    /// `LB#ORDER#<id>` / `SETTLE#…`: settlement changes, oldest first (the last is the state).
    pub settlement: Vec<Item>,
    /// `IGV#ORDER#<id>`: the iGV order view.
    pub igv: Vec<Item>,
    /// Linkbest pushes naming the order (`order_sn`).
    pub pushes: Vec<Item>,
    /// iGV callbacks for the order (`order_id`).
    pub callbacks: Vec<Item>,
}

pub struct Ops {
    client: Client,
    table: String,
    store: shared::store::Store,
}

impl Ops {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            store: shared::store::Store::new(client.clone(), &table, 0),
            client,
            table,
        }
    }

    /// Every item of one of `item_types` that `filter` keeps, `projection` of it: a scan, for the
    /// one-time migrations only (every other read of `ops` is a query or a key read).
    async fn scan_types(&self, item_types: &[&str], filter: &str, projection: &str) -> OpsResult<Vec<Item>> {
        let names: Vec<String> = (0..item_types.len()).map(|i| format!(":t{i}")).collect();
        let types: Vec<String> = names.iter().map(|n| format!("item_type = {n}")).collect();
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(format!("({}) AND {filter}", types.join(" OR ")))
            .projection_expression(projection);
        for (name, value) in names.iter().zip(item_types) {
            request = request.expression_attribute_values(name, AttributeValue::S((*value).to_owned()));
        }
        request
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(err)
    }

    /// Every item a query of the table finds (all pages, through the SDK's paginator).
    async fn query(&self, request: QueryFluentBuilder) -> OpsResult<Vec<Item>> {
        request
            .table_name(&self.table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(err)
    }

    /// The one-time migration of order views written before the hand-off existed (issue #28.3):
    /// each view without `view_changes` gets `view_changes = 1` (its current version counts as
    /// one), so its next change replays as the change it was sent as, not as the order's first
    /// sight. One scan of the views (run once, after the deploy that brought the hand-off); each
    /// update is conditional on `view_changes` still missing, so running it twice, or beside the
    /// live functions, changes nothing twice. Returns (views without it, views migrated); with
    /// `dry_run`, nothing is written.
    pub async fn migrate_views(&self, dry_run: bool) -> OpsResult<(usize, usize)> {
        let views = self
            .scan_types(
                &["linkbest_order", "igv_order"],
                "attribute_not_exists(view_changes)",
                "pk, sk",
            )
            .await?;
        let mut migrated = 0;
        for view in views.iter().filter(|_| !dry_run) {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", view["pk"].clone())
                .key("sk", view["sk"].clone())
                .update_expression("SET view_changes = :one")
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(view_changes)")
                .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
                .send()
                .await;
            match result {
                Ok(_) => migrated += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok((views.len(), migrated))
    }

    /// The one-time migration of push and callback records stored before the `deliveries` index
    /// and the recent queues existed (issue #29.4): each record gets `delivery_of` (when it names
    /// an order) and its recent queue's keys, so `ops order` and `ops latest` find it without a
    /// scan. One scan of the records (run once, after the deploy that brought the index); each
    /// update is conditional on `delivery_of` and `queue_pk` still missing, so running it twice,
    /// or beside the live functions, changes nothing twice. A parked (not understood) callback keeps
    /// its queue. Returns (records without them, records migrated); with `dry_run`, nothing is
    /// written.
    pub async fn migrate_deliveries(&self, dry_run: bool) -> OpsResult<(usize, usize)> {
        let records = self
            .scan_types(
                &[PUSH_ITEM_TYPE, CALLBACK_ITEM_TYPE],
                "attribute_not_exists(delivery_of) AND attribute_not_exists(queue_pk)",
                "pk, sk, item_type, order_sn, order_id, push_id, request_id, received_at",
            )
            .await?;
        let mut migrated = 0;
        for record in records.iter().filter(|_| !dry_run) {
            let (pk, received) = (s(record, "pk"), s(record, "received_at"));
            let at = time::OffsetDateTime::parse(&received, &time::format_description::well_known::Rfc3339)
                .map(shared::store::changed_at)
                .unwrap_or(received);
            let (queue, id, of) = if s(record, "item_type") == PUSH_ITEM_TYPE {
                let sn = s(record, "order_sn");
                (
                    LINKBEST_RECENT_PUSHES_QUEUE,
                    s(record, "push_id"),
                    (!sn.is_empty()).then(|| linkbest_delivery_of(&sn)),
                )
            } else {
                let order = s(record, "order_id");
                (
                    IGV_RECENT_CALLBACKS_QUEUE,
                    s(record, "request_id"),
                    (!order.is_empty()).then(|| igv_delivery_of(&order)),
                )
            };
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", record["pk"].clone())
                .key("sk", record["sk"].clone())
                .condition_expression("attribute_exists(pk) AND attribute_not_exists(#qp)")
                .expression_attribute_names("#qp", QUEUE_PK)
                .expression_attribute_names("#qs", QUEUE_SK)
                .expression_attribute_values(":qp", AttributeValue::S(queue_key(queue, &pk)))
                .expression_attribute_values(":qs", AttributeValue::S(format!("{at}#{id}")));
            update = match of {
                Some(of) => update
                    .update_expression("SET #qp = :qp, #qs = :qs, #d = :d")
                    .expression_attribute_names("#d", DELIVERY_OF)
                    .expression_attribute_values(":d", AttributeValue::S(of)),
                None => update.update_expression("SET #qp = :qp, #qs = :qs"),
            };
            match update.send().await {
                Ok(_) => migrated += 1,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok((records.len(), migrated))
    }

    /// Every item of a partition (all pages).
    async fn partition(&self, pk: &str) -> OpsResult<Vec<Item>> {
        self.store.partition(pk).await.map_err(|e| e.to_string())
    }

    /// The items of the sparse `queue` index in `queue` (every shard of it, and the unsharded key
    /// of items queued before) with `queue_sk` in `[from, to]`, merged oldest first.
    pub async fn queue(&self, queue: &str, from: &str, to: &str) -> OpsResult<Vec<Item>> {
        let mut items = Vec::new();
        for key in queue_keys(queue) {
            let request = self
                .client
                .query()
                .index_name(QUEUE_INDEX)
                .key_condition_expression("queue_pk = :q AND queue_sk BETWEEN :from AND :to")
                .expression_attribute_values(":q", AttributeValue::S(key))
                .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to.to_owned()));
            items.extend(self.query(request).await?);
        }
        items.sort_by_key(|item| s(item, "queue_sk"));
        Ok(items)
    }

    /// The listed orders the orders feed found that the pushes never told about (or whose status
    /// they never told), listed between `from` and `to` (unix seconds), oldest first.
    pub async fn missed(&self, from: i64, to: i64) -> OpsResult<Vec<Item>> {
        let bound = |t: i64| -> OpsResult<String> {
            let at = time::OffsetDateTime::from_unix_timestamp(t).map_err(|e| e.to_string())?;
            Ok(shared::store::timestamp(at))
        };
        // queue_sk is `<listed_at RFC 3339>#<OrderSn>`; `~` sorts after every OrderSn character.
        let (from, to) = (bound(from)?, format!("{}~", bound(to)?));
        let mut items = self.queue(LINKBEST_FOUND_ONLY_BY_POLL_QUEUE, &from, &to).await?;
        items.extend(
            self.queue(LINKBEST_STATUS_FOUND_ONLY_BY_POLL_QUEUE, &from, &to)
                .await?,
        );
        items.sort_by_key(|item| s(item, "queue_sk"));
        Ok(items)
    }

    /// The `limit` most recently received pushes (`pushes`) or callbacks (`callbacks`): the
    /// newest `limit` of each shard of the partner's recent queue (one query each, newest first),
    /// merged. Records stored before the recent queues existed are not in them.
    pub async fn latest(&self, kind: &str, limit: usize) -> OpsResult<Vec<Item>> {
        let queue = match kind {
            "pushes" => LINKBEST_RECENT_PUSHES_QUEUE,
            "callbacks" => IGV_RECENT_CALLBACKS_QUEUE,
            other => return Err(format!("unknown kind {other:?}: pushes or callbacks")),
        };
        let limit_i32 = i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000);
        let mut items = Vec::new();
        for key in queue_keys(queue) {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(QUEUE_INDEX)
                .key_condition_expression("queue_pk = :q")
                .expression_attribute_values(":q", AttributeValue::S(key))
                .scan_index_forward(false)
                .limit(limit_i32)
                .send()
                .await
                .map_err(err)?;
            items.extend(page.items.unwrap_or_default());
        }
        items.sort_by_key(|item| std::cmp::Reverse(s(item, "queue_sk")));
        items.truncate(limit);
        Ok(items)
    }

    /// The push or callback records naming `delivery_of` (the `deliveries` index, then the
    /// records themselves by key), oldest first.
    async fn deliveries(&self, delivery_of: String) -> OpsResult<Vec<Item>> {
        let request = self
            .client
            .query()
            .index_name(DELIVERIES_INDEX)
            .key_condition_expression("delivery_of = :d")
            .expression_attribute_values(":d", AttributeValue::S(delivery_of));
        let keys: Vec<(String, String)> = self
            .query(request)
            .await?
            .iter()
            .map(|k| (s(k, "pk"), s(k, "sk")))
            .collect();
        let (found, _) = self.store.get_whole(&keys).await.map_err(|e| e.to_string())?;
        let mut items: Vec<Item> = keys.iter().filter_map(|k| found.get(k).cloned()).collect();
        items.sort_by_key(|item| s(item, "received_at"));
        Ok(items)
    }

    /// Everything stored about one order id, from both partners.
    pub async fn order(&self, id: &str) -> OpsResult<OrderReport> {
        let partition = self.partition(&linkbest_order_pk(id)).await?;
        let with_sk = |pick: &dyn Fn(&str) -> bool| -> Vec<Item> {
            partition.iter().filter(|i| pick(&s(i, "sk"))).cloned().collect()
        };
        let mut listed = with_sk(&|sk| sk.starts_with(LIST_SK_PREFIX));
        listed.sort_by_key(|item| s(item, "listed_at"));
        Ok(OrderReport {
            linkbest: with_sk(&|sk| sk == ORDER_SK),
            listed,
            settlement: with_sk(&|sk| sk.starts_with(SETTLEMENT_SK_PREFIX)),
            igv: self.partition(&igv_order_pk(id)).await?,
            pushes: self.deliveries(linkbest_delivery_of(id)).await?,
            callbacks: self.deliveries(igv_delivery_of(id)).await?,
        })
    }

    /// A feed's checkpoint, its lag behind `now` (unix seconds) and its lease.
    pub async fn checkpoint(&self, key: CheckpointKey, now: i64) -> OpsResult<Checkpoint> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.pk.to_owned()))
            .key("sk", AttributeValue::S(key.sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(err)?
            .item
            .unwrap_or_default();
        let n = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
        };
        let checkpoint: Option<i64> = n("checkpoint");
        Ok(Checkpoint {
            checkpoint,
            lag_seconds: checkpoint.map(|c| now - c),
            lease_owner: item.get("lease_owner").and_then(|v| v.as_s().ok()).cloned(),
            lease_until: n("lease_until"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::split_bus;

    #[test]
    fn a_table_has_a_column_per_field_and_a_row_per_answer() {
        let rows = [
            serde_json::json!({"key": "IGV#REFUSED#1", "result": "accepted"}),
            serde_json::json!({"key": "IGV#REFUSED#22", "reason": "signature does not match"}),
        ];
        assert_eq!(
            super::table(&rows),
            "key             result    reason\n\
             IGV#REFUSED#1   accepted\n\
             IGV#REFUSED#22            signature does not match\n"
        );
        let mut args = vec![
            "latest".to_owned(),
            "--format".to_owned(),
            "table".to_owned(),
            "pushes".to_owned(),
        ];
        assert_eq!(super::Format::take(&mut args), Ok(super::Format::Table));
        assert_eq!(args, ["latest", "pushes"]);
        assert!(super::Format::take(&mut vec!["--format".to_owned()]).is_err());
    }

    #[test]
    fn a_replay_goes_to_the_bus_asked_for() {
        assert_eq!(
            split_bus(&["--order", "SO1", "--bus", "consumer-a"], "orders").unwrap(),
            (&["--order", "SO1"][..], "consumer-a")
        );
        assert_eq!(
            split_bus(&["--from", "1", "--to", "2"], "orders").unwrap(),
            (&["--from", "1", "--to", "2"][..], "orders")
        );
        assert!(split_bus(&["--order", "SO1", "--bus"], "orders").is_err());
    }
}
