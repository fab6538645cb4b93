//! Every failure queue has a redrive (issue #29.3), written from the runbook: a rule target's
//! failure queue is sent to the bus again and emptied; a batch the publisher gave up on becomes
//! exactly its orders' events. SQS and EventBridge are stand-ins speaking their wire protocols to
//! the real SDK clients; the table and its stream are DynamoDB Local's.

use std::collections::BTreeSet;

use ops::redrive::{publisher_failures, rule_failures};
use serde_json::{Value, json};
use shared::handoff::publish::RetrySettings;
use shared::linkbest::push::sign_hex;
use shared::secret::parse_secret_list;
use shared::store::Store;
use testkit::eventbridge_standin::EventBridgeStandIn;
use testkit::sqs_standin::SqsStandIn;
use testkit::{TestTable, body_text, http_request, local_postback, local_setting};

const FAST: RetrySettings = RetrySettings {
    attempts: 2,
    first_pause: std::time::Duration::from_millis(1),
};

/// An event as EventBridge hands it to a target (and keeps it in the target's dead-letter queue).
fn delivered(id: &str, detail_type: &str, event_id: &str) -> String {
    json!({"version": "0", "id": id, "detail-type": detail_type, "source": "partner-ingest.igv",
           "account": "123456789012", "time": "2026-12-07T01:00:00Z", "region": "us-east-1",
           "resources": [], "detail": {"event_id": event_id, "partner": "igv"}})
    .to_string()
}

async fn send(sqs: &SqsStandIn, queue: &str, body: &str) {
    sqs.client()
        .send_message()
        .queue_url(queue)
        .message_body(body)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_rule_targets_failure_queue_is_sent_to_the_bus_again_and_emptied() {
    let sqs = SqsStandIn::start().await;
    let queue = sqs.queue_url("ForwardingFailureQueue");
    for (id, event_id) in [("e-1", "ev-1"), ("e-2", "ev-2")] {
        send(&sqs, &queue, &delivered(id, "Order Awaiting Delivery", event_id)).await;
    }
    // Not one of ours: left in the queue, named.
    send(
        &sqs,
        &queue,
        r#"{"source":"aws.s3","detail-type":"Object Created","detail":{}}"#,
    )
    .await;

    // The bus refuses for now: nothing is deleted.
    let bus = EventBridgeStandIn::start().await;
    let orders = shared::handoff::eventbridge::EventBridgeBus::new(bus.client(), "orders");
    bus.throttle_next(100);
    let refused = rule_failures(&sqs.client(), &queue, &orders, FAST).await.unwrap();
    assert_eq!((refused.deleted, refused.left), (0, 3), "{refused:?}");
    assert_eq!(sqs.depth(&queue), 3, "nothing lost while the bus refuses");

    // A second queue handle: the first run's messages are hidden for 5 minutes; a fresh queue
    // with the same content shows the run once the bus takes events.
    bus.throttle_next(0);
    let again = sqs.queue_url("ForwardingFailureQueue-2");
    for (id, event_id) in [("e-1", "ev-1"), ("e-2", "ev-2")] {
        send(&sqs, &again, &delivered(id, "Order Awaiting Delivery", event_id)).await;
    }
    send(
        &sqs,
        &again,
        r#"{"source":"aws.s3","detail-type":"Object Created","detail":{}}"#,
    )
    .await;
    let done = rule_failures(&sqs.client(), &again, &orders, FAST).await.unwrap();
    assert_eq!(
        (done.messages, done.events, done.deleted, done.left),
        (3, 2, 2, 1),
        "{done:?}"
    );
    assert!(done.first_problem.unwrap().contains("not an order event"));
    assert_eq!(sqs.depth(&again), 1, "only the foreign message stays");
    let received = bus.received();
    let ids: BTreeSet<&str> = received
        .iter()
        .filter_map(|e| e.detail["event_id"].as_str())
        .collect();
    assert_eq!(ids, BTreeSet::from(["ev-1", "ev-2"]));
    assert!(
        received
            .iter()
            .all(|e| e.bus == "orders" && e.detail_type == "Order Awaiting Delivery")
    );
    // Twice: nothing left to send (the foreign one stays hidden, then stays).
    let twice = rule_failures(&sqs.client(), &again, &orders, FAST).await.unwrap();
    assert_eq!(twice.events, 0);
    assert_eq!(bus.received().len(), 2);
}

/// The stream's records so far, with the shard they are in: (shard, sequence number, pk).
async fn stream_records(table: &TestTable) -> (String, Vec<(String, String, String)>) {
    let arn = table
        .client
        .describe_table()
        .table_name(&table.name)
        .send()
        .await
        .unwrap()
        .table
        .and_then(|t| t.latest_stream_arn)
        .unwrap();
    let streams = testkit::stream_reader::streams_client().await;
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap_or_default();
    let mut out = Vec::new();
    for shard in shards {
        let id = shard.shard_id().unwrap().to_owned();
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&id)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator.take() {
            let page = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .unwrap();
            if page.records().is_empty() {
                break;
            }
            for record in page.records() {
                let data = record.dynamodb().unwrap();
                let pk = match data.keys().unwrap().get("pk") {
                    Some(aws_sdk_dynamodbstreams::types::AttributeValue::S(pk)) => pk.clone(),
                    _ => continue,
                };
                out.push((id.clone(), data.sequence_number().unwrap().to_owned(), pk));
            }
            iterator = page.next_shard_iterator;
        }
    }
    (arn, out)
}

#[tokio::test]
async fn a_batch_the_publisher_gave_up_on_becomes_exactly_its_orders_events() {
    let table = TestTable::create_as_template().await;
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let tokens = parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS"));
    let postback = local_postback(&table, store.clone());
    let push = |id: u64, sn: &str, status: &str, at: u64| {
        let sign = sign_hex(
            tokens[0].expose(),
            "order.status",
            &id.to_string(),
            &at.to_string(),
        );
        format!(
            r#"{{"PushId":{id},"EventType":"order.status","CreateTime":{at},"Sign":"{sign}","Data":{{"OrderSn":"{sn}","Status":"{status}"}}}}"#
        )
    };
    let started = time::OffsetDateTime::now_utc();
    for (id, sn, status, at) in [
        (501, "SO-RD-A", "0", 1_795_000_000),
        (502, "SO-RD-B", "0", 1_795_000_001),
        (503, "SO-RD-A", "1", 1_795_000_100),
    ] {
        assert_eq!(
            body_text(
                &postback
                    .handle(http_request("POST", push(id, sn, status, at)))
                    .await
            ),
            "1"
        );
    }
    let (arn, records) = stream_records(&table).await;
    // The mapping gave up on the batch holding the first push (its record and order A's view).
    let a_view = records
        .iter()
        .position(|(_, _, pk)| pk == "LB#ORDER#SO-RD-A")
        .unwrap();
    let (shard, start) = (&records[0].0, &records[0].1);
    let end = &records[a_view].1;
    let now = time::OffsetDateTime::now_utc();
    let at = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let failure = |shard: &str| {
        json!({"requestContext": {"requestId": "r", "functionArn": "arn:aws:lambda:us-east-1:1:function:publisher",
                                  "condition": "RecordAgeExceeded", "approximateInvokeCount": 400},
               "responseContext": {"statusCode": 200, "executedVersion": "7", "functionError": "Unhandled"},
               "version": "1.0", "timestamp": at(now),
               "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": start, "endSequenceNumber": end,
                                      "approximateArrivalOfFirstRecord": at(started),
                                      "approximateArrivalOfLastRecord": at(now),
                                      "batchSize": a_view + 1, "streamArn": arn}})
        .to_string()
    };
    let sqs = SqsStandIn::start().await;
    let queue = sqs.queue_url("PublisherFailureQueue");
    send(&sqs, &queue, &failure(shard)).await;
    let bus = EventBridgeStandIn::start().await;
    let orders = shared::handoff::eventbridge::EventBridgeBus::new(bus.client(), "orders");
    let streams = testkit::stream_reader::streams_client().await;
    let done = publisher_failures(&sqs.client(), &queue, &streams, &store, &orders, FAST)
        .await
        .unwrap();
    assert_eq!(
        (done.messages, done.deleted, done.left, done.by_time),
        (1, 1, 0, 0),
        "{done:?}"
    );
    let pks: Vec<Value> = bus
        .received()
        .iter()
        .map(|e| e.detail["table_key"]["pk"].clone())
        .collect();
    assert_eq!(
        pks,
        [json!("LB#ORDER#SO-RD-A")],
        "exactly the batch's order, not B"
    );
    let event = &bus.received()[0];
    assert_eq!(
        event.detail["status"], "1",
        "its current version, as the publisher sent it"
    );
    assert_eq!(sqs.depth(&queue), 0);

    // Once the stream no longer holds the batch: the views changed in its time range.
    send(&sqs, &queue, &failure("shardId-00000000000000000000-gone")).await;
    let by_time = publisher_failures(&sqs.client(), &queue, &streams, &store, &orders, FAST)
        .await
        .unwrap();
    assert_eq!((by_time.deleted, by_time.by_time), (1, 1), "{by_time:?}");
    let later: BTreeSet<String> = bus.received()[1..]
        .iter()
        .map(|e| e.detail["table_key"]["pk"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        later,
        BTreeSet::from(["LB#ORDER#SO-RD-A".to_owned(), "LB#ORDER#SO-RD-B".to_owned()]),
        "a superset: consumers drop doubles by detail.event_id"
    );
}

/// History replay (issue #29.7): the bus's archive replayed to one consumer's rule carries every
/// version the bus carried in the range, in order — where `ops republish` carries the current one.
#[tokio::test]
async fn a_replay_sends_every_version_the_bus_carried_to_one_rule() {
    use shared::handoff::publish::{Entry, publish_entries};
    let bus = EventBridgeStandIn::start().await;
    let orders = shared::handoff::eventbridge::EventBridgeBus::new(bus.client(), "orders");
    let version = |v: u32| Entry {
        source: "partner-ingest.linkbest".to_owned(),
        detail_type: if v == 1 {
            "Order Seen"
        } else {
            "Order Status Changed"
        },
        detail: json!({"event_id": format!("ev-{v}"), "view_version": format!("{v:020}")}).to_string(),
        sequence_number: v.to_string(),
        trace_header: None,
    };
    let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    for v in 1..=3 {
        assert!(
            publish_entries(&orders, &[version(v)], FAST)
                .await
                .iter()
                .all(Option::is_none)
        );
    }
    let after = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let rule = "arn:aws:events:us-east-1:000000000000:rule/orders/fulfilment";
    let done = ops::replay::replay(
        &bus.client(),
        "arn:aws:events:us-east-1:000000000000:archive/orders-archive",
        rule,
        before,
        after,
        std::time::Duration::from_millis(10),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(done.state, "COMPLETED");
    let replayed = bus.replayed();
    assert!(
        replayed
            .iter()
            .all(|r| r.rule == rule && r.replay_name == done.replay_name)
    );
    let ids: Vec<&str> = replayed
        .iter()
        .filter_map(|r| r.event.detail["event_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["ev-1", "ev-2", "ev-3"],
        "every version, in the order the bus carried them"
    );
    // A range before anything was carried replays nothing.
    let empty = ops::replay::replay(
        &bus.client(),
        "arn:aws:events:us-east-1:000000000000:archive/orders-archive",
        rule,
        before - time::Duration::hours(2),
        before - time::Duration::hours(1),
        std::time::Duration::from_millis(10),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(empty.state, "COMPLETED");
    assert_eq!(bus.replayed().len(), 3);
}
