//! Per-request CPU of each handler's own work, without network (criterion).
//!
//! - `postback_parse_verify_item`: parse a push, verify its MD5 sign, build the record item (the
//!   part the Python baseline's `parse_and_verify` also does; bench/run.sh compares the two).
//! - `postback_handle` / `callback_handle`: the whole handler of a new event — request checks,
//!   parse, verify, the DynamoDB requests built, signed (SigV4) and serialized by the SDK, the
//!   JSON log line and the EMF line — with an in-memory HTTP client answering DynamoDB's `{}`
//!   instead of a network round trip.
//! - `postback_store_call`: only the store call of a parsed push (items built, then the SDK's
//!   request), so the SDK's share of `postback_handle` shows.
//! - `settlement_page_parse`: one 200-row `orders.settlement.get` answer parsed.
//! - `publisher_100_records`: the hand-off publisher's own work on 100 stream records (read,
//!   describe, serialize, batch), with an in-memory bus; per record = median / 100.
//!
//! Run with `cargo bench -p bench --bench handlers` (bench/run.sh does).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use criterion::{Criterion, criterion_group, criterion_main};
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request};
use shared::handoff::Describe;
use shared::handoff::publish::{Bus, BusError, Entry, Publisher, RetrySettings, publish};
use shared::handoff::set_aside::KeepNothing;
use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::igv::settings::CallbackConfig;
use shared::linkbest::api::parse_envelope;
use shared::linkbest::postback::Postback;
use shared::linkbest::push::{parse_push, sign_hex, verify_sign};
use shared::linkbest::settings::PostbackConfig;
use shared::linkbest::settlement::parse_changes;
use shared::linkbest::store::NewPush;
use shared::store::Store;
use time::OffsetDateTime;

const TOKEN: &str = "bench-postback-token";
const HMAC_SECRET: &str = "BenchCallbackSecret0123456789abc";

fn push_body(push_id: u64) -> String {
    let push_id = push_id.to_string();
    let sign = sign_hex(TOKEN, "order.created", &push_id, "1795440000");
    format!(
        r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1795440000,"Sign":"{sign}","Data":{{"OrderSn":"BENCH-{push_id}","OrdersPrice":129.9000,"SiterCommission":"6.4950","Currency":"USD","ProgramId":77,"ProgramName":"Bench Store","Status":"Pending","OrderTime":"2026-11-23 12:00:00"}}}}"#
    )
}

/// A store whose DynamoDB answers every request with `{}` (HTTP 200) from memory.
fn in_memory_store() -> Store {
    let http = infallible_client_fn(|_request| http::Response::builder().status(200).body("{}").unwrap());
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDBENCH", "bench-secret", None, None, "bench"))
        .endpoint_url("http://127.0.0.1:1")
        .http_client(http)
        .build();
    Store::new(aws_sdk_dynamodb::Client::from_conf(config), "bench", 0)
}

fn lookup(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn http_request(body: String, headers: &[(&'static str, String)]) -> Request {
    let mut request = Request::new(Body::Text(body));
    *request.method_mut() = lambda_http::http::Method::POST;
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("ASCII"));
    }
    request
}

fn benches(c: &mut Criterion) {
    // The JSON log lines are formatted as in Lambda, then dropped.
    tracing_subscriber::fmt().json().with_writer(std::io::sink).init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = in_memory_store();
    let body = push_body(1_795_440_000_123);

    c.bench_function("postback_parse_verify_item", |b| {
        let tokens = [shared::secret::Secret::new(TOKEN)];
        b.iter(|| {
            let push = parse_push(black_box(&body)).expect("valid push");
            verify_sign(&push, &tokens).expect("signed");
            let new = NewPush {
                push: &push,
                raw_body: &body,
                received_at: OffsetDateTime::now_utc(),
                lambda_request_id: Some("req-0001"),
            };
            black_box(store.push_item(&new));
            black_box(shared::linkbest::store::content_hash(&push));
        })
    });

    // The store call alone (record and view items, then the SDK's TransactWriteItems), to tell
    // the SDK's share of `postback_handle` from the handler's own.
    let parsed = parse_push(&body).expect("valid push");
    c.bench_function("postback_store_call", |b| {
        b.iter(|| {
            let new = NewPush {
                push: &parsed,
                raw_body: &body,
                received_at: OffsetDateTime::now_utc(),
                lambda_request_id: Some("req-0001"),
            };
            black_box(runtime.block_on(store.store_linkbest_push(&new)).expect("stored"))
        })
    });

    let postback_config = PostbackConfig::from_lookup(&lookup(&[
        ("TABLE_NAME", "bench"),
        ("LINKBEST_POSTBACK_TOKENS", TOKEN),
        // The bench's pushes carry fixed CreateTimes.
        ("POSTBACK_CREATE_TIME_WINDOW_SECONDS", "0"),
    ]))
    .expect("config");
    let postback = Postback::new(store.clone(), &postback_config);
    let next = AtomicU64::new(1_795_440_000_000);
    c.bench_function("postback_handle", |b| {
        b.iter_batched(
            || http_request(push_body(next.fetch_add(1, Ordering::Relaxed)), &[]),
            |request| black_box(runtime.block_on(postback.handle(request))),
            criterion::BatchSize::SmallInput,
        )
    });

    let callback_config = CallbackConfig::from_lookup(&lookup(&[
        ("TABLE_NAME", "bench"),
        ("CALLBACK_HMAC_SECRETS", HMAC_SECRET),
        ("CALLBACK_MAX_AGE_SECONDS", "0"),
    ]))
    .expect("config");
    let callback = Callback::new(store.clone(), &callback_config);
    c.bench_function("callback_handle", |b| {
        b.iter_batched(
            || {
                let id = next.fetch_add(1, Ordering::Relaxed).to_string();
                let ts = "1795440539000".to_owned();
                let body = format!(
                    r#"{{"createdAt":"2026-11-23T21:28:57","orderId":{id},"orderNum":"SO{id}","sellerOrderStatus":1,"buyerId":"1907369850568257537"}}"#
                );
                let signature = signature_hex(HMAC_SECRET, &ts, &id);
                http_request(
                    body,
                    &[
                        ("content-type", "application/json".to_owned()),
                        ("x-request-id", id),
                        ("x-timestamp", ts),
                        ("x-signature", signature),
                    ],
                )
            },
            |request| black_box(runtime.block_on(callback.handle(request))),
            criterion::BatchSize::SmallInput,
        )
    });

    let rows: Vec<String> = (0..200)
        .map(|i| {
            format!(
                r#"{{"OrderSn":"LB{i:08}","OrdersPrice":129.9000,"ModifyStatus":"1","ConfirmStatus":"2","ModifySiterCommission":"6.4950","ConfirmSiterCommission":"6.4950","ModifyAt":"2026-11-23 12:{:02}:{:02}","ProgramId":"77","ProgramName":"Bench Store","ChargeCurrency":"USD"}}"#,
                i / 60,
                i % 60
            )
        })
        .collect();
    let page = format!(
        r#"{{"Status":0,"Message":"success","Data":[{}]}}"#,
        rows.join(",")
    );
    c.bench_function("settlement_page_parse", |b| {
        b.iter(|| {
            let envelope = parse_envelope(black_box(&page)).expect("valid page");
            black_box(parse_changes(&envelope.rows).expect("valid rows"))
        })
    });

    // The publisher's own work on a batch of 100 stream records (the sample's first record under
    // 100 keys): read each record, describe its event, serialize it, split into PutEvents requests
    // — with a bus that accepts everything in memory. Per record: the median / 100.
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/publisher-1-view-changes.json"
        ))
        .expect("sample event"),
    )
    .expect("json");
    let records: Vec<serde_json::Value> = (0..100)
        .map(|i| {
            let mut r = sample["Records"][0].clone();
            r["dynamodb"]["Keys"]["pk"]["S"] = serde_json::json!(format!("LB#ORDER#BENCH{i}"));
            r["dynamodb"]["SequenceNumber"] = serde_json::json!(format!("{:021}", i + 1));
            r
        })
        .collect();
    let views: &[Describe] = shared::VIEWS;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("publisher_100_records", |b| {
        b.iter(|| {
            let outcome = runtime.block_on(publish(
                black_box(&records),
                views,
                Publisher {
                    bus: &AcceptAll,
                    set_aside: &KeepNothing,
                    retry: RetrySettings::default(),
                    deadline: None,
                },
            ));
            assert_eq!(outcome.published, 100);
            black_box(outcome)
        })
    });
}

/// A bus that accepts every entry, in memory.
struct AcceptAll;

impl Bus for AcceptAll {
    fn put_events<'a>(
        &'a self,
        entries: &'a [Entry],
    ) -> shared::feed::BoxFuture<'a, Result<Vec<Option<String>>, BusError>> {
        Box::pin(async move { Ok(vec![None; entries.len()]) })
    }
}

criterion_group!(handlers, benches);
criterion_main!(handlers);
