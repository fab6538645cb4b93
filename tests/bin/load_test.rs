//! A bounded load test on loopback against the functions served by `cargo lambda watch`
//! (`make smoke` runs it): a concurrent mix of new and duplicate Linkbest pushes and iGV
//! callbacks, then a look at the table. It prints requests, duplicates and items stored, and
//! fails unless every distinct push and callback is stored exactly once and every answer is the
//! protocol's success.
//!
//! Settings (environment, `make run` sets them from `local.env`): `FUNCTIONS_URL`
//! (default `http://127.0.0.1:9000`), `TABLE_NAME`, `AWS_ENDPOINT_URL_DYNAMODB`,
//! `LINKBEST_POSTBACK_TOKENS`, `CALLBACK_HMAC_SECRETS`, `LOAD_EVENTS` (distinct events of each
//! kind, default 60), `LOAD_DUPLICATES` (deliveries of each, default 3), `LOAD_CONCURRENCY`
//! (default 16).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use shared::igv::protocol::signature_hex;
use shared::keys::{igv_callback_pk, linkbest_push_pk};
use shared::linkbest::push::sign_hex;
use shared::secret::parse_secret_list;

/// The whole run must end within this.
const TIME_LIMIT: Duration = Duration::from_secs(240);

enum Delivery {
    Push {
        body: String,
    },
    Callback {
        rid: String,
        ts: String,
        sig: String,
        body: String,
    },
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let base = setting("FUNCTIONS_URL", "http://127.0.0.1:9000");
    let table = setting("TABLE_NAME", "partner-ingest-local");
    let events: u64 = setting("LOAD_EVENTS", "60").parse().map_err(|_| "LOAD_EVENTS")?;
    let copies: u64 = setting("LOAD_DUPLICATES", "3")
        .parse()
        .map_err(|_| "LOAD_DUPLICATES")?;
    let concurrency: usize = setting("LOAD_CONCURRENCY", "16")
        .parse()
        .map_err(|_| "LOAD_CONCURRENCY")?;
    let token = parse_secret_list(&setting("LINKBEST_POSTBACK_TOKENS", ""))
        .into_iter()
        .next()
        .ok_or("no token")?;
    let secret = parse_secret_list(&setting("CALLBACK_HMAC_SECRETS", ""))
        .into_iter()
        .next()
        .ok_or("no secret")?;

    let run = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let mut deliveries = Vec::new();
    let (mut push_keys, mut callback_keys) = (HashSet::new(), HashSet::new());
    for i in 0..events {
        let push_id = format!("{run}{i:04}");
        let sign = sign_hex(token.expose(), "order.created", &push_id, "1795440000");
        let body = format!(
            r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1795440000,"Sign":"{sign}","Data":{{"OrderSn":"LOAD-{run}-{}","OrdersPrice":10.00}}}}"#,
            i % 17
        );
        push_keys.insert(linkbest_push_pk(&push_id));
        let rid = format!("load-{run}-{i}");
        let ts = run.to_string();
        let sig = signature_hex(secret.expose(), &ts, &rid);
        let cb_body = format!(
            r#"{{"orderId":{}{i:04},"sellerOrderStatus":1}}"#,
            run % 1_000_000_000
        );
        callback_keys.insert(igv_callback_pk(&rid));
        for _ in 0..copies {
            deliveries.push(Delivery::Push { body: body.clone() });
            deliveries.push(Delivery::Callback {
                rid: rid.clone(),
                ts: ts.clone(),
                sig: sig.clone(),
                body: cb_body.clone(),
            });
        }
    }
    fastrand::shuffle(&mut deliveries);
    let total = deliveries.len();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let http = Arc::new(http);
    let started = Instant::now();
    let results: Vec<Result<(bool, String), String>> = stream::iter(deliveries)
        .map(|delivery| {
            let (http, base) = (Arc::clone(&http), base.clone());
            async move {
                if started.elapsed() > TIME_LIMIT {
                    return Err("time limit reached".to_owned());
                }
                match delivery {
                    Delivery::Push { body } => {
                        let r = http
                            .post(format!("{base}/lambda-url/postback/"))
                            .body(body)
                            .send()
                            .await;
                        let text = r
                            .map_err(|e| e.to_string())?
                            .text()
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok((true, text))
                    }
                    Delivery::Callback { rid, ts, sig, body } => {
                        let r = http
                            .post(format!("{base}/lambda-url/callback/"))
                            .header("x-request-id", rid)
                            .header("x-timestamp", ts)
                            .header("x-signature", sig)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok((false, r.status().as_u16().to_string()))
                    }
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let mut failures = Vec::new();
    let (mut pushes_1, mut pushes_0, mut callbacks_200) = (0, 0, 0);
    for result in &results {
        match result {
            Ok((true, answer)) if answer == "1" => pushes_1 += 1,
            Ok((true, answer)) if answer == "0" => pushes_0 += 1,
            Ok((false, status)) if status == "200" => callbacks_200 += 1,
            other => failures.push(format!("{other:?}")),
        }
    }

    let client = shared::aws::default_dynamodb_client().await;
    let (mut stored_pushes, mut stored_callbacks) = (0u64, 0u64);
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        for item in page.items() {
            let pk = item
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or("");
            stored_pushes += u64::from(push_keys.contains(pk));
            stored_callbacks += u64::from(callback_keys.contains(pk));
        }
        match page.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => break,
        }
    }

    println!(
        "load: {total} requests ({} distinct pushes, {} distinct callbacks, each delivered {copies}x, concurrency {concurrency}) in {:.1} s = {:.0} req/s",
        push_keys.len(),
        callback_keys.len(),
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "load: answers: pushes 1 x{pushes_1}, 0 x{pushes_0}; callbacks 200 x{callbacks_200}; failures {}",
        failures.len()
    );
    println!("load: stored: {stored_pushes} pushes, {stored_callbacks} callbacks");
    let mut problems = failures.into_iter().take(5).collect::<Vec<_>>();
    if stored_pushes != push_keys.len() as u64 || stored_callbacks != callback_keys.len() as u64 {
        problems.push("stored != distinct".to_owned());
    }
    if pushes_1 != push_keys.len() {
        problems.push(format!(
            "{pushes_1} pushes answered 1, expected exactly {}",
            push_keys.len()
        ));
    }
    if problems.is_empty() {
        println!("load: ok, stored == distinct, nothing lost, nothing doubled");
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
