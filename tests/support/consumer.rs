//! The reference consumer (issue #28.2): written from the README's consumer guide alone, not from
//! the code — "one row per `detail.table_key` (`pk` and `sk`); apply an event when the row has no
//! `view_version` or one that is smaller (text comparison); a failed condition is a double or an
//! older version: drop it". The history checker feeds it every event that reached the bus, in
//! shuffled order, with doubles and replays, and compares its rows with the table.

use std::collections::BTreeMap;

use serde_json::Value;

/// What the consumer keeps per row: the guide's conditional write's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub view_version: String,
    pub status: Option<String>,
    pub event_id: String,
    pub detail_type: String,
}

/// A consumer following the guide literally.
#[derive(Debug, Default, Clone)]
pub struct Consumer {
    pub rows: BTreeMap<(String, String), Row>,
    /// Events applied / dropped by the condition.
    pub applied: u64,
    pub dropped: u64,
}

impl Consumer {
    /// The guide's one conditional write: `SET view_version = :v, status = :status, event_id = :id`
    /// on the row `(table_key.pk, table_key.sk)`, if `attribute_not_exists(view_version) OR
    /// view_version < :v`.
    pub fn apply(&mut self, detail_type: &str, detail: &Value) {
        let key = (
            detail["table_key"]["pk"].as_str().unwrap_or_default().to_owned(),
            detail["table_key"]["sk"].as_str().unwrap_or_default().to_owned(),
        );
        let version = detail["view_version"].as_str().unwrap_or_default().to_owned();
        let newer = self.rows.get(&key).is_none_or(|row| row.view_version < version);
        if !newer {
            self.dropped += 1;
            return;
        }
        self.applied += 1;
        self.rows.insert(
            key,
            Row {
                view_version: version,
                status: detail["status"].as_str().map(str::to_owned),
                event_id: detail["event_id"].as_str().unwrap_or_default().to_owned(),
                detail_type: detail_type.to_owned(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forward_only_per_row_whatever_the_order() {
        let e = |sk: &str, v: &str, status: &str| json!({"table_key": {"pk": "LB#ORDER#1", "sk": sk}, "view_version": v, "status": status, "event_id": v});
        let mut c = Consumer::default();
        c.apply("Order Status Changed", &e("ORDER", "2", "1"));
        c.apply("Order Seen", &e("ORDER", "1", "0"));
        c.apply("Order Status Changed", &e("ORDER", "2", "1"));
        c.apply("Order Settlement Changed", &e("SETTLE#x", "SETTLE#x", "null"));
        assert_eq!(
            c.rows[&("LB#ORDER#1".into(), "ORDER".into())].status.as_deref(),
            Some("1")
        );
        assert_eq!(c.rows.len(), 2);
        assert_eq!((c.applied, c.dropped), (2, 2));
    }
}
