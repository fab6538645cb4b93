//! AWS's Lambda Runtime Interface Emulator (`aws-lambda-rie`, from the aws-sam-cli wheel) as the
//! bench drives it: one emulator process per function instance, exactly as `sam local invoke` runs
//! a function in its container. The emulator starts the function's process at the first
//! invocation, prints Lambda's `INIT REPORT` and `REPORT` lines, and serves one invocation at a
//! time, like one Lambda execution environment.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one invocation may take before the bench gives up on it.
const INVOKE_LIMIT: Duration = Duration::from_secs(600);

/// What to run under the emulator.
#[derive(Debug, Clone)]
pub struct Program {
    pub command: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (the emulator echoes it as "Max Memory Used").
    pub memory_mb: u32,
    pub timeout_s: u32,
}

/// One `REPORT` line of the emulator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    pub duration_ms: f64,
    pub init_duration_ms: Option<f64>,
    pub max_memory_used_mb: Option<f64>,
}

/// A running emulator with its function.
pub struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Emulator {
    /// Starts the emulator for `program` with `env` and waits until it accepts invocations. The
    /// function process itself starts at the first invocation.
    pub async fn start(
        rie: &Path,
        program: &Program,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let (port, api_port) = (free_port(), free_port());
        let log = std::env::temp_dir().join(format!("bench-rie-{}-{port}.log", std::process::id()));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(rie);
        command
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{api_port}"))
            .arg(&program.command)
            .args(&program.args)
            .envs(env)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", program.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", program.timeout_s.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(cwd) = &program.cwd {
            command.current_dir(cwd);
        }
        let child = command.spawn().map_err(|e| format!("{}: {e}", rie.display()))?;
        shared::tls::install_crypto_provider();
        let emulator = Self {
            child,
            port,
            log,
            http: reqwest::Client::builder()
                .timeout(INVOKE_LIMIT)
                .build()
                .map_err(|e| e.to_string())?,
        };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!("aws-lambda-rie did not listen: {}", emulator.log_text()));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(emulator)
    }

    /// Invokes the function with `event` and returns its answer (an error for an emulator or
    /// function error).
    pub async fn invoke(&self, event: Vec<u8>) -> Result<Vec<u8>, String> {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/function/invocations",
            self.port
        );
        let response = self
            .http
            .post(url)
            .body(event)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| e.to_string())?.to_vec();
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body)
            && value.get("errorType").is_some()
        {
            return Err(String::from_utf8_lossy(&body).into_owned());
        }
        Ok(body)
    }

    /// Everything the emulator and the function printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `INIT REPORT(durationMs: …)` of the function's start.
    pub fn init_report_ms(&self) -> Option<f64> {
        self.log_text().lines().find_map(|line| {
            let rest = line.split("INIT REPORT(durationMs: ").nth(1)?;
            rest.split(')').next()?.trim().parse().ok()
        })
    }

    /// Every `REPORT` line so far, in order.
    pub fn reports(&self) -> Vec<Report> {
        self.log_text()
            .lines()
            .filter(|l| l.starts_with("REPORT RequestId"))
            .filter_map(|line| {
                let field = |name: &str| -> Option<f64> {
                    let rest = line.split(&format!("{name}: ")).nth(1)?;
                    rest.split_whitespace().next()?.parse().ok()
                };
                Some(Report {
                    duration_ms: field("\tDuration").or_else(|| field(" Duration"))?,
                    init_duration_ms: field("Init Duration"),
                    max_memory_used_mb: field("Max Memory Used"),
                })
            })
            .collect()
    }

    /// The `REPORT` lines after the first `skip`, waiting briefly for the last one (the emulator
    /// prints it just after answering).
    pub async fn reports_after(&self, skip: usize, expected: usize) -> Vec<Report> {
        for _ in 0..100 {
            let reports = self.reports();
            if reports.len() >= skip + expected {
                return reports.into_iter().skip(skip).collect();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.reports().into_iter().skip(skip).collect()
    }

    /// The emulator's own process id.
    pub fn emulator_pid(&self) -> u32 {
        self.child.id()
    }

    /// The function's process (the emulator's child), once started.
    pub fn function_pid(&self) -> Option<u32> {
        crate::procfs::children(self.child.id()).into_iter().next()
    }

    /// Stops the function and the emulator (as dropping it does).
    pub fn stop(self) {}
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(pid) = self.function_pid() {
            crate::procfs::kill(pid);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
