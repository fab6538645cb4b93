//! Nothing refused or parked is a dead end (issue #29.1, #29.2), written from the promise: a
//! genuine delivery refused because the secret was wrong is kept, bounded, and once the secret is
//! fixed `ops reprocess` stores it through the live path — once, however often it is run; a
//! parked callback or unlinked row is applied once the reader understands it.

use std::time::Duration;

use lambda_http::Body;
use shared::igv::callback::Callback;
use shared::igv::protocol::{CallbackHeaders, signature_hex};
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::igv::store::UnreadableCallback;
use shared::keys::{
    CALLBACK_SK, LINKBEST_UNLINKED_PK, ORDER_SK, PUSH_SK, igv_callback_pk, igv_order_pk, linkbest_order_pk,
    linkbest_push_pk,
};
use shared::linkbest::orders::{OrderRow, UnlinkedRow};
use shared::linkbest::postback::Postback;
use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
use shared::refused::{KeepRefused, Rerun, reprocess};
use shared::secret::Secret;
use shared::store::Store;
use testkit::festival::{signed_callback, signed_push};
use testkit::{TestTable, attr_s, body_text};
use time::OffsetDateTime;

const OLD: &str = "igv-secret-before-the-rotation-0001";
const NEW: &str = "igv-secret-after-the-rotation-00002";
const TOKEN_OLD: &str = "linkbest-token-one-side-only-0001";
const TOKEN_NEW: &str = "linkbest-token-one-side-only-0002";

fn callback(table: &TestTable, secret: &str, refused: KeepRefused) -> Callback {
    let config = CallbackConfig {
        store: table.store_config(),
        secrets: vec![Secret::new(secret)].into(),
        max_age: Some(Duration::from_secs(300)),
        max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
        refused,
    };
    Callback::new(Store::from_config(table.client.clone(), &config.store), &config)
}

fn postback(table: &TestTable, token: &str) -> Postback {
    let config = PostbackConfig {
        store: table.store_config(),
        tokens: vec![Secret::new(token)].into(),
        max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
        create_time_window: None,
        refused: KeepRefused::default(),
    };
    Postback::new(Store::from_config(table.client.clone(), &config.store), &config)
}

fn at_ms(ms: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn waiting_range() -> (OffsetDateTime, OffsetDateTime) {
    (
        OffsetDateTime::UNIX_EPOCH,
        OffsetDateTime::now_utc() + time::Duration::days(1),
    )
}

#[tokio::test]
async fn a_callback_refused_for_a_rotated_secret_is_stored_once_after_the_fix() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let now_ms = 1_780_000_000_000_u64;
    // iGV signs with the new secret; we still hold the old one: 401, as often as iGV retries.
    let live = callback(&table, OLD, KeepRefused::default());
    let request = || signed_callback(NEW, "rid-rotated", now_ms, "1689644928115784", "1");
    for _ in 0..3 {
        assert_eq!(live.handle_at(request(), at_ms(now_ms)).await.status(), 401);
    }
    assert!(
        table.scan_orders().await.is_empty(),
        "no order data from a refused callback"
    );
    let (from, to) = waiting_range();
    let waiting = store
        .waiting_refused(&shared::igv::callback::REFUSED, from, to)
        .await
        .unwrap();
    assert_eq!(
        waiting.len(),
        1,
        "the same request refused three times is kept once"
    );
    assert_eq!(attr_s(&waiting[0], "refused_kind"), Some("bad_signature"));

    // Re-run with the secret still wrong: refused again, still waiting.
    let done = reprocess(&store, &live, &waiting, false).await.unwrap();
    assert!(
        matches!(done[0].rerun, Rerun::Unchanged(_)),
        "{:?}",
        done[0].rerun
    );
    assert!(table.scan_orders().await.is_empty());

    // The secret is fixed (the new one configured). A dry run writes nothing.
    let fixed = callback(&table, NEW, KeepRefused::default());
    let done = reprocess(&store, &fixed, &waiting, true).await.unwrap();
    assert_eq!(
        done[0].rerun,
        Rerun::WouldAccept {
            key: igv_callback_pk("rid-rotated"),
            stored_before: false
        }
    );
    assert!(table.scan_orders().await.is_empty(), "a dry run writes nothing");

    // The run: stored through the live path, at the moment it first arrived (the replay window
    // of 300 s is measured from then, not from today).
    let done = reprocess(&store, &fixed, &waiting, false).await.unwrap();
    assert_eq!(
        done[0].rerun,
        Rerun::Accepted {
            key: igv_callback_pk("rid-rotated"),
            outcome: "stored"
        }
    );
    let view = table
        .get(&igv_order_pk("1689644928115784"), ORDER_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&view, "seller_order_status"), Some("1"));
    assert!(
        attr_s(&view, "queue_pk").is_some(),
        "into the awaiting-delivery queue"
    );
    assert!(
        table
            .get(&igv_callback_pk("rid-rotated"), CALLBACK_SK)
            .await
            .is_some()
    );
    let orders = table.scan_orders().await;
    assert_eq!(orders.len(), 2, "one callback record and its view");

    // Twice changes nothing: nothing waits any more, and the kept item itself re-runs as done.
    assert!(
        store
            .waiting_refused(&shared::igv::callback::REFUSED, from, to)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = store.kept_refused(&done[0].pk).await.unwrap().unwrap();
    let again = reprocess(&store, &fixed, &[kept], false).await.unwrap();
    assert_eq!(again[0].rerun, Rerun::AlreadyReprocessed("stored".to_owned()));
    // And iGV's own retry, now signed with a secret we hold, is a duplicate.
    assert_eq!(
        fixed.handle_at(request(), at_ms(now_ms + 60_000)).await.status(),
        200
    );
    assert_eq!(table.scan_orders().await, orders, "nothing written twice");
}

#[tokio::test]
async fn a_push_refused_for_a_token_rotated_on_one_side_is_stored_once_after_the_fix() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let created = OffsetDateTime::now_utc().unix_timestamp();
    let live = postback(&table, TOKEN_OLD);
    for _ in 0..2 {
        let response = live
            .handle(signed_push(TOKEN_NEW, 77_001, created, "SO-ROTATED", "1"))
            .await;
        assert_eq!(body_text(&response), "-1");
    }
    assert!(table.scan_orders().await.is_empty());
    let (from, to) = waiting_range();
    let waiting = store
        .waiting_refused(&shared::linkbest::postback::REFUSED, from, to)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1);
    let fixed = postback(&table, TOKEN_NEW);
    let dry = reprocess(&store, &fixed, &waiting, true).await.unwrap();
    assert_eq!(
        dry[0].rerun,
        Rerun::WouldAccept {
            key: linkbest_push_pk("77001"),
            stored_before: false
        }
    );
    assert!(table.scan_orders().await.is_empty());
    let done = reprocess(&store, &fixed, &waiting, false).await.unwrap();
    assert_eq!(
        done[0].rerun,
        Rerun::Accepted {
            key: linkbest_push_pk("77001"),
            outcome: "stored"
        }
    );
    assert!(table.get(&linkbest_push_pk("77001"), PUSH_SK).await.is_some());
    assert!(
        table
            .get(&linkbest_order_pk("SO-ROTATED"), ORDER_SK)
            .await
            .is_some()
    );
    let orders = table.scan_orders().await;
    // Run twice: nothing waits; the same kept push run again is the store's duplicate.
    assert!(
        store
            .waiting_refused(&shared::linkbest::postback::REFUSED, from, to)
            .await
            .unwrap()
            .is_empty()
    );
    let mut kept = store.kept_refused(&done[0].pk).await.unwrap().unwrap();
    kept.remove("reprocessed");
    let again = reprocess(&store, &fixed, &[kept], false).await.unwrap();
    assert_eq!(
        again[0].rerun,
        Rerun::Accepted {
            key: linkbest_push_pk("77001"),
            outcome: "duplicate"
        },
        "even forced through the live path again, the conditional write stores nothing twice"
    );
    assert_eq!(table.scan_orders().await, orders);
}

#[tokio::test]
async fn what_is_kept_is_bounded_by_size_by_hour_and_by_kind() {
    let table = TestTable::create().await;
    let now_ms = 1_780_000_000_000_u64;
    let keep = KeepRefused {
        days: 7,
        max_bytes: 400,
        max_per_hour: 3,
    };
    // Through a proxy that counts DynamoDB's requests: past the cap a flood costs none.
    let proxy = testkit::proxy::FaultyProxy::start(&testkit::endpoint()).await;
    let counted = testkit::client_via(&proxy.endpoint(), &table.store_config()).await;
    let config = CallbackConfig {
        store: table.store_config(),
        secrets: vec![Secret::new(OLD)].into(),
        max_age: Some(Duration::from_secs(300)),
        max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
        refused: keep,
    };
    let live = Callback::new(Store::from_config(counted, &config.store), &config);
    // Forged callbacks in one hour: three kept, the rest counted, all answered 401.
    for i in 0..5 {
        let request = signed_callback(NEW, &format!("rid-flood-{i}"), now_ms, "42", "1");
        assert_eq!(live.handle_at(request, at_ms(now_ms)).await.status(), 401);
    }
    assert_eq!(table.refused().await.len(), 3, "the hourly cap");
    let before = proxy.forwarded();
    for i in 5..50 {
        let request = signed_callback(NEW, &format!("rid-flood-{i}"), now_ms, "42", "1");
        assert_eq!(live.handle_at(request, at_ms(now_ms)).await.status(), 401);
    }
    assert_eq!(
        proxy.forwarded(),
        before,
        "past the cap, a flood makes no DynamoDB request"
    );
    // The next hour has its own count.
    let later = now_ms + 3_600_000;
    let request = signed_callback(NEW, "rid-next-hour", later, "42", "1");
    assert_eq!(live.handle_at(request, at_ms(later)).await.status(), 401);
    assert_eq!(table.refused().await.len(), 4);
    // A body over the size cap is refused as ever, not kept.
    let ts = (later + 1).to_string();
    let big = lambda_http::http::Request::builder()
        .method("POST")
        .header("x-request-id", "rid-big")
        .header("x-timestamp", ts.as_str())
        .header("x-signature", signature_hex(NEW, &ts, "rid-big").as_str())
        .body(Body::Text(format!(
            r#"{{"orderId":1,"pad":"{}"}}"#,
            "x".repeat(500)
        )))
        .unwrap();
    assert_eq!(live.handle_at(big, at_ms(later)).await.status(), 401);
    // Malformed beyond use (no signature header): nothing to verify again, not kept.
    let unsigned = lambda_http::http::Request::builder()
        .method("POST")
        .header("x-request-id", "rid-unsigned")
        .header("x-timestamp", ts.as_str())
        .body(Body::Text(r#"{"orderId":1}"#.to_owned()))
        .unwrap();
    assert_eq!(live.handle_at(unsigned, at_ms(later)).await.status(), 401);
    let kept = table.refused().await;
    assert_eq!(kept.len(), 4);
    for item in &kept {
        let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
        let received: i64 = item["received_ms"].as_n().unwrap().parse().unwrap();
        assert_eq!(
            expires,
            received / 1000 + 7 * 86_400,
            "expires after REFUSED_KEEP_DAYS"
        );
    }
    // Off: nothing kept.
    let off = callback(&table, OLD, KeepRefused { days: 0, ..keep });
    let request = signed_callback(NEW, "rid-off", later, "42", "1");
    assert_eq!(off.handle_at(request, at_ms(later)).await.status(), 401);
    assert_eq!(table.refused().await.len(), 4);
}

#[tokio::test]
async fn a_parked_callback_is_applied_once_when_it_is_understood() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    // As an older parser parked it: authentic, body not understood.
    let body =
        r#"{"createdAt":"2025-12-17T13:44:16","orderId":555000111,"orderNum":"SO555","sellerOrderStatus":1}"#;
    let headers = CallbackHeaders {
        request_id: "rid-parked".into(),
        timestamp: "1780000000000".into(),
        timestamp_ms: 1_780_000_000_000,
        signature: "-".into(),
    };
    for (rid, raw) in [("rid-parked", body), ("rid-still-odd", "[1]")] {
        let headers = CallbackHeaders {
            request_id: rid.into(),
            ..headers.clone()
        };
        store
            .store_unreadable_igv_callback(&UnreadableCallback {
                headers: &headers,
                raw_body: raw.as_bytes(),
                problem: "the parser of that day",
                received_at: at_ms(1_780_000_000_000),
                lambda_request_id: None,
            })
            .await
            .unwrap();
    }
    let parked = shared::igv::not_understood::parked(&store, 0, u64::MAX / 2)
        .await
        .unwrap();
    assert_eq!(parked.len(), 2);
    let before = table.scan().await;
    for item in &parked {
        let dry = shared::igv::not_understood::rerun(&store, item, true).await;
        match attr_s(item, "request_id") {
            Some("rid-parked") => assert!(matches!(dry, Rerun::WouldAccept { .. }), "{dry:?}"),
            _ => assert!(matches!(dry, Rerun::Unchanged(_)), "{dry:?}"),
        }
    }
    assert_eq!(table.scan().await.len(), before.len(), "a dry run writes nothing");
    for item in &parked {
        shared::igv::not_understood::rerun(&store, item, false).await;
    }
    let view = table.get(&igv_order_pk("555000111"), ORDER_SK).await.unwrap();
    assert_eq!(attr_s(&view, "seller_order_status"), Some("1"));
    let record = table
        .get(&igv_callback_pk("rid-parked"), CALLBACK_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&record, "order_id"), Some("555000111"));
    assert_eq!(
        attr_s(&record, "was_not_understood"),
        Some("the parser of that day")
    );
    let left = shared::igv::not_understood::parked(&store, 0, u64::MAX / 2)
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "only the one still not understood waits");
    // Twice: the stale copy of the parked record is not parked any more: nothing applied again.
    let after = table.scan().await;
    let again = shared::igv::not_understood::rerun(&store, &parked[0], false).await;
    assert!(
        matches!(again, Rerun::AlreadyReprocessed(_) | Rerun::Unchanged(_)),
        "{again:?}"
    );
    assert_eq!(table.scan().await, after);
}

#[tokio::test]
async fn an_unlinked_row_is_stored_under_its_order_once_it_names_one() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let listed_at = at_ms(1_780_000_000_000);
    // As an older reader kept them: a list row it could not link, and one no reader can.
    let rows = [
        (
            r#"{"OrderSn":"SO-LATE-LINK","Status":"1","OrdersPrice":"9.90"}"#,
            "the reader of that day",
        ),
        (r#"{"Status":"1","OrdersPrice":"9.90"}"#, "it has no OrderSn"),
    ];
    let unlinked = rows
        .iter()
        .map(|(raw, reason)| {
            OrderRow::Unlinked(UnlinkedRow {
                raw: (*raw).to_owned(),
                digest: shared::store::digest(&[raw])[..32].to_owned(),
                reason: (*reason).to_owned(),
            })
        })
        .collect();
    store.store_listed_orders(unlinked, listed_at, 0).await.unwrap();
    let parked = shared::linkbest::unlinked::parked(&store, "").await.unwrap();
    assert_eq!(parked.len(), 2);
    for item in &parked {
        let dry = shared::linkbest::unlinked::rerun(&store, item, true).await;
        assert!(
            matches!(dry, Rerun::WouldAccept { .. } | Rerun::Unchanged(_)),
            "{dry:?}"
        );
    }
    assert!(
        table
            .get(&linkbest_order_pk("SO-LATE-LINK"), ORDER_SK)
            .await
            .is_none(),
        "dry run"
    );
    let results: Vec<Rerun> = {
        let mut r = Vec::new();
        for item in &parked {
            r.push(shared::linkbest::unlinked::rerun(&store, item, false).await);
        }
        r
    };
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Rerun::Accepted { .. }))
            .count(),
        1,
        "{results:?}"
    );
    let view = table
        .get(&linkbest_order_pk("SO-LATE-LINK"), ORDER_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&view, "list_status"), Some("1"), "{view:?}");
    let left = shared::linkbest::unlinked::parked(&store, "").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(attr_s(&left[0], "pk"), Some(LINKBEST_UNLINKED_PK));
    // Twice: the row is gone from LB#UNLINKED; run on the stale copy, its feed's path finds the
    // order already listed and the delete finds nothing.
    let after = table.scan().await;
    for item in &parked {
        let again = shared::linkbest::unlinked::rerun(&store, item, false).await;
        assert!(
            matches!(again, Rerun::AlreadyReprocessed(_) | Rerun::Unchanged(_)),
            "{again:?}"
        );
    }
    assert_eq!(table.scan().await, after, "nothing written twice");
}
