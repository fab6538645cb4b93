//! A small TCP proxy in front of the local DynamoDB that counts the requests it forwards, by
//! operation, and misbehaves on demand as the network and DynamoDB do: throttling answers,
//! requests never answered, connections cut after the server applied the request, and answers
//! held back past a client's timeout.
//!
//! Connections are kept alive (as the SDK keeps them): each client connection gets its own
//! upstream connection, and requests on it are handled one after another. A fault that closes a
//! connection closes both. The count is taken where the request reaches the server, so it is the
//! same for any client, in any language, retries included (the bench counts both the Rust
//! functions and the Python baseline this way).
//!
//! Partition keys (issue #27, [`crate::heat`]): the proxy can record every write's partition-key
//! values for the table and each index (key schema from `template.yaml`) per second — the heat
//! report — and refuse a write whose key is past a per-partition budget exactly as DynamoDB
//! answers a hot partition (`ThrottlingException` with a key-range reason; a transaction
//! cancelled with `ThrottlingError` at the item's position), without forwarding it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::heat::{Heat, KeySchema, Target, Tracker, Written};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the proxy treats a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Forward the request and its answer.
    Pass,
    /// Answer HTTP 400 `ProvisionedThroughputExceededException` without forwarding.
    Throttle,
    /// Read the request and never answer (the client's timeout fires).
    Blackhole,
    /// Forward the request, wait for the server's answer (so the write happened), then close the
    /// client's connection without passing the answer on.
    CutAfterServerAnswered,
    /// Forward the request (it is applied) and pass the answer on only after this long.
    Slow(Duration),
    /// Answer a `TransactionCanceledException` whose second item's reason is
    /// `TransactionConflict`, as DynamoDB does when another request holds one of the items, without
    /// forwarding (nothing is written). DynamoDB Local applies transactions one at a time and never
    /// answers this itself.
    Conflict,
}

impl Mode {
    /// A short name for counts and reports.
    pub fn kind(self) -> &'static str {
        match self {
            Mode::Pass => "pass",
            Mode::Throttle => "throttle",
            Mode::Blackhole => "blackhole",
            Mode::CutAfterServerAnswered => "cut_after_write",
            Mode::Slow(_) => "slow",
            Mode::Conflict => "transaction_conflict",
        }
    }
}

/// Chooses the mode of each request from its operation (e.g. `"TransactWriteItems"`).
pub type Plan = Arc<dyn Fn(&str) -> Mode + Send + Sync>;

#[derive(Default)]
struct Counts {
    /// Requests that reached the server, by operation.
    forwarded: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    faults: BTreeMap<&'static str, u64>,
    /// Time between sending a request on and reading the server's answer, summed.
    upstream_time: Duration,
    /// Requests passed on to the server whose answer has not been read yet.
    in_flight: u64,
    /// Consumed capacity units the server reported, by operation: (total, of which indexes).
    units: BTreeMap<String, (f64, f64)>,
}

/// Maps a key before it is budgeted (e.g. [`crate::heat::unsharded`]: the key design before #27).
pub type KeyMap = Arc<dyn Fn(&Target, &str) -> String + Send + Sync>;

/// Partition keys written: the heat, and the budget when one is set.
struct Keys {
    tracker: Tracker,
    started: Instant,
    heat: Heat,
    /// Units a second each partition-key value may take (a partition's, scaled), and how keys are
    /// mapped before they are counted against it.
    budget: Option<(f64, KeyMap)>,
    /// (tokens, last refill) per mapped key.
    buckets: HashMap<(Target, String), (f64, Instant)>,
    /// Writes refused per mapped key.
    throttled: BTreeMap<(Target, String), u64>,
}

impl Keys {
    /// Whether the writes fit their keys' budgets (taking the units when they do); the items of
    /// the request that do not.
    fn admit(&mut self, written: &[Written]) -> Result<(), Vec<usize>> {
        let Some((rate, map)) = &self.budget else {
            return Ok(());
        };
        let now = Instant::now();
        let mut over = Vec::new();
        let mut wanted: HashMap<(Target, String), f64> = HashMap::new();
        for w in written {
            *wanted
                .entry((w.target.clone(), map(&w.target, &w.key)))
                .or_default() += w.units;
        }
        for (key, units) in &wanted {
            let (tokens, last) = self.buckets.entry(key.clone()).or_insert((*rate, now));
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(*rate);
            *last = now;
            if *tokens < *units {
                *self.throttled.entry(key.clone()).or_default() += 1;
                over.extend(
                    written
                        .iter()
                        .filter(|w| w.target == key.0 && map(&w.target, &w.key) == key.1)
                        .map(|w| w.item),
                );
            }
        }
        if !over.is_empty() {
            over.sort_unstable();
            over.dedup();
            return Err(over);
        }
        for (key, units) in wanted {
            self.buckets.get_mut(&key).expect("filled above").0 -= units;
        }
        Ok(())
    }
}

/// A running proxy.
#[derive(Clone)]
pub struct FaultyProxy {
    pub addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    counts: Arc<Mutex<Counts>>,
    capacity: Arc<std::sync::atomic::AtomicBool>,
    keys: Arc<Mutex<Option<Keys>>>,
}

impl FaultyProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        Self::start_on("127.0.0.1:0", upstream).await
    }

    /// Starts a proxy on `bind` (e.g. `127.0.0.1:8000`) in front of `upstream`.
    pub async fn start_on(bind: &str, upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind(bind).await.expect("proxy binds");
        let addr = listener.local_addr().expect("addr");
        let plan: Arc<Mutex<Plan>> = Arc::new(Mutex::new(Arc::new(|_: &str| Mode::Pass)));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let capacity = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let keys: Arc<Mutex<Option<Keys>>> = Arc::default();
        let (p, c, m, k) = (
            Arc::clone(&plan),
            Arc::clone(&counts),
            Arc::clone(&capacity),
            Arc::clone(&keys),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                let (upstream, plan, counts, measure, keys) = (
                    upstream.clone(),
                    Arc::clone(&p),
                    Arc::clone(&c),
                    Arc::clone(&m),
                    Arc::clone(&k),
                );
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, plan, counts, measure, keys).await;
                });
            }
        });
        Self {
            addr,
            plan,
            counts,
            capacity,
            keys,
        }
    }

    /// From now on, records every write's partition-key values (table and indexes, the
    /// template's key schema) per second, and, with `budget`, refuses a write whose (mapped) key
    /// has no units left this second as DynamoDB refuses a hot partition.
    pub fn watch_keys(&self, budget: Option<(f64, KeyMap)>) {
        *self.keys.lock().expect("not poisoned") = Some(Keys {
            tracker: Tracker::new(KeySchema::from_template()),
            started: Instant::now(),
            heat: Heat::default(),
            budget,
            buckets: HashMap::new(),
            throttled: BTreeMap::new(),
        });
    }

    /// The writes recorded since [`FaultyProxy::watch_keys`], by key and second.
    pub fn heat(&self) -> Heat {
        self.keys
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|k| k.heat.clone())
            .unwrap_or_default()
    }

    /// Writes refused for their key's budget, by (mapped) key.
    pub fn throttled_keys(&self) -> BTreeMap<(Target, String), u64> {
        self.keys
            .lock()
            .expect("not poisoned")
            .as_ref()
            .map(|k| k.throttled.clone())
            .unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Treats every following request with `mode`.
    pub fn set(&self, mode: Mode) {
        self.set_plan(Arc::new(move |_: &str| mode));
    }

    /// Chooses the mode of every following request with `plan`.
    pub fn set_plan(&self, plan: Plan) {
        *self.plan.lock().expect("not poisoned") = plan;
    }

    /// Requests that reached the server so far.
    pub fn forwarded(&self) -> u64 {
        self.lock().forwarded.values().sum()
    }

    /// Requests that reached the server so far, by operation.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().forwarded.clone()
    }

    /// The server's time per forwarded request so far (from passing the request on to reading its
    /// whole answer), summed over all requests: with [`FaultyProxy::forwarded`] a mean.
    pub fn upstream_time(&self) -> Duration {
        self.lock().upstream_time
    }

    /// From now on, asks DynamoDB for the consumed capacity of every data request that does not
    /// ask itself (`ReturnConsumedCapacity: INDEXES`, added to the request body; DynamoDB Local
    /// does not check the signature) and adds up what it reports: the units DynamoDB bills,
    /// measured the same way for any client (the bench's cost table).
    pub fn measure_capacity(&self, on: bool) {
        self.capacity.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// Consumed capacity units reported so far, by operation: (total, of which global secondary
    /// indexes).
    pub fn units(&self) -> BTreeMap<String, (f64, f64)> {
        self.lock().units.clone()
    }

    /// Faults injected so far, by kind ([`Mode::kind`]).
    pub fn faults(&self) -> BTreeMap<&'static str, u64> {
        self.lock().faults.clone()
    }

    /// Requests passed on to the server and not answered yet (a client that gave up does not
    /// stop the server from applying them).
    pub fn in_flight(&self) -> u64 {
        self.lock().in_flight
    }

    /// Waits (up to `limit`) until every request passed on has been answered by the server, so a
    /// check that reads the table afterwards sees every write that will ever land.
    pub async fn settle(&self, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        while self.in_flight() > 0 {
            if std::time::Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("not poisoned")
    }
}

/// One side of a connection with what was read past the last message.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Reads one HTTP message (headers, then `Content-Length` bytes of body); empty when the peer
    /// closed the connection first.
    async fn read_message(&mut self) -> std::io::Result<Vec<u8>> {
        let mut chunk = [0u8; 16384];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let total = end + 4 + length;
                while self.buf.len() < total {
                    let n = self.stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Ok(Vec::new());
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                let rest = self.buf.split_off(total);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(Vec::new());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The DynamoDB operation of a request (`X-Amz-Target: DynamoDB_20120810.PutItem`).
fn operation(request: &[u8]) -> String {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(request.len());
    String::from_utf8_lossy(&request[..end])
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("x-amz-target")
                .then(|| value.trim().rsplit('.').next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| "other".to_owned())
}

/// Operations that accept `ReturnConsumedCapacity`.
const DATA_OPERATIONS: &[&str] = &[
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "TransactGetItems",
];

/// `request` asking for its consumed capacity (`INDEXES`), with its `content-length` fixed; as it
/// was when it is no data operation or already asks.
fn asking_capacity(request: Vec<u8>, op: &str) -> Vec<u8> {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return request;
    };
    let body = &request[end + 4..];
    if !DATA_OPERATIONS.contains(&op)
        || !body.starts_with(b"{")
        || body.windows(22).any(|w| w == b"ReturnConsumedCapacity")
    {
        return request;
    }
    let mut new_body = b"{\"ReturnConsumedCapacity\":\"INDEXES\"".to_vec();
    if body.len() > 2 {
        new_body.push(b',');
    }
    new_body.extend_from_slice(&body[1..]);
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out: Vec<u8> = head
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((name, _)) if name.trim().eq_ignore_ascii_case("content-length") => {
                format!("{name}: {}", new_body.len())
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&new_body);
    out
}

/// The consumed capacity an answer reports: (total, of which global secondary indexes).
fn reported_units(answer: &[u8]) -> (f64, f64) {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0.0, 0.0);
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&answer[end + 4..]) else {
        return (0.0, 0.0);
    };
    let one = |c: &serde_json::Value| {
        let total = c["CapacityUnits"].as_f64().unwrap_or(0.0);
        let indexes: f64 = c["GlobalSecondaryIndexes"]
            .as_object()
            .map(|m| m.values().filter_map(|i| i["CapacityUnits"].as_f64()).sum())
            .unwrap_or(0.0);
        (total, indexes)
    };
    match &body["ConsumedCapacity"] {
        serde_json::Value::Array(list) => list
            .iter()
            .map(one)
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1)),
        c @ serde_json::Value::Object(_) => one(c),
        _ => (0.0, 0.0),
    }
}

/// An HTTP 400 error answer of DynamoDB's JSON protocol.
fn error_answer(error_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: {error_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Records the request's written keys and checks them against their budgets: the throttling
/// answer DynamoDB gives when a key is over, or `None` to go on.
fn key_budget(keys: &Mutex<Option<Keys>>, op: &str, request: &[u8]) -> Option<Vec<u8>> {
    let mut guard = keys.lock().expect("not poisoned");
    let keys = guard.as_mut()?;
    let end = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    let body: serde_json::Value = serde_json::from_slice(&request[end + 4..]).ok()?;
    let written = keys.tracker.peek(op, &body);
    if written.is_empty() {
        return None;
    }
    match keys.admit(&written) {
        Ok(()) => {
            keys.tracker.apply(op, &body);
            let second = keys.started.elapsed().as_secs();
            keys.heat.record(second, &written);
            None
        }
        Err(items) if op == "TransactWriteItems" => {
            let n = body["TransactItems"].as_array().map_or(1, Vec::len);
            let codes: Vec<&str> = (0..n)
                .map(|i| {
                    if items.contains(&i) {
                        "ThrottlingError"
                    } else {
                        "None"
                    }
                })
                .collect();
            let reasons: Vec<serde_json::Value> = codes
                .iter()
                .map(|code| match *code {
                    "None" => serde_json::json!({"Code": "None"}),
                    _ => serde_json::json!({"Code": code, "Message": "Throughput exceeds the current capacity for one or more global secondary indexes or the table. DynamoDB is automatically scaling your table or index so please try again shortly."}),
                })
                .collect();
            let body = serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "CancellationReasons": reasons,
                "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            });
            Some(error_answer("TransactionCanceledException", &body.to_string()))
        }
        Err(_) => {
            let body = serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
                "message": "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly.",
                "throttlingReasons": [{"reason": "IndexWriteKeyRangeThroughputExceeded"}],
            });
            Some(error_answer("ThrottlingException", &body.to_string()))
        }
    }
}

async fn serve(
    client: TcpStream,
    upstream: &str,
    plan: Arc<Mutex<Plan>>,
    counts: Arc<Mutex<Counts>>,
    measure: Arc<std::sync::atomic::AtomicBool>,
    keys: Arc<Mutex<Option<Keys>>>,
) -> std::io::Result<()> {
    let mut client = Conn::new(client);
    let mut server: Option<Conn> = None;
    loop {
        let request = client.read_message().await?;
        if request.is_empty() {
            return Ok(());
        }
        let op = operation(&request);
        if let Some(answer) = key_budget(&keys, &op, &request) {
            *counts
                .lock()
                .expect("not poisoned")
                .faults
                .entry("key_throttled")
                .or_default() += 1;
            client.stream.write_all(&answer).await?;
            continue;
        }
        let measuring = measure.load(std::sync::atomic::Ordering::SeqCst);
        let request = if measuring {
            asking_capacity(request, &op)
        } else {
            request
        };
        let chosen = Arc::clone(&*plan.lock().expect("not poisoned"));
        let mode = chosen(&op);
        if mode != Mode::Pass {
            *counts
                .lock()
                .expect("not poisoned")
                .faults
                .entry(mode.kind())
                .or_default() += 1;
        }
        match mode {
            Mode::Throttle => {
                let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected throttling"}"#;
                client
                    .stream
                    .write_all(&error_answer("ProvisionedThroughputExceededException", body))
                    .await?;
            }
            Mode::Conflict => {
                let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","CancellationReasons":[{"Code":"None"},{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}],"Message":"Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]"}"#;
                client
                    .stream
                    .write_all(&error_answer("TransactionCanceledException", body))
                    .await?;
            }
            Mode::Blackhole => {
                // Hold the connection open without answering until the client gives up.
                let mut sink = [0u8; 1024];
                while client.stream.read(&mut sink).await? > 0 {}
                return Ok(());
            }
            Mode::Pass | Mode::CutAfterServerAnswered | Mode::Slow(_) => {
                if server.is_none() {
                    let stream = TcpStream::connect(upstream).await?;
                    let _ = stream.set_nodelay(true);
                    server = Some(Conn::new(stream));
                }
                let upstream_conn = server.as_mut().expect("connected above");
                let sent = std::time::Instant::now();
                counts.lock().expect("not poisoned").in_flight += 1;
                let answer = async {
                    upstream_conn.stream.write_all(&request).await?;
                    upstream_conn.read_message().await
                }
                .await;
                counts.lock().expect("not poisoned").in_flight -= 1;
                let answer = answer?;
                if answer.is_empty() {
                    // The server closed its side: close the client's too (it retries).
                    return client.stream.shutdown().await;
                }
                {
                    let mut counts = counts.lock().expect("not poisoned");
                    counts.upstream_time += sent.elapsed();
                    if measuring {
                        let (total, indexes) = reported_units(&answer);
                        let units = counts.units.entry(op.clone()).or_default();
                        units.0 += total;
                        units.1 += indexes;
                    }
                    *counts.forwarded.entry(op).or_default() += 1;
                }
                match mode {
                    Mode::CutAfterServerAnswered => return client.stream.shutdown().await,
                    Mode::Slow(delay) => {
                        tokio::time::sleep(delay).await;
                        client.stream.write_all(&answer).await?;
                    }
                    _ => client.stream.write_all(&answer).await?,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{asking_capacity, operation, reported_units};

    #[test]
    fn a_data_request_asks_for_its_capacity_with_its_length_fixed() {
        let request = b"POST / HTTP/1.1\r\nContent-Length: 7\r\n\r\n{\"a\":1}".to_vec();
        let asked = String::from_utf8(asking_capacity(request.clone(), "PutItem")).unwrap();
        let body = r#"{"ReturnConsumedCapacity":"INDEXES","a":1}"#;
        assert_eq!(
            asked,
            format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        );
        assert_eq!(asking_capacity(request.clone(), "DescribeTable"), request);
        let answer = br#"HTTP/1.1 200 OK

[{"ConsumedCapacity":0}]"#;
        assert_eq!(reported_units(answer), (0.0, 0.0));
        let answer = b"HTTP/1.1 200 OK\r\n\r\n{\"ConsumedCapacity\":[{\"CapacityUnits\":6.0,\"GlobalSecondaryIndexes\":{\"changes\":{\"CapacityUnits\":2.0}}},{\"CapacityUnits\":1.0}]}";
        assert_eq!(reported_units(answer), (7.0, 2.0));
    }

    #[test]
    fn the_operation_comes_from_the_target_header() {
        let request = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.TransactWriteItems\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(operation(request), "TransactWriteItems");
        assert_eq!(operation(b"GET / HTTP/1.1\r\n\r\n"), "other");
    }
}
