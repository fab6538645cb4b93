//! A local stand-in for Amazon EventBridge's `PutEvents`, the one call the publisher makes, spoken
//! the way the service speaks it (AWS JSON 1.1: `POST /` with `X-Amz-Target: AWSEvents.PutEvents`,
//! `{"Entries": [{"Source", "DetailType", "Detail", "EventBusName"}]}` in, `{"FailedEntryCount",
//! "Entries": [{"EventId"} | {"ErrorCode", "ErrorMessage"}]}` out, in the entries' order), so the
//! real `aws-sdk-eventbridge` client is pointed at it.
//!
//! Why a stand-in: AWS publishes no EventBridge emulator. Faults as EventBridge produces them:
//! a whole request throttled (HTTP 400 `ThrottlingException`), and single entries refused
//! (`FailedEntryCount` > 0, `ErrorCode` `InternalFailure`). Requests over EventBridge's limits
//! (more than 10 entries, over 256 KB) are refused as the service refuses them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// One event the bus accepted, as a rule's target would receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub bus: String,
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    /// The entry's X-Ray `TraceHeader`, when it had one (issue #30.1).
    pub trace_header: Option<String>,
}

/// One event a replay sent to a rule (issue #29.7): the archived event and where it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    pub replay_name: String,
    /// The rule the replay was filtered to (`Destination.FilterArns`).
    pub rule: String,
    pub event: Received,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Every accepted event with when it was accepted (unix seconds): the bus's archive.
    archive: Vec<(f64, Received)>,
    replayed: Vec<Replayed>,
    replays: std::collections::BTreeMap<String, Value>,
    requests: u64,
    /// Requests to answer with `ThrottlingException`, from the next one.
    throttle_next: u32,
    /// Entries to refuse (`InternalFailure`), from the next one.
    refuse_next_entries: u32,
    /// Violations of EventBridge's limits seen (the publisher must never send any).
    violations: Vec<String>,
    /// Print each accepted event as one JSON line on stdout (`make run`'s local bus).
    print: bool,
    /// How long each request waits before it is answered (the bench's injected latency).
    latency: std::time::Duration,
}

/// A running stand-in on a free loopback port.
#[derive(Clone)]
pub struct EventBridgeStandIn {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl EventBridgeStandIn {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0", false).await
    }

    /// Starts on `bind` (e.g. `127.0.0.1:9200` for `make run`); with `print`, every accepted event
    /// is also printed as one JSON line (`Source`, `DetailType`, `Detail`), as a rule's target
    /// would receive it.
    pub async fn start_on(bind: &str, print: bool) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            print,
            ..Inner::default()
        }));
        let listener = tokio::net::TcpListener::bind(bind).await.expect("stand-in binds");
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

    /// Every event accepted so far, in the order accepted.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Every event replays sent, in the order sent.
    pub fn replayed(&self) -> Vec<Replayed> {
        self.inner.lock().unwrap().replayed.clone()
    }

    /// `PutEvents` requests answered so far (throttled ones included).
    pub fn requests(&self) -> u64 {
        self.inner.lock().unwrap().requests
    }

    /// Requests over EventBridge's limits (must stay empty).
    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    /// The next `n` requests are throttled as a whole.
    pub fn throttle_next(&self, n: u32) {
        self.inner.lock().unwrap().throttle_next = n;
    }

    /// The next `n` entries are refused one by one (`FailedEntryCount`).
    pub fn refuse_next_entries(&self, n: u32) {
        self.inner.lock().unwrap().refuse_next_entries = n;
    }

    /// Every request is answered `latency` after it arrived (requests wait concurrently).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.inner.lock().unwrap().latency = latency;
    }

    /// A client of the real SDK pointed at the stand-in.
    pub fn client(&self) -> aws_sdk_eventbridge::Client {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
                "local", "local", None, None, "testkit",
            ))
            .endpoint_url(self.endpoint())
            // The SDK's own retries off: the publisher's retries are what is under test.
            .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
            .http_client(shared::tls::sdk_https_client(shared::tls::TrustRoots::System))
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.1")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: String) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match target {
        "AWSEvents.PutEvents" => {}
        "AWSEvents.StartReplay" | "AWSEvents.DescribeReplay" => {
            let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            return replay(&mut inner.lock().unwrap(), target, &request);
        }
        _ => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"__type": "UnknownOperationException", "message": target}),
            );
        }
    }
    let latency = inner.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut inner = inner.lock().unwrap();
    inner.requests += 1;
    if inner.throttle_next > 0 {
        inner.throttle_next -= 1;
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
        );
    }
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() || entries.len() > 10 || body.len() > 256 * 1024 {
        let why = format!("{} entries, {} bytes", entries.len(), body.len());
        inner.violations.push(why.clone());
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"__type": "ValidationException", "message": why}),
        );
    }
    let mut answers = Vec::new();
    let mut failed = 0;
    for entry in entries {
        if inner.refuse_next_entries > 0 {
            inner.refuse_next_entries -= 1;
            failed += 1;
            answers.push(json!({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}));
            continue;
        }
        let text = |name: &str| entry[name].as_str().unwrap_or_default().to_owned();
        let detail: Value = serde_json::from_str(&text("Detail")).unwrap_or(Value::Null);
        if inner.print {
            println!("{}", {
                let mut line = json!({"EventBusName": text("EventBusName"), "Source": text("Source"), "DetailType": text("DetailType"), "Detail": detail});
                if let Some(trace) = entry["TraceHeader"].as_str() {
                    line["TraceHeader"] = trace.into();
                }
                line
            });
        }
        let received = Received {
            bus: text("EventBusName"),
            source: text("Source"),
            detail_type: text("DetailType"),
            detail,
            trace_header: entry["TraceHeader"].as_str().map(str::to_owned),
        };
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        inner.archive.push((at, received.clone()));
        inner.received.push(received);
        answers.push(json!({"EventId": format!("{:08x}-0000-4000-8000-{:012x}", inner.requests, inner.received.len())}));
    }
    json_response(
        StatusCode::OK,
        json!({"FailedEntryCount": failed, "Entries": answers}),
    )
}

/// `StartReplay` / `DescribeReplay` as EventBridge answers them (timestamps as epoch seconds):
/// a replay sends, at once, every archived event accepted in `[EventStartTime, EventEndTime)` to
/// the rule named by `Destination.FilterArns`, in the order the bus accepted them, and is
/// `COMPLETED`. A replay name used twice is refused, as EventBridge refuses it.
fn replay(inner: &mut Inner, target: &str, request: &Value) -> Response {
    let name = request["ReplayName"].as_str().unwrap_or_default().to_owned();
    if target == "AWSEvents.DescribeReplay" {
        return match inner.replays.get(&name) {
            Some(described) => json_response(StatusCode::OK, described.clone()),
            None => json_response(
                StatusCode::BAD_REQUEST,
                json!({"__type": "ResourceNotFoundException", "message": format!("Replay {name} does not exist.")}),
            ),
        };
    }
    if inner.replays.contains_key(&name) {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"__type": "ResourceAlreadyExistsException", "message": format!("Replay {name} already exists.")}),
        );
    }
    let (start, end) = (
        request["EventStartTime"].as_f64().unwrap_or(0.0),
        request["EventEndTime"].as_f64().unwrap_or(0.0),
    );
    let rules: Vec<String> = request["Destination"]["FilterArns"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let chosen: Vec<Received> = inner
        .archive
        .iter()
        .filter(|(at, _)| *at >= start && *at < end)
        .map(|(_, e)| e.clone())
        .collect();
    for rule in &rules {
        for event in &chosen {
            inner.replayed.push(Replayed {
                replay_name: name.clone(),
                rule: rule.clone(),
                event: event.clone(),
            });
        }
    }
    let arn = format!("arn:aws:events:us-east-1:000000000000:replay/{name}");
    inner.replays.insert(
        name.clone(),
        json!({"ReplayName": name, "ReplayArn": arn, "State": "COMPLETED",
               "EventSourceArn": request["EventSourceArn"], "Destination": request["Destination"],
               "EventStartTime": start, "EventEndTime": end}),
    );
    json_response(StatusCode::OK, json!({"ReplayArn": arn, "State": "STARTING"}))
}
