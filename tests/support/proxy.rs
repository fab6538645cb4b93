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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
}

/// A running proxy.
#[derive(Clone)]
pub struct FaultyProxy {
    pub addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    counts: Arc<Mutex<Counts>>,
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
        let (p, c) = (Arc::clone(&plan), Arc::clone(&counts));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let _ = client.set_nodelay(true);
                let (upstream, plan, counts) = (upstream.clone(), Arc::clone(&p), Arc::clone(&c));
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, plan, counts).await;
                });
            }
        });
        Self { addr, plan, counts }
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

/// An HTTP 400 error answer of DynamoDB's JSON protocol.
fn error_answer(error_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: {error_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(
    client: TcpStream,
    upstream: &str,
    plan: Arc<Mutex<Plan>>,
    counts: Arc<Mutex<Counts>>,
) -> std::io::Result<()> {
    let mut client = Conn::new(client);
    let mut server: Option<Conn> = None;
    loop {
        let request = client.read_message().await?;
        if request.is_empty() {
            return Ok(());
        }
        let op = operation(&request);
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
    use super::operation;

    #[test]
    fn the_operation_comes_from_the_target_header() {
        let request = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.TransactWriteItems\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(operation(request), "TransactWriteItems");
        assert_eq!(operation(b"GET / HTTP/1.1\r\n\r\n"), "other");
    }
}
