//! The operator's read-mostly views of the table, against the deployed table or the local
//! DynamoDB: latest deliveries, one order across both partners, the settlement checkpoint.
//!
//! `latest` and the delivery part of `order` scan the table (their cost grows with it); the views,
//! settlement changes and checkpoint are single-key reads.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};
use shared::keys::{LINKBEST_SYNC_PK, SETTLEMENT_CHECKPOINT_SK, igv_order_pk, linkbest_order_pk};
use shared::store::Item;
use shared::store::igv::CALLBACK_ITEM_TYPE;
use shared::store::linkbest::PUSH_ITEM_TYPE;

pub type OpsResult<T> = Result<T, String>;

fn err(e: impl std::error::Error) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
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

fn s(item: &Item, name: &str) -> String {
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

/// One order across both partners.
#[derive(Debug, Clone, Default)]
pub struct OrderReport {
    /// `LB#ORDER#<id>`: the Linkbest order view and its settlement changes.
    pub linkbest: Vec<Item>,
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
}

impl Ops {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn scan(&self, filter: &str, values: &[(&str, &str)]) -> OpsResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(filter)
                .set_exclusive_start_key(start);
            for (name, value) in values {
                request = request.expression_attribute_values(*name, AttributeValue::S((*value).to_owned()));
            }
            let page = request.send().await.map_err(err)?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    async fn partition(&self, pk: &str) -> OpsResult<Vec<Item>> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .send()
            .await
            .map_err(err)?;
        Ok(page.items().to_vec())
    }

    /// The `limit` most recently received pushes (`pushes`) or callbacks (`callbacks`).
    pub async fn latest(&self, kind: &str, limit: usize) -> OpsResult<Vec<Item>> {
        let item_type = match kind {
            "pushes" => PUSH_ITEM_TYPE,
            "callbacks" => CALLBACK_ITEM_TYPE,
            other => return Err(format!("unknown kind {other:?}: pushes or callbacks")),
        };
        let mut items = self.scan("item_type = :t", &[(":t", item_type)]).await?;
        items.sort_by_key(|item| std::cmp::Reverse(s(item, "received_at")));
        items.truncate(limit);
        Ok(items)
    }

    /// Everything stored about one order id, from both partners.
    pub async fn order(&self, id: &str) -> OpsResult<OrderReport> {
        Ok(OrderReport {
            linkbest: self.partition(&linkbest_order_pk(id)).await?,
            igv: self.partition(&igv_order_pk(id)).await?,
            pushes: self
                .scan(
                    "item_type = :t AND order_sn = :id",
                    &[(":t", PUSH_ITEM_TYPE), (":id", id)],
                )
                .await?,
            callbacks: self
                .scan(
                    "item_type = :t AND order_id = :id",
                    &[(":t", CALLBACK_ITEM_TYPE), (":id", id)],
                )
                .await?,
        })
    }

    /// The settlement checkpoint, its lag behind `now` (unix seconds) and its lease.
    pub async fn checkpoint(&self, now: i64) -> OpsResult<Checkpoint> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(LINKBEST_SYNC_PK.to_owned()))
            .key("sk", AttributeValue::S(SETTLEMENT_CHECKPOINT_SK.to_owned()))
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
