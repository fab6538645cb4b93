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
        .filter(|w| w[1].trim() == "Type: AWS::CloudWatch::Alarm")
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
