//! Amazon DynamoDB Local for one test binary (or one bench run): started in memory on a free
//! loopback port through `scripts/dynamodb-local.sh`, stopped when this process ends.
//!
//! The script runs the server until its stdin closes; this process holds the other end of that
//! pipe and never closes it, so the server stops when the process exits, however it exits (a
//! failed assertion, a panic, Ctrl-C, a kill).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::workspace_root;

/// How long DynamoDB Local may take to accept connections (the JVM starts in 2–5 s here).
const READY_WITHIN: Duration = Duration::from_secs(90);

/// A running DynamoDB Local. Dropping it does not stop the server (it lives as long as the process);
/// see [`start`].
pub struct DynamoDbLocal {
    pub endpoint: String,
    child: Child,
}

impl DynamoDbLocal {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    pub fn spawn() -> Self {
        let mut last_error = String::new();
        // A free port can be taken by someone else between choosing and binding it: try again.
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(workspace_root().join("scripts/dynamodb-local.sh"))
                .arg(port.to_string())
                .arg("--until-eof")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("scripts/dynamodb-local.sh starts");
            match wait_until_ready(&mut child, port) {
                Ok(()) => {
                    return Self {
                        endpoint: format!("http://127.0.0.1:{port}"),
                        child,
                    };
                }
                Err(e) => {
                    let _ = child.kill();
                    last_error = e;
                }
            }
        }
        panic!(
            "DynamoDB Local did not start: {last_error}. Run scripts/bootstrap.sh (make test does), \
             or set AWS_ENDPOINT_URL_DYNAMODB to a running DynamoDB"
        );
    }

    /// The launcher's process id (the server is its child).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Keeps the server running until this process exits (the stdin pipe is never closed).
    pub fn keep_until_exit(self) -> String {
        let endpoint = self.endpoint.clone();
        Box::leak(Box::new(self.child));
        endpoint
    }
}

static STARTED: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Starts DynamoDB Local for the rest of this process and returns its endpoint.
pub fn start() -> String {
    let server = DynamoDbLocal::spawn();
    let _ = STARTED.set(server.pid());
    server.keep_until_exit()
}

/// The launcher's process id of the DynamoDB Local [`start`] started (the server is its child).
pub fn started_pid() -> Option<u32> {
    STARTED.get().copied()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < READY_WITHIN {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!(
                "the server exited ({status}) before accepting connections"
            ));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "no connection on port {port} within {}s",
        READY_WITHIN.as_secs()
    ))
}
