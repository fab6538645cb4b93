//! The benchmark table (bench/run.sh builds everything and runs this in release).
//!
//! Runs the release function binaries, a hello-world `lambda_runtime` function (the floor) and the
//! Python Powertools baseline of `bench/baseline/` under AWS's Lambda Runtime Interface Emulator,
//! against Amazon DynamoDB Local behind a counting proxy and the Linkbest stand-in, and prints one
//! Markdown table. One module per figure:
//! [`cold_start`] (the emulator's INIT REPORT and REPORT lines), [`requests`] (DynamoDB requests
//! per event), [`memory`] (peak RSS), [`size`], [`throughput`] (1/8/32 instances and where the
//! time goes), [`feeds`] (a 10,000-change settlement sync), plus criterion's per-request CPU. Every
//! Rust figure that has a Python counterpart is shown with the ratio Rust / Python from the same
//! run.
//!
//! Settings (environment): `BENCH_BIN_DIR` (release binaries, default `target/release`),
//! `BENCH_ARM64_DIR` (`cargo lambda build --arm64` output, default `target/lambda`),
//! `BENCH_PYTHON` (the baseline venv's python; the baseline columns stay empty without it),
//! `BENCH_SECONDS` (per throughput level, default 5), `BENCH_COLD_RUNS` (default 15),
//! `BENCH_CRITERION_DIR` (default `target/criterion`), `BENCH_RIE` (the emulator binary, default:
//! the one in `.venv`'s aws-sam-cli).

mod cold_start;
mod cost;
mod emulator;
mod events;
mod feeds;
mod lag;
mod memory;
mod procfs;
mod report;
mod requests;
mod size;
mod table;
mod throughput;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use emulator::Program;
use events::{Events, Function};
use serde_json::Value;
use testkit::linkbest_standin::{StandIn, generate};
use testkit::proxy::FaultyProxy;

/// Everything the figures share: where the programs are, the local stack, the events.
pub struct Bench {
    pub root: PathBuf,
    pub rie: PathBuf,
    pub bin_dir: PathBuf,
    pub arm64_dir: PathBuf,
    pub python: Option<PathBuf>,
    pub criterion_dir: PathBuf,
    pub seconds: f64,
    pub cold_runs: usize,
    /// The counting proxy in front of DynamoDB Local; every function talks to DynamoDB through it.
    pub proxy: FaultyProxy,
    /// DynamoDB Local's launcher (the server is its child), for CPU figures.
    pub dynamodb_pid: u32,
    /// The functions' environment (local.env, the table, the proxy, the stand-in).
    pub env: BTreeMap<String, String>,
    pub events: Events,
    /// The stand-in's data: one full page in `one_page`, 10,000 changes in `ten_k`; the orders of
    /// the re-read goal go in `orders_window`.
    pub one_page: (i64, i64),
    pub ten_k: (i64, i64),
    pub orders_window: (i64, i64),
    pub standin: StandIn,
    /// The Secrets Manager stand-in, holding the postback tokens as `postback-tokens`.
    pub secrets: testkit::secrets_standin::SecretsStandIn,
    pub table: String,
}

impl Bench {
    /// What the emulator runs for `function`.
    pub fn program(&self, function: Function) -> Result<Program, String> {
        let (memory_mb, timeout_s) = function.memory_and_timeout();
        Ok(match function {
            Function::PythonPostback => Program {
                command: self.python.clone().ok_or("no Python baseline (BENCH_PYTHON)")?,
                args: vec!["-m".into(), "awslambdaric".into(), "handler.handler".into()],
                cwd: Some(self.root.join("bench/baseline")),
                memory_mb,
                timeout_s,
            },
            other => Program {
                command: self.bin_dir.join(other.binary()),
                args: Vec::new(),
                cwd: None,
                memory_mb,
                timeout_s,
            },
        })
    }

    /// DynamoDB Local's processes.
    pub fn dynamodb_pids(&self) -> Vec<u32> {
        procfs::tree(self.dynamodb_pid)
    }
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn rie_binary(root: &std::path::Path) -> Result<PathBuf, String> {
    if let Some(path) = setting("BENCH_RIE") {
        return Ok(PathBuf::from(path));
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "arm64",
        other => return Err(format!("no aws-lambda-rie for {other}")),
    };
    let lib = root.join(".venv/lib");
    std::fs::read_dir(&lib)
        .map_err(|e| format!("{}: {e} (run scripts/bootstrap.sh)", lib.display()))?
        .flatten()
        .map(|python| {
            python
                .path()
                .join(format!("site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
        })
        .find(|path| path.exists())
        .ok_or_else(|| "aws-lambda-rie not found in .venv (scripts/bootstrap.sh installs aws-sam-cli)".into())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let root = testkit::workspace_root();
    let path_setting = |name: &str, default: &str| {
        setting(name)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(default))
    };
    let bin_dir = path_setting("BENCH_BIN_DIR", "target/release");
    for function in [
        Function::Postback,
        Function::Callback,
        Function::Sync,
        Function::Hello,
        Function::Publisher,
    ] {
        let bin = bin_dir.join(function.binary());
        if !bin.exists() {
            return Err(format!(
                "{} is missing: build the release binaries first (bench/run.sh)",
                bin.display()
            ));
        }
    }

    // The local stack: DynamoDB Local (AWS's jar) behind the counting proxy, a table from
    // template.yaml, and the Linkbest stand-in: 200 changes in one hour (one full page), 10,000
    // in the next six.
    if setting("AWS_ENDPOINT_URL_DYNAMODB").is_some() {
        return Err("the bench starts its own DynamoDB Local: unset AWS_ENDPOINT_URL_DYNAMODB".into());
    }
    let table = testkit::TestTable::create_as_template().await;
    let endpoint = testkit::endpoint();
    let dynamodb_pid = testkit::dynamodb_local::started_pid().ok_or("DynamoDB Local was not started")?;
    let proxy = FaultyProxy::start(&endpoint).await;
    let one_page = (1_790_000_000i64, 1_790_003_599i64);
    let ten_k = (1_790_010_000i64, 1_790_031_599i64);
    let mut changes = generate(200, one_page.0, one_page.1, 7);
    changes.extend(generate(10_000, ten_k.0, ten_k.1, 8));
    let app_key = testkit::local_setting("LINKBEST_APP_KEY");
    let app_secret = testkit::local_setting("LINKBEST_APP_SECRET");
    let standin = StandIn::start(&app_key, &app_secret, changes).await;

    let secrets = testkit::secrets_standin::SecretsStandIn::start().await;
    secrets.put(
        "postback-tokens",
        testkit::secrets_standin::Stored::Text(testkit::local_setting("LINKBEST_POSTBACK_TOKENS")),
    );
    let mut env: BTreeMap<String, String> = testkit::local_env().clone().into_iter().collect();
    env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), proxy.endpoint());
    env.insert("TABLE_NAME".into(), table.name.clone());
    env.insert("LINKBEST_API_BASE_URL".into(), standin.base_url());
    env.insert("RUST_LOG".into(), "info".into());
    // The trust roots a deployed function uses (the local endpoint would select the system store;
    // the connection is plain HTTP either way, so only the init cost differs).
    env.insert("DYNAMODB_TLS_ROOTS".into(), "amazon".into());
    for (name, value) in [
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("POWERTOOLS_SERVICE_NAME", "postback-baseline"),
        ("PATH", &std::env::var("PATH").unwrap_or_default()),
    ] {
        env.insert(name.into(), value.to_owned());
    }
    let read_event = |name: &str| -> Value {
        let text = std::fs::read_to_string(root.join("events").join(name)).expect("sample event");
        serde_json::from_str(&text).expect("sample event is JSON")
    };
    let first = |list: &str| list.split(',').next().unwrap_or_default().trim().to_owned();
    let bench = Arc::new(Bench {
        rie: rie_binary(&root)?,
        bin_dir,
        arm64_dir: path_setting("BENCH_ARM64_DIR", "target/lambda"),
        python: setting("BENCH_PYTHON").map(PathBuf::from),
        criterion_dir: path_setting("BENCH_CRITERION_DIR", "target/criterion"),
        seconds: setting("BENCH_SECONDS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(5.0),
        cold_runs: setting("BENCH_COLD_RUNS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
        dynamodb_pid,
        proxy,
        env,
        events: Events::new(
            read_event("postback-1-new-push.json"),
            read_event("callback-1-order-paid.json"),
            first(&testkit::local_setting("LINKBEST_POSTBACK_TOKENS")),
            first(&testkit::local_setting("CALLBACK_HMAC_SECRETS")),
        ),
        one_page,
        ten_k,
        orders_window: (1_790_040_000, 1_790_061_599),
        standin: standin.clone(),
        secrets,
        table: table.name.clone(),
        root: root.clone(),
    });
    eprintln!(
        "bench: DynamoDB Local {} (counted through {}), table {}, Linkbest stand-in {}, emulator {}",
        endpoint,
        bench.proxy.endpoint(),
        table.name,
        standin.base_url(),
        bench.rie.display()
    );

    let rows = report::all(&bench).await;
    print!("{}", table::render(&rows));
    Ok(())
}
