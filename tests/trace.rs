//! Traces from the partner's request to the consumer (issue #30.1), written from the promise: a
//! push arriving in a sampled trace makes X-Ray subsegments under the invocation's segment (the
//! handler, and DynamoDB under it), its order view keeps the trace header, and the event the
//! publisher makes of that version carries it as its `TraceHeader` — so the consumer's trace links
//! back to the push. The X-Ray daemon and EventBridge are stand-ins speaking their protocols.

use serde_json::Value;
use shared::handoff::eventbridge::EventBridgeBus;
use shared::handoff::publish::{Publisher, RetrySettings, publish};
use shared::handoff::set_aside::KeepNothing;
use shared::keys::{ORDER_SK, linkbest_order_pk};
use shared::linkbest::push::sign_hex;
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::eventbridge_standin::EventBridgeStandIn;
use testkit::xray_standin::XRayStandIn;
use testkit::{TestTable, attr_s, body_text, http_request, local_postback, local_setting};
use tracing_subscriber::layer::SubscriberExt;

const HEADER: &str = "Root=1-6756a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1";

fn by_name<'a>(documents: &'a [Value], name: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["name"] == name).collect()
}

#[tokio::test]
async fn a_push_is_traced_to_the_event_the_consumer_receives() {
    let xray = XRayStandIn::start().await;
    let exporter = shared::trace::XRayLayer::to(xray.address()).expect("a daemon address");
    let _traced = tracing::subscriber::set_default(tracing_subscriber::registry().with(exporter));

    let table = TestTable::create_as_template().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let postback = local_postback(&table, store.clone());
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    let sign = sign_hex(tokens[0].expose(), "order.created", "88001", "1795440539");
    let body = format!(
        r#"{{"PushId":88001,"EventType":"order.created","CreateTime":1795440539,"Sign":"{sign}","Data":{{"OrderSn":"SO-TRACED","Status":"0"}}}}"#
    );
    let answer =
        shared::trace::with_header(HEADER.to_owned(), postback.handle(http_request("POST", body))).await;
    assert_eq!(body_text(&answer), "1");

    // The subsegments, as the daemon received them.
    let documents = xray.documents().await;
    assert!(xray.refused().is_empty(), "{:?}", xray.refused());
    let handler = by_name(&documents, "postback");
    assert_eq!(handler.len(), 1, "{documents:#?}");
    let handler = handler[0];
    assert_eq!(handler["trace_id"], "1-6756a1b2-0123456789abcdef01234567");
    assert_eq!(
        handler["parent_id"], "53995c3f42cd8ad8",
        "under the invocation's segment"
    );
    assert_eq!(handler["type"], "subsegment");
    assert!(handler["end_time"].as_f64() >= handler["start_time"].as_f64());
    let writes = by_name(&documents, "DynamoDB");
    assert!(!writes.is_empty());
    assert!(
        writes
            .iter()
            .all(|w| w["parent_id"] == handler["id"] && w["namespace"] == "aws")
    );
    assert_eq!(writes[0]["aws"]["operation"], "TransactWriteItems");

    // The view keeps the trace of the write that made its version.
    let view = table
        .get(&linkbest_order_pk("SO-TRACED"), ORDER_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&view, "trace_header"), Some(HEADER));

    // The publisher hands it on as the entry's TraceHeader.
    let records = testkit::stream_reader::records(&table.client, &table.name).await;
    let bus = EventBridgeStandIn::start().await;
    let orders = EventBridgeBus::new(bus.client(), "orders");
    let to = Publisher {
        bus: &orders,
        set_aside: &KeepNothing,
        retry: RetrySettings::default(),
        deadline: None,
    };
    let outcome = publish(&records, shared::VIEWS, to).await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    let received = bus.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].trace_header.as_deref(),
        Some(HEADER),
        "the consumer's trace links back to the push"
    );
}

#[tokio::test]
async fn outside_a_sampled_trace_nothing_is_sent_and_no_header_is_kept() {
    let xray = XRayStandIn::start().await;
    let exporter = shared::trace::XRayLayer::to(xray.address()).unwrap();
    let _traced = tracing::subscriber::set_default(tracing_subscriber::registry().with(exporter));
    let table = TestTable::create().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let postback = local_postback(&table, store);
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    let push = |id: u64, status: &str| {
        let sign = sign_hex(
            tokens[0].expose(),
            "order.status",
            &id.to_string(),
            &(1_795_440_000 + id).to_string(),
        );
        format!(
            r#"{{"PushId":{id},"EventType":"order.status","CreateTime":{},"Sign":"{sign}","Data":{{"OrderSn":"SO-UNTRACED","Status":"{status}"}}}}"#,
            1_795_440_000 + id
        )
    };
    // A version written in a trace, then one outside any: the second keeps no header of the first.
    let traced = shared::trace::with_header(
        HEADER.replace("Sampled=1", "Sampled=0"),
        postback.handle(http_request("POST", push(1, "0"))),
    )
    .await;
    assert_eq!(body_text(&traced), "1");
    let view = table
        .get(&linkbest_order_pk("SO-UNTRACED"), ORDER_SK)
        .await
        .unwrap();
    assert!(
        attr_s(&view, "trace_header").is_some(),
        "an unsampled trace is still a trace id"
    );
    assert_eq!(
        body_text(&postback.handle(http_request("POST", push(2, "1"))).await),
        "1"
    );
    let view = table
        .get(&linkbest_order_pk("SO-UNTRACED"), ORDER_SK)
        .await
        .unwrap();
    assert_eq!(attr_s(&view, "status"), Some("1"));
    assert_eq!(
        attr_s(&view, "trace_header"),
        None,
        "no stale trace on a version made outside it"
    );
    assert!(
        xray.documents().await.is_empty(),
        "not sampled: nothing sent to the daemon"
    );
}
