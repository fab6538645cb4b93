//! A festival's midnight at the scale this machine allows (issue #27): the stated peak's shape —
//! Linkbest pushes and iGV callbacks 4 : 1, new orders with later status changes, partner retries
//! of the same delivery, the orders feed listing what was pushed plus orders no push brought, and
//! settlement changes — paced at `rate` deliveries a second through the real handlers into one
//! table, with each partner retrying a failed answer (its schedule scaled down to
//! `retry_pause`). The driver keeps what every order should end as, so a check can tell that
//! nothing was lost or doubled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::linkbest::api::parse_envelope;
use shared::linkbest::orders::parse_orders;
use shared::linkbest::postback::Postback;
use shared::linkbest::push::sign_hex;
use shared::linkbest::settlement::parse_changes;
use shared::store::Store;
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::{body_text, http_request};

/// The shape and pace.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Deliveries (pushes and callbacks, first attempts) a second.
    pub rate: f64,
    pub seconds: u64,
    /// Deliveries in flight at most (the functions' concurrency).
    pub concurrency: usize,
    /// Attempts per delivery (the partner's first try and its retries) and the pause between.
    pub attempts: u32,
    pub retry_pause: Duration,
}

/// What the run did.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// First attempts sent (pushes + callbacks), and the seconds they took.
    pub deliveries: u64,
    pub elapsed: Duration,
    /// Answers that asked the partner to retry, and deliveries that never got an accepting
    /// answer (lost to the push channel).
    pub failed_answers: u64,
    pub exhausted: Vec<String>,
    /// Linkbest orders (OrderSn, final status) and iGV orders (orderId, final status) sent.
    pub linkbest: Vec<(String, String)>,
    pub igv: Vec<(String, String)>,
    /// Orders only the list brought.
    pub listed_only: Vec<String>,
}

/// One delivery: which partner, what, its last status for its order.
enum Delivery {
    Push {
        push_id: u64,
        create_time: i64,
        order_sn: String,
        status: &'static str,
    },
    Callback {
        request_id: String,
        ts_ms: u64,
        order_id: String,
        status: &'static str,
    },
}

/// A Linkbest Order Push 2.0 request, signed with `token`, for `order_sn` at `status`.
pub fn signed_push(
    token: &str,
    push_id: u64,
    create_time: i64,
    order_sn: &str,
    status: &str,
) -> lambda_http::Request {
    let sign = sign_hex(
        token,
        "order.status",
        &push_id.to_string(),
        &create_time.to_string(),
    );
    let body = format!(
        r#"{{"PushId":{push_id},"EventType":"order.status","CreateTime":{create_time},"Sign":"{sign}","Data":{{"OrderSn":"{order_sn}","Status":"{status}","OrdersPrice":129.90,"SiterCommission":"6.49","Currency":"CNY"}}}}"#
    );
    http_request("POST", body)
}

/// An iGV Order Status Callback request, signed with `secret`, for `order_id` at `status`.
pub fn signed_callback(
    secret: &str,
    request_id: &str,
    ts_ms: u64,
    order_id: &str,
    status: &str,
) -> lambda_http::Request {
    let ts = ts_ms.to_string();
    let sig = signature_hex(secret, &ts, request_id);
    let body = format!(
        r#"{{"createdAt":"2025-12-17T13:44:16","orderId":{order_id},"orderNum":"SO{order_id}","sellerOrderStatus":{status},"buyerId":"1907369850568257537"}}"#
    );
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://example.com/igv/order-status")
        .header("x-request-id", request_id)
        .header("x-timestamp", ts.as_str())
        .header("x-signature", sig.as_str())
        .body(lambda_http::Body::Text(body))
        .expect("a request")
}

/// The handlers and their signing material.
pub struct Bundle {
    pub postback: Postback,
    pub callback: Callback,
    pub store: Store,
    pub token: String,
    pub secret: String,
}

impl Bundle {
    /// Sends `delivery` once; whether the answer accepted it (stored, or a duplicate).
    async fn send(&self, delivery: &Delivery) -> bool {
        match delivery {
            Delivery::Push {
                push_id,
                create_time,
                order_sn,
                status,
            } => {
                let request = signed_push(&self.token, *push_id, *create_time, order_sn, status);
                let answer = body_text(&self.postback.handle(request).await);
                answer == "1" || answer == "0"
            }
            Delivery::Callback {
                request_id,
                ts_ms,
                order_id,
                status,
            } => {
                let request = signed_callback(&self.secret, request_id, *ts_ms, order_id, status);
                self.callback.handle(request).await.status() == 200
            }
        }
    }
}

/// The deliveries of second `s`: `n` first attempts, 4 pushes to 1 callback; every third order
/// moves on to a later status in the next second (a second delivery of its own), and one push in
/// ten is delivered twice (a partner retry of a push whose answer was lost).
fn second(tag: &str, s: u64, n: u64, start: i64, run: &mut Run) -> Vec<Delivery> {
    let mut out = Vec::new();
    // Pushes carry the time they are made (CreateTime), as Linkbest's do.
    let now = start + s as i64;
    for i in 0..n {
        let id = s * 100_000 + i;
        if i % 5 == 4 {
            let order_id = format!("1{:015}", id);
            let ts_ms = 1_795_440_000_000 + id;
            out.push(Delivery::Callback {
                request_id: format!("{tag}-{id}-1"),
                ts_ms,
                order_id: order_id.clone(),
                status: "1",
            });
            let last = if i % 3 == 0 {
                out.push(Delivery::Callback {
                    request_id: format!("{tag}-{id}-2"),
                    ts_ms: ts_ms + 60_000,
                    order_id: order_id.clone(),
                    status: "2",
                });
                "2"
            } else {
                "1"
            };
            run.igv.push((order_id, last.to_owned()));
        } else {
            let order_sn = format!("SO{tag}{id:012}");
            out.push(Delivery::Push {
                push_id: id * 2,
                create_time: now,
                order_sn: order_sn.clone(),
                status: "0",
            });
            if i % 10 == 1 {
                out.push(Delivery::Push {
                    push_id: id * 2,
                    create_time: now,
                    order_sn: order_sn.clone(),
                    status: "0",
                });
            }
            let last = if i % 3 == 0 {
                out.push(Delivery::Push {
                    push_id: id * 2 + 1,
                    create_time: now + 1,
                    order_sn: order_sn.clone(),
                    status: "1",
                });
                "1"
            } else {
                "0"
            };
            run.linkbest.push((order_sn, last.to_owned()));
        }
    }
    out
}

/// Runs the festival: each second's deliveries spread evenly (never faster), at most `concurrency` in
/// flight, each retried by its partner until accepted or out of attempts; after each second, the
/// orders feed lists that second's Linkbest orders (and one order in fifty no push brought) and
/// settlement changes arrive for one order in ten.
pub async fn run(bundle: Arc<Bundle>, shape: Shape, tag: &str) -> Run {
    let mut run = Run::default();
    let gate = Arc::new(Semaphore::new(shape.concurrency));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let exhausted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per_second = shape.rate.round() as u64;
    let start = OffsetDateTime::now_utc().unix_timestamp();
    // Never faster than the rate: a machine that falls behind sends later, never in a burst.
    let mut next = Instant::now();
    for s in 0..shape.seconds {
        let from = run.linkbest.len();
        let deliveries = second(tag, s, per_second, start, &mut run);
        run.deliveries += per_second;
        let spacing = Duration::from_secs_f64(1.0 / deliveries.len().max(1) as f64);
        for delivery in deliveries {
            tokio::time::sleep_until(next.into()).await;
            let permit = Arc::clone(&gate).acquire_owned().await.expect("open");
            next = next.max(Instant::now()) + spacing;
            let (bundle, failed, exhausted) =
                (Arc::clone(&bundle), Arc::clone(&failed), Arc::clone(&exhausted));
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                for attempt in 1..=shape.attempts {
                    if bundle.send(&delivery).await {
                        return;
                    }
                    failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if attempt < shape.attempts {
                        tokio::time::sleep(shape.retry_pause).await;
                    }
                }
                let name = match &delivery {
                    Delivery::Push { order_sn, .. } => order_sn.clone(),
                    Delivery::Callback { order_id, .. } => order_id.clone(),
                };
                exhausted.lock().expect("not poisoned").push(name);
            }));
        }
        // The orders feed and the settlement feed on this second's Linkbest orders.
        let listed: Vec<(String, String)> = run.linkbest[from..].to_vec();
        let mut rows: Vec<String> = listed
            .iter()
            .enumerate()
            // The list tells each order's status as Linkbest holds it: its last one.
            .map(|(i, (sn, status))| {
                format!(r#"{{"Id":"{i}","OrderSn":"{sn}","OrdersPrice":"129.90","Currency":"CNY","Status":"{status}"}}"#)
            })
            .collect();
        if s % 2 == 0 {
            let sn = format!("SO{tag}LISTED{s:08}");
            rows.push(format!(
                r#"{{"Id":"L{s}","OrderSn":"{sn}","OrdersPrice":"9.90","Currency":"CNY","Status":"0"}}"#
            ));
            run.listed_only.push(sn);
        }
        let page = format!(r#"{{"Status":0,"Data":[{}]}}"#, rows.join(","));
        let envelope = parse_envelope(&page).expect("a page");
        let now = OffsetDateTime::now_utc();
        let orders = parse_orders(&envelope.rows).expect("rows");
        let settled: Vec<String> = listed
            .iter()
            .step_by(10)
            .map(|(sn, _)| {
                format!(r#"{{"OrderSn":"{sn}","ModifyAt":"2026-11-11 00:00:{:02}","ConfirmPrice":"120.0000","ModifyPrice":"-9.9000","ChargeCurrency":"CNY"}}"#, s % 60)
            })
            .collect();
        let bundle = Arc::clone(&bundle);
        tasks.push(tokio::spawn(async move {
            // A feed run retries its page until it is stored, as the sync does.
            for _ in 0..20 {
                if bundle
                    .store
                    .store_listed_orders(orders.clone(), now, start - 60)
                    .await
                    .is_ok()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            if !settled.is_empty() {
                let page = format!(r#"{{"Status":0,"Data":[{}]}}"#, settled.join(","));
                let changes = parse_changes(&parse_envelope(&page).expect("a page").rows).expect("rows");
                for _ in 0..20 {
                    if bundle.store.store_settlement_changes(&changes, now).await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("a delivery task");
    }
    run.elapsed = started.elapsed();
    run.failed_answers = failed.load(std::sync::atomic::Ordering::Relaxed);
    run.exhausted = exhausted.lock().expect("not poisoned").clone();
    run
}
