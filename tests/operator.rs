//! The operator command's views against the real DynamoDB-compatible server.

use std::time::Duration;

use lambda_http::Body;
use ops::{Ops, item_json};
use shared::igv::protocol::signature_hex;
use shared::linkbest::orders::ORDERS;
use shared::linkbest::push::sign_hex;
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::{TestTable, attr_s, body_text, http_request, local_callback, local_postback, local_setting};
use time::OffsetDateTime;

const ORDER: &str = "1689644928115784";

#[tokio::test]
async fn latest_deliveries_one_order_across_partners_and_the_checkpoint() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    let secrets = parse_secret_list(&local_setting("CALLBACK_HMAC_SECRETS"));
    let postback = local_postback(&table, store.clone());
    let callback = local_callback(&table, store.clone(), None);
    for push_id in [11u64, 12, 13] {
        let sign = sign_hex(
            tokens[0].expose(),
            "order.created",
            &push_id.to_string(),
            "1000000000",
        );
        let sn = if push_id == 12 {
            ORDER.to_owned()
        } else {
            format!("OTHER-{push_id}")
        };
        let body = format!(
            r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1000000000,"Sign":"{sign}","Data":{{"OrderSn":"{sn}"}}}}"#
        );
        assert_eq!(body_text(&postback.handle(http_request("POST", body)).await), "1");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sig = signature_hex(secrets[0].expose(), "1795440540000", "rid-ops");
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .header("x-request-id", "rid-ops")
        .header("x-timestamp", "1795440540000")
        .header("x-signature", sig)
        .body(Body::Text(format!(
            r#"{{"orderId":{ORDER},"sellerOrderStatus":1}}"#
        )))
        .unwrap();
    assert_eq!(callback.handle(request).await.status(), 200);

    // Every read of `ops` goes through a proxy that counts DynamoDB's operations (issue #29.4).
    let proxy = testkit::proxy::FaultyProxy::start(&testkit::endpoint()).await;
    let counted = testkit::client_via(&proxy.endpoint(), &table.store_config()).await;
    let ops = Ops::new(counted, &table.name);
    let latest = ops.latest("pushes", 2).await.unwrap();
    let ids: Vec<&str> = latest.iter().filter_map(|i| attr_s(i, "push_id")).collect();
    assert_eq!(ids, ["13", "12"], "newest first, limited");
    assert_eq!(ops.latest("callbacks", 10).await.unwrap().len(), 1);
    assert!(ops.latest("orders", 10).await.is_err());

    let report = ops.order(ORDER).await.unwrap();
    assert_eq!(report.linkbest.len(), 1, "the Linkbest order view");
    assert_eq!(report.igv.len(), 1, "the iGV order view");
    assert_eq!(report.pushes.len(), 1);
    assert_eq!(attr_s(&report.pushes[0], "push_id"), Some("12"));
    assert_eq!(report.callbacks.len(), 1);
    assert_eq!(
        item_json(&report.igv[0])["order_id"],
        ORDER,
        "ids stay exact text"
    );

    assert!(ops.missed(0, 4_000_000_000).await.unwrap().is_empty());
    let empty = ops.checkpoint(ORDERS.checkpoint, 2_000).await.unwrap();
    assert_eq!((empty.checkpoint, empty.lag_seconds), (None, None));
    store
        .acquire_lease(ORDERS.checkpoint, "run", 1_000, 1_900)
        .await
        .unwrap();
    store
        .advance_checkpoint(ORDERS.checkpoint, "run", 1_500, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let c = ops.checkpoint(ORDERS.checkpoint, 2_000).await.unwrap();
    assert_eq!(
        (
            c.checkpoint,
            c.lag_seconds,
            c.lease_owner.as_deref(),
            c.lease_until
        ),
        (Some(1_500), Some(500), Some("run"), Some(1_900))
    );
    let calls: std::collections::BTreeSet<String> = proxy.calls().into_keys().collect();
    assert_eq!(
        calls,
        ["BatchGetItem", "GetItem", "Query"].map(str::to_owned).into(),
        "latest, order, missed and checkpoint: queries and key reads, never a scan"
    );
}

/// Records stored before the `deliveries` index and the recent queues (issue #29.4) are found by
/// `ops order` and `ops latest` once `ops migrate-deliveries` ran, once.
#[tokio::test]
async fn records_from_before_the_deliveries_index_are_found_after_the_migration() {
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    let postback = local_postback(&table, store.clone());
    let sign = sign_hex(tokens[0].expose(), "order.created", "31", "1000000000");
    let body = format!(
        r#"{{"PushId":31,"EventType":"order.created","CreateTime":1000000000,"Sign":"{sign}","Data":{{"OrderSn":"SO-OLD"}}}}"#
    );
    assert_eq!(body_text(&postback.handle(http_request("POST", body)).await), "1");
    // As an older version stored it: no delivery keys.
    table
        .client
        .update_item()
        .table_name(&table.name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("LB#PUSH#31".into()),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("PUSH".into()))
        .update_expression("REMOVE delivery_of, queue_pk, queue_sk")
        .send()
        .await
        .unwrap();
    let ops = Ops::new(table.client.clone(), &table.name);
    assert!(ops.order("SO-OLD").await.unwrap().pushes.is_empty());
    assert!(ops.latest("pushes", 5).await.unwrap().is_empty());
    assert_eq!(
        ops.migrate_deliveries(true).await.unwrap(),
        (1, 0),
        "a dry run writes nothing"
    );
    assert_eq!(ops.migrate_deliveries(false).await.unwrap(), (1, 1));
    assert_eq!(
        ops.migrate_deliveries(false).await.unwrap(),
        (0, 0),
        "twice changes nothing"
    );
    assert_eq!(ops.order("SO-OLD").await.unwrap().pushes.len(), 1);
    assert_eq!(ops.latest("pushes", 5).await.unwrap().len(), 1);
}
