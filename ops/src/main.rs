//! `ops`: the operator's command. Works against the table in `TABLE_NAME`, deployed or local
//! (`AWS_ENDPOINT_URL_DYNAMODB`), with the usual AWS credentials. `ops --help` lists every command
//! (it needs no environment); the text is [`HELP`].

use std::sync::Arc;

use ops::{Format, Ops, item_json};
use serde_json::json;
use shared::config::from_process_env;
use shared::linkbest::client::LinkbestClient;
use shared::linkbest::orders::ORDERS;
use shared::linkbest::settings::SyncConfig;
use shared::linkbest::settlement::SETTLEMENT;
use shared::linkbest::sync::LinkbestSync;
use shared::store::Store;

/// `ops --help`.
const HELP: &str = "\
ops: the operator's command for the partner-ingest table (docs/operators.md).

Environment: TABLE_NAME (the table), AWS credentials and region as the AWS CLI reads them;
AWS_ENDPOINT_URL_DYNAMODB for a local table. Commands that act as a function also read that
function's settings (named below). Output: JSON lines on stdout (--format table: aligned
columns); progress and problems as JSON lines on stderr.

Reading (queries and key reads only, never a scan of the orders):
  ops latest pushes|callbacks [LIMIT]   the most recent deliveries (default 20)
  ops order ID                          one order id across both partners: the Linkbest view, its
                                        pushes, list rows and settlement changes, and the iGV view
                                        and callbacks
  ops missed [FROM [TO]]                orders the orders feed found only by poll (or whose status
                                        it found first), listed in [FROM, TO] (default: 7 days)
  ops checkpoint                        every feed's checkpoint, lag and lease
  ops set-aside                         stream records the publisher set aside (poison), with the
                                        reason and the raw record

Re-running what was refused or parked (each runs the live path again: running it twice stores
nothing twice; --dry-run writes nothing and shows what would happen):
  ops reprocess refused linkbest|igv [--from T] [--to T] [--dry-run]
                                        deliveries refused for their signature, window or secret
                                        (kept REFUSED_KEEP_DAYS), verified again with the secrets
                                        configured now and stored; needs the function's settings
                                        (LINKBEST_POSTBACK_TOKENS[_ARN] / CALLBACK_HMAC_SECRETS[_ARN])
  ops reprocess refused --key KEY [--dry-run]
                                        one of them, by its key (LB#REFUSED#… / IGV#REFUSED#…)
  ops reprocess not-understood [--from MS] [--to MS | --request-id ID] [--dry-run]
                                        authentic iGV callbacks whose body was not understood
                                        (queue IGV#NOT_UNDERSTOOD; X-Timestamp range, unix ms, or
                                        one by its X-Request-Id), read again and applied
  ops reprocess unlinked [--sk SK] [--dry-run]
                                        settlement changes and list rows kept under LB#UNLINKED
                                        (all, or those whose sort key starts with SK: SETTLE#, LIST#
                                        or one row's whole sort key), read again and stored under
                                        their order

Emptying a failure queue (a message is deleted only once what it stood for was accepted):
  ops redrive rule-failures --queue-url URL [--bus BUS]
                                        events a rule's target did not take
                                        (AwaitingDeliveryRuleFailureQueue, ForwardingFailureQueue),
                                        sent to EVENT_BUS_NAME (or BUS) again
  ops redrive publisher-failures [--queue-url URL] [--bus BUS]
                                        batches the publisher gave up on (PublisherFailureQueue,
                                        default PUBLISHER_FAILURE_QUEUE_URL): the records' keys read
                                        back from the table's stream, exactly those orders
                                        republished (by the batch's time range once the stream no
                                        longer holds them)
  (AwaitingDeliveryDeadLetterQueue: SQS's own redrive, aws sqs start-message-move-task)

Writing:
  ops migrate-views [--dry-run]         once, after the deploy that brought the hand-off: order
                                        views written before it get view_changes = 1 (a scan)
  ops migrate-deliveries [--dry-run]    once, after the deploy that brought the deliveries index:
                                        push and callback records stored before it get their
                                        delivery_of and recent-queue keys (a scan), so ops order
                                        and ops latest find them
  ops backfill [FEED] FROM TO           re-sync [FROM, TO) (unix s) of a feed (settlement, the
                                        default, or orders) here and now; needs the linkbest-sync
                                        settings (LINKBEST_APP_KEY, LINKBEST_APP_SECRET[_ARN], ...)
  ops republish --from T --to T [--bus BUS]
                                        re-emits on EVENT_BUS_NAME (or BUS) the events of the views
                                        and settlement changes that changed in [FROM, TO), with the
                                        ids they were sent with
  ops republish --order ID [--bus BUS]  the same for one order id
  ops replay --from T [--to T] --rule RULE_ARN [--archive ARN]
                                        the bus's archive (every version it carried, in order) of
                                        [FROM, TO) (default TO: now) replayed to one consumer's rule
                                        (EventBridge's replay; archive: EVENT_ARCHIVE_ARN, the
                                        stack's OrdersArchiveArn); beside republish (current state)

Times: unix seconds or RFC 3339 unless stated. Options anywhere after the command:
  --format json|table                   JSON lines (default) or aligned columns
  -h, --help                            this text
";

const USAGE: &str = "usage: ops COMMAND ... (ops --help lists the commands)";

#[tokio::main]
async fn main() -> Result<(), String> {
    // Progress and problems (a backfill's pages, a replay's days, events the bus refused) as JSON
    // lines on stderr; stdout is the command's answer.
    shared::logging::init_for_tools();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty()
        || args
            .iter()
            .any(|a| matches!(a.as_str(), "-h" | "--help" | "help"))
    {
        print!("{HELP}");
        return Ok(());
    }
    let format = ops::Format::take(&mut args)?;
    let table = from_process_env("TABLE_NAME").ok_or("TABLE_NAME is not set (ops --help)")?;
    let client = shared::aws::default_dynamodb_client().await;
    let ops = Ops::new(client.clone(), &table);
    let now = time::OffsetDateTime::now_utc();
    let seconds = |v: &str| v.parse::<i64>().map_err(|_| format!("{v:?} is not unix seconds"));
    let list = |items: &[shared::store::Item]| items.iter().map(item_json).collect::<Vec<_>>();
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).map_err(|e| e.to_string());
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["latest", kind, rest @ ..] => {
            let limit = rest
                .first()
                .map_or(Ok(20), |l| l.parse().map_err(|_| "LIMIT must be a number"))?;
            let items = ops.latest(kind, limit).await?;
            format.print(&list(&items));
        }
        ["order", id] => {
            let report = ops.order(id).await?;
            if format == Format::Table {
                let mut rows = Vec::new();
                for (section, items) in [
                    ("linkbest view", &report.linkbest),
                    ("linkbest push", &report.pushes),
                    ("linkbest listed", &report.listed),
                    ("linkbest settlement", &report.settlement),
                    ("igv view", &report.igv),
                    ("igv callback", &report.callbacks),
                ] {
                    for mut row in list(items) {
                        row["section"] = section.into();
                        rows.push(row);
                    }
                }
                format.print(&rows);
                return Ok(());
            }
            println!(
                "{}",
                pretty(json!({
                    "linkbest": {
                        "view": list(&report.linkbest),
                        "pushes": list(&report.pushes),
                        "listed": list(&report.listed),
                        "settlement_changes": list(&report.settlement),
                    },
                    "igv": {
                        "view": list(&report.igv),
                        "callbacks": list(&report.callbacks),
                    },
                }))?
            );
        }
        ["missed", rest @ ..] => {
            let to = rest.get(1).map_or(Ok(now.unix_timestamp()), |v| seconds(v))?;
            let from = rest.first().map_or(Ok(to - 7 * 86_400), |v| seconds(v))?;
            let missed = ops.missed(from, to).await?;
            let rows: Vec<_> = missed
                .iter()
                .map(|item| {
                    let j = item_json(item);
                    json!({"order_sn": j["order_sn"], "finding": j["finding"], "listed_at": j["listed_at"],
                           "status": j["status"], "orders_price": j["orders_price"], "currency": j["currency"]})
                })
                .collect();
            format.print(&rows);
            eprintln!(
                "ops: {} orders found only by poll between {from} and {to}",
                missed.len()
            );
        }
        ["migrate-views", rest @ ..] if rest.len() <= 1 => {
            let dry_run = match rest {
                [] => false,
                ["--dry-run"] => true,
                _ => return Err(USAGE.to_owned()),
            };
            let (found, migrated) = ops.migrate_views(dry_run).await?;
            format.print(&[
                json!({"views_without_view_changes": found, "migrated": migrated, "dry_run": dry_run}),
            ]);
        }
        ["migrate-deliveries", rest @ ..] if rest.len() <= 1 => {
            let dry_run = match rest {
                [] => false,
                ["--dry-run"] => true,
                _ => return Err(USAGE.to_owned()),
            };
            let (found, migrated) = ops.migrate_deliveries(dry_run).await?;
            format.print(&[
                json!({"records_without_delivery_keys": found, "migrated": migrated, "dry_run": dry_run}),
            ]);
        }
        ["set-aside"] => {
            let store = Store::new(client.clone(), &table, 0);
            let kept = shared::handoff::set_aside::list(&store)
                .await
                .map_err(|e| e.to_string())?;
            format.print(&list(&kept));
            eprintln!("ops: {} stream records set aside by the publisher", kept.len());
        }
        ["checkpoint"] => {
            let mut rows = Vec::new();
            for feed in [SETTLEMENT, ORDERS] {
                let c = ops.checkpoint(feed.checkpoint, now.unix_timestamp()).await?;
                rows.push(
                    json!({"feed": feed.name, "checkpoint": c.checkpoint, "lag_seconds": c.lag_seconds,
                                 "lease_owner": c.lease_owner, "lease_until": c.lease_until}),
                );
            }
            format.print(&rows);
        }
        ["reprocess", rest @ ..] => {
            let rows = reprocess(&client, &table, rest, now).await?;
            let failed = rows.iter().filter(|r| r["result"] == "failed").count();
            format.print(&rows);
            eprintln!(
                "ops: {} re-run: {} accepted, {} would be, {} unchanged, {} failed",
                rows.len(),
                rows.iter().filter(|r| r["result"] == "accepted").count(),
                rows.iter().filter(|r| r["result"] == "would_accept").count(),
                rows.iter().filter(|r| r["result"] == "unchanged").count(),
                failed
            );
            if failed > 0 {
                return Err(format!(
                    "{failed} not re-run (the table or the secrets failed); run the same command again"
                ));
            }
        }
        ["backfill", rest @ ..] if (2..=3).contains(&rest.len()) => {
            let (feed, from, to) = match rest {
                [from, to] => (SETTLEMENT.name, *from, *to),
                [feed, from, to] => (*feed, *from, *to),
                _ => unreachable!("two or three arguments"),
            };
            let settings = SyncConfig::from_env().map_err(|e| e.to_string())?;
            // LINKBEST_APP_SECRET_ARN: read from Secrets Manager first, as the function does.
            let sdk = shared::aws::sdk_config(&settings.store).await;
            if let Some(e) = shared::aws::connect_secrets(&sdk, &[&settings.app_secret])
                .await
                .pop()
            {
                return Err(e.to_string());
            }
            let linkbest = Arc::new(LinkbestClient::new(
                &settings.base_url,
                &settings.app_key,
                settings.app_secret.clone(),
                settings.retry,
            ));
            let store = Store::new(client, table, settings.store.record_ttl_days);
            let sync = LinkbestSync::new(store, linkbest, &settings);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3_600);
            let event = json!({"feed": feed, "from": seconds(from)?, "to": seconds(to)?});
            let result = sync
                .invoke(&event, "ops-backfill", now, deadline)
                .await
                .map_err(|e| e.to_string())?;
            format.print(&[serde_json::to_value(&result).map_err(|e| e.to_string())?]);
        }
        ["redrive", rest @ ..] => {
            let outcome = redrive(&client, &table, rest).await?;
            format.print(&[serde_json::to_value(&outcome).map_err(|e| e.to_string())?]);
            if outcome.left > 0 {
                return Err(format!(
                    "{} messages left in the queue (first: {:?}); fix the cause and run the same command again",
                    outcome.left, outcome.first_problem
                ));
            }
        }
        ["replay", rest @ ..] => {
            let outcome = replay(rest, now).await?;
            let completed = outcome.state == "COMPLETED";
            format.print(&[serde_json::to_value(&outcome).map_err(|e| e.to_string())?]);
            if !completed {
                return Err(format!(
                    "the replay ended {} ({:?})",
                    outcome.state, outcome.state_reason
                ));
            }
        }
        ["republish", rest @ ..] => {
            let outcome = republish(&client, &table, rest).await?;
            format.print(&[serde_json::to_value(&outcome).map_err(|e| e.to_string())?]);
            if outcome.published.failed > 0 {
                return Err(format!(
                    "{} events not published (first: {:?}); run the same command again",
                    outcome.published.failed, outcome.published.first_failure
                ));
            }
        }
        _ => return Err(USAGE.to_owned()),
    }
    Ok(())
}

/// `ops reprocess …`: what was refused or parked, through the live path again (one JSON row each).
async fn reprocess(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    args: &[&str],
    now: time::OffsetDateTime,
) -> Result<Vec<serde_json::Value>, String> {
    use shared::refused::Rerunner;
    let (what, options) = args.split_first().ok_or(USAGE)?;
    let mut dry_run = false;
    let mut named = std::collections::BTreeMap::new();
    let mut positional = Vec::new();
    let mut rest = options.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--dry-run" => dry_run = true,
            "--from" | "--to" | "--key" | "--sk" | "--request-id" => {
                let value = rest.next().ok_or(format!("{arg} needs a value"))?;
                named.insert(*arg, *value);
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}; {USAGE}")),
            other => positional.push(other),
        }
    }
    let failed = |e: shared::store::StoreError| e.to_string();
    let row = |key: String, rerun: shared::refused::Rerun| {
        let mut v = rerun.to_json();
        v["key"] = key.into();
        v["dry_run"] = dry_run.into();
        v
    };
    match *what {
        "refused" => {
            let partner = match (positional.as_slice(), named.get("--key")) {
                ([partner], None) => (*partner).to_owned(),
                ([], Some(key)) if key.starts_with(shared::keys::LINKBEST_REFUSED_PREFIX) => {
                    "linkbest".to_owned()
                }
                ([], Some(key)) if key.starts_with(shared::keys::IGV_REFUSED_PREFIX) => "igv".to_owned(),
                _ => {
                    return Err(format!(
                        "ops reprocess refused linkbest|igv … or --key KEY; {USAGE}"
                    ));
                }
            };
            let live: Box<dyn Rerunner> = match partner.as_str() {
                "linkbest" => {
                    let config =
                        shared::linkbest::settings::PostbackConfig::from_env().map_err(|e| e.to_string())?;
                    let sdk = shared::aws::sdk_config(&config.store).await;
                    if let Some(e) = shared::aws::connect_secrets(&sdk, &[&config.tokens]).await.pop() {
                        return Err(e.to_string());
                    }
                    let store = Store::from_config(client.clone(), &config.store);
                    Box::new(shared::linkbest::postback::Postback::new(store, &config))
                }
                "igv" => {
                    let config =
                        shared::igv::settings::CallbackConfig::from_env().map_err(|e| e.to_string())?;
                    let sdk = shared::aws::sdk_config(&config.store).await;
                    if let Some(e) = shared::aws::connect_secrets(&sdk, &[&config.secrets]).await.pop() {
                        return Err(e.to_string());
                    }
                    let store = Store::from_config(client.clone(), &config.store);
                    Box::new(shared::igv::callback::Callback::new(store, &config))
                }
                other => return Err(format!("unknown partner {other:?}: linkbest or igv")),
            };
            let store = Store::new(client.clone(), table, 0);
            let items = match named.get("--key") {
                Some(key) => store
                    .kept_refused(key)
                    .await
                    .map_err(failed)?
                    .into_iter()
                    .collect(),
                None => {
                    let from = named
                        .get("--from")
                        .map_or(Ok(now - time::Duration::days(30)), |v| instant(v))?;
                    let to = named
                        .get("--to")
                        .map_or(Ok(now + time::Duration::minutes(1)), |v| instant(v))?;
                    store
                        .waiting_refused(live.source(), from, to)
                        .await
                        .map_err(failed)?
                }
            };
            let done = shared::refused::reprocess(&store, live.as_ref(), &items, dry_run)
                .await
                .map_err(failed)?;
            Ok(done
                .iter()
                .map(|r| {
                    let mut v = r.to_json();
                    v["dry_run"] = dry_run.into();
                    v
                })
                .collect())
        }
        "not-understood" => {
            use shared::igv::not_understood;
            let config =
                shared::store::StoreConfig::from_lookup(&from_process_env).map_err(|e| e.to_string())?;
            let store = Store::from_config(client.clone(), &config);
            let ms = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("{v:?} is not unix milliseconds"))
            };
            let from = named.get("--from").map_or(Ok(0), |v| ms(v))?;
            let to = named.get("--to").map_or(Ok(u64::MAX / 2), |v| ms(v))?;
            let items = match named.get("--request-id") {
                // One of them, by its X-Request-Id (its record's key).
                Some(id) => {
                    let key = (
                        shared::keys::igv_callback_pk(id),
                        shared::keys::CALLBACK_SK.to_owned(),
                    );
                    store
                        .get_whole(&[key])
                        .await
                        .map_err(failed)?
                        .0
                        .into_values()
                        .collect()
                }
                None => not_understood::parked(&store, from, to).await.map_err(failed)?,
            };
            let mut rows = Vec::new();
            for item in &items {
                let key = ops::s(item, "pk");
                rows.push(row(key, not_understood::rerun(&store, item, dry_run).await));
            }
            Ok(rows)
        }
        "unlinked" => {
            use shared::linkbest::unlinked;
            let config =
                shared::store::StoreConfig::from_lookup(&from_process_env).map_err(|e| e.to_string())?;
            let store = Store::from_config(client.clone(), &config);
            let prefix = named.get("--sk").copied().unwrap_or("");
            let items = unlinked::parked(&store, prefix).await.map_err(failed)?;
            let mut rows = Vec::new();
            for item in &items {
                let key = format!("{} {}", ops::s(item, "pk"), ops::s(item, "sk"));
                rows.push(row(key, unlinked::rerun(&store, item, dry_run).await));
            }
            Ok(rows)
        }
        other => Err(format!(
            "unknown reprocess {other:?}: refused, not-understood or unlinked; {USAGE}"
        )),
    }
}

/// `ops replay --from T --to T --rule RULE_ARN [--archive ARCHIVE_ARN]`: a time range of the bus's
/// archive to one consumer's rule (see `ops::replay`).
async fn replay(args: &[&str], now: time::OffsetDateTime) -> Result<ops::replay::ReplayOutcome, String> {
    let (mut from, mut to, mut rule, mut archive) = (None, None, None, from_process_env("EVENT_ARCHIVE_ARN"));
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or(format!("{arg} needs a value; {USAGE}"))?;
        match *arg {
            "--from" => from = Some(instant(value)?),
            "--to" => to = Some(instant(value)?),
            "--rule" => rule = Some((*value).to_owned()),
            "--archive" => archive = Some((*value).to_owned()),
            other => return Err(format!("unknown option {other}; {USAGE}")),
        }
    }
    let (Some(from), Some(rule)) = (from, rule) else {
        return Err(format!(
            "ops replay --from T [--to T] --rule RULE_ARN [--archive ARN]; {USAGE}"
        ));
    };
    let to = to.unwrap_or(now);
    if from >= to {
        return Err("--from must be before --to".to_owned());
    }
    let archive =
        archive.ok_or("--archive ARN (or EVENT_ARCHIVE_ARN, the stack's OrdersArchiveArn) is needed")?;
    let store = shared::store::StoreConfig::from_lookup(&from_process_env).map_err(|e| e.to_string())?;
    let sdk = shared::aws::sdk_config(&store).await;
    let client = aws_sdk_eventbridge::Client::new(&sdk);
    ops::replay::replay(
        &client,
        &archive,
        &rule,
        from,
        to,
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(3_600),
    )
    .await
}

/// `ops redrive …`: a failure queue emptied (see `ops::redrive`).
async fn redrive(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    args: &[&str],
) -> Result<ops::redrive::RedriveOutcome, String> {
    let settings = shared::handoff::settings::PublisherConfig::from_env().map_err(|e| e.to_string())?;
    let sdk = shared::aws::sdk_config(&settings.store).await;
    let (args, bus_name) = ops::split_bus(args, &settings.bus_name).map_err(|e| format!("{e}; {USAGE}"))?;
    let bus =
        shared::handoff::eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus_name);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = |given: Option<&&str>, variable: &str| -> Result<String, String> {
        given
            .map(|q| (*q).to_owned())
            .or_else(|| from_process_env(variable))
            .ok_or_else(|| format!("--queue-url URL (or {variable}) is needed"))
    };
    match args {
        ["rule-failures", "--queue-url", url] => {
            ops::redrive::rule_failures(&sqs, url, &bus, settings.retry).await
        }
        ["publisher-failures", rest @ ..] => {
            let url = match rest {
                [] => queue(None, "PUBLISHER_FAILURE_QUEUE_URL")?,
                ["--queue-url", url] => queue(Some(url), "PUBLISHER_FAILURE_QUEUE_URL")?,
                _ => return Err(USAGE.to_owned()),
            };
            // The table's stream: DynamoDB's streams endpoint (a local DynamoDB serves both).
            let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
            if from_process_env("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none()
                && let Some(local) = from_process_env("AWS_ENDPOINT_URL_DYNAMODB")
            {
                streams = streams.endpoint_url(local);
            }
            let streams = aws_sdk_dynamodbstreams::Client::from_conf(streams.build());
            let store = Store::new(client.clone(), table, 0);
            ops::redrive::publisher_failures(&sqs, &url, &streams, &store, &bus, settings.retry).await
        }
        _ => Err(USAGE.to_owned()),
    }
}

/// `ops republish`: the events of a time range or of one order, again, on `EVENT_BUS_NAME`.
async fn republish(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    args: &[&str],
) -> Result<shared::handoff::replay::ReplayOutcome, String> {
    use shared::handoff::replay::{republish_partitions, republish_range};
    let settings = shared::handoff::settings::PublisherConfig::from_env().map_err(|e| e.to_string())?;
    let sdk = shared::aws::sdk_config(&settings.store).await;
    // `--bus NAME|ARN` at the end: to that bus instead (one consumer's own bus, so the orders
    // bus's other rules see nothing of the replay).
    let (args, bus_name) = ops::split_bus(args, &settings.bus_name).map_err(|e| format!("{e}; {USAGE}"))?;
    let bus =
        shared::handoff::eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), bus_name);
    let store = Store::new(client.clone(), table, 0);
    let views = shared::VIEWS;
    let failed = |e: shared::store::StoreError| e.to_string();
    match args {
        ["--from", from, "--to", to] => {
            let (from, to) = (instant(from)?, instant(to)?);
            if from >= to {
                return Err("--from must be before --to".to_owned());
            }
            republish_range(&store, from, to, views, &bus, settings.retry)
                .await
                .map_err(failed)
        }
        ["--order", id] => {
            shared::keys::validate_id(id).map_err(|e| e.to_string())?;
            let pks = [
                shared::keys::linkbest_order_pk(id),
                shared::keys::igv_order_pk(id),
            ];
            republish_partitions(&store, &pks, views, &bus, settings.retry)
                .await
                .map_err(failed)
        }
        _ => Err(USAGE.to_owned()),
    }
}

/// Unix seconds or RFC 3339.
fn instant(text: &str) -> Result<time::OffsetDateTime, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return time::OffsetDateTime::from_unix_timestamp(seconds).map_err(|e| e.to_string());
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("{text:?} is neither unix seconds nor RFC 3339"))
}
