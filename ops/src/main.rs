//! `ops`: the operator's command. Works against the table in `TABLE_NAME`, deployed or local
//! (`AWS_ENDPOINT_URL_DYNAMODB`), with the usual AWS credentials.
//!
//!   ops latest pushes|callbacks [LIMIT]   the most recent deliveries (JSON lines; scans the table)
//!   ops order ID                          one order id across both partners: the Linkbest view, its
//!                                         pushes, list rows and settlement changes side by side, and
//!                                         the iGV view and callbacks
//!   ops missed [FROM [TO]]                orders the orders feed found only by poll (or whose
//!                                         status it found first), listed in [FROM, TO] (unix s;
//!                                         default: the last 7 days)
//!   ops checkpoint                        every feed's checkpoint, lag and lease
//!   ops migrate-views [--dry-run]         once, after the deploy that brought the hand-off: order
//!                                         views written before it get `view_changes = 1`, so a
//!                                         replay of their next change equals what was sent (a scan)
//!   ops set-aside                         the stream records the publisher set aside (poison:
//!                                         unreadable, too large, refused by the bus for their
//!                                         content), with the reason and the raw record
//!   ops backfill [FEED] FROM TO           re-sync [FROM, TO) (unix s) of a feed (`settlement`, the
//!                                         default, or `orders`) here and now, as the function would
//!                                         (needs the linkbest-sync settings: LINKBEST_APP_KEY, …)
//!   ops republish --from FROM --to TO     re-emits on EVENT_BUS_NAME the events of the order views
//!                                         and settlement changes that changed in [FROM, TO)
//!                                         (unix s or RFC 3339; a query of the `changes` index per
//!                                         day, never a scan), with the ids they were sent with
//!   ops republish --order ID              the same for one order id (both partners' partitions)
//!   ops republish … --bus BUS             to BUS (a name or ARN) instead of EVENT_BUS_NAME: one
//!                                         consumer's own bus, so no other rule sees the replay

use std::sync::Arc;

use ops::{Ops, item_json};
use serde_json::json;
use shared::config::from_process_env;
use shared::linkbest::client::LinkbestClient;
use shared::linkbest::orders::ORDERS;
use shared::linkbest::settings::SyncConfig;
use shared::linkbest::settlement::SETTLEMENT;
use shared::linkbest::sync::LinkbestSync;
use shared::store::Store;

const USAGE: &str = "usage: ops latest pushes|callbacks [LIMIT] | ops order ID | ops missed [FROM [TO]] | \
                     ops checkpoint | ops set-aside | ops migrate-views [--dry-run] | ops backfill [FEED] FROM TO | \
                     ops republish --from FROM --to TO [--bus BUS] | ops republish --order ID [--bus BUS]";

#[tokio::main]
async fn main() -> Result<(), String> {
    // Progress and problems (a backfill's pages, a replay's days, events the bus refused) as JSON
    // lines on stderr; stdout is the command's answer.
    shared::logging::init_for_tools();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let table = from_process_env("TABLE_NAME").ok_or("TABLE_NAME is not set")?;
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
            for item in ops.latest(kind, limit).await? {
                println!("{}", item_json(&item));
            }
        }
        ["order", id] => {
            let report = ops.order(id).await?;
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
            for item in &missed {
                let j = item_json(item);
                println!(
                    "{}",
                    json!({"order_sn": j["order_sn"], "finding": j["finding"], "listed_at": j["listed_at"],
                           "status": j["status"], "orders_price": j["orders_price"], "currency": j["currency"]})
                );
            }
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
            println!(
                "{}",
                json!({"views_without_view_changes": found, "migrated": migrated, "dry_run": dry_run})
            );
        }
        ["set-aside"] => {
            let store = Store::new(client.clone(), &table, 0);
            let kept = shared::handoff::set_aside::list(&store)
                .await
                .map_err(|e| e.to_string())?;
            for item in &kept {
                println!("{}", item_json(item));
            }
            eprintln!("ops: {} stream records set aside by the publisher", kept.len());
        }
        ["checkpoint"] => {
            for feed in [SETTLEMENT, ORDERS] {
                let c = ops.checkpoint(feed.checkpoint, now.unix_timestamp()).await?;
                println!(
                    "{}",
                    json!({"feed": feed.name, "checkpoint": c.checkpoint, "lag_seconds": c.lag_seconds,
                           "lease_owner": c.lease_owner, "lease_until": c.lease_until})
                );
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
            println!("{}", serde_json::to_string(&result).map_err(|e| e.to_string())?);
        }
        ["republish", rest @ ..] => {
            let outcome = republish(&client, &table, rest).await?;
            println!("{}", serde_json::to_string(&outcome).map_err(|e| e.to_string())?);
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
