//! CloudWatch metrics without API calls: Embedded Metric Format lines on stdout, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics (namespace `PartnerIngest`,
//! dimension `Function`).

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "PartnerIngest";

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One EMF line holding `metrics` under the dimensions `dimensions` (name, value; `Function`
/// first), stamped `timestamp_ms`.
pub fn emf_line(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)], timestamp_ms: i64) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        line.insert((*name).into(), Value::from(*value));
    }
    for (name, value, _) in metrics {
        line.insert((*name).into(), json!(value));
    }
    Value::Object(line).to_string()
}

fn print(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)]) {
    if metrics.is_empty() {
        return;
    }
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    println!("{}", emf_line(dimensions, metrics, now_ms));
}

/// Writes one EMF line for `function` (dimension `Function`) to stdout, where Lambda collects it.
pub fn emit(function: &str, metrics: &[(&str, f64, Unit)]) {
    print(&[("Function", function)], metrics);
}

/// Writes one EMF line for one feed of `function` (dimensions `Function`, `Feed`).
pub fn emit_for_feed(function: &str, feed: &str, metrics: &[(&str, f64, Unit)]) {
    print(&[("Function", function), ("Feed", feed)], metrics);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_embedded_metric_format() {
        let line = emf_line(
            &[("Function", "postback")],
            &[("PushesStored", 1.0, Unit::Count), ("Lag", 5.0, Unit::Seconds)],
            42,
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 42);
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(directive["Metrics"][1], json!({"Name": "Lag", "Unit": "Seconds"}));
        assert_eq!(v["Function"], "postback");
        assert_eq!(v["PushesStored"], 1.0);
        assert_eq!(v["Lag"], 5.0);
        let feed = emf_line(
            &[("Function", "linkbest-sync"), ("Feed", "orders")],
            &[("SyncRuns", 1.0, Unit::Count)],
            1,
        );
        let v: Value = serde_json::from_str(&feed).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Feed"]])
        );
        assert_eq!(v["Feed"], "orders");
    }
}
