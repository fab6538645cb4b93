//! Secrets from AWS Secrets Manager (`*_ARN` variables): read once at init and at most every
//! refresh interval, rotation lists, and a secret that is missing or unreadable — a clear error
//! naming the variable and the ARN, never a value, and the protocol's failure answer on every
//! request until it can be read. Against the Secrets Manager stand-in of the test kit (the real
//! SDK client, the real wire protocol).

use std::time::Duration;

use lambda_http::Body;
use shared::feed::{FetchError, PageRequest};
use shared::igv::callback::Callback;
use shared::igv::protocol::signature_hex;
use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
use shared::keys::{CALLBACK_SK, PUSH_SK, igv_callback_pk, linkbest_push_pk};
use shared::linkbest::api::SETTLEMENT_SERVICE;
use shared::linkbest::client::{LinkbestClient, RetrySettings, Service};
use shared::linkbest::postback::Postback;
use shared::linkbest::push::sign_hex;
use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
use shared::secret::{SecretError, SecretList, SecretSetting};
use shared::store::Store;
use testkit::secrets_standin::{SecretsStandIn, Stored, arn};
use testkit::{TestTable, body_text, http_request};

const HOUR: Duration = Duration::from_secs(3600);

async fn list(
    standin: &SecretsStandIn,
    variable: &'static str,
    name: &str,
    refresh: Duration,
) -> (SecretList, Result<(), SecretError>) {
    let list = SecretList::from_setting(
        variable,
        &SecretSetting::SecretsManager {
            id: arn(name),
            refresh,
        },
    );
    let connected = list.connect(|| standin.client()).await;
    (list, connected)
}

fn push_body(token: &str, push_id: u64) -> String {
    let sign = sign_hex(token, "order.status", &push_id.to_string(), "1795440000");
    format!(
        r#"{{"PushId":{push_id},"EventType":"order.status","CreateTime":1795440000,"Sign":"{sign}","Data":{{"OrderSn":"S{push_id}","Status":"1"}}}}"#
    )
}

fn callback_request(secret: &str, request_id: &str) -> lambda_http::Request {
    let ts = (time::OffsetDateTime::now_utc().unix_timestamp() * 1000).to_string();
    lambda_http::http::Request::builder()
        .method("POST")
        .header("x-request-id", request_id)
        .header("x-timestamp", &ts)
        .header("x-signature", signature_hex(secret, &ts, request_id))
        .body(Body::Text(r#"{"orderId":123,"sellerOrderStatus":1}"#.to_owned()))
        .unwrap()
}

fn handlers(table: &TestTable, tokens: SecretList, secrets: SecretList) -> (Postback, Callback) {
    let store = Store::from_config(table.client.clone(), &table.store_config());
    let postback = Postback::new(
        store.clone(),
        &PostbackConfig {
            store: table.store_config(),
            tokens,
            max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
            create_time_window: None,
            refused: Default::default(),
        },
    );
    let callback = Callback::new(
        store,
        &CallbackConfig {
            store: table.store_config(),
            secrets,
            max_age: None,
            max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
            refused: Default::default(),
        },
    );
    (postback, callback)
}

#[tokio::test]
async fn secrets_from_secrets_manager_verify_deliveries_with_a_rotation_list_read_once() {
    let standin = SecretsStandIn::start().await;
    standin.put("postback-tokens", Stored::Text("old-token, new-token".into()));
    standin.put("igv-keys", Stored::Text("IgvKeyNumberOne0123456789abcdef".into()));
    let (tokens, ok) = list(&standin, "LINKBEST_POSTBACK_TOKENS", "postback-tokens", HOUR).await;
    ok.unwrap();
    let (keys, ok) = list(&standin, "CALLBACK_HMAC_SECRETS", "igv-keys", HOUR).await;
    ok.unwrap();
    assert_eq!(standin.calls(), 2, "one read per secret at init");

    let table = TestTable::create().await;
    let (postback, callback) = handlers(&table, tokens, keys);
    for (i, token) in ["old-token", "new-token"].into_iter().enumerate() {
        for _ in 0..10 {
            let answer = postback
                .handle(http_request("POST", push_body(token, 7_000 + i as u64)))
                .await;
            assert!(["1", "0"].contains(&body_text(&answer).as_str()), "{token}");
        }
    }
    assert_eq!(
        body_text(
            &postback
                .handle(http_request("POST", push_body("other", 7_100)))
                .await
        ),
        "-1"
    );
    let answer = callback
        .handle(callback_request("IgvKeyNumberOne0123456789abcdef", "r-1"))
        .await;
    assert_eq!(answer.status(), 200);
    assert!(table.get(&linkbest_push_pk("7000"), PUSH_SK).await.is_some());
    assert!(table.get(&linkbest_push_pk("7001"), PUSH_SK).await.is_some());
    assert!(table.get(&igv_callback_pk("r-1"), CALLBACK_SK).await.is_some());
    assert_eq!(standin.calls(), 2, "never read per request");
}

#[tokio::test]
async fn a_missing_or_unreadable_secret_is_a_clear_error_and_every_delivery_answers_failure() {
    let (logs, _guard) = testkit::logs::capture();
    let standin = SecretsStandIn::start().await;
    let table = TestTable::create().await;
    let cases: [(&str, Option<Stored>, &str); 5] = [
        ("missing", None, "ResourceNotFoundException"),
        ("denied", Some(Stored::Denied), "AccessDeniedException"),
        ("binary", Some(Stored::Binary), "no SecretString"),
        (
            "json",
            Some(Stored::Text(r#"{"token":"sekrit-json-token"}"#.into())),
            "JSON",
        ),
        ("empty", Some(Stored::Text(" , ".into())), "empty"),
    ];
    for (n, (name, stored, reason)) in cases.into_iter().enumerate() {
        if let Some(stored) = stored {
            standin.put(name, stored);
        }
        let (tokens, connected) = list(&standin, "LINKBEST_POSTBACK_TOKENS_ARN", name, HOUR).await;
        let (keys, _) = list(&standin, "CALLBACK_HMAC_SECRETS_ARN", name, HOUR).await;
        let error = connected.unwrap_err().to_string();
        assert!(error.contains(&arn(name)), "{error}");
        assert!(error.contains("LINKBEST_POSTBACK_TOKENS_ARN"), "{error}");
        assert!(error.contains(reason), "{name}: {error}");

        let (postback, callback) = handlers(&table, tokens, keys);
        let push_id = 8_000 + n as u64;
        let answer = postback
            .handle(http_request("POST", push_body("sekrit-json-token", push_id)))
            .await;
        assert_eq!(body_text(&answer), "-1", "{name}");
        assert!(
            table
                .get(&linkbest_push_pk(&push_id.to_string()), PUSH_SK)
                .await
                .is_none()
        );
        let request_id = format!("r-{name}");
        let answer = callback
            .handle(callback_request("sekrit-json-token", &request_id))
            .await;
        assert_eq!(answer.status(), 500, "{name}: the platform retries");
        assert!(
            table
                .get(&igv_callback_pk(&request_id), CALLBACK_SK)
                .await
                .is_none()
        );
    }
    let logs = logs.text();
    assert!(logs.contains("secrets_unavailable"), "{logs}");
    assert!(!logs.contains("sekrit"), "a secret value reached a log line");

    // The sync: its app secret unreadable, a page fails at once (not retried), before any request.
    let (app_secret, _) = list(&standin, "LINKBEST_APP_SECRET_ARN", "denied", HOUR).await;
    let client = LinkbestClient::new("http://127.0.0.1:9", "key", app_secret, RetrySettings::default());
    let page = PageRequest {
        stime: 0,
        etime: 60,
        page: 1,
        page_size: 10,
    };
    let result = client
        .page(
            Service {
                name: SETTLEMENT_SERVICE,
                params: &[],
            },
            &page,
            tokio::time::Instant::now() + HOUR,
            |_| Ok(()),
        )
        .await;
    assert!(
        matches!(result, Err(FetchError::Credentials(ref why)) if why.contains("AccessDenied")),
        "{result:?}"
    );
    assert_eq!(client.requests_sent(), 0);
}

#[tokio::test]
async fn a_new_value_is_read_after_the_refresh_interval_and_a_failed_read_keeps_the_last() {
    let (logs, _guard) = testkit::logs::capture();
    let standin = SecretsStandIn::start().await;
    let refresh = Duration::from_millis(50);
    standin.put("rotating", Stored::Text("first-value".into()));
    let (tokens, ok) = list(&standin, "LINKBEST_POSTBACK_TOKENS_ARN", "rotating", refresh).await;
    ok.unwrap();
    for _ in 0..100 {
        assert_eq!(tokens.current().await.unwrap()[0].expose(), "first-value");
    }
    assert!(
        standin.calls() <= 2,
        "read per interval, not per use: {}",
        standin.calls()
    );

    standin.put("rotating", Stored::Text("second-value".into()));
    tokio::time::sleep(refresh * 2).await;
    assert_eq!(tokens.current().await.unwrap()[0].expose(), "second-value");

    standin.put("rotating", Stored::Denied);
    tokio::time::sleep(refresh * 2).await;
    let kept = tokens.current().await.unwrap();
    assert_eq!(
        kept[0].expose(),
        "second-value",
        "a failed refresh keeps the values read before"
    );
    let logs = logs.text();
    assert!(logs.contains("stay in use"), "{logs}");
    assert!(!logs.contains("first-value") && !logs.contains("second-value"));
}

#[tokio::test]
async fn a_secret_missing_at_start_heals_without_a_cold_start_once_it_exists() {
    let standin = SecretsStandIn::start().await;
    let refresh = Duration::from_millis(50);
    let (tokens, connected) = list(&standin, "LINKBEST_POSTBACK_TOKENS_ARN", "late", refresh).await;
    assert!(connected.is_err());
    assert!(
        tokens.current().await.is_err(),
        "not read again before the retry pause"
    );
    standin.put("late", Stored::Text("late-token".into()));
    tokio::time::sleep(refresh * 2).await;
    assert_eq!(tokens.current().await.unwrap()[0].expose(), "late-token");
}
