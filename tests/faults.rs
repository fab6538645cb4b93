//! DynamoDB faults injected between the handlers and the local DynamoDB by a TCP proxy:
//! throttling, requests that never get an answer (timeouts), and connections cut after the write
//! reached the server. For each: the partner gets a failure answer, never a success without a
//! confirmed write, and after the partner's retry exactly one item exists with the right content.
//! (Against an HTTPS endpoint such as real DynamoDB the proxy cannot sit in between; these tests
//! then say so and check nothing.)

use std::time::{Duration, Instant};

use lambda_http::Body;
use shared::callback::Callback;
use shared::config::{
    CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES, DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig,
};
use shared::igv_callback::signature_hex;
use shared::keys::{CALLBACK_SK, PUSH_SK, igv_callback_pk, linkbest_push_pk};
use shared::linkbest_push::sign_hex;
use shared::postback::Postback;
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

fn short_timeouts(table: &TestTable) -> shared::config::StoreConfig {
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
            tokens: tokens.clone(),
            max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
        };
        let postback = Postback::new(Store::from_config(client, &store_config), &config);
        let push_id = format!("{}", 7_100 + i);
        let sign = sign_hex(tokens[0].expose(), "order.created", &push_id, "1000");
        let body = format!(
            r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1000,"Sign":"{sign}","Data":{{"OrderSn":"SO-F{i}","OrdersPrice":9.90}}}}"#
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
            secrets: secrets.clone(),
            max_age: Some(Duration::from_secs(300)),
            max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
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
