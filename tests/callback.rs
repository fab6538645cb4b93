//! The callback function end to end: real handler, real DynamoDB-compatible server.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Body;
use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::keys::{
    CALLBACK_SK, IGV_AWAITING_DELIVERY_HELD_QUEUE, IGV_AWAITING_DELIVERY_QUEUE, ORDER_SK, QUEUE_INDEX,
    QUEUE_PK, QUEUE_SK, igv_callback_pk, igv_order_pk, queue_key, queue_keys,
};
use shared::secret::{Secret, parse_secret_list};
use shared::store::Store;
use testkit::faults::{FailCalls, Strike, with_fault};
use testkit::{Item, TestTable, attr_n, attr_s, body_text, local_setting, unreachable_client};
use time::OffsetDateTime;

/// The tests' clock: callbacks are signed "now" relative to this.
const NOW_MS: u64 = 1_795_440_540_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(NOW_MS) * 1_000_000).unwrap()
}

fn secrets() -> Vec<Secret> {
    parse_secret_list(&local_setting("CALLBACK_HMAC_SECRETS"))
}

fn secret() -> String {
    secrets()[0].expose().to_owned()
}

fn config(table: &TestTable) -> CallbackConfig {
    CallbackConfig {
        store: table.store_config(),
        secrets: secrets().into(),
        max_age: Some(Duration::from_secs(300)),
        max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
        refused: Default::default(),
    }
}

fn callback(table: &TestTable) -> Callback {
    let config = config(table);
    Callback::new(Store::from_config(table.client.clone(), &config.store), &config)
}

fn body(order_id: &str, status: &str) -> String {
    format!(
        r#"{{"createdAt":"2025-12-17T13:44:16","orderId":{order_id},"orderNum":"SO{order_id}","sellerOrderStatus":{status},"buyerId":"1907369850568257537"}}"#
    )
}

fn request(headers: &[(&str, &str)], body: &str) -> lambda_http::Request {
    let mut builder = lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://example.execute-api.us-east-1.amazonaws.com/igv/order-status");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Body::Text(body.to_owned())).unwrap()
}

/// A callback exactly as the platform signs it.
fn signed(secret: &str, request_id: &str, ts_ms: u64, body: &str) -> lambda_http::Request {
    let ts = ts_ms.to_string();
    let sig = signature_hex(secret, &ts, request_id);
    request(
        &[
            ("content-type", "application/json"),
            ("x-request-id", request_id),
            ("x-timestamp", &ts),
            ("x-signature", &sig),
        ],
        body,
    )
}

async fn send(cb: &Callback, request: lambda_http::Request) -> u16 {
    let response = cb.handle_at(request, now()).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(body_text(&response).starts_with(r#"{"result":""#));
    response.status().as_u16()
}

/// Sends like iGV: a 500 is sent again (after a short pause), up to five times; the last status.
/// Concurrent transactions on the same items can conflict (`TransactionConflict`); the store tries
/// again twice, and what is still refused answers 500 with nothing stored, which the retry settles.
async fn send_with_retries(cb: &Callback, request: impl Fn() -> lambda_http::Request) -> u16 {
    let mut status = send(cb, request()).await;
    for _ in 0..4 {
        if status != 500 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(20..120))).await;
        status = send(cb, request()).await;
    }
    status
}

async fn sorted_scan(table: &TestTable) -> Vec<Item> {
    let mut items = table.scan().await;
    items.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
    items
}

#[tokio::test]
async fn a_valid_callback_is_stored_and_answered_200() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let b = body("1689644928115784", "1");
    assert_eq!(
        send(&cb, signed(&secret(), "2002986662652579841", NOW_MS, &b)).await,
        200
    );

    let item = table
        .get(&igv_callback_pk("2002986662652579841"), CALLBACK_SK)
        .await
        .expect("stored");
    assert_eq!(attr_s(&item, "request_id"), Some("2002986662652579841"));
    assert_eq!(attr_n(&item, "x_timestamp"), Some("1795440540000"));
    assert_eq!(
        attr_s(&item, "order_id"),
        Some("1689644928115784"),
        "16-digit id kept exact"
    );
    assert_eq!(attr_s(&item, "seller_order_status"), Some("1"));
    assert_eq!(attr_s(&item, "raw_body"), Some(b.as_str()));
    assert!(attr_s(&item, "received_at").is_some());

    let view = table
        .get(&igv_order_pk("1689644928115784"), ORDER_SK)
        .await
        .expect("order view");
    assert_eq!(attr_s(&view, "seller_order_status"), Some("1"));
    assert_eq!(attr_s(&view, "order_num"), Some("SO1689644928115784"));
    assert_eq!(
        attr_s(&view, QUEUE_PK),
        Some(queue_key(IGV_AWAITING_DELIVERY_QUEUE, &igv_order_pk("1689644928115784")).as_str())
    );
}

#[tokio::test]
async fn a_duplicate_request_id_answers_200_and_changes_nothing() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let b = body("1000000000000001", "1");
    assert_eq!(send(&cb, signed(&secret(), "rid-dup", NOW_MS, &b)).await, 200);
    let before = sorted_scan(&table).await;
    // A retry, possibly with a fresh timestamp (still inside the window).
    assert_eq!(send(&cb, signed(&secret(), "rid-dup", NOW_MS, &b)).await, 200);
    assert_eq!(
        send(&cb, signed(&secret(), "rid-dup", NOW_MS + 60_000, &b)).await,
        200
    );
    assert_eq!(sorted_scan(&table).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn fifty_concurrent_deliveries_of_one_request_id_store_one_item() {
    let table = TestTable::create().await;
    let cb = Arc::new(callback(&table));
    let b = Arc::new(body("1000000000000002", "1"));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (cb, b) = (Arc::clone(&cb), Arc::clone(&b));
            tokio::spawn(
                async move { send_with_retries(&cb, || signed(&secret(), "rid-race", NOW_MS, &b)).await },
            )
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let items = table.scan().await;
    let callbacks = items
        .iter()
        .filter(|i| attr_s(i, "item_type") == Some("igv_callback"))
        .count();
    assert_eq!(callbacks, 1);
    assert_eq!(items.len(), 2, "one callback and one order view");
}

#[tokio::test]
async fn unauthentic_callbacks_answer_401_and_store_nothing() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let b = body("1000000000000003", "1");
    let ts = NOW_MS.to_string();
    let good_sig = signature_hex(&secret(), &ts, "rid-a");
    let cases: Vec<(&str, lambda_http::Request)> = vec![
        (
            "wrong secret",
            signed("NotTheSecret0123456789abcdefABCD", "rid-a", NOW_MS, &b),
        ),
        (
            "stale timestamp",
            signed(&secret(), "rid-a", NOW_MS - 301_000, &b),
        ),
        (
            "timestamp from the future",
            signed(&secret(), "rid-a", NOW_MS + 301_000, &b),
        ),
        (
            "signature of another request id",
            request(
                &[
                    ("x-request-id", "rid-b"),
                    ("x-timestamp", &ts),
                    ("x-signature", &good_sig),
                ],
                &b,
            ),
        ),
        (
            "no signature",
            request(&[("x-request-id", "rid-a"), ("x-timestamp", &ts)], &b),
        ),
        (
            "no request id",
            request(&[("x-timestamp", &ts), ("x-signature", &good_sig)], &b),
        ),
        (
            "no timestamp",
            request(&[("x-request-id", "rid-a"), ("x-signature", &good_sig)], &b),
        ),
        (
            "malformed timestamp",
            request(
                &[
                    ("x-request-id", "rid-a"),
                    ("x-timestamp", "yesterday"),
                    ("x-signature", &good_sig),
                ],
                &b,
            ),
        ),
        (
            "two request ids",
            request(
                &[
                    ("x-request-id", "rid-a"),
                    ("x-request-id", "rid-c"),
                    ("x-timestamp", &ts),
                    ("x-signature", &good_sig),
                ],
                &b,
            ),
        ),
    ];
    for (what, req) in cases {
        assert_eq!(send(&cb, req).await, 401, "{what}");
    }
    // No order data; those refused for their signature or window are kept apart to be re-run
    // (issue #29.1; tests/reprocess.rs).
    assert!(table.scan_orders().await.is_empty());
}

#[tokio::test]
async fn the_replay_window_edges_and_the_second_secret() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let second = secrets()[1].expose().to_owned();
    assert_eq!(
        send(
            &cb,
            signed(&second, "rid-edge-1", NOW_MS - 300_000, &body("11", "1"))
        )
        .await,
        200
    );
    assert_eq!(
        send(
            &cb,
            signed(&second, "rid-edge-2", NOW_MS + 300_000, &body("12", "1"))
        )
        .await,
        200
    );
    assert_eq!(
        send(
            &cb,
            signed(&second, "rid-edge-3", NOW_MS - 300_001, &body("13", "1"))
        )
        .await,
        401
    );
}

#[tokio::test]
async fn a_replayed_request_id_with_an_altered_body_keeps_the_original() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let original = body("1000000000000004", "1");
    let altered = body("1000000000000004", "3");
    assert_eq!(
        send(&cb, signed(&secret(), "rid-replay", NOW_MS, &original)).await,
        200
    );
    assert_eq!(
        send(&cb, signed(&secret(), "rid-replay", NOW_MS, &altered)).await,
        200
    );

    let item = table
        .get(&igv_callback_pk("rid-replay"), CALLBACK_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&item, "raw_body"), Some(original.as_str()));
    let view = table
        .get(&igv_order_pk("1000000000000004"), ORDER_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&view, "seller_order_status"), Some("1"));
    // Even a replay pointing at another order changes nothing.
    let elsewhere = body("1000000000000099", "1");
    assert_eq!(
        send(&cb, signed(&secret(), "rid-replay", NOW_MS, &elsewhere)).await,
        200
    );
    assert!(
        table
            .get(&igv_order_pk("1000000000000099"), ORDER_SK)
            .await
            .is_none()
    );
    assert_eq!(table.scan().await.len(), 2);
}

/// An authentic callback (signature and window good) whose body cannot be understood used to
/// answer 400: iGV retried twice and gave up, and no feed could bring it back. Now it is stored
/// raw with the problem, in the `IGV#NOT_UNDERSTOOD` queue, answered 200, no order view touched;
/// a repeat of its request id answers 200 and writes nothing.
#[tokio::test]
async fn authentic_callbacks_whose_body_is_not_understood_are_stored_raw() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let bodies: Vec<(&str, Body)> = vec![
        ("not JSON", Body::Text("orderId=1".into())),
        ("empty", Body::Text(String::new())),
        ("array", Body::Text("[1]".into())),
        ("no orderId", Body::Text(r#"{"orderNum":"SO1"}"#.into())),
        ("orderId letters", Body::Text(r#"{"orderId":"abc"}"#.into())),
        ("orderId float", Body::Text(r#"{"orderId":1.5}"#.into())),
        ("orderId negative", Body::Text(r#"{"orderId":-1}"#.into())),
        ("orderId null", Body::Text(r#"{"orderId":null}"#.into())),
        (
            "conflicting orderIds",
            Body::Text(r#"{"orderId":1,"ORDERID":2}"#.into()),
        ),
        (
            "status array",
            Body::Text(r#"{"orderId":1,"sellerOrderStatus":[1]}"#.into()),
        ),
        ("invalid UTF-8", Body::Binary(vec![b'{', 0xff, b'}'])),
    ];
    for (i, (name, b)) in bodies.into_iter().enumerate() {
        let rid = format!("rid-odd-{i}");
        let mut request = signed(&secret(), &rid, NOW_MS, "");
        *request.body_mut() = b.clone();
        assert_eq!(send(&cb, request).await, 200, "{name}");
        let item = table.get(&igv_callback_pk(&rid), CALLBACK_SK).await.expect(name);
        assert!(
            attr_s(&item, "not_understood").is_some(),
            "{name}: the problem is kept"
        );
        assert_eq!(attr_s(&item, QUEUE_PK), Some("IGV#NOT_UNDERSTOOD"), "{name}");
        match &b {
            Body::Binary(bytes) => assert_eq!(
                item.get("raw_body_bytes")
                    .and_then(|v| v.as_b().ok())
                    .map(|b| b.as_ref().to_vec()),
                Some(bytes.clone()),
                "{name}: raw bytes"
            ),
            other => assert_eq!(
                attr_s(&item, "raw_body"),
                std::str::from_utf8(other.as_ref()).ok(),
                "{name}: raw body"
            ),
        }
        // iGV's retry of it: 200, nothing more written.
        let mut again = signed(&secret(), &rid, NOW_MS, "");
        *again.body_mut() = b;
        assert_eq!(send(&cb, again).await, 200, "{name}: retry");
    }
    let views = table
        .scan()
        .await
        .into_iter()
        .filter(|i| attr_s(i, "sk") == Some(ORDER_SK))
        .count();
    assert_eq!(views, 0, "no order view from a body nobody understood");
    assert_eq!(table.scan().await.len(), 11);
    // Not authentic: refused, nothing stored.
    let mut forged = signed("SomeoneElsesSecret0123456789abcd", "rid-odd-forged", NOW_MS, "");
    *forged.body_mut() = Body::Text("[1]".into());
    assert_eq!(send(&cb, forged).await, 401);
    assert_eq!(table.scan_orders().await.len(), 11);
    assert_eq!(
        table.refused().await.len(),
        1,
        "kept apart to be re-run (issue #29.1)"
    );
}

#[tokio::test]
async fn oversized_bodies_answer_413_other_methods_405() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    let huge = format!(
        r#"{{"orderId":1,"pad":"{}"}}"#,
        "x".repeat(DEFAULT_CALLBACK_MAX_BODY_BYTES)
    );
    assert_eq!(send(&cb, signed(&secret(), "rid-413", NOW_MS, &huge)).await, 413);
    let mut get = signed(&secret(), "rid-405", NOW_MS, &body("1", "1"));
    *get.method_mut() = lambda_http::http::Method::GET;
    assert_eq!(send(&cb, get).await, 405);
    assert!(table.scan().await.is_empty());
}

#[tokio::test]
async fn unknown_statuses_are_stored() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    assert_eq!(
        send(&cb, signed(&secret(), "rid-unknown", NOW_MS, &body("21", "42"))).await,
        200
    );
    let view = table.get(&igv_order_pk("21"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, "seller_order_status"), Some("42"));
    assert_eq!(attr_s(&view, QUEUE_PK), None, "only status 1 awaits delivery");
}

#[tokio::test]
async fn the_order_view_only_moves_forward_and_leaves_the_queue_when_the_status_moves_on() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    // Status 2 (newer) arrives before the retried status 1 (older).
    assert_eq!(
        send(&cb, signed(&secret(), "rid-new", NOW_MS, &body("31", "2"))).await,
        200
    );
    assert_eq!(
        send(
            &cb,
            signed(&secret(), "rid-old", NOW_MS - 10_000, &body("31", "1"))
        )
        .await,
        200
    );
    let view = table.get(&igv_order_pk("31"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, "seller_order_status"), Some("2"));
    assert_eq!(attr_s(&view, "last_request_id"), Some("rid-new"));
    assert_eq!(attr_s(&view, QUEUE_PK), None);
    assert!(
        table
            .get(&igv_callback_pk("rid-old"), CALLBACK_SK)
            .await
            .is_some(),
        "every callback is stored"
    );
}

/// The fulfilment job's query as the README documents it: each key of the queue
/// (`IGV#AWAITING_DELIVERY#00` … `#15`, and the bare key of items queued before the shards), merged
/// by `queue_sk`: orders awaiting delivery, oldest first.
async fn awaiting_delivery(table: &TestTable) -> Vec<String> {
    let mut items = Vec::new();
    for key in queue_keys(IGV_AWAITING_DELIVERY_QUEUE) {
        let page = table
            .client
            .query()
            .table_name(&table.name)
            .index_name(QUEUE_INDEX)
            .key_condition_expression("queue_pk = :q")
            .expression_attribute_values(":q", AttributeValue::S(key))
            .send()
            .await
            .unwrap();
        items.extend(page.items().iter().cloned());
    }
    items.sort_by_key(|i| attr_s(i, QUEUE_SK).map(str::to_owned));
    items
        .iter()
        .filter_map(|i| attr_s(i, "order_id").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn orders_awaiting_delivery_are_listed_oldest_first_from_the_sparse_index() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    assert_eq!(
        send(&cb, signed(&secret(), "q-1", NOW_MS - 3_000, &body("41", "1"))).await,
        200
    );
    assert_eq!(
        send(&cb, signed(&secret(), "q-2", NOW_MS - 2_000, &body("42", "1"))).await,
        200
    );
    assert_eq!(
        send(&cb, signed(&secret(), "q-3", NOW_MS - 1_000, &body("43", "1"))).await,
        200
    );
    assert_eq!(
        send(&cb, signed(&secret(), "q-4", NOW_MS, &body("42", "2"))).await,
        200
    );
    assert_eq!(
        send(&cb, signed(&secret(), "q-5", NOW_MS, &body("44", "0"))).await,
        200
    );

    // Global secondary indexes are eventually consistent on real DynamoDB: poll briefly.
    let mut listed = Vec::new();
    for _ in 0..50 {
        listed = awaiting_delivery(&table).await;
        if listed == ["41", "43"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(listed, ["41", "43"]);
}

#[tokio::test]
async fn an_unreachable_dynamodb_answers_500() {
    let table = TestTable::create().await;
    let mut config = config(&table);
    config.store.attempt_timeout = Duration::from_millis(300);
    config.store.operation_timeout = Duration::from_secs(2);
    let client = unreachable_client(&config.store).await;
    let cb = Callback::new(Store::from_config(client, &config.store), &config);
    assert_eq!(
        send(&cb, signed(&secret(), "rid-down", NOW_MS, &body("51", "1"))).await,
        500
    );
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_answers_500_and_the_retry_answers_200() {
    let table = TestTable::create().await;
    let config = config(&table);
    let fault = FailCalls::new("TransactWriteItems", Strike::AfterServerAnswered, 1);
    let faulty = with_fault(&table.client, fault.clone());
    let cb = Callback::new(Store::from_config(faulty, &config.store), &config);
    let b = body("61", "1");
    assert_eq!(send(&cb, signed(&secret(), "rid-view", NOW_MS, &b)).await, 500);
    assert_eq!(fault.injected(), 1);
    // iGV's retry carries a fresh X-Timestamp: a duplicate, and the view keeps the stored one.
    assert_eq!(
        send(&cb, signed(&secret(), "rid-view", NOW_MS + 5_000, &b)).await,
        200
    );
    let view = table.get(&igv_order_pk("61"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, "last_request_id"), Some("rid-view"));
    assert_eq!(
        attr_n(&view, "last_x_timestamp"),
        Some(NOW_MS.to_string().as_str())
    );
    assert_eq!(table.scan().await.len(), 2);
}

#[tokio::test]
async fn a_failed_write_stores_nothing_and_the_retry_is_stored_with_its_own_timestamp() {
    let table = TestTable::create().await;
    let config = config(&table);
    let fault = FailCalls::new("TransactWriteItems", Strike::BeforeSending, 1);
    let cb = Callback::new(
        Store::from_config(with_fault(&table.client, fault.clone()), &config.store),
        &config,
    );
    let b = body("71", "1");
    assert_eq!(
        send(&cb, signed(&secret(), "rid-fresh", NOW_MS - 5_000, &b)).await,
        500
    );
    assert!(
        table.scan().await.is_empty(),
        "callback and view together or not at all"
    );
    assert_eq!(send(&cb, signed(&secret(), "rid-fresh", NOW_MS, &b)).await, 200);
    let view = table.get(&igv_order_pk("71"), ORDER_SK).await.unwrap();
    assert_eq!(
        attr_n(&view, "last_x_timestamp"),
        Some(NOW_MS.to_string().as_str())
    );
    let item = table
        .get(&igv_callback_pk("rid-fresh"), CALLBACK_SK)
        .await
        .unwrap();
    assert_eq!(attr_n(&item, "x_timestamp"), Some(NOW_MS.to_string().as_str()));
}

/// The first delivery of an older status-1 callback that failed until iGV re-signed it with a
/// fresh `X-Timestamp` arrives after the order moved on to status 2: it must not put the order
/// back in the awaiting-delivery queue (a fulfilment worker would deliver it twice); it goes to
/// the held queue for a person. A first status 1 still enters the awaiting-delivery queue.
#[tokio::test]
async fn a_late_status_1_never_puts_an_order_back_in_the_awaiting_delivery_queue() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    assert_eq!(
        send(&cb, signed(&secret(), "rid-first", NOW_MS, &body("41", "1"))).await,
        200
    );
    let view = table.get(&igv_order_pk("41"), ORDER_SK).await.unwrap();
    assert_eq!(
        attr_s(&view, QUEUE_PK),
        Some(queue_key(IGV_AWAITING_DELIVERY_QUEUE, &igv_order_pk("41")).as_str())
    );
    assert_eq!(
        send(
            &cb,
            signed(&secret(), "rid-moved-on", NOW_MS + 1_000, &body("41", "2"))
        )
        .await,
        200
    );
    let view = table.get(&igv_order_pk("41"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, QUEUE_PK), None, "left the queue");
    // An older callback's first stored delivery, re-signed later than the status 2.
    assert_eq!(
        send(
            &cb,
            signed(&secret(), "rid-late", NOW_MS + 60_000, &body("41", "1"))
        )
        .await,
        200
    );
    let view = table.get(&igv_order_pk("41"), ORDER_SK).await.unwrap();
    assert_eq!(
        attr_s(&view, QUEUE_PK),
        Some(IGV_AWAITING_DELIVERY_HELD_QUEUE),
        "held for a person, not back in the fulfilment queue"
    );
    assert!(attr_s(&view, QUEUE_SK).is_some());
}

/// Issue #28.4: a status that comes before the order is paid (iGV announces more statuses than
/// 1) never keeps the paid order out of the fulfilment queue: status 2, then a newer status 1,
/// puts the order in the awaiting-delivery queue (and the hand-off's "Order Awaiting Delivery"
/// follows from it). Once the order has been in status 1, a later status still holds a late
/// status 1 (the test above).
#[tokio::test]
async fn a_status_before_the_order_was_paid_never_keeps_it_out_of_the_queue() {
    let table = TestTable::create().await;
    let cb = callback(&table);
    assert_eq!(
        send(&cb, signed(&secret(), "rid-early-2", NOW_MS, &body("51", "2"))).await,
        200
    );
    let view = table.get(&igv_order_pk("51"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, QUEUE_PK), None, "status 2 awaits nothing");
    assert_eq!(
        send(
            &cb,
            signed(&secret(), "rid-paid", NOW_MS + 1_000, &body("51", "1"))
        )
        .await,
        200
    );
    let view = table.get(&igv_order_pk("51"), ORDER_SK).await.unwrap();
    assert_eq!(
        attr_s(&view, QUEUE_PK),
        Some(queue_key(IGV_AWAITING_DELIVERY_QUEUE, &igv_order_pk("51")).as_str()),
        "paid after an earlier status: awaiting delivery, not held"
    );
    assert_eq!(awaiting_delivery(&table).await, ["51"]);
    // It moves on, and a re-signed retry of its status 1 comes late: held, as ever.
    assert_eq!(
        send(
            &cb,
            signed(&secret(), "rid-shipped", NOW_MS + 2_000, &body("51", "3"))
        )
        .await,
        200
    );
    assert_eq!(
        send(
            &cb,
            signed(&secret(), "rid-paid-again", NOW_MS + 60_000, &body("51", "1"))
        )
        .await,
        200
    );
    let view = table.get(&igv_order_pk("51"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, QUEUE_PK), Some(IGV_AWAITING_DELIVERY_HELD_QUEUE));
    assert!(awaiting_delivery(&table).await.is_empty());
}
