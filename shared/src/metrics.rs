//! CloudWatch metrics without API calls: Embedded Metric Format lines on stdout, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics (namespace `PartnerIngest`,
//! dimension `Function`).

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "PartnerIngest";

/// Every metric name the functions emit. The template's alarms and dashboard may use only these
/// (a test reads `template.yaml`), and every emitted name must be here (checked on every emit in
/// debug builds, so the whole test suite checks it).
pub mod names {
    /// postback: a push stored for the first time (answer `1`).
    pub const PUSHES_STORED: &str = "PushesStored";
    /// callback: a callback stored for the first time (HTTP 200).
    pub const CALLBACKS_STORED: &str = "CallbacksStored";
    /// postback / callback: a delivery of an id already stored (answer `0` / HTTP 200).
    pub const DUPLICATES: &str = "Duplicates";
    /// postback: the review's test push (answer `1`, nothing stored).
    pub const TEST_PUSHES: &str = "TestPushes";
    /// postback / callback: refused, the signature matches no configured secret.
    pub const SIGNATURE_FAILURES: &str = "SignatureFailures";
    /// postback / callback: refused as malformed (method, size, body, headers, timestamp window).
    pub const REJECTED_REQUESTS: &str = "RejectedRequests";
    /// postback / callback: DynamoDB did not confirm the write; failure answered, partner retries.
    pub const STORE_FAILURES: &str = "StoreFailures";
    /// postback / callback: the secrets could not be read (Secrets Manager); failure answered.
    pub const SECRETS_UNAVAILABLE: &str = "SecretsUnavailable";
    /// postback / callback: how long the DynamoDB write of a delivery took (milliseconds).
    pub const STORE_LATENCY: &str = "StoreLatency";
    /// linkbest-sync (dimension `Feed`): a run that finished / that failed.
    pub const SYNC_RUNS: &str = "SyncRuns";
    pub const SYNC_RUNS_FAILED: &str = "SyncRunsFailed";
    /// linkbest-sync: pages read and items written by one run.
    pub const SYNC_PAGES: &str = "SyncPages";
    pub const SYNC_ITEMS_WRITTEN: &str = "SyncItemsWritten";
    /// linkbest-sync: how far the feed's checkpoint is behind now after a run (seconds).
    pub const SYNC_LAG_SECONDS: &str = "SyncLagSeconds";
    /// linkbest-sync, orders feed: orders no push ever brought / statuses the pushes never told.
    pub const ORDERS_FOUND_ONLY_BY_POLL: &str = "OrdersFoundOnlyByPoll";
    pub const STATUS_FOUND_ONLY_BY_POLL: &str = "StatusFoundOnlyByPoll";
    /// postback: a validly signed push whose `CreateTime` is outside the accepted window (`-1`).
    pub const PUSHES_OUT_OF_WINDOW: &str = "PushesOutOfWindow";
    /// postback: `received_at − CreateTime` of every validly signed push (seconds; about +8 h
    /// for every push would mean Linkbest's epochs are Beijing local time, not UTC).
    pub const PUSH_CLOCK_SKEW: &str = "PushClockSkew";
    /// callback: a validly signed callback whose body could not be understood; stored raw and
    /// answered 200 (iGV would give up after three attempts and has no feed to recover it).
    pub const CALLBACKS_NOT_UNDERSTOOD: &str = "CallbacksNotUnderstood";
    /// linkbest-sync, orders feed: listed rows without a usable `OrderSn`, kept unlinked.
    pub const ROWS_UNLINKED: &str = "RowsUnlinked";

    pub const ALL: &[&str] = &[
        PUSHES_STORED,
        CALLBACKS_STORED,
        DUPLICATES,
        TEST_PUSHES,
        SIGNATURE_FAILURES,
        REJECTED_REQUESTS,
        STORE_FAILURES,
        SECRETS_UNAVAILABLE,
        STORE_LATENCY,
        SYNC_RUNS,
        SYNC_RUNS_FAILED,
        SYNC_PAGES,
        SYNC_ITEMS_WRITTEN,
        SYNC_LAG_SECONDS,
        ORDERS_FOUND_ONLY_BY_POLL,
        STATUS_FOUND_ONLY_BY_POLL,
        PUSHES_OUT_OF_WINDOW,
        PUSH_CLOCK_SKEW,
        CALLBACKS_NOT_UNDERSTOOD,
        ROWS_UNLINKED,
    ];
}

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
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
    debug_assert!(
        metrics.iter().all(|(name, _, _)| names::ALL.contains(name)),
        "a metric name missing from metrics::names::ALL: {metrics:?}"
    );
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    println!("{}", emf_line(dimensions, metrics, now_ms));
}

/// Writes one EMF line for `function` (dimension `Function`) to stdout, where Lambda collects it.
pub fn emit(function: &str, metrics: &[(&str, f64, Unit)]) {
    print(&[("Function", function)], metrics);
}

/// The line of one handled delivery: one to `outcome`, when a write was made its latency, and
/// the delivery's `extra` figures.
pub fn emit_delivery(
    function: &str,
    outcome: &str,
    store_time: Option<std::time::Duration>,
    extra: &[(&str, f64, Unit)],
) {
    let mut metrics = vec![(outcome, 1.0, Unit::Count)];
    if let Some(took) = store_time {
        metrics.push((
            names::STORE_LATENCY,
            took.as_secs_f64() * 1000.0,
            Unit::Milliseconds,
        ));
    }
    metrics.extend_from_slice(extra);
    emit(function, &metrics);
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
