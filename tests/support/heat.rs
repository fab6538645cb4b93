//! Partition heat (issue #27): which partition-key values of the table and of each global
//! secondary index a DynamoDB write request writes, read from the requests themselves with the
//! key schema of `template.yaml` — so the proxy can count every key's writes per second (the
//! heat report) and refuse a key past a per-partition budget exactly as DynamoDB does (the
//! scaled peak).
//!
//! A [`Tracker`] sees every write request of a table, in order, and remembers each item's index
//! keys, so it counts index writes as DynamoDB does: an item entering an index, leaving it or
//! moving to another key writes it (moving: twice); an item whose index key stays writes an index
//! with projection ALL at every change, and a keys-only index not at all. An item's index key is
//! what a `Put` holds, or what an update sets (`SET name = :value`,
//! `SET name = if_not_exists(other, :value)`: the value, the common case) or removes. Not known
//! from the requests: whether a conditional write took effect (a write refused by its condition
//! is counted as if it had, the heat is then a ceiling) and an item written before the tracker
//! started.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Where a write lands: the table (`None`) or an index (its name).
pub type Target = Option<String>;

/// The key attributes: the table's partition and sort keys and each index's partition key and
/// projection (from `template.yaml`).
#[derive(Debug, Clone)]
pub struct KeySchema {
    pub table: String,
    pub sort: String,
    /// (index name, partition-key attribute, keys only).
    pub indexes: Vec<(String, String, bool)>,
}

impl KeySchema {
    /// The workspace template's schema.
    pub fn from_template() -> Self {
        let definition = crate::table_def::workspace_table_definition();
        let key = |schema: &[(String, String)], kind: &str| {
            schema
                .iter()
                .find(|(_, k)| k == kind)
                .map(|(name, _)| name.clone())
                .unwrap_or_default()
        };
        Self {
            table: key(&definition.key_schema, "HASH"),
            sort: key(&definition.key_schema, "RANGE"),
            indexes: definition
                .global_indexes
                .iter()
                .map(|index| {
                    (
                        index.name.clone(),
                        key(&index.key_schema, "HASH"),
                        index.projection_type == "KEYS_ONLY",
                    )
                })
                .collect(),
        }
    }
}

/// One partition-key value written: where, which value, the write units it costs there (a
/// transaction's write costs two), and the request's item it belongs to (a transaction's
/// position; 0 otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub target: Target,
    pub key: String,
    pub units: f64,
    pub item: usize,
}

/// What a request does to one item.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// The whole item (its attributes).
    Put(Value),
    /// Attributes set (name -> the value's placeholder resolved) and removed.
    Update {
        set: HashMap<String, Value>,
        removed: Vec<String>,
    },
    Delete,
}

/// One item a request writes.
#[derive(Debug, Clone, PartialEq)]
struct ItemWrite {
    pk: String,
    sk: String,
    change: Change,
    units: f64,
    position: usize,
}

fn string(value: &Value) -> Option<String> {
    value["S"].as_str().map(str::to_owned)
}

/// Splits a clause's list on the commas outside parentheses.
fn split_top(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// The text of clause `name` (`SET`, `REMOVE`) of an update expression.
fn clause<'a>(expression: &'a str, name: &str) -> Option<&'a str> {
    let start = expression.find(&format!("{name} "))? + name.len() + 1;
    let rest = &expression[start..];
    let end = ["SET ", "REMOVE ", "ADD ", "DELETE "]
        .iter()
        .filter_map(|c| rest.find(c))
        .min()
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn update_change(update: &Value) -> Change {
    let expression = update["UpdateExpression"].as_str().unwrap_or_default();
    let names = &update["ExpressionAttributeNames"];
    let values = &update["ExpressionAttributeValues"];
    let resolve = |name: &str| names[name.trim()].as_str().unwrap_or(name.trim()).to_owned();
    let mut set = HashMap::new();
    for part in clause(expression, "SET").map(split_top).unwrap_or_default() {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        let value = value.trim();
        // `:v`, or `if_not_exists(x, :v)`: the value it writes when the attribute is new.
        let placeholder = value
            .strip_prefix("if_not_exists(")
            .and_then(|rest| rest.split(',').nth(1))
            .map_or(value, |v| v.trim_end_matches(')').trim());
        if placeholder.starts_with(':') {
            set.insert(resolve(name), values[placeholder].clone());
        } else {
            // An expression of other attributes: set, to a value not known here.
            set.insert(resolve(name), Value::Null);
        }
    }
    let removed = clause(expression, "REMOVE")
        .map(split_top)
        .unwrap_or_default()
        .into_iter()
        .map(resolve)
        .collect();
    Change::Update { set, removed }
}

/// The items the request `body` of operation `op` writes.
fn item_writes(schema: &KeySchema, op: &str, body: &Value) -> Vec<ItemWrite> {
    let key = |v: &Value| {
        (
            string(&v[&schema.table]),
            string(&v[&schema.sort]).unwrap_or_default(),
        )
    };
    let one = |keys: &Value, change: Change, units: f64, position: usize| {
        key(keys).0.map(|pk| ItemWrite {
            pk,
            sk: key(keys).1,
            change,
            units,
            position,
        })
    };
    let mut out = Vec::new();
    match op {
        "PutItem" => out.extend(one(&body["Item"], Change::Put(body["Item"].clone()), 1.0, 0)),
        "UpdateItem" => out.extend(one(&body["Key"], update_change(body), 1.0, 0)),
        "DeleteItem" => out.extend(one(&body["Key"], Change::Delete, 1.0, 0)),
        "TransactWriteItems" => {
            for (position, item) in body["TransactItems"].as_array().into_iter().flatten().enumerate() {
                if let Some(put) = item.get("Put") {
                    out.extend(one(&put["Item"], Change::Put(put["Item"].clone()), 2.0, position));
                } else if let Some(update) = item.get("Update") {
                    out.extend(one(&update["Key"], update_change(update), 2.0, position));
                } else if let Some(delete) = item.get("Delete") {
                    out.extend(one(&delete["Key"], Change::Delete, 2.0, position));
                }
            }
        }
        "BatchWriteItem" => {
            for requests in body["RequestItems"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for request in requests.as_array().into_iter().flatten() {
                    if let Some(put) = request.get("PutRequest") {
                        out.extend(one(&put["Item"], Change::Put(put["Item"].clone()), 1.0, 0));
                    } else if let Some(delete) = request.get("DeleteRequest") {
                        out.extend(one(&delete["Key"], Change::Delete, 1.0, 0));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// Every item's index keys as the tracker last saw them.
#[derive(Debug, Clone)]
pub struct Tracker {
    pub schema: KeySchema,
    /// (pk, sk) -> the item's key in each index (by the index's position in the schema).
    items: HashMap<(String, String), Vec<Option<String>>>,
}

impl Tracker {
    pub fn new(schema: KeySchema) -> Self {
        Self {
            schema,
            items: HashMap::new(),
        }
    }

    /// The partition-key values the request would write, without remembering it (for a budget
    /// check before the request is let through).
    pub fn peek(&self, op: &str, body: &Value) -> Vec<Written> {
        self.compute(op, body).0
    }

    /// The partition-key values the request writes; its items' index keys are remembered.
    pub fn apply(&mut self, op: &str, body: &Value) -> Vec<Written> {
        let (written, states) = self.compute(op, body);
        self.items.extend(states);
        written
    }

    /// The writes, and each item's index keys after the request (a request writes an item once:
    /// DynamoDB refuses two actions on one item in a transaction or a batch).
    #[allow(clippy::type_complexity)]
    fn compute(
        &self,
        op: &str,
        body: &Value,
    ) -> (Vec<Written>, Vec<((String, String), Vec<Option<String>>)>) {
        let mut out = Vec::new();
        let mut states = Vec::new();
        for write in item_writes(&self.schema, op, body) {
            out.push(Written {
                target: None,
                key: write.pk.clone(),
                units: write.units,
                item: write.position,
            });
            let item = (write.pk.clone(), write.sk.clone());
            let known = self
                .items
                .get(&item)
                .cloned()
                .unwrap_or_else(|| vec![None; self.schema.indexes.len()]);
            let mut after = known.clone();
            for (i, (index, attribute, keys_only)) in self.schema.indexes.iter().enumerate() {
                let old = known[i].clone();
                let new = match &write.change {
                    Change::Put(item) => string(&item[attribute]),
                    Change::Update { set, removed } => match set.get(attribute) {
                        Some(value) => string(value).or_else(|| old.clone()),
                        None if removed.contains(attribute) => None,
                        None => old.clone(),
                    },
                    Change::Delete => None,
                };
                let mut write_at = |key: &String| {
                    out.push(Written {
                        target: Some(index.clone()),
                        key: key.clone(),
                        units: write.units,
                        item: write.position,
                    })
                };
                if old != new {
                    old.iter().for_each(&mut write_at);
                    new.iter().for_each(&mut write_at);
                } else if !keys_only {
                    new.iter().for_each(&mut write_at);
                }
                after[i] = new;
            }
            states.push((item, after));
        }
        (out, states)
    }
}

/// Writes per key: total units, and units per second.
#[derive(Debug, Clone, Default)]
pub struct Heat {
    /// (target, key) -> (units in all, units by second).
    pub keys: BTreeMap<(Target, String), (f64, BTreeMap<u64, f64>)>,
}

/// One target's heat: units in all, distinct keys, the hottest key, its units in all, and the
/// most units any key took in one second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetHeat {
    pub units: f64,
    pub keys: usize,
    pub hottest: String,
    pub hottest_units: f64,
    pub most_in_a_second: f64,
}

impl Heat {
    pub fn record(&mut self, second: u64, written: &[Written]) {
        for w in written {
            let entry = self.keys.entry((w.target.clone(), w.key.clone())).or_default();
            entry.0 += w.units;
            *entry.1.entry(second).or_default() += w.units;
        }
    }

    /// The same writes with every key passed through `map` (e.g. a shard suffix removed: the key
    /// design before #27).
    pub fn mapped(&self, map: impl Fn(&Target, &str) -> String) -> Heat {
        let mut out = Heat::default();
        for ((target, key), (total, seconds)) in &self.keys {
            let entry = out.keys.entry((target.clone(), map(target, key))).or_default();
            entry.0 += total;
            for (second, units) in seconds {
                *entry.1.entry(*second).or_default() += units;
            }
        }
        out
    }

    pub fn by_target(&self) -> BTreeMap<Target, TargetHeat> {
        let mut out: BTreeMap<Target, TargetHeat> = BTreeMap::new();
        for ((target, key), (total, seconds)) in &self.keys {
            let peak = seconds.values().copied().fold(0.0, f64::max);
            let entry = out.entry(target.clone()).or_default();
            entry.units += total;
            entry.keys += 1;
            if *total > entry.hottest_units {
                (entry.hottest, entry.hottest_units) = (key.clone(), *total);
            }
            entry.most_in_a_second = entry.most_in_a_second.max(peak);
        }
        out
    }
}

/// A key with its shard suffix (`#NN`, two digits) removed: the key design before issue #27.
pub fn unsharded(key: &str) -> String {
    match key.rsplit_once('#') {
        Some((base, shard)) if shard.len() == 2 && shard.bytes().all(|b| b.is_ascii_digit()) => {
            base.to_owned()
        }
        _ => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> KeySchema {
        KeySchema {
            table: "pk".into(),
            sort: "sk".into(),
            indexes: vec![
                ("queue".into(), "queue_pk".into(), false),
                ("changes".into(), "changed_day".into(), true),
            ],
        }
    }

    fn keys(written: &[Written]) -> Vec<(Option<&str>, &str, f64, usize)> {
        written
            .iter()
            .map(|w| (w.target.as_deref(), w.key.as_str(), w.units, w.item))
            .collect()
    }

    fn view_update(day: &str, queue: Option<&str>) -> Value {
        let mut update = json!({"Key": {"pk": {"S": "IGV#ORDER#9"}, "sk": {"S": "ORDER"}},
            "UpdateExpression": "SET #version = :version, #changed_day = :changed_day, x = :x",
            "ExpressionAttributeNames": {"#version": "status_version", "#changed_day": "changed_day", "#q": "queue_pk"},
            "ExpressionAttributeValues": {":version": {"S": "1"}, ":changed_day": {"S": day}, ":x": {"S": "x"}}});
        match queue {
            Some(q) => {
                update["UpdateExpression"] = json!(
                    "SET #version = :version, #changed_day = :changed_day, #q = if_not_exists(queue_hold, :awaiting), x = :x"
                );
                update["ExpressionAttributeValues"][":awaiting"] = json!({"S": q});
            }
            None => {
                update["UpdateExpression"] =
                    json!("SET #version = :version, #changed_day = :changed_day, x = :x REMOVE #q, queue_sk");
            }
        }
        update
    }

    #[test]
    fn index_writes_follow_the_items_keys_as_dynamodb_counts_them() {
        let mut tracker = Tracker::new(schema());
        // A transaction: a record, and a view entering both indexes.
        let body = json!({"TransactItems": [
            {"Put": {"Item": {"pk": {"S": "IGV#CB#1"}, "sk": {"S": "CALLBACK"}}}},
            {"Update": view_update("2026-11-11#03", Some("IGV#AWAITING_DELIVERY#07"))},
            {"ConditionCheck": {"Key": {"pk": {"S": "LB#SYNC"}}}}
        ]});
        assert_eq!(
            keys(&tracker.apply("TransactWriteItems", &body)),
            [
                (None, "IGV#CB#1", 2.0, 0),
                (None, "IGV#ORDER#9", 2.0, 1),
                (Some("queue"), "IGV#AWAITING_DELIVERY#07", 2.0, 1),
                (Some("changes"), "2026-11-11#03", 2.0, 1),
            ]
        );
        // The same day and queue again: the ALL index is written, the keys-only one is not.
        let again = view_update("2026-11-11#03", Some("IGV#AWAITING_DELIVERY#07"));
        assert_eq!(
            keys(&tracker.peek("UpdateItem", &again)),
            [
                (None, "IGV#ORDER#9", 1.0, 0),
                (Some("queue"), "IGV#AWAITING_DELIVERY#07", 1.0, 0)
            ]
        );
        // Out of the queue, on the next day: a delete in the queue, old and new day keys.
        let next = view_update("2026-11-12#03", None);
        assert_eq!(
            keys(&tracker.apply("UpdateItem", &next)),
            [
                (None, "IGV#ORDER#9", 1.0, 0),
                (Some("queue"), "IGV#AWAITING_DELIVERY#07", 1.0, 0),
                (Some("changes"), "2026-11-11#03", 1.0, 0),
                (Some("changes"), "2026-11-12#03", 1.0, 0),
            ]
        );
    }

    #[test]
    fn puts_batches_and_heat() {
        let mut tracker = Tracker::new(schema());
        let put = json!({"Item": {"pk": {"S": "LB#ORDER#1"}, "sk": {"S": "LIST#a"}, "queue_pk": {"S": "LB#FOUND_ONLY_BY_POLL#02"}}});
        assert_eq!(tracker.apply("PutItem", &put).len(), 2);
        let batch = json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "Y"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "X"}}}}]}});
        assert_eq!(tracker.apply("BatchWriteItem", &batch).len(), 2);
        assert!(tracker.apply("Query", &put).is_empty());

        let mut heat = Heat::default();
        for n in 0..32 {
            let w = Written {
                target: Some("changes".into()),
                key: format!("2026-11-11#{:02}", n % 16),
                units: 2.0,
                item: 0,
            };
            heat.record(n / 8, &[w]);
        }
        let sharded = heat.by_target()[&Some("changes".into())].clone();
        assert_eq!(
            (sharded.units, sharded.keys, sharded.hottest_units),
            (64.0, 16, 4.0)
        );
        let before = heat.mapped(|_, k| unsharded(k)).by_target()[&Some("changes".into())].clone();
        assert_eq!(
            (before.keys, before.hottest.as_str(), before.most_in_a_second),
            (1, "2026-11-11", 16.0)
        );
        assert_eq!(
            unsharded("IGV#AWAITING_DELIVERY_HELD"),
            "IGV#AWAITING_DELIVERY_HELD"
        );
    }
}
