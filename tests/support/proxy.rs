//! A small TCP proxy between a handler and the local DynamoDB that misbehaves on demand, as the
//! network and DynamoDB do: throttling answers, requests that never get an answer, and
//! connections cut after the server applied the request.
//!
//! It handles one HTTP request per connection (moto closes every connection after its answer, and
//! so does the proxy), so a fault switched on applies to the very next request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the proxy treats requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward every request and its answer.
    Pass,
    /// Answer HTTP 400 `ProvisionedThroughputExceededException` without forwarding.
    Throttle,
    /// Read the request and never answer (the client's timeout fires).
    Blackhole,
    /// Forward the request, wait for the server's answer (so the write happened), then close the
    /// client's connection without passing the answer on.
    CutAfterServerAnswered,
}

/// A running proxy.
#[derive(Clone)]
pub struct FaultyProxy {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    forwarded: Arc<Mutex<u64>>,
}

impl FaultyProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let forwarded = Arc::new(Mutex::new(0));
        let (m, f) = (Arc::clone(&mode), Arc::clone(&forwarded));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, mode, forwarded) = (upstream.clone(), Arc::clone(&m), Arc::clone(&f));
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, mode, forwarded).await;
                });
            }
        });
        Self {
            addr,
            mode,
            forwarded,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().expect("not poisoned") = mode;
    }

    /// Requests that reached the server so far.
    pub fn forwarded(&self) -> u64 {
        *self.forwarded.lock().expect("not poisoned")
    }
}

/// Reads one HTTP message (headers, then `Content-Length` bytes of body).
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(buf);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    mode: Arc<Mutex<Mode>>,
    forwarded: Arc<Mutex<u64>>,
) -> std::io::Result<()> {
    let request = read_message(&mut client).await?;
    if request.is_empty() {
        return Ok(());
    }
    let mode = *mode.lock().expect("not poisoned");
    match mode {
        Mode::Throttle => {
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected throttling"}"#;
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-errortype: ProvisionedThroughputExceededException\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
        }
        Mode::Blackhole => {
            // Hold the connection open without answering until the client gives up.
            let mut sink = [0u8; 1024];
            while client.read(&mut sink).await? > 0 {}
        }
        Mode::Pass | Mode::CutAfterServerAnswered => {
            let mut server = TcpStream::connect(upstream).await?;
            server.write_all(&request).await?;
            let answer = read_message(&mut server).await?;
            *forwarded.lock().expect("not poisoned") += 1;
            if mode == Mode::Pass {
                client.write_all(&answer).await?;
            }
        }
    }
    client.shutdown().await
}
