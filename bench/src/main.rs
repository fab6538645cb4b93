//! The benchmark table (bench/run.sh builds everything and runs this in release).
//!
//! Runs the release function binaries, and the Python Powertools baseline of `bench/baseline/`,
//! as real processes against a local Lambda runtime API ([`runtime_api`]) and the local DynamoDB
//! (moto_server, started as the tests start it), and prints one Markdown table: cold start, SDK
//! client init, per-request CPU (from criterion's results), DynamoDB calls per event (counted by
//! the local DynamoDB itself, so both languages are counted the same way), peak RSS over 1,000
//! requests, package size, throughput at concurrency 1/8/32, and a 10,000-change settlement sync.
//! Every Rust figure that has a Python counterpart is shown with the ratio Rust / Python from the
//! same run.
//!
//! Settings (environment): `BENCH_BIN_DIR` (release binaries, default `target/release`),
//! `BENCH_ARM64_DIR` (`cargo lambda build --arm64` output, default `target/lambda`),
//! `BENCH_PYTHON` (the baseline venv's python; the baseline columns stay empty without it),
//! `BENCH_SECONDS` (per throughput level, default 5), `BENCH_COLD_RUNS` (default 15),
//! `BENCH_CRITERION_DIR` (default `target/criterion`).

mod runtime_api;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use runtime_api::{Answer, RuntimeApi};
use serde_json::{Value, json};
use shared::igv_callback::signature_hex;
use shared::linkbest_push::sign_hex;
use testkit::linkbest_standin::{StandIn, generate};

type Calls = BTreeMap<String, u64>;

/// Where the Lambda answer's body says the event was handled as intended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Postback,
    Callback,
    Settlement,
    PythonPostback,
}

impl Function {
    fn label(self) -> &'static str {
        match self {
            Function::Postback => "postback",
            Function::Callback => "callback",
            Function::Settlement => "settlement-sync",
            Function::PythonPostback => "postback (Python)",
        }
    }
}

struct Bench {
    root: PathBuf,
    bin_dir: PathBuf,
    arm64_dir: PathBuf,
    python: Option<PathBuf>,
    criterion_dir: PathBuf,
    seconds: f64,
    cold_runs: usize,
    endpoint: String,
    table: String,
    standin_url: String,
    env: BTreeMap<String, String>,
    push_template: Value,
    callback_template: Value,
    token: String,
    hmac_secret: String,
    run: u128,
    seq: AtomicU64,
}

fn setting(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One row of the table.
struct Row {
    figure: String,
    rust: String,
    python: String,
    ratio: String,
}

fn row(figure: impl Into<String>, rust: impl Into<String>) -> Row {
    Row {
        figure: figure.into(),
        rust: rust.into(),
        python: String::new(),
        ratio: String::new(),
    }
}

/// A row with both figures (same unit) and their ratio.
fn compared(figure: impl Into<String>, rust: f64, python: Option<f64>, unit: &str, digits: usize) -> Row {
    let fmt = |v: f64| format!("{v:.digits$} {unit}").trim_end().to_owned();
    Row {
        figure: figure.into(),
        rust: fmt(rust),
        python: python.map(fmt).unwrap_or_default(),
        ratio: python
            .filter(|p| *p > 0.0)
            .map(|p| format!("{:.3}", rust / p))
            .unwrap_or_default(),
    }
}

fn calls_text(calls: &Calls) -> String {
    if calls.is_empty() {
        return "0".into();
    }
    let total: u64 = calls.values().sum();
    let parts: Vec<String> = calls.iter().map(|(op, n)| format!("{n} {op}")).collect();
    format!("{total} ({})", parts.join(", "))
}

fn calls_total(calls: &Calls) -> f64 {
    calls.values().sum::<u64>() as f64
}

impl Bench {
    fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst)
    }

    fn push_body(&self, push_id: &str) -> String {
        let sign = sign_hex(&self.token, "order.created", push_id, "1795440000");
        format!(
            r#"{{"PushId":{push_id},"EventType":"order.created","CreateTime":1795440000,"Sign":"{sign}","Data":{{"OrderSn":"BENCH-{push_id}","OrdersPrice":129.9000,"SiterCommission":"6.4950","Currency":"USD","ProgramId":77,"ProgramName":"Bench Store","Status":"Pending","OrderTime":"2026-11-23 12:00:00"}}}}"#
        )
    }

    /// An API Gateway (HTTP API) event carrying a push.
    fn push_event(&self, body: &str) -> Vec<u8> {
        let mut event = self.push_template.clone();
        event["body"] = json!(body);
        event["headers"]["content-length"] = json!(body.len().to_string());
        serde_json::to_vec(&event).expect("serializable")
    }

    fn new_push_event(&self) -> Vec<u8> {
        let push_id = format!("{}{:08}", self.run, self.next_id());
        self.push_event(&self.push_body(&push_id))
    }

    fn callback_event(&self, request_id: &str) -> Vec<u8> {
        let ts = "1795440539000";
        let body = format!(
            r#"{{"createdAt":"2026-11-23T21:28:57","orderId":{request_id},"orderNum":"SO{request_id}","sellerOrderStatus":1,"buyerId":"1907369850568257537"}}"#
        );
        let mut event = self.callback_template.clone();
        event["body"] = json!(body);
        let headers = &mut event["headers"];
        headers["content-length"] = json!(body.len().to_string());
        headers["X-Request-Id"] = json!(request_id);
        headers["X-Timestamp"] = json!(ts);
        headers["X-Signature"] = json!(signature_hex(&self.hmac_secret, ts, request_id));
        serde_json::to_vec(&event).expect("serializable")
    }

    fn new_callback_event(&self) -> Vec<u8> {
        self.callback_event(&format!("{}{:08}", self.run % 1_000_000_000, self.next_id()))
    }

    fn event_for(&self, function: Function) -> Vec<u8> {
        match function {
            Function::Postback | Function::PythonPostback => self.new_push_event(),
            Function::Callback => self.new_callback_event(),
            Function::Settlement => {
                serde_json::to_vec(&json!({"from": 1_790_000_000, "to": 1_790_000_060})).expect("json")
            }
        }
    }

    /// Starts one function process against `api`.
    fn spawn(&self, function: Function, api: &RuntimeApi) -> std::io::Result<Child> {
        self.spawn_with(function, api, Stdio::null())
    }

    /// Starts one function process against `api`, its stdout (the logs) going to `stdout`.
    fn spawn_with(&self, function: Function, api: &RuntimeApi, stdout: Stdio) -> std::io::Result<Child> {
        let mut command = match function {
            Function::PythonPostback => {
                let python = self.python.as_ref().expect("checked before");
                let dir = self.root.join("bench/baseline");
                let mut c = Command::new(python);
                c.args(["-m", "awslambdaric", "handler.handler"])
                    .current_dir(&dir)
                    .env("LAMBDA_TASK_ROOT", &dir);
                c
            }
            other => Command::new(self.bin_dir.join(other.label())),
        };
        command
            .envs(&self.env)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", function.label())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
    }

    async fn dynamodb_calls(&self) -> Calls {
        let url = format!("{}/__calls", self.endpoint);
        let body = reqwest::get(&url)
            .await
            .and_then(|r| r.error_for_status())
            .expect("the local DynamoDB counts calls (scripts/local_dynamodb.py)");
        let text = body.text().await.expect("counts");
        serde_json::from_str(&text).expect("a JSON object of counts")
    }

    async fn calls_during<F: Future<Output = Answer>>(&self, work: F) -> (Answer, Calls) {
        let before = self.dynamodb_calls().await;
        let answer = work.await;
        let after = self.dynamodb_calls().await;
        let mut diff = Calls::new();
        for (op, n) in after {
            let d = n - before.get(&op).copied().unwrap_or(0);
            if d > 0 {
                diff.insert(op, d);
            }
        }
        (answer, diff)
    }
}

/// The body of an HTTP answer, or the whole payload of another function's answer.
fn answer_body(answer: &Answer) -> Result<String, String> {
    match answer {
        Answer::Response(bytes) => {
            let value: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            Ok(match value.get("body") {
                Some(Value::String(body)) => body.clone(),
                _ => value.to_string(),
            })
        }
        Answer::Error(bytes) => Err(String::from_utf8_lossy(bytes).into_owned()),
    }
}

fn status_of(answer: &Answer) -> Option<u64> {
    match answer {
        Answer::Response(bytes) => serde_json::from_slice::<Value>(bytes)
            .ok()?
            .get("statusCode")?
            .as_u64(),
        Answer::Error(_) => None,
    }
}

/// Whether the answer is the protocol's "stored".
fn stored(function: Function, answer: &Answer) -> bool {
    match function {
        Function::Postback | Function::PythonPostback => answer_body(answer).is_ok_and(|b| b == "1"),
        Function::Callback => status_of(answer) == Some(200),
        Function::Settlement => answer_body(answer).is_ok(),
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Peak resident set size of a running process (VmHWM), in MiB.
fn peak_rss_mib(child: &Child) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

const INVOKE_LIMIT: Duration = Duration::from_secs(600);

async fn invoke(api: &RuntimeApi, event: Vec<u8>) -> Answer {
    match tokio::time::timeout(INVOKE_LIMIT, api.invoke(event)).await {
        Ok(answer) => answer,
        Err(_) => Answer::Error("no answer within 600 s".into()),
    }
}

/// Medians over fresh processes: start to first answered invocation, and (Rust) the init
/// figures the function logs itself (`initialised`: `init_ms`, `sdk_init_ms`), in ms.
struct ColdStart {
    first_answer_ms: f64,
    init_ms: Option<f64>,
    sdk_init_ms: Option<f64>,
}

/// `init_ms` and `sdk_init_ms` from a function's `initialised` log line.
fn init_figures(logs: &str) -> Option<(f64, f64)> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|v| v["message"] == "initialised")
        .and_then(|v| Some((v["init_ms"].as_f64()?, v["sdk_init_ms"].as_f64()?)))
}

async fn cold_start(bench: &Bench, function: Function, runs: usize) -> Result<ColdStart, String> {
    let (mut samples, mut inits, mut sdk_inits) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // A fresh runtime API per process: a killed process's pending poll can't take the next
        // invocation.
        let api = RuntimeApi::start().await;
        let event = bench.event_for(function);
        let started = Instant::now();
        let mut child = bench
            .spawn_with(function, &api, Stdio::piped())
            .map_err(|e| e.to_string())?;
        let answer = invoke(&api, event).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let stdout = child.stdout.take();
        kill(child);
        if !stored(function, &answer) {
            return Err(format!(
                "{} answered {:?} ({} init errors)",
                function.label(),
                answer_body(&answer),
                api.init_errors()
            ));
        }
        samples.push(elapsed);
        let mut logs = String::new();
        if let Some(mut out) = stdout {
            use std::io::Read;
            let _ = out.read_to_string(&mut logs);
        }
        if let Some((init, sdk)) = init_figures(&logs) {
            inits.push(init);
            sdk_inits.push(sdk);
        }
    }
    let some = |mut v: Vec<f64>| (!v.is_empty()).then(|| median(&mut v));
    Ok(ColdStart {
        first_answer_ms: median(&mut samples),
        init_ms: some(inits),
        sdk_init_ms: some(sdk_inits),
    })
}

/// `{client_init_ms, parse_verify_build_us}` from the baseline's measure.py.
fn python_measure(bench: &Bench, runs: usize) -> Result<(f64, f64), String> {
    let python = bench.python.as_ref().ok_or("no baseline")?;
    let body = bench.push_body("1795440000123");
    let (mut init, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = Command::new(python)
            .arg("measure.py")
            .arg(&body)
            .current_dir(bench.root.join("bench/baseline"))
            .envs(&bench.env)
            .output()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|_| format!("measure.py: {}", String::from_utf8_lossy(&out.stderr)))?;
        init.push(v["client_init_ms"].as_f64().unwrap_or(f64::NAN));
        cpu.push(v["parse_verify_build_us"].as_f64().unwrap_or(f64::NAN));
    }
    Ok((median(&mut init), median(&mut cpu)))
}

/// DynamoDB calls of one process for: a new event, the same event again, and (postback) the
/// review's test push.
async fn calls_per_event(bench: &Bench, function: Function) -> Result<Vec<(String, Calls)>, String> {
    let api = RuntimeApi::start().await;
    let child = bench.spawn(function, &api).map_err(|e| e.to_string())?;
    let result = async {
        let first = bench.event_for(function);
        // Warm the process first so connection set-up is not in the counts.
        let warm = invoke(&api, bench.event_for(function)).await;
        if !stored(function, &warm) {
            return Err(format!("warm-up answered {:?}", answer_body(&warm)));
        }
        let mut rows = Vec::new();
        let (answer, calls) = bench.calls_during(invoke(&api, first.clone())).await;
        if !stored(function, &answer) {
            return Err(format!("new event answered {:?}", answer_body(&answer)));
        }
        rows.push(("new event".to_owned(), calls));
        let (answer, calls) = bench.calls_during(invoke(&api, first)).await;
        let body = answer_body(&answer)?;
        rows.push((
            format!("duplicate (answer {})", short(&body, status_of(&answer))),
            calls,
        ));
        if matches!(function, Function::Postback | Function::PythonPostback) {
            let sign = sign_hex(&bench.token, "", "0", "1795440000");
            let test = bench.push_event(&format!(
                r#"{{"PushId":0,"EventType":"","CreateTime":1795440000,"Sign":"{sign}","Data":{{}}}}"#
            ));
            let (answer, calls) = bench.calls_during(invoke(&api, test)).await;
            let body = answer_body(&answer)?;
            rows.push((format!("test push (answer {body})"), calls));
        }
        Ok(rows)
    }
    .await;
    kill(child);
    result
}

fn short(body: &str, status: Option<u64>) -> String {
    if body.len() <= 3 {
        body.to_owned()
    } else {
        status.map(|s| format!("HTTP {s}")).unwrap_or_else(|| "?".into())
    }
}

/// Peak RSS of one process after serving `count` new events one after another.
async fn peak_rss(bench: &Bench, function: Function, count: usize) -> Result<f64, String> {
    let api = RuntimeApi::start().await;
    let child = bench.spawn(function, &api).map_err(|e| e.to_string())?;
    let result = async {
        for _ in 0..count {
            let answer = invoke(&api, bench.event_for(function)).await;
            if !stored(function, &answer) {
                return Err(format!("answered {:?}", answer_body(&answer)));
            }
        }
        peak_rss_mib(&child).ok_or_else(|| "no /proc status".to_owned())
    }
    .await;
    kill(child);
    result
}

struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    failed: u64,
}

/// `concurrency` function processes (as Lambda would run them) and as many clients sending new
/// events back to back for the configured time.
async fn throughput(bench: &Arc<Bench>, function: Function, concurrency: usize) -> Result<Load, String> {
    let api = RuntimeApi::start().await;
    let mut children = Vec::new();
    for _ in 0..concurrency {
        children.push(bench.spawn(function, &api).map_err(|e| e.to_string())?);
    }
    let ready = api.wait_polling(concurrency, Duration::from_secs(120)).await;
    let result = if !ready {
        Err(format!(
            "only {} of {concurrency} processes started",
            api.polling()
        ))
    } else {
        let until = Instant::now() + Duration::from_secs_f64(bench.seconds);
        let started = Instant::now();
        let clients = (0..concurrency).map(|_| {
            let (api, bench) = (api.clone(), Arc::clone(bench));
            tokio::spawn(async move {
                let (mut latencies, mut failed) = (Vec::new(), 0u64);
                while Instant::now() < until {
                    let event = bench.event_for(function);
                    let t = Instant::now();
                    let answer = invoke(&api, event).await;
                    if stored(function, &answer) {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failed += 1;
                    }
                }
                (latencies, failed)
            })
        });
        let mut latencies = Vec::new();
        let mut failed = 0;
        for joined in join_all(clients).await {
            let (l, f) = joined.map_err(|e| e.to_string())?;
            latencies.extend(l);
            failed += f;
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        Ok(Load {
            rps: latencies.len() as f64 / elapsed,
            p50_ms: percentile(&latencies, 50.0),
            p99_ms: percentile(&latencies, 99.0),
            failed,
        })
    };
    for child in children {
        kill(child);
    }
    result
}

/// One settlement-sync backfill over `[from, to]`: (ms, calls, summary).
async fn settlement_run(bench: &Bench, from: i64, to: i64) -> Result<(f64, Calls, Value), String> {
    let api = RuntimeApi::start().await;
    let child = bench
        .spawn(Function::Settlement, &api)
        .map_err(|e| e.to_string())?;
    let result = async {
        if !api.wait_polling(1, Duration::from_secs(30)).await {
            return Err("settlement-sync did not start".to_owned());
        }
        let event = serde_json::to_vec(&json!({"from": from, "to": to})).expect("json");
        let started = Instant::now();
        let (answer, calls) = bench.calls_during(invoke(&api, event)).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let summary: Value = serde_json::from_str(&answer_body(&answer)?).map_err(|e| e.to_string())?;
        Ok((elapsed, calls, summary))
    }
    .await;
    kill(child);
    result
}

fn file_mib(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
}

/// The size of `path` after `strip` (a copy; the file is left as built).
fn stripped_mib(path: &Path) -> Option<f64> {
    let copy = std::env::temp_dir().join(format!("bench-strip-{}", std::process::id()));
    let ok = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(path)
        .status()
        .ok()?
        .success();
    let size = ok.then(|| file_mib(&copy)).flatten();
    let _ = std::fs::remove_file(&copy);
    size
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// What the baseline would upload: Powertools and its own dependencies plus the handler (boto3
/// and botocore come with the Lambda Python runtime), in MiB.
fn python_package_mib(python: &Path, root: &Path) -> Option<f64> {
    let out = Command::new(python)
        .args(["-c", "import aws_lambda_powertools, os; print(os.path.dirname(os.path.dirname(aws_lambda_powertools.__file__)))"])
        .output()
        .ok()?;
    let site = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let parts = ["aws_lambda_powertools", "jmespath", "typing_extensions.py"];
    let bytes: u64 = parts.iter().map(|p| dir_bytes(&site.join(p))).sum::<u64>()
        + dir_bytes(&root.join("bench/baseline/handler.py"));
    Some(bytes as f64 / (1024.0 * 1024.0))
}

/// The median of one criterion benchmark, in microseconds.
fn criterion_us(dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64().map(|ns| ns / 1000.0)
}

fn cell<T>(result: &Result<T, String>, f: impl Fn(&T) -> String) -> String {
    match result {
        Ok(v) => f(v),
        Err(e) => format!("error: {}", e.chars().take(80).collect::<String>()),
    }
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
    for function in [Function::Postback, Function::Callback, Function::Settlement] {
        let bin = bin_dir.join(function.label());
        if !bin.exists() {
            return Err(format!(
                "{} is missing: build the release binaries first (bench/run.sh)",
                bin.display()
            ));
        }
    }
    let python = setting("BENCH_PYTHON").map(PathBuf::from);

    // The local DynamoDB and a table from template.yaml, as the tests have them.
    let endpoint = testkit::endpoint();
    let table = testkit::TestTable::create().await;
    // The Linkbest stand-in: 200 changes in one hour (one full page), 10,000 in the next six.
    let one_page = (1_790_000_000i64, 1_790_003_599i64);
    let ten_k = (1_790_010_000i64, 1_790_031_599i64);
    let mut changes = generate(200, one_page.0, one_page.1, 7);
    changes.extend(generate(10_000, ten_k.0, ten_k.1, 8));
    let app_key = testkit::local_setting("LINKBEST_APP_KEY");
    let app_secret = testkit::local_setting("LINKBEST_APP_SECRET");
    let standin = StandIn::start(&app_key, &app_secret, changes).await;

    let mut env: BTreeMap<String, String> = testkit::local_env().clone().into_iter().collect();
    env.insert("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.clone());
    env.insert("TABLE_NAME".into(), table.name.clone());
    env.insert("LINKBEST_API_BASE_URL".into(), standin.base_url());
    env.insert("RUST_LOG".into(), "info".into());
    env.insert("SETTLEMENT_FALLBACK_BUDGET_MS".into(), "600000".into());
    for (name, value) in [
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("POWERTOOLS_SERVICE_NAME", "postback-baseline"),
    ] {
        env.insert(name.into(), value.into());
    }
    let read_event = |name: &str| -> Value {
        let text = std::fs::read_to_string(root.join("events").join(name)).expect("sample event");
        serde_json::from_str(&text).expect("sample event is JSON")
    };
    let first = |list: &str| list.split(',').next().unwrap_or_default().trim().to_owned();
    let bench = Arc::new(Bench {
        bin_dir,
        arm64_dir: path_setting("BENCH_ARM64_DIR", "target/lambda"),
        python,
        criterion_dir: path_setting("BENCH_CRITERION_DIR", "target/criterion"),
        seconds: setting("BENCH_SECONDS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(5.0),
        cold_runs: setting("BENCH_COLD_RUNS")
            .and_then(|s| s.parse().ok())
            .unwrap_or(15),
        endpoint,
        table: table.name.clone(),
        standin_url: standin.base_url(),
        token: first(&testkit::local_setting("LINKBEST_POSTBACK_TOKENS")),
        hmac_secret: first(&testkit::local_setting("CALLBACK_HMAC_SECRETS")),
        env,
        push_template: read_event("postback-1-new-push.json"),
        callback_template: read_event("callback-1-order-paid.json"),
        run: time::OffsetDateTime::now_utc().unix_timestamp() as u128,
        seq: AtomicU64::new(0),
        root: root.clone(),
    });
    let has_python = bench.python.is_some();
    let py = |f: Function| has_python.then_some(f);
    eprintln!(
        "bench: DynamoDB {} table {}, Linkbest stand-in {}",
        bench.endpoint, bench.table, bench.standin_url
    );
    let mut rows: Vec<Row> = Vec::new();

    // 1. Cold start.
    eprintln!("bench: cold start");
    let python_cold = match py(Function::PythonPostback) {
        Some(f) => Some(cold_start(&bench, f, bench.cold_runs.div_ceil(2).max(3)).await),
        None => None,
    };
    let python_measured = if has_python {
        Some(python_measure(&bench, 5))
    } else {
        None
    };
    let mut sdk_init_row = None;
    for function in [Function::Postback, Function::Callback, Function::Settlement] {
        let rust = cold_start(&bench, function, bench.cold_runs).await;
        let python = (function == Function::Postback)
            .then_some(python_cold.as_ref())
            .flatten();
        let figure = format!("Cold start to first answer, {} (median)", function.label());
        rows.push(match (&rust, python) {
            (Ok(r), Some(Ok(p))) => compared(figure, r.first_answer_ms, Some(p.first_answer_ms), "ms", 1),
            _ => Row {
                figure,
                rust: cell(&rust, |v| format!("{:.1} ms", v.first_answer_ms)),
                python: python
                    .map(|p| cell(p, |v| format!("{:.1} ms", v.first_answer_ms)))
                    .unwrap_or_default(),
                ratio: String::new(),
            },
        });
        if let Ok(ColdStart {
            init_ms: Some(init),
            sdk_init_ms: Some(sdk),
            ..
        }) = &rust
        {
            rows.push(row(
                format!(
                    "  of which init in main (config, SDK client), {} (median, as logged)",
                    function.label()
                ),
                format!("{init:.2} ms (SDK client {sdk:.2} ms)"),
            ));
            if function == Function::Postback {
                sdk_init_row = Some(*sdk);
            }
        }
    }
    let figure = "SDK client init in a fresh process (median; Python: import boto3 + client)";
    rows.push(match (sdk_init_row, &python_measured) {
        (Some(r), Some(Ok((p, _)))) => compared(figure, r, Some(*p), "ms", 2),
        _ => row(
            figure,
            sdk_init_row
                .map(|r| format!("{r:.2} ms"))
                .unwrap_or_else(|| "not logged".into()),
        ),
    });

    // 2. Per-request CPU (criterion ran before this, see bench/run.sh).
    let crit = |id: &str| criterion_us(&bench.criterion_dir, id);
    match crit("postback_parse_verify_item") {
        Some(rust) => rows.push(compared(
            "CPU per push: parse + verify + build record (median)",
            rust,
            python_measured
                .as_ref()
                .and_then(|p| p.as_ref().ok())
                .map(|p| p.1),
            "µs",
            2,
        )),
        None => rows.push(row(
            "CPU per push: parse + verify + build record",
            "no criterion result",
        )),
    }
    for (id, label) in [
        (
            "postback_handle",
            "CPU per push: whole handler incl. SDK request, in-memory HTTP (median)",
        ),
        (
            "postback_store_call",
            "CPU per push: the store call alone (items + SDK request), in-memory HTTP (median)",
        ),
        (
            "callback_handle",
            "CPU per callback: whole handler incl. SDK request, in-memory HTTP (median)",
        ),
        (
            "settlement_page_parse",
            "CPU per 200-row settlement page: parse (median)",
        ),
    ] {
        rows.push(row(
            label,
            crit(id)
                .map(|v| format!("{v:.2} µs"))
                .unwrap_or_else(|| "no criterion result".into()),
        ));
    }

    // 3. DynamoDB calls per event.
    eprintln!("bench: DynamoDB calls per event");
    let python_calls = match py(Function::PythonPostback) {
        Some(f) => Some(calls_per_event(&bench, f).await),
        None => None,
    };
    for function in [Function::Postback, Function::Callback] {
        let rust = calls_per_event(&bench, function).await;
        match &rust {
            Ok(list) => {
                for (i, (what, calls)) in list.iter().enumerate() {
                    let python = (function == Function::Postback)
                        .then(|| {
                            python_calls
                                .as_ref()
                                .and_then(|p| p.as_ref().ok())
                                .and_then(|p| p.get(i))
                        })
                        .flatten();
                    rows.push(Row {
                        figure: format!("DynamoDB calls, {}: {what}", function.label()),
                        rust: calls_text(calls),
                        python: python
                            .map(|(w, c)| format!("{} [{w}]", calls_text(c)))
                            .unwrap_or_default(),
                        ratio: python
                            .filter(|(_, c)| calls_total(c) > 0.0)
                            .map(|(_, c)| format!("{:.3}", calls_total(calls) / calls_total(c)))
                            .unwrap_or_default(),
                    });
                }
            }
            Err(e) => rows.push(row(
                format!("DynamoDB calls, {}", function.label()),
                format!("error: {e}"),
            )),
        }
    }
    let page = settlement_run(&bench, one_page.0, one_page.1).await;
    rows.push(row(
        "DynamoDB calls, settlement-sync: one 200-row page (whole run)",
        cell(&page, |(_, calls, summary)| {
            format!(
                "{} — {} items, {} pages",
                calls_text(calls),
                summary["items_written"],
                summary["pages"]
            )
        }),
    ));

    // 4. Memory.
    eprintln!("bench: peak RSS over 1,000 requests");
    let python_rss = match py(Function::PythonPostback) {
        Some(f) => Some(peak_rss(&bench, f, 1000).await),
        None => None,
    };
    for function in [Function::Postback, Function::Callback] {
        let rust = peak_rss(&bench, function, 1000).await;
        let python = (function == Function::Postback)
            .then_some(python_rss.as_ref())
            .flatten();
        let figure = format!("Peak RSS serving 1,000 requests, {}", function.label());
        rows.push(match (&rust, python) {
            (Ok(r), Some(Ok(p))) => compared(figure, *r, Some(*p), "MiB", 1),
            _ => Row {
                figure,
                rust: cell(&rust, |v| format!("{v:.1} MiB")),
                python: python
                    .map(|p| cell(p, |v| format!("{v:.1} MiB")))
                    .unwrap_or_default(),
                ratio: String::new(),
            },
        });
    }

    // 5. Package size.
    let python_pkg = bench.python.as_ref().and_then(|p| python_package_mib(p, &root));
    for function in [Function::Postback, Function::Callback, Function::Settlement] {
        let x86 = bench.bin_dir.join(function.label());
        let size = file_mib(&x86).unwrap_or(f64::NAN);
        let stripped = stripped_mib(&x86).unwrap_or(f64::NAN);
        let figure = format!(
            "Binary size x86_64, {} (as built / stripped; Python: Powertools + handler package)",
            function.label()
        );
        let mut r = compared(
            figure,
            stripped,
            (function == Function::Postback).then_some(python_pkg).flatten(),
            "MiB",
            2,
        );
        r.rust = format!("{size:.2} / {stripped:.2} MiB");
        rows.push(r);
        let arm = bench.arm64_dir.join(function.label()).join("bootstrap");
        rows.push(row(
            format!(
                "Binary size arm64 (cargo lambda build --release --arm64), {}",
                function.label()
            ),
            file_mib(&arm)
                .map(|v| format!("{v:.2} MiB"))
                .unwrap_or_else(|| "not built (bench/run.sh --no-arm64?)".into()),
        ));
    }

    // 6. Throughput.
    eprintln!("bench: throughput");
    for concurrency in [1usize, 8, 32] {
        let rust = throughput(&bench, Function::Postback, concurrency).await;
        let python = match py(Function::PythonPostback) {
            Some(f) => Some(throughput(&bench, f, concurrency).await),
            None => None,
        };
        let p = python.as_ref().and_then(|r| r.as_ref().ok());
        let label = |what: &str| format!("Postback at concurrency {concurrency}: {what}");
        match &rust {
            Ok(r) => {
                rows.push(compared(label("requests/s"), r.rps, p.map(|p| p.rps), "", 1));
                rows.push(compared(
                    label("p50 latency"),
                    r.p50_ms,
                    p.map(|p| p.p50_ms),
                    "ms",
                    2,
                ));
                rows.push(compared(
                    label("p99 latency"),
                    r.p99_ms,
                    p.map(|p| p.p99_ms),
                    "ms",
                    2,
                ));
                if r.failed > 0 || p.is_some_and(|p| p.failed > 0) {
                    rows.push(row(
                        label("failed answers"),
                        format!("{} (Python {})", r.failed, p.map(|p| p.failed).unwrap_or(0)),
                    ));
                }
            }
            Err(e) => rows.push(row(label("requests/s"), format!("error: {e}"))),
        }
        if let Some(Err(e)) = &python {
            rows.push(row(label("Python"), format!("error: {e}")));
        }
    }

    // 7. Settlement sync of 10,000 changes.
    eprintln!("bench: settlement sync of 10,000 changes");
    let big = settlement_run(&bench, ten_k.0, ten_k.1).await;
    rows.push(row(
        "Settlement sync of 10,000 changes: time",
        cell(&big, |(ms, _, summary)| {
            format!(
                "{:.0} ms ({} items, {} pages, result {})",
                ms, summary["items_written"], summary["pages"], summary["result"]
            )
        }),
    ));
    rows.push(row(
        "Settlement sync of 10,000 changes: DynamoDB calls",
        cell(&big, |(_, calls, _)| calls_text(calls)),
    ));

    println!("| Figure | Rust | Python baseline | Rust / Python |");
    println!("|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} |", r.figure, r.rust, r.python, r.ratio);
    }
    Ok(())
}
