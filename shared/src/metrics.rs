//! CloudWatch metrics without API calls: Embedded Metric Format lines on stdout, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics (namespace `PartnerIngest`,
//! dimension `Function`).
//!
//! **Every line survives Lambda's log-level filter.** With advanced logging controls, Lambda
//! drops JSON lines below the function's application log level, and a line without a `level`
//! counts as INFO: at `LogLevel: WARN` every metric would vanish, the alarms could never fire and
//! the lag alarms (missing data = breaching) would fire for ever. So each EMF line carries
//! `"level"` equal to the configured level (`AWS_LAMBDA_LOG_LEVEL`), the least severe level
//! Lambda keeps whatever it is set to, and a `"timestamp"` in RFC 3339: Lambda's documented rule
//! ("Log-level filtering") also assigns INFO to a line without a valid one, whatever its level.

use std::sync::OnceLock;

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
    /// publisher (the hand-off): events the bus accepted, refused for good in an invocation
    /// (retried by Lambda), stream records that could not be read, `PutEvents` requests sent.
    pub const EVENTS_PUBLISHED: &str = "EventsPublished";
    pub const EVENTS_FAILED: &str = "EventsFailed";
    pub const POISON_RECORDS: &str = "PoisonRecords";
    pub const PUT_EVENTS_REQUESTS: &str = "PutEventsRequests";
    /// publisher: an order entering the awaiting-delivery queue from another status (issue #28.4).
    pub const AWAITING_DELIVERY_AFTER_OTHER_STATUS: &str = "AwaitingDeliveryAfterOtherStatus";
    /// postback, callback: a refused delivery kept to be re-run (issue #29.1), or one that should
    /// have been and was not (over the hourly cap or the size cap, or the table failed).
    pub const REFUSED_KEPT: &str = "RefusedKept";
    pub const REFUSED_NOT_KEPT: &str = "RefusedNotKept";

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
        EVENTS_PUBLISHED,
        EVENTS_FAILED,
        POISON_RECORDS,
        PUT_EVENTS_REQUESTS,
        AWAITING_DELIVERY_AFTER_OTHER_STATUS,
        REFUSED_KEPT,
        REFUSED_NOT_KEPT,
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

/// Lambda's application log levels, least severe first.
pub const LAMBDA_LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

/// The `level` an EMF line carries so Lambda keeps it under the application log level
/// `lambda_level` (`AWS_LAMBDA_LOG_LEVEL`): that level itself; INFO when unset (Lambda's default);
/// FATAL, which every setting keeps, for a value Lambda does not define.
pub fn emf_level(lambda_level: Option<&str>) -> &'static str {
    match lambda_level.map(str::trim).filter(|l| !l.is_empty()) {
        None => "INFO",
        Some(level) => LAMBDA_LEVELS
            .iter()
            .find(|l| l.eq_ignore_ascii_case(level))
            .copied()
            .unwrap_or("FATAL"),
    }
}

/// The level of this process's EMF lines, read once.
fn process_level() -> &'static str {
    static LEVEL: OnceLock<&'static str> = OnceLock::new();
    LEVEL.get_or_init(|| emf_level(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref()))
}

/// The function version this process runs (`AWS_LAMBDA_FUNCTION_VERSION`), read once.
fn process_version() -> Option<&'static str> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            std::env::var("AWS_LAMBDA_FUNCTION_VERSION")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .as_deref()
}

/// One EMF line holding `metrics` under the dimensions `dimensions` (name, value; `Function`
/// first), stamped `timestamp_ms`, with the log `level` Lambda's filter reads. With a `version`
/// (the function version), the metrics are also published under (`Function`, `Version`): what the
/// deployment's rollback alarms watch, so only the version being deployed can roll it back.
pub fn emf_line(
    level: &str,
    dimensions: &[(&str, &str)],
    version: Option<&str>,
    metrics: &[(&str, f64, Unit)],
    timestamp_ms: i64,
) -> String {
    let mut line = Map::new();
    line.insert("level".into(), Value::from(level));
    line.insert("timestamp".into(), Value::from(rfc3339_ms(timestamp_ms)));
    let mut sets = vec![dimensions.iter().map(|(name, _)| *name).collect::<Vec<_>>()];
    if let Some(version) = version {
        sets.push(vec!["Function", "Version"]);
        line.insert("Version".into(), Value::from(version));
    }
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
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

/// `timestamp_ms` (milliseconds since the epoch) as RFC 3339 in UTC, to the millisecond (the
/// store's fixed-width `changed_at` text).
pub fn rfc3339_ms(timestamp_ms: i64) -> String {
    crate::store::changed_at(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamp_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
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
    println!(
        "{}",
        emf_line(process_level(), dimensions, process_version(), metrics, now_ms)
    );
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
            "INFO",
            &[("Function", "postback")],
            None,
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
            "INFO",
            &[("Function", "linkbest-sync"), ("Feed", "orders")],
            Some("7"),
            &[("SyncRuns", 1.0, Unit::Count)],
            1,
        );
        let v: Value = serde_json::from_str(&feed).unwrap();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Feed"], ["Function", "Version"]]),
            "the version's own series, for the rollback alarms"
        );
        assert_eq!(v["Version"], "7");
        assert_eq!(v["Feed"], "orders");
    }

    /// Lambda's documented rule ("Log-level filtering"): a JSON line is sent to CloudWatch when
    /// its `level` is at least as severe as the application log level; a missing or invalid
    /// `level`, or a missing or invalid RFC 3339 `timestamp`, makes the line INFO.
    fn lambda_keeps(application_level: &str, line: &str) -> bool {
        let rank = |level: &str| LAMBDA_LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level));
        let v: Value = serde_json::from_str(line).unwrap();
        let stamped = v["timestamp"].as_str().is_some_and(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
        });
        let line_level = v["level"]
            .as_str()
            .and_then(rank)
            .filter(|_| stamped)
            .unwrap_or(2);
        line_level >= rank(application_level).unwrap()
    }

    fn drop_key(v: &mut Value, key: &str) {
        v.as_object_mut().unwrap().remove(key);
    }

    #[test]
    fn lambda_keeps_every_metric_line_at_every_log_level() {
        let metrics = [("PushesStored", 1.0, Unit::Count)];
        for configured in LAMBDA_LEVELS {
            for spelled in [configured.to_owned(), configured.to_ascii_lowercase()] {
                let line = emf_line(
                    emf_level(Some(&spelled)),
                    &[("Function", "postback")],
                    None,
                    &metrics,
                    1,
                );
                assert!(lambda_keeps(configured, &line), "{configured}: {line}");
            }
        }
        // Unset: Lambda's default level is INFO.
        let line = emf_line(emf_level(None), &[("Function", "postback")], None, &metrics, 1);
        assert!(lambda_keeps("INFO", &line));
        assert_eq!(emf_level(Some("LOUD")), "FATAL", "kept whatever the setting");
        // The bugs this prevents: a line without a level, or with a level but no valid timestamp,
        // is INFO, dropped at WARN.
        let warn = emf_line(
            emf_level(Some("WARN")),
            &[("Function", "postback")],
            None,
            &metrics,
            1,
        );
        assert!(lambda_keeps("WARN", &warn));
        for (drop, replace) in [
            ("level", None),
            ("timestamp", None),
            ("timestamp", Some("yesterday")),
        ] {
            let mut broken: Value = serde_json::from_str(&warn).unwrap();
            match replace {
                None => drop_key(&mut broken, drop),
                Some(v) => broken[drop] = json!(v),
            }
            assert!(!lambda_keeps("WARN", &broken.to_string()), "{broken}");
        }
        assert_eq!(rfc3339_ms(1_795_440_539_007), "2026-11-23T13:28:59.007Z");
    }
}
