//! A bounded load test on loopback against the running functions (`make smoke` runs it): a
//! concurrent mix of new and duplicate Linkbest pushes and iGV callbacks, then a look at the
//! table. It prints requests, duplicates and items stored, and fails unless every distinct push and
//! callback is stored exactly once and every answer is the protocol's success.
//!
//! Two ways to reach the functions:
//! - `POSTBACK_INVOKE_URLS` / `CALLBACK_INVOKE_URLS` (comma-separated): instances of AWS's Lambda
//!   Runtime Interface Emulator (`…/2015-03-31/functions/function/invocations`), each serving one
//!   invocation at a time as one execution environment does; each delivery is an API Gateway
//!   (HTTP API v2) event built from the samples in `events/`. One worker per instance.
//! - otherwise `FUNCTIONS_URL` (default `http://127.0.0.1:9000`): plain HTTP to the function URLs
//!   `cargo lambda watch` serves (`make run`), `LOAD_CONCURRENCY` at a time.
//!
//! Settings (environment, `make run` sets them from `local.env`): `TABLE_NAME`,
//! `AWS_ENDPOINT_URL_DYNAMODB`,
//! `LINKBEST_POSTBACK_TOKENS`, `CALLBACK_HMAC_SECRETS`, `LOAD_EVENTS` (distinct events of each
//! kind, default 60), `LOAD_DUPLICATES` (deliveries of each, default 3), `LOAD_CONCURRENCY`
//! (default 16).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
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

    shared::tls::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let http = Arc::new(http);
    let started = Instant::now();
    let urls = |name: &str| -> Vec<String> {
        setting(name, "")
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (postback_urls, callback_urls) = (urls("POSTBACK_INVOKE_URLS"), urls("CALLBACK_INVOKE_URLS"));
    let results: Vec<Result<(bool, String), String>> = if postback_urls.is_empty() {
        stream::iter(deliveries)
            .map(|delivery| {
                let (http, base) = (Arc::clone(&http), base.clone());
                async move {
                    if started.elapsed() > TIME_LIMIT {
                        return Err("time limit reached".to_owned());
                    }
                    over_http(&http, &base, delivery).await
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    } else {
        through_emulators(&http, deliveries, &postback_urls, &callback_urls, started).await?
    };
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

    let how = if postback_urls.is_empty() {
        format!("concurrency {concurrency} over HTTP")
    } else {
        format!(
            "{} + {} emulator instances",
            postback_urls.len(),
            callback_urls.len()
        )
    };
    println!(
        "load: {total} requests ({} distinct pushes, {} distinct callbacks, each delivered {copies}x, {how}) in {:.1} s = {:.0} req/s",
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

/// One delivery to a function URL of `cargo lambda watch`: (is a push, the answer).
async fn over_http(http: &reqwest::Client, base: &str, delivery: Delivery) -> Result<(bool, String), String> {
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

/// A sample event of `events/`.
fn sample(name: &str) -> Result<Value, String> {
    let path = testkit::workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// Every delivery through the emulator instances, one worker per instance, each kind to its own
/// function's instances.
async fn through_emulators(
    http: &reqwest::Client,
    deliveries: Vec<Delivery>,
    postback_urls: &[String],
    callback_urls: &[String],
    started: Instant,
) -> Result<Vec<Result<(bool, String), String>>, String> {
    let (push_template, callback_template) = (
        sample("postback-1-new-push.json")?,
        sample("callback-1-order-paid.json")?,
    );
    let (mut pushes, mut callbacks) = (VecDeque::new(), VecDeque::new());
    for delivery in deliveries {
        match delivery {
            Delivery::Push { body } => {
                let mut event = push_template.clone();
                event["headers"]["content-length"] = json!(body.len().to_string());
                event["body"] = json!(body);
                pushes.push_back(event);
            }
            Delivery::Callback { rid, ts, sig, body } => {
                let mut event = callback_template.clone();
                let headers = &mut event["headers"];
                headers["content-length"] = json!(body.len().to_string());
                headers["X-Request-Id"] = json!(rid);
                headers["X-Timestamp"] = json!(ts);
                headers["X-Signature"] = json!(sig);
                event["body"] = json!(body);
                callbacks.push_back(event);
            }
        }
    }
    let queues = [
        (true, Arc::new(Mutex::new(pushes)), postback_urls),
        (false, Arc::new(Mutex::new(callbacks)), callback_urls),
    ];
    let workers = queues.iter().flat_map(|(is_push, queue, urls)| {
        urls.iter().map(move |url| {
            let queue = Arc::clone(queue);
            async move {
                let mut out = Vec::new();
                loop {
                    let next = queue.lock().expect("not poisoned").pop_front();
                    let Some(event) = next else { break };
                    if started.elapsed() > TIME_LIMIT {
                        out.push(Err("time limit reached".to_owned()));
                        continue;
                    }
                    out.push(invoke(http, url, &event, *is_push).await);
                }
                out
            }
        })
    });
    Ok(futures_util::future::join_all(workers)
        .await
        .into_iter()
        .flatten()
        .collect())
}

/// One invocation through an emulator: (is a push, the answer body or the HTTP status).
async fn invoke(
    http: &reqwest::Client,
    url: &str,
    event: &Value,
    is_push: bool,
) -> Result<(bool, String), String> {
    let text = http
        .post(url)
        .body(event.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let answer: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    if is_push {
        Ok((true, answer["body"].as_str().unwrap_or_default().to_owned()))
    } else {
        Ok((false, answer["statusCode"].to_string()))
    }
}
