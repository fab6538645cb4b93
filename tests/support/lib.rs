//! Test kit: a real DynamoDB-compatible server for the integration tests, tables created from
//! `template.yaml`, and helpers to build requests and read the table back.
//!
//! DynamoDB: when `AWS_ENDPOINT_URL_DYNAMODB` is set, the tests use that endpoint (another
//! DynamoDB Local, or a real account with the usual AWS credentials) unchanged. Otherwise they start
//! Amazon DynamoDB Local (`scripts/dynamodb-local.sh`: AWS's jar, in memory) on a free loopback
//! port, once per test binary; it stops when the test process ends. Every test gets its own freshly
//! created table, so no state leaks between tests.

pub mod consumer;
pub mod dynamodb_local;
pub mod eventbridge_standin;
pub mod faults;
pub mod feeds;
pub mod festival;
pub mod heat;
pub mod history;
pub mod linkbest_standin;
pub mod logs;
pub mod proxy;
pub mod secrets_standin;
pub mod sqs_standin;
pub mod stream_reader;
pub mod table_def;
pub mod xray_standin;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::Body;
use shared::store::StoreConfig;

pub type Item = HashMap<String, AttributeValue>;

/// The workspace root (where `template.yaml` and `local.env` are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The committed local development settings (`local.env`).
pub fn local_env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let text =
            std::fs::read_to_string(workspace_root().join("local.env")).expect("local.env is readable");
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    })
}

/// One value of `local.env`.
pub fn local_setting(name: &str) -> String {
    local_env()
        .get(name)
        .unwrap_or_else(|| panic!("local.env has no {name}"))
        .clone()
}

/// Where the tests' DynamoDB is.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The DynamoDB Local this test binary started.
    Local { endpoint: String },
    /// The endpoint in `AWS_ENDPOINT_URL_DYNAMODB`, with credentials from the environment.
    External,
}

/// The backend of this test run (starting DynamoDB Local the first time it is asked for).
pub fn backend() -> &'static Backend {
    static BACKEND: OnceLock<Backend> = OnceLock::new();
    BACKEND.get_or_init(|| {
        interested_global_subscriber();
        choose_backend()
    })
}

/// A global subscriber that is interested in every event and does nothing with it. Tests that
/// capture logs install their own subscriber for their thread (`set_default`); without a global
/// one, `tracing` caches "nobody is interested" for a call site first hit on another thread of the
/// same test binary, and a capturing test then misses lines.
fn interested_global_subscriber() {
    if std::env::var_os("TEST_LOG").is_some() {
        // TEST_LOG=1: every log line of the handlers on stderr, for debugging a test.
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::fmt().with_writer(std::io::stderr).finish(),
        );
        return;
    }
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
}

fn choose_backend() -> Backend {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) if !endpoint.trim().is_empty() => Backend::External,
        _ => Backend::Local {
            endpoint: dynamodb_local::start(),
        },
    }
}

/// The store settings the tests use: the table, and timeouts short enough to keep failing tests fast.
pub fn store_config(table: &str) -> StoreConfig {
    StoreConfig {
        table_name: table.to_owned(),
        record_ttl_days: 0,
        attempt_timeout: Duration::from_secs(5),
        operation_timeout: Duration::from_secs(15),
        tls_roots: shared::tls::TrustRoots::System,
    }
}

/// A DynamoDB client for the test backend, built like the functions build theirs.
pub async fn client() -> Client {
    client_for(&store_config("unused")).await
}

/// A DynamoDB client for the test backend with the given timeouts.
pub async fn client_for(config: &StoreConfig) -> Client {
    let loader = match backend() {
        Backend::Local { endpoint } => aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "testkit"))
            .endpoint_url(endpoint),
        Backend::External => {
            let loader = aws_config::defaults(BehaviorVersion::latest());
            if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                loader.region(Region::new("us-east-1"))
            } else {
                loader
            }
        }
    };
    shared::aws::dynamodb_client_from(loader, config).await
}

/// The DynamoDB endpoint the tests use.
pub fn endpoint() -> String {
    match backend() {
        Backend::Local { endpoint } => endpoint.clone(),
        Backend::External => std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_default(),
    }
}

/// A client for the test backend that connects through `endpoint` (e.g. a fault proxy).
pub async fn client_via(endpoint: &str, config: &StoreConfig) -> Client {
    let loader = match backend() {
        Backend::Local { .. } => aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "testkit")),
        Backend::External => aws_config::defaults(BehaviorVersion::latest()).region(Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        )),
    };
    shared::aws::dynamodb_client_from(loader.endpoint_url(endpoint), config).await
}

/// A client whose endpoint accepts no connections: DynamoDB "unreachable".
pub async fn unreachable_client(config: &StoreConfig) -> Client {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "testkit"))
        .endpoint_url(format!("http://127.0.0.1:{port}"));
    shared::aws::dynamodb_client_from(loader, config).await
}

/// A freshly created table of its own for one test.
pub struct TestTable {
    pub name: String,
    pub client: Client,
}

/// The postback as most tests build it: `local.env`'s tokens, the default body limit, and no
/// `CreateTime` window (their pushes carry fixed times).
pub fn local_postback(
    table: &TestTable,
    store: shared::store::Store,
) -> shared::linkbest::postback::Postback {
    use shared::linkbest::settings::{DEFAULT_POSTBACK_MAX_BODY_BYTES, PostbackConfig};
    shared::linkbest::postback::Postback::new(
        store,
        &PostbackConfig {
            store: table.store_config(),
            tokens: shared::secret::parse_secret_list(&local_setting("LINKBEST_POSTBACK_TOKENS")).into(),
            max_body_bytes: DEFAULT_POSTBACK_MAX_BODY_BYTES,
            create_time_window: None,
            refused: Default::default(),
        },
    )
}

/// The callback as most tests build it: `local.env`'s secrets, the default body limit, the given
/// replay window.
pub fn local_callback(
    table: &TestTable,
    store: shared::store::Store,
    max_age: Option<Duration>,
) -> shared::igv::callback::Callback {
    use shared::igv::settings::{CallbackConfig, DEFAULT_CALLBACK_MAX_BODY_BYTES};
    shared::igv::callback::Callback::new(
        store,
        &CallbackConfig {
            store: table.store_config(),
            secrets: shared::secret::parse_secret_list(&local_setting("CALLBACK_HMAC_SECRETS")).into(),
            max_age,
            max_body_bytes: DEFAULT_CALLBACK_MAX_BODY_BYTES,
            refused: Default::default(),
        },
    )
}

impl TestTable {
    /// Creates a table with a unique name from the definition in `template.yaml`, without its
    /// stream (see [`table_def::Stream`]: the stream triples DynamoDB Local's work).
    pub async fn create() -> Self {
        Self::create_with(table_def::Stream::Off).await
    }

    /// Creates a table exactly as `template.yaml` defines it, stream included (the sample-event
    /// tests and the bench: the table `make run` and a deployment have).
    pub async fn create_as_template() -> Self {
        Self::create_with(table_def::Stream::AsTemplate).await
    }

    async fn create_with(stream: table_def::Stream) -> Self {
        let client = client().await;
        let name = format!("test-{}-{:016x}", std::process::id(), fastrand::u64(..));
        table_def::create_table_with(&client, &name, stream)
            .await
            .unwrap_or_else(|e| panic!("creating table {name}: {e}"));
        Self { name, client }
    }

    pub fn store_config(&self) -> StoreConfig {
        store_config(&self.name)
    }

    /// Every item of the table (consistent read). A scan page of a large table takes DynamoDB
    /// Local longer than the writes' timeout (the full-size feed tests hold 200,000 items or more),
    /// so the scan has five minutes an operation.
    pub async fn scan(&self) -> Vec<Item> {
        let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(300))
            .operation_attempt_timeout(Duration::from_secs(300))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(
            self.client.config().to_builder().timeout_config(timeouts).build(),
        );
        client
            .scan()
            .table_name(&self.name)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .expect("scan")
    }

    /// Every item but the refused deliveries kept to be re-run and their hourly counters (issue
    /// #29.1): the order data a refused request must never touch.
    pub async fn scan_orders(&self) -> Vec<Item> {
        self.scan()
            .await
            .into_iter()
            .filter(|i| {
                !matches!(
                    attr_s(i, "item_type"),
                    Some("refused_delivery" | "refused_counter")
                )
            })
            .collect()
    }

    /// The refused deliveries kept to be re-run.
    pub async fn refused(&self) -> Vec<Item> {
        self.scan()
            .await
            .into_iter()
            .filter(|i| attr_s(i, "item_type") == Some("refused_delivery"))
            .collect()
    }

    /// Of `keys` (pk, sk), those with no item in the table: `BatchGetItem`s of 100 (unprocessed
    /// keys asked again), for tables too large for DynamoDB Local to scan.
    pub async fn missing(&self, keys: &[(String, String)]) -> Vec<(String, String)> {
        use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
        let mut found = std::collections::HashSet::new();
        for chunk in keys.chunks(100) {
            let mut request: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|(pk, sk)| {
                    HashMap::from([
                        ("pk".to_owned(), AttributeValue::S(pk.clone())),
                        ("sk".to_owned(), AttributeValue::S(sk.clone())),
                    ])
                })
                .collect();
            while !request.is_empty() {
                let keys = KeysAndAttributes::builder()
                    .set_keys(Some(request))
                    .projection_expression("pk, sk")
                    .consistent_read(true)
                    .build()
                    .expect("keys");
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.name, keys)
                    .send()
                    .await
                    .expect("BatchGetItem");
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.name)
                    .unwrap_or_default()
                {
                    if let (Some(pk), Some(sk)) = (attr_s(&item, "pk"), attr_s(&item, "sk")) {
                        found.insert((pk.to_owned(), sk.to_owned()));
                    }
                }
                request = out
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.name)
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        keys.iter().filter(|k| !found.contains(*k)).cloned().collect()
    }

    /// One item by key (consistent read).
    /// The README's fulfilment worker taking an iGV order out of the awaiting-delivery queue:
    /// `REMOVE queue_pk, queue_sk SET fulfilment_started_at = :now` on condition
    /// `status_version = :seen` (the version it read). Whether it took it.
    pub async fn take_out_of_queue(&self, pk: &str, seen: &str) -> bool {
        self.client
            .update_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S("ORDER".to_owned()))
            .update_expression("REMOVE queue_pk, queue_sk SET fulfilment_started_at = :now")
            .condition_expression("status_version = :seen")
            .expression_attribute_values(":now", AttributeValue::S("2026-11-23T13:40:00Z".to_owned()))
            .expression_attribute_values(":seen", AttributeValue::S(seen.to_owned()))
            .send()
            .await
            .is_ok()
    }

    pub async fn get(&self, pk: &str, sk: &str) -> Option<Item> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get_item")
            .item
    }

    /// The table's stream view type, if it has a stream enabled.
    pub async fn stream_view_type(&self) -> Option<String> {
        self.client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .expect("describe_table")
            .table?
            .stream_specification
            .filter(|s| s.stream_enabled)
            .and_then(|s| s.stream_view_type)
            .map(|v| v.as_str().to_owned())
    }

    pub async fn delete(&self, pk: &str, sk: &str) {
        self.client
            .delete_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .expect("delete_item");
    }
}

impl TestTable {
    /// Deletes the table now, wherever it is (a long run such as `make soak` frees DynamoDB
    /// Local's memory as it goes).
    pub async fn delete_now(&self) {
        let _ = self.client.delete_table().table_name(&self.name).send().await;
    }
}

impl Drop for TestTable {
    /// Tables on an external endpoint (possibly a real account) are deleted; the in-memory DynamoDB
    /// Local of this test binary vanishes with it.
    fn drop(&mut self) {
        if !matches!(backend(), Backend::External) {
            return;
        }
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async {
                let _ = client().await.delete_table().table_name(name).send().await;
            });
        })
        .join();
    }
}

/// A string attribute of an item.
pub fn attr_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A number attribute of an item, as its text.
pub fn attr_n<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_n().ok()).map(String::as_str)
}

/// An HTTP request as API Gateway hands it to a function.
pub fn http_request(method: &str, body: impl Into<String>) -> lambda_http::Request {
    let body: String = body.into();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Text(body)
    };
    lambda_http::http::Request::builder()
        .method(method)
        .uri("https://example.execute-api.us-east-1.amazonaws.com/linkbest/postback")
        .header("content-type", "application/json")
        .body(body)
        .expect("valid request")
}

/// The body of a response as text.
pub fn body_text(response: &lambda_http::Response<Body>) -> String {
    match response.body() {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}
