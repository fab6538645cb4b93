//! A local stand-in for Amazon SQS, spoken as the service speaks it to today's SDKs (AWS JSON 1.0:
//! `POST /` with `X-Amz-Target: AmazonSQS.<Operation>`), so the real `aws-sdk-sqs` client is
//! pointed at it: `SendMessage`, `ReceiveMessage` (with the visibility timeout: a received
//! message is hidden until it passes, then received again, with a new receipt handle) and
//! `DeleteMessage` (by the latest receipt handle), on queues named by their URL.
//!
//! Why a stand-in: AWS publishes no SQS emulator. What the redrive needs of SQS is exactly these
//! three calls and the visibility rule.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    receipt: Option<String>,
    visible_at: Instant,
}

#[derive(Default)]
struct Inner {
    queues: BTreeMap<String, Vec<Message>>,
    next: u64,
    calls: BTreeMap<String, u64>,
}

/// A running stand-in on a free loopback port.
#[derive(Clone)]
pub struct SqsStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl SqsStandIn {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("stand-in binds");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/", post(handle))
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("stand-in serves");
        });
        Self { addr, inner }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of queue `name` (created empty on first use).
    pub fn queue_url(&self, name: &str) -> String {
        let url = format!("{}/000000000000/{name}", self.endpoint());
        self.inner.lock().unwrap().queues.entry(url.clone()).or_default();
        url
    }

    /// Messages in the queue, visible or not.
    pub fn depth(&self, queue_url: &str) -> usize {
        self.inner
            .lock()
            .unwrap()
            .queues
            .get(queue_url)
            .map_or(0, Vec::len)
    }

    /// Calls answered, by operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// A client of the real SDK pointed at the stand-in.
    pub fn client(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "local", "local", None, None, "testkit",
            ))
            .endpoint_url(self.endpoint())
            .http_client(shared::tls::sdk_https_client(shared::tls::TrustRoots::System))
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(text.as_bytes()))
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: String) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let url = request["QueueUrl"].as_str().unwrap_or_default().to_owned();
    let mut inner = inner.lock().unwrap();
    *inner.calls.entry(target.clone()).or_default() += 1;
    let now = Instant::now();
    let missing = || {
        answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."}),
        )
    };
    match target.as_str() {
        "AmazonSQS.SendMessage" => {
            inner.next += 1;
            let id = format!("00000000-0000-4000-8000-{:012x}", inner.next);
            let text = request["MessageBody"].as_str().unwrap_or_default().to_owned();
            let Some(queue) = inner.queues.get_mut(&url) else {
                return missing();
            };
            queue.push(Message {
                id: id.clone(),
                body: text.clone(),
                receipt: None,
                visible_at: now,
            });
            answer(
                StatusCode::OK,
                json!({"MessageId": id, "MD5OfMessageBody": md5_hex(&text)}),
            )
        }
        "AmazonSQS.ReceiveMessage" => {
            let max = request["MaxNumberOfMessages"].as_u64().unwrap_or(1).clamp(1, 10) as usize;
            let hide = Duration::from_secs(request["VisibilityTimeout"].as_u64().unwrap_or(30));
            inner.next += 1;
            let round = inner.next;
            let Some(queue) = inner.queues.get_mut(&url) else {
                return missing();
            };
            let mut out = Vec::new();
            for (i, message) in queue
                .iter_mut()
                .filter(|m| m.visible_at <= now)
                .take(max)
                .enumerate()
            {
                let receipt = format!("receipt-{round}-{i}-{}", message.id);
                message.receipt = Some(receipt.clone());
                message.visible_at = now + hide;
                out.push(json!({"MessageId": message.id, "ReceiptHandle": receipt,
                                "MD5OfBody": md5_hex(&message.body), "Body": message.body}));
            }
            answer(StatusCode::OK, json!({"Messages": out}))
        }
        "AmazonSQS.DeleteMessage" => {
            let receipt = request["ReceiptHandle"].as_str().unwrap_or_default();
            let Some(queue) = inner.queues.get_mut(&url) else {
                return missing();
            };
            let before = queue.len();
            queue.retain(|m| m.receipt.as_deref() != Some(receipt));
            if queue.len() == before {
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"__type": "com.amazonaws.sqs#ReceiptHandleIsInvalid", "message": receipt}),
                );
            }
            answer(StatusCode::OK, json!({}))
        }
        other => answer(
            StatusCode::BAD_REQUEST,
            json!({"__type": "com.amazonaws.sqs#UnsupportedOperation", "message": other}),
        ),
    }
}
