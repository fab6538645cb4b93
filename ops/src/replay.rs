//! `ops replay --from --to --rule RULE` (issue #29.7): the orders bus keeps every event it carried
//! in its archive (`OrdersArchive`, `ArchiveRetentionDays`); a replay sends the events of a time
//! range to one consumer's rule — every version the bus carried, in the order it carried them —
//! where `ops republish` sends each view's current version. EventBridge's own replay does the
//! work (`StartReplay`, then `DescribeReplay` until it ends); replayed events carry a
//! `replay-name` field in their envelope, and consumers drop doubles by `detail.event_id` as ever.

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use serde::Serialize;
use time::OffsetDateTime;

/// What a replay came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayOutcome {
    pub replay_name: String,
    pub rule: String,
    pub from: String,
    pub to: String,
    /// EventBridge's last state (`COMPLETED`, `FAILED`, …) and its reason.
    pub state: String,
    pub state_reason: Option<String>,
}

/// The bus a rule belongs to, from the rule's ARN (`…:rule/BUS/NAME`; `…:rule/NAME` is on the
/// default bus).
pub fn bus_of_rule(rule_arn: &str) -> Result<String, String> {
    let (prefix, path) = rule_arn.split_once(":rule/").ok_or_else(|| {
        format!("{rule_arn:?} is not a rule ARN (arn:aws:events:REGION:ACCOUNT:rule/BUS/NAME)")
    })?;
    let bus = match path.split_once('/') {
        Some((bus, name)) if !bus.is_empty() && !name.is_empty() => bus,
        None if !path.is_empty() => "default",
        _ => return Err(format!("{rule_arn:?} names no rule")),
    };
    Ok(format!("{prefix}:event-bus/{bus}"))
}

/// A replay name EventBridge accepts (`[.\-_A-Za-z0-9]+`, at most 64) saying what it replays.
pub fn replay_name(rule_arn: &str, from: OffsetDateTime, to: OffsetDateTime) -> String {
    let rule = rule_arn.rsplit('/').next().unwrap_or("rule");
    let clean: String = rule
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let tail = format!("-{}-{}", from.unix_timestamp(), to.unix_timestamp());
    let room = 64 - "ops-".len() - tail.len();
    format!("ops-{}{tail}", &clean[..clean.len().min(room)])
}

fn text(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Starts the replay of `[from, to)` of `archive_arn` to `rule_arn` and waits (polling every
/// `poll`, at most `wait`) until EventBridge says it ended.
pub async fn replay(
    client: &aws_sdk_eventbridge::Client,
    archive_arn: &str,
    rule_arn: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
    poll: std::time::Duration,
    wait: std::time::Duration,
) -> Result<ReplayOutcome, String> {
    let failed = |e: aws_sdk_eventbridge::Error| e.to_string();
    let name = replay_name(rule_arn, from, to);
    let destination = ReplayDestination::builder()
        .arn(bus_of_rule(rule_arn)?)
        .filter_arns(rule_arn)
        .build()
        .map_err(|e| e.to_string())?;
    client
        .start_replay()
        .replay_name(&name)
        .description(format!(
            "ops replay of [{}, {}) to {rule_arn}",
            text(from),
            text(to)
        ))
        .event_source_arn(archive_arn)
        .event_start_time(DateTime::from_secs(from.unix_timestamp()))
        .event_end_time(DateTime::from_secs(to.unix_timestamp()))
        .destination(destination)
        .send()
        .await
        .map_err(|e| failed(e.into()))?;
    let until = tokio::time::Instant::now() + wait;
    loop {
        let described = client
            .describe_replay()
            .replay_name(&name)
            .send()
            .await
            .map_err(|e| failed(e.into()))?;
        let state = described.state().cloned();
        let ended = matches!(
            state,
            Some(ReplayState::Completed | ReplayState::Failed | ReplayState::Cancelled)
        );
        if ended || tokio::time::Instant::now() >= until {
            return Ok(ReplayOutcome {
                replay_name: name,
                rule: rule_arn.to_owned(),
                from: text(from),
                to: text(to),
                state: state.map_or_else(|| "UNKNOWN".to_owned(), |s| s.as_str().to_owned()),
                state_reason: described.state_reason().map(str::to_owned),
            });
        }
        tracing::info!(target: "ops", replay = %name, state = ?state, "replay running");
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_arn_names_its_bus() {
        assert_eq!(
            bus_of_rule("arn:aws:events:us-east-1:123456789012:rule/orders-bus/fulfilment").unwrap(),
            "arn:aws:events:us-east-1:123456789012:event-bus/orders-bus"
        );
        assert_eq!(
            bus_of_rule("arn:aws:events:us-east-1:123456789012:rule/on-default").unwrap(),
            "arn:aws:events:us-east-1:123456789012:event-bus/default"
        );
        assert!(bus_of_rule("fulfilment").is_err());
        assert!(bus_of_rule("arn:aws:events:us-east-1:1:rule/").is_err());
    }

    #[test]
    fn replay_names_are_what_eventbridge_accepts() {
        let at = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let name = replay_name(
            "arn:aws:events:us-east-1:1:rule/orders/a rule with spaces and a very long name that goes on and on",
            at(1_795_000_000),
            at(1_795_086_400),
        );
        assert!(name.len() <= 64, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        );
        assert!(name.ends_with("-1795000000-1795086400"));
    }
}
