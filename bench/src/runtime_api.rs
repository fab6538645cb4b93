//! A minimal Lambda runtime API on loopback: the HTTP interface a function process polls for its
//! next invocation and posts its answer to (the same interface Lambda and `cargo lambda watch`
//! serve). Any number of function processes may poll at once; each invocation goes to one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{Mutex, mpsc, oneshot};

/// What a function process answered for one invocation.
#[derive(Debug)]
pub enum Answer {
    Response(Bytes),
    Error(Bytes),
}

struct Invocation {
    event: Bytes,
    answer: oneshot::Sender<Answer>,
}

struct Inner {
    queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    sender: mpsc::UnboundedSender<Invocation>,
    pending: std::sync::Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    next_id: AtomicU64,
    polling: AtomicUsize,
    init_errors: AtomicUsize,
}

/// A running runtime API.
#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            queue: Mutex::new(receiver),
            sender,
            pending: std::sync::Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            polling: AtomicUsize::new(0),
            init_errors: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("runtime API binds");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("runtime API serves") });
        Self { addr, inner }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for a function process.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one invocation and waits for its answer.
    pub async fn invoke(&self, event: impl Into<Bytes>) -> Answer {
        let (answer, wait) = oneshot::channel();
        self.inner
            .sender
            .send(Invocation {
                event: event.into(),
                answer,
            })
            .expect("the queue lives as long as the API");
        wait.await
            .unwrap_or(Answer::Error(Bytes::from_static(b"function process went away")))
    }

    /// Function processes waiting for an invocation right now.
    pub fn polling(&self) -> usize {
        self.inner.polling.load(Ordering::SeqCst)
    }

    /// Waits until `count` processes are polling (all started and initialised), or `limit` passes.
    pub async fn wait_polling(&self, count: usize, limit: Duration) -> bool {
        let until = tokio::time::Instant::now() + limit;
        while self.polling() < count {
            if tokio::time::Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    pub fn init_errors(&self) -> usize {
        self.inner.init_errors.load(Ordering::SeqCst)
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> impl IntoResponse {
    inner.polling.fetch_add(1, Ordering::SeqCst);
    let invocation = {
        let mut queue = inner.queue.lock().await;
        queue.recv().await
    };
    inner.polling.fetch_sub(1, Ordering::SeqCst);
    let Some(invocation) = invocation else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let id = format!("bench-{:08}", inner.next_id.fetch_add(1, Ordering::SeqCst));
    // Lambda's longest timeout, so a long settlement run is never cut by this emulator.
    let deadline = SystemTime::now() + Duration::from_secs(900);
    let deadline_ms = deadline
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        headers.insert(name, HeaderValue::from_str(value).expect("ASCII header"));
    };
    set("lambda-runtime-aws-request-id", &id);
    set("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench",
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0",
    );
    set("content-type", "application/json");
    inner
        .pending
        .lock()
        .expect("not poisoned")
        .insert(id, invocation.answer);
    (StatusCode::OK, headers, invocation.event)
}

fn answer(inner: &Inner, id: &str, answer: Answer) -> StatusCode {
    match inner.pending.lock().expect("not poisoned").remove(id) {
        Some(sender) => {
            let _ = sender.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn response(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&inner, &id, Answer::Response(body))
}

async fn error(State(inner): State<Arc<Inner>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&inner, &id, Answer::Error(body))
}

async fn init_error(State(inner): State<Arc<Inner>>) -> StatusCode {
    inner.init_errors.fetch_add(1, Ordering::SeqCst);
    StatusCode::ACCEPTED
}
