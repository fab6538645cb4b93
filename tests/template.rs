//! `template.yaml` against the code: every CloudWatch metric of the `PartnerIngest` namespace that
//! the dashboard or an alarm reads is one the functions emit (`shared::metrics::names`, which every
//! emit is checked against in debug builds), and the dashboard shows every one of them. Renaming a
//! metric in the code without the template (or the other way round) fails here.

use std::collections::BTreeSet;

use shared::metrics::{NAMESPACE, names};

fn template() -> String {
    std::fs::read_to_string(testkit::workspace_root().join("template.yaml")).expect("template.yaml")
}

/// The dashboard body: the block under `DashboardBody: !Sub |`, parsed as JSON (the `${…}` of
/// `!Sub` are inside strings).
fn dashboard(template: &str) -> serde_json::Value {
    let start = template
        .find("DashboardBody: !Sub |\n")
        .expect("the template has a dashboard")
        + "DashboardBody: !Sub |\n".len();
    let body: Vec<&str> = template[start..]
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with("        "))
        .collect();
    serde_json::from_str(&body.join("\n")).expect("the dashboard body is JSON")
}

/// The metric names of `namespace` a dashboard reads (each row: namespace, name, dimensions…).
fn dashboard_metrics(dashboard: &serde_json::Value, namespace: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().expect("a metric row is an array");
            if row[0] == namespace {
                found.insert(row[1].as_str().expect("a metric name").to_owned());
            }
        }
    }
    found
}

/// The metric names of `namespace` the alarms read (`Namespace:` followed by `MetricName:`).
fn alarm_metrics(template: &str, namespace: &str) -> BTreeSet<String> {
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == format!("Namespace: {namespace}"))
        .filter_map(|w| w[1].strip_prefix("MetricName: ").map(str::to_owned))
        .collect()
}

#[test]
fn the_dashboard_and_the_alarms_read_only_metrics_the_functions_emit() {
    let template = template();
    let on_dashboard = dashboard_metrics(&dashboard(&template), NAMESPACE);
    let in_alarms = alarm_metrics(&template, NAMESPACE);
    assert!(in_alarms.len() >= 5, "alarms found: {in_alarms:?}");
    let emitted: BTreeSet<String> = names::ALL.iter().map(|n| (*n).to_owned()).collect();
    let unknown: Vec<&String> = on_dashboard
        .union(&in_alarms)
        .filter(|n| !emitted.contains(*n))
        .collect();
    assert!(
        unknown.is_empty(),
        "the template reads metrics no function emits: {unknown:?}"
    );
    let missing: Vec<&String> = emitted.difference(&on_dashboard).collect();
    assert!(
        missing.is_empty(),
        "emitted but not on the dashboard: {missing:?}"
    );
}

#[test]
fn the_alarm_widget_shows_every_alarm_of_the_template() {
    let template = template();
    let alarms: BTreeSet<String> = template
        .lines()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| {
            matches!(
                w[1].trim(),
                "Type: AWS::CloudWatch::Alarm" | "Type: AWS::CloudWatch::CompositeAlarm"
            )
        })
        .map(|w| w[0].trim().trim_end_matches(':').to_owned())
        .collect();
    assert!(alarms.len() >= 10, "{alarms:?}");
    let shown: BTreeSet<String> = dashboard(&template)["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap().clone())
        .map(|a| {
            a.as_str()
                .unwrap()
                .trim_start_matches("${")
                .trim_end_matches(".Arn}")
                .to_owned()
        })
        .collect();
    assert_eq!(shown, alarms);
}

/// The operator's runbook (docs/operators.md) names every alarm of the template
/// (what it means, the first check, the command) and every metric the functions emit.
#[test]
fn the_runbook_names_every_alarm_and_every_metric() {
    let template = template();
    let runbook = std::fs::read_to_string(testkit::workspace_root().join("docs/operators.md")).unwrap();
    let alarms: Vec<String> = template
        .lines()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].trim().starts_with("Type: AWS::CloudWatch::") && w[1].trim().ends_with("Alarm"))
        .map(|w| w[0].trim().trim_end_matches(':').to_owned())
        .collect();
    assert!(alarms.len() >= 40, "{alarms:?}");
    let missing: Vec<&String> = alarms
        .iter()
        .filter(|a| !runbook.contains(&format!("`{a}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "alarms the runbook does not name: {missing:?}"
    );
    let metrics: Vec<&&str> = shared::metrics::names::ALL
        .iter()
        .filter(|m| !runbook.contains(&format!("`{m}`")))
        .collect();
    assert!(
        metrics.is_empty(),
        "metrics the runbook does not name: {metrics:?}"
    );
}

#[test]
fn every_secret_the_functions_read_is_granted_alone_and_never_a_plain_variable() {
    let template = template();
    for (variable, parameter) in [
        ("LINKBEST_POSTBACK_TOKENS_ARN", "LinkbestPostbackTokensSecretArn"),
        ("CALLBACK_HMAC_SECRETS_ARN", "CallbackHmacSecretsSecretArn"),
        ("LINKBEST_APP_SECRET_ARN", "LinkbestAppSecretSecretArn"),
    ] {
        assert!(
            template.contains(&format!("{variable}: !Ref {parameter}")),
            "{variable}"
        );
        assert!(
            template.contains(&format!(
                "Action: secretsmanager:GetSecretValue\n              Resource: !Ref {parameter}"
            )),
            "GetSecretValue on exactly {parameter}"
        );
        let plain = variable.trim_end_matches("_ARN");
        assert!(
            !template.contains(&format!("{plain}:")),
            "{plain} is a plain variable"
        );
    }
    assert!(
        !template.contains("NoEcho"),
        "no secret passes through a parameter"
    );
}

/// A reservation on linkbest-sync fails the stack on a new account whose unreserved concurrency
/// is at its minimum, and the feeds' leases already keep runs apart: it is a parameter, off
/// unless asked for.
#[test]
fn the_sync_reserves_no_concurrency_unless_asked() {
    let template = template();
    let sync = template
        .split("\n  LinkbestSyncFunction:\n")
        .nth(1)
        .expect("the sync function")
        .split("\n\n")
        .next()
        .unwrap();
    let line = sync
        .lines()
        .find(|l| l.trim_start().starts_with("ReservedConcurrentExecutions:"))
        .expect("the reservation line");
    assert!(
        line.contains(
            "!If [HasSyncReservedConcurrency, !Ref SyncReservedConcurrency, !Ref \"AWS::NoValue\"]"
        ),
        "{line}"
    );
    let parameter = template
        .split("\n  SyncReservedConcurrency:\n")
        .nth(1)
        .expect("the parameter");
    assert!(
        parameter.lines().take(3).any(|l| l.trim() == "Default: 0"),
        "off by default"
    );
    assert!(
        !template.contains("ReservedConcurrentExecutions: 2"),
        "no fixed reservation left"
    );
}

/// The resource block `name` of the template (its lines up to the next blank line).
fn resource<'a>(template: &'a str, name: &str) -> Option<&'a str> {
    let start = template.find(&format!("\n  {name}:\n"))?;
    let block = &template[start + 1..];
    Some(block.split("\n\n").next().unwrap_or(block))
}

/// Safe deployments (#21), checked on what AWS SAM's own translator makes of the template
/// (`scripts/sam_wiring.py`, offline): every HTTP route, schedule and invoke permission targets
/// the alias `live`, never `$LATEST` or a bare function; every function has a CodeDeploy group
/// that rolls back on alarm, shifting by the `DeploymentPreferenceType` parameter (a canary by
/// default); every rollback alarm exists and watches the new version only.
#[test]
fn routes_and_schedules_target_the_alias_and_rollback_alarms_watch_the_new_version() {
    let root = testkit::workspace_root();
    let output = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/sam_wiring.py"))
        .arg(root.join("template.yaml"))
        .output()
        .expect("the venv's python runs (scripts/bootstrap.sh installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let wiring: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let alias_of = |name: &str| -> Option<String> {
        let alias = &wiring["aliases"][name];
        (alias["name"] == "live").then(|| alias["function"].as_str().unwrap().to_owned())
    };

    let routes = wiring["routes"].as_object().unwrap();
    assert_eq!(routes.len(), 2, "{routes:?}");
    for (route, target, function) in [
        (
            "x-amazon-apigateway-any-method /linkbest/postback",
            "PostbackFunctionAliaslive",
            "PostbackFunction",
        ),
        (
            "x-amazon-apigateway-any-method /igv/order-status",
            "CallbackFunctionAliaslive",
            "CallbackFunction",
        ),
    ] {
        assert_eq!(routes[route], target, "{route}");
        assert_eq!(alias_of(target).as_deref(), Some(function));
    }
    // Issue #27.2: each partner's route on an API of its own, whose one stage is named by that
    // partner's path key (no `$default` stage): a request without the key matches no route of
    // any stage, so it never spends the route's throttle budget.
    assert_eq!(
        wiring["api_routes"],
        serde_json::json!({"LinkbestApi": ["/linkbest/postback"], "IgvApi": ["/igv/order-status"]})
    );
    let stages = wiring["stages"].as_object().unwrap();
    assert_eq!(stages.len(), 2, "one stage per API: {stages:?}");
    for (api, key) in [("LinkbestApi", "LinkbestPathKey"), ("IgvApi", "IgvPathKey")] {
        assert!(
            stages
                .values()
                .any(|s| s["api"] == api && s["name"] == serde_json::json!({"Ref": key})),
            "{api}'s stage is named by {key}: {stages:?}"
        );
    }
    let template_text = template();
    for key in ["LinkbestPathKey", "IgvPathKey"] {
        // The parameter's own lines: those indented under its name.
        let header = format!("  {key}:");
        let parameter = template_text
            .lines()
            .skip_while(|l| *l != header)
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !parameter.contains("Default:"),
            "{key} has no default: a default is public"
        );
        assert!(
            parameter.contains(r#"AllowedPattern: "^[A-Za-z0-9_-]{22,128}$""#),
            "{key}"
        );
    }

    let schedules = wiring["schedules"].as_object().unwrap();
    assert_eq!(schedules.len(), 2, "settlement and orders: {schedules:?}");
    for (name, targets) in schedules {
        assert_eq!(
            targets,
            &serde_json::json!(["LinkbestSyncFunctionAliaslive"]),
            "{name}"
        );
    }
    for (name, target) in wiring["permissions"].as_object().unwrap() {
        assert!(
            alias_of(target.as_str().unwrap()).is_some(),
            "{name} lets something invoke {target}, not an alias"
        );
    }

    let template = template();
    let groups = wiring["deployment_groups"].as_object().unwrap();
    for (function, at_least) in [("Postback", 5), ("Callback", 5), ("LinkbestSync", 2)] {
        let group = &groups[&format!("{function}FunctionDeploymentGroup")];
        assert_eq!(group["alarms_enabled"], true, "{function}");
        assert!(
            group["auto_rollback"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("DEPLOYMENT_STOP_ON_ALARM")),
            "{function} rolls back when an alarm fires"
        );
        assert_eq!(
            group["config"]["Fn::Sub"][1]["ConfigName"], "Canary10Percent10Minutes",
            "{function}: the parameter's default, a canary"
        );
        let alarms = group["alarms"].as_array().unwrap();
        assert!(alarms.len() >= at_least, "{function}: {alarms:?}");
        for alarm in alarms {
            let alarm = alarm.as_str().unwrap();
            let block = resource(&template, alarm)
                .unwrap_or_else(|| panic!("{function}'s rollback alarm {alarm} is not in the template"));
            assert!(block.contains("Type: AWS::CloudWatch::Alarm"), "{alarm}");
            assert!(
                block.contains(&format!("Value: !GetAtt {function}Function.Version.Version")),
                "{alarm} must watch the new version only:\n{block}"
            );
        }
        assert!(
            resource(&template, &format!("{function}Function"))
                .unwrap()
                .contains("Type: !Ref DeploymentPreferenceType"),
            "{function}: the deployment preference comes from the parameter"
        );
    }
    let parameter = resource(&template, "DeploymentPreferenceType").unwrap();
    assert!(
        parameter.contains("- AllAtOnce"),
        "a development stack can deploy at once"
    );
}

/// A festival's midnight (docs/design.md ("Capacity")): first attempts per second the defaults must admit.
const PEAK_PUSHES: f64 = 2_000.0;
const PEAK_CALLBACKS: f64 = 500.0;
/// At every layer that allows it.
const HEADROOM: f64 = 2.0;
/// AWS's documented defaults the layers must fit in: API Gateway's throttle quota per account and
/// Region (10,000 requests/s, a burst bucket of 5,000), Lambda's concurrency quota (1,000, of which
/// 100 always stay unreserved) and scaling rate (1,000 environments per function every 10 s),
/// DynamoDB's write units per partition (1,000/s), an API destination's most (300 requests/s).
const ACCOUNT_API_RATE: f64 = 10_000.0;
const ACCOUNT_API_BURST: f64 = 5_000.0;
const ACCOUNT_CONCURRENCY: f64 = 1_000.0;
const UNRESERVED_MINIMUM: f64 = 100.0;
const SCALING_PER_10_S: f64 = 1_000.0;
const PARTITION_WRITE_UNITS: f64 = 1_000.0;
/// Assumptions, stated in docs/design.md ("Capacity"): a slow warm delivery takes 0.1 s (the bench
/// measures ~20 ms); a push or callback writes 4 units (a transaction of two items under 1 KB, as
/// the cost test measures); a batch of 100 sends its 10 PutEvents requests together, 50 ms
/// each, plus as long again for Lambda's hand-over: 100 events per 100 ms (the bench measures it).
const SLOW_DELIVERY_SECONDS: f64 = 0.1;
const UNITS_PER_DELIVERY: f64 = 4.0;
const EVENTS_PER_SECOND_PER_BATCH: f64 = 1_000.0;

/// A parameter's default, as a number.
fn default_of(template: &str, parameter: &str) -> f64 {
    let block = resource(template, parameter).unwrap_or_else(|| panic!("no parameter {parameter}"));
    block
        .lines()
        .find_map(|l| l.trim().strip_prefix("Default: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{parameter} has no numeric default"))
}

/// Issue #27: the defaults admit a festival's 2,000 pushes/s and 500 callbacks/s at every layer
/// with 2x headroom, each within AWS's documented account defaults.
#[test]
fn the_defaults_admit_a_festivals_peak_at_every_layer() {
    let template = template();
    let d = |p: &str| default_of(&template, p);

    // API Gateway: a budget per partner route, wired to its parameters.
    for (api, route, rate, burst, peak) in [
        (
            "LinkbestApi",
            "ANY /linkbest/postback",
            "PostbackRateLimit",
            "PostbackBurstLimit",
            PEAK_PUSHES,
        ),
        (
            "IgvApi",
            "ANY /igv/order-status",
            "CallbackRateLimit",
            "CallbackBurstLimit",
            PEAK_CALLBACKS,
        ),
    ] {
        let settings = resource(&template, api)
            .unwrap()
            .split(&format!("\"{route}\":"))
            .nth(1)
            .unwrap_or_else(|| panic!("{route} has route settings of its own"));
        assert!(
            settings.contains(&format!("ThrottlingRateLimit: !Ref {rate}")),
            "{route}"
        );
        assert!(
            settings.contains(&format!("ThrottlingBurstLimit: !Ref {burst}")),
            "{route}"
        );
        assert!(
            d(rate) >= peak * HEADROOM,
            "{rate} {} < {peak} x {HEADROOM}",
            d(rate)
        );
        assert!(d(burst) >= peak, "{burst}: one second of the peak at once");
        assert!(d(burst) <= ACCOUNT_API_BURST, "{burst} over the account's burst");
    }
    assert!(d("PostbackRateLimit") + d("CallbackRateLimit") <= ACCOUNT_API_RATE);

    // Lambda: reserved concurrency for the peak at a slow delivery, within the account's quota,
    // reached within the minute of the ramp.
    for (function, parameter, peak) in [
        ("PostbackFunction", "PostbackConcurrency", PEAK_PUSHES),
        ("CallbackFunction", "CallbackConcurrency", PEAK_CALLBACKS),
    ] {
        assert!(
            resource(&template, function)
                .unwrap()
                .contains(&format!("!Ref {parameter}, !Ref \"AWS::NoValue\"]")),
            "{function} reserves {parameter}"
        );
        let needed = peak * SLOW_DELIVERY_SECONDS;
        assert!(d(parameter) >= needed * HEADROOM, "{parameter}");
        assert!(
            needed <= SCALING_PER_10_S * 6.0,
            "{function} scales to the peak within a minute"
        );
    }
    assert!(d("PostbackConcurrency") + d("CallbackConcurrency") <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM);

    // DynamoDB: the table warm for the peak's writes from its first second.
    let warm = d("TableWarmWriteUnitsPerSecond");
    assert!(warm >= (PEAK_PUSHES + PEAK_CALLBACKS) * UNITS_PER_DELIVERY * HEADROOM);
    assert!(
        resource(&template, "IngestTable")
            .unwrap()
            .contains("WriteUnitsPerSecond: !Ref TableWarmWriteUnitsPerSecond")
    );

    // No hot key on the replay index: a day's first changes of orders (2 units each, inside the
    // push's transaction) spread over its keys, each under half a partition's 1,000 units/s.
    let per_key = (PEAK_PUSHES + PEAK_CALLBACKS) * 2.0 / f64::from(shared::keys::CHANGES_DAY_SHARDS);
    assert!(
        per_key <= PARTITION_WRITE_UNITS / 2.0,
        "{per_key} units/s per changes key"
    );

    // The changes index is warm for every new order's entry; the queue index for every delivery
    // entering its recent queue and every paid order the awaiting-delivery queue (issue #29.4);
    // the deliveries index for every delivery. No key of a queue is hot.
    let table = resource(&template, "IngestTable").unwrap();
    assert!(table.contains("WriteUnitsPerSecond: !Ref ChangesIndexWarmWriteUnitsPerSecond"));
    assert!(d("ChangesIndexWarmWriteUnitsPerSecond") >= (PEAK_PUSHES + PEAK_CALLBACKS) * 2.0 * HEADROOM);
    assert!(table.contains("WriteUnitsPerSecond: !Ref QueueIndexWarmWriteUnitsPerSecond"));
    assert!(d("QueueIndexWarmWriteUnitsPerSecond") >= (PEAK_PUSHES + 2.0 * PEAK_CALLBACKS) * 2.0 * HEADROOM);
    assert!(table.contains("WriteUnitsPerSecond: !Ref DeliveriesIndexWarmWriteUnitsPerSecond"));
    assert!(d("DeliveriesIndexWarmWriteUnitsPerSecond") >= (PEAK_PUSHES + PEAK_CALLBACKS) * 2.0 * HEADROOM);
    let per_queue_key = PEAK_PUSHES.max(PEAK_CALLBACKS * 2.0) * 2.0 / f64::from(shared::keys::QUEUE_SHARDS);
    assert!(
        per_queue_key <= PARTITION_WRITE_UNITS / 2.0,
        "{per_queue_key} units/s per queue key"
    );

    // The hand-off: a stream shard per 1,000 write units of warm throughput at the least, each
    // publishing ParallelizationFactor batches at once.
    let publisher = resource(&template, "PublisherFunction").unwrap();
    let factor: f64 = publisher
        .lines()
        .find_map(|l| l.trim().strip_prefix("ParallelizationFactor: "))
        .and_then(|v| v.parse().ok())
        .expect("the stream mapping's ParallelizationFactor");
    let shards = warm / PARTITION_WRITE_UNITS;
    assert!(
        factor * EVENTS_PER_SECOND_PER_BATCH * shards >= (PEAK_PUSHES + PEAK_CALLBACKS) * HEADROOM,
        "the publisher keeps up with one event per delivery"
    );
    // A brownout holds the shard: retries until the record is 23 h old (the stream keeps 24 h),
    // since the code sets poison aside itself (a role that may write that partition only).
    let setting = |name: &str| {
        publisher
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(str::to_owned))
            .unwrap_or_else(|| panic!("the stream mapping's {name}"))
    };
    assert_eq!(setting("MaximumRetryAttempts: "), "-1");
    let age: u32 = setting("MaximumRecordAgeInSeconds: ").parse().unwrap();
    assert!((3_600..86_400).contains(&age), "{age}");
    assert!(publisher.contains(r#"dynamodb:LeadingKeys: ["HANDOFF#SET_ASIDE"]"#));
    assert!(publisher.contains(&format!("[\"{}\"]", shared::keys::HANDOFF_SET_ASIDE_PK)));

    // Forwarding: a peak half hour's events drain within the rule's one-day retry.
    let forwarding = d("ForwardingRatePerSecond");
    assert!(forwarding <= 300.0);
    assert!(forwarding * 86_400.0 >= (PEAK_PUSHES + PEAK_CALLBACKS) * 1_800.0 * HEADROOM);
}
