//! `ops`: the operator's command. Works against the table in `TABLE_NAME`, deployed or local
//! (`AWS_ENDPOINT_URL_DYNAMODB`), with the usual AWS credentials.
//!
//!   ops latest pushes|callbacks [LIMIT]   the most recent deliveries (JSON lines; scans the table)
//!   ops order ID                          one order id across both partners
//!   ops checkpoint                        the settlement checkpoint, its lag and lease
//!   ops backfill FROM TO                  re-sync Linkbest settlement changes of [FROM, TO) (unix s)
//!                                         here and now, as the function would (needs the
//!                                         settlement-sync settings: LINKBEST_APP_KEY, …)

use ops::{Ops, item_json};
use serde_json::json;
use shared::config::{SettlementConfig, from_process_env};
use shared::linkbest_client::LinkbestClient;
use shared::settlement_sync::{Mode, SettlementSync};
use shared::store::Store;

const USAGE: &str =
    "usage: ops latest pushes|callbacks [LIMIT] | ops order ID | ops checkpoint | ops backfill FROM TO";

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let table = from_process_env("TABLE_NAME").ok_or("TABLE_NAME is not set")?;
    let client = shared::aws::default_dynamodb_client().await;
    let ops = Ops::new(client.clone(), &table);
    let now = time::OffsetDateTime::now_utc();
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
            let list = |items: &[shared::store::Item]| items.iter().map(item_json).collect::<Vec<_>>();
            let out = json!({
                "linkbest": list(&report.linkbest),
                "igv": list(&report.igv),
                "linkbest_pushes": list(&report.pushes),
                "igv_callbacks": list(&report.callbacks),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            );
        }
        ["checkpoint"] => {
            let c = ops.checkpoint(now.unix_timestamp()).await?;
            println!(
                "{}",
                json!({"checkpoint": c.checkpoint, "lag_seconds": c.lag_seconds, "lease_owner": c.lease_owner, "lease_until": c.lease_until})
            );
        }
        ["backfill", from, to] => {
            let event = json!({"from": from, "to": to});
            let mode = Mode::from_event(&event).map_err(|e| e.to_string())?;
            let settings = SettlementConfig::from_env().map_err(|e| e.to_string())?;
            let linkbest = LinkbestClient::new(
                &settings.base_url,
                &settings.app_key,
                settings.app_secret.clone(),
                settings.retry,
            )?;
            let store = Store::new(client, table, settings.store.record_ttl_days);
            let sync = SettlementSync::new(store, linkbest, &settings);
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3_600);
            let summary = sync
                .run(mode, "ops-backfill", now, deadline)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&summary).map_err(|e| e.to_string())?);
        }
        _ => return Err(USAGE.to_owned()),
    }
    Ok(())
}
