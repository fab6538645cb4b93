//! DynamoDB faults injected between the handlers and the local DynamoDB by a TCP proxy:
//! throttling, requests that never get an answer (timeouts), and connections cut after the write
//! reached the server. For each: the partner gets a failure answer, never a success without a
//! confirmed write, and after the partner's retry exactly one item exists with the right content.
//! (Against an HTTPS endpoint such as real DynamoDB the proxy cannot sit in between; these tests
//! then say so and check nothing.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lambda_http::Body;
use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::keys::{CALLBACK_SK, PUSH_SK, igv_callback_pk, linkbest_push_pk};
use shared::linkbest::postback::Postback;
use shared::linkbest::push::sign_hex;
use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::proxy::{FaultyProxy, Mode};
use testkit::{TestTable, attr_s, body_text, client_via, endpoint, http_request, local_setting};
use time::OffsetDateTime;

const FAULTS: [Mode; 3] = [Mode::Throttle, Mode::Blackhole, Mode::CutAfterServerAnswered];

/// A proxy in front of the test DynamoDB, if it speaks plain HTTP.
async fn proxy() -> Option<FaultyProxy> {
    let upstream = endpoint();
    if !upstream.starts_with("http://") {
        eprintln!(
            "skipped: the DynamoDB endpoint {upstream:?} is not plain HTTP, no proxy can sit in front of it"
        );
        return None;
    }
    Some(FaultyProxy::start(&upstream).await)
}

fn short_timeouts(table: &TestTable) -> shared::store::StoreConfig {
    let mut store = table.store_config();
    store.attempt_timeout = Duration::from_millis(500);
    store.operation_timeout = Duration::from_secs(2);
    store
}

#[tokio::test]
async fn postback_under_dynamodb_faults_answers_minus_1_and_the_retry_stores_exactly_once() {
    let Some(proxy) = proxy().await else { return };
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    for (i, fault) in FAULTS.into_iter().enumerate() {
        let table = TestTable::create().await;
        let store_config = short_timeouts(&table);
        let client = client_via(&proxy.endpoint(), &store_config).await;
        let config = PostbackConfig {
            store: store_config.clone(),
            tokens: tokens.clone().into(),
            max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
            create_time_window: None,
            refused: Default::default(),
        };
        let postback = Postback::new(Store::from_config(client, &store_config), &config);
        let push_id = format!("{}", 7_100 + i);
        let sign = sign_hex(tokens[0].expose(), "order.created", &push_id, "1000000000");
        let body = format!(
            r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1000000000,"Sign":"{sign}","Data":{{"OrderSn":"SO-F{i}","OrdersPrice":9.90}}}}"#
        );

        proxy.set(fault);
        let forwarded_before = proxy.forwarded();
        let started = Instant::now();
        let answer = body_text(&postback.handle(http_request("POST", body.clone())).await);
        assert_eq!(answer, "-1", "{fault:?}: no success without a confirmed write");
        let reached_server = proxy.forwarded() > forwarded_before;
        assert_eq!(
            reached_server,
            fault == Mode::CutAfterServerAnswered,
            "{fault:?}: did the write reach the server"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{fault:?}: answered within the function's timeout"
        );

        proxy.set(Mode::Pass);
        let retry = body_text(&postback.handle(http_request("POST", body.clone())).await);
        let expected = if fault == Mode::CutAfterServerAnswered {
            "0"
        } else {
            "1"
        };
        assert_eq!(retry, expected, "{fault:?}: the partner's retry");
        assert_eq!(
            body_text(&postback.handle(http_request("POST", body.clone())).await),
            "0"
        );

        let items = table.scan().await;
        assert_eq!(items.len(), 2, "{fault:?}: exactly one push and its view");
        let push = table.get(&linkbest_push_pk(&push_id), PUSH_SK).await.unwrap();
        assert_eq!(attr_s(&push, "raw_body"), Some(body.as_str()));
    }
}

#[tokio::test]
async fn callback_under_dynamodb_faults_answers_500_and_the_retry_stores_exactly_once() {
    let Some(proxy) = proxy().await else { return };
    let secrets = parse_secret_list(&local_setting("CALLBACK_HMAC_SECRETS"));
    let now_ms: u64 = 1_795_440_540_000;
    let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000).unwrap();
    for (i, fault) in FAULTS.into_iter().enumerate() {
        let table = TestTable::create().await;
        let store_config = short_timeouts(&table);
        let client = client_via(&proxy.endpoint(), &store_config).await;
        let config = CallbackConfig {
            store: store_config.clone(),
            secrets: secrets.clone().into(),
            max_age: Some(Duration::from_secs(300)),
            max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
            refused: Default::default(),
        };
        let callback = Callback::new(Store::from_config(client, &store_config), &config);
        let rid = format!("fault-{i}");
        let sig = signature_hex(secrets[0].expose(), &now_ms.to_string(), &rid);
        let body = format!(r#"{{"orderId":{},"sellerOrderStatus":1}}"#, 900 + i);
        let request = || {
            lambda_http::http::Request::builder()
                .method("POST")
                .header("x-request-id", &rid)
                .header("x-timestamp", now_ms.to_string())
                .header("x-signature", &sig)
                .body(Body::Text(body.clone()))
                .unwrap()
        };

        proxy.set(fault);
        let started = Instant::now();
        assert_eq!(
            callback.handle_at(request(), now).await.status(),
            500,
            "{fault:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{fault:?}: answered within the function's timeout"
        );

        proxy.set(Mode::Pass);
        assert_eq!(
            callback.handle_at(request(), now).await.status(),
            200,
            "{fault:?}: the platform's retry"
        );
        assert_eq!(callback.handle_at(request(), now).await.status(), 200);
        assert_eq!(
            table.scan().await.len(),
            2,
            "{fault:?}: exactly one callback and its view"
        );
        let item = table.get(&igv_callback_pk(&rid), CALLBACK_SK).await.unwrap();
        assert_eq!(attr_s(&item, "raw_body"), Some(body.as_str()));
    }
}

/// A postback whose DynamoDB client goes through the proxy, with the tests' usual timeouts (the
/// faults injected here answer at once; none is a timeout).
fn postback_via(proxy: &FaultyProxy, table: &TestTable) -> impl Future<Output = (Postback, Store)> {
    let store_config = table.store_config();
    let endpoint = proxy.endpoint();
    async move {
        let client = client_via(&endpoint, &store_config).await;
        let config = PostbackConfig {
            store: store_config.clone(),
            tokens: parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS")).into(),
            max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
            create_time_window: None,
            refused: Default::default(),
        };
        let store = Store::from_config(client, &store_config);
        (Postback::new(store.clone(), &config), store)
    }
}

fn signed_push(push_id: u64, order_sn: &str) -> String {
    let token = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"))[0]
        .expose()
        .to_owned();
    let sign = sign_hex(&token, "order.created", &push_id.to_string(), "1000000000");
    format!(
        r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1000000000,"Sign":"{sign}","Data":{{"OrderSn":"{order_sn}","OrdersPrice":9.90}}}}"#
    )
}

/// Injects `Mode::Conflict` into the next `times` transactions.
fn conflicts(proxy: &FaultyProxy, times: u32) {
    let remaining = Arc::new(AtomicU32::new(times));
    proxy.set_plan(Arc::new(move |operation: &str| {
        let take = operation == "TransactWriteItems"
            && remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if take { Mode::Conflict } else { Mode::Pass }
    }));
}

/// DynamoDB cancels a transaction with `TransactionConflict` when another request holds one of its
/// items. DynamoDB Local applies transactions one at a time and never does (640 concurrent
/// transactions on one item, mixed with plain updates of it: no conflict), so the proxy answers
/// exactly what DynamoDB answers. The store tries a conflicted transaction twice more: one or two
/// conflicts still store the push at the first delivery; three answer `-1` with nothing stored, and
/// the partner's retry stores it once.
#[tokio::test]
async fn transaction_conflicts_are_tried_again_and_never_store_twice() {
    let Some(proxy) = proxy().await else { return };
    for injected in 0..=3u32 {
        let table = TestTable::create().await;
        let (postback, store) = postback_via(&proxy, &table).await;
        let body = signed_push(7_200 + u64::from(injected), &format!("SO-C{injected}"));
        conflicts(&proxy, injected);

        let answer = body_text(&postback.handle(http_request("POST", body.clone())).await);
        assert_eq!(
            store.conflicts_retried(),
            u64::from(injected.min(2)),
            "{injected} conflicts: transactions tried again"
        );
        if injected <= 2 {
            assert_eq!(answer, "1", "{injected} conflicts are absorbed by the store");
        } else {
            assert_eq!(answer, "-1", "a lasting conflict answers failure");
            assert!(
                table.scan().await.is_empty(),
                "nothing written by a cancelled transaction"
            );
            let retry = body_text(&postback.handle(http_request("POST", body.clone())).await);
            assert_eq!(retry, "1", "the partner's retry stores it");
        }
        assert_eq!(
            body_text(&postback.handle(http_request("POST", body.clone())).await),
            "0"
        );
        assert_eq!(table.scan().await.len(), 2, "one push and its view");
    }
    proxy.set(Mode::Pass);
}

/// The 50-way delivery storm of one push, with a third of all transactions cancelled by a
/// conflict: exactly one delivery is answered `1`, every other `0`, one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_delivery_storm_with_transaction_conflicts_stores_once() {
    let Some(proxy) = proxy().await else { return };
    let table = TestTable::create().await;
    let (postback, store) = postback_via(&proxy, &table).await;
    proxy.set_plan(Arc::new(|operation: &str| {
        if operation == "TransactWriteItems" && fastrand::u8(0..3) == 0 {
            Mode::Conflict
        } else {
            Mode::Pass
        }
    }));
    let postback = Arc::new(postback);
    let body = Arc::new(signed_push(7_300, "SO-STORM"));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (postback, body) = (Arc::clone(&postback), Arc::clone(&body));
            tokio::spawn(async move {
                // As Linkbest does: a -1 is delivered again, up to five times.
                let mut answer = String::new();
                for _ in 0..5 {
                    answer = body_text(&postback.handle(http_request("POST", body.as_str())).await);
                    if answer != "-1" {
                        break;
                    }
                }
                answer
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    proxy.set(Mode::Pass);
    assert!(proxy.faults().get("transaction_conflict").copied().unwrap_or(0) > 0);
    assert!(store.conflicts_retried() > 0);
    assert_eq!(answers.iter().filter(|a| *a == "1").count(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| *a == "0").count(), 49, "{answers:?}");
    assert_eq!(table.scan().await.len(), 2, "one push and its view");
}
