//! The table: every figure, in order, each beside its Python counterpart where one exists.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::events::Function;
use crate::table::{Row, calls_text, calls_total, cell, compared, median, row};
use crate::{Bench, cold_start, cost, feeds, lag, memory, requests, size, throughput};

const FUNCTIONS: [Function; 3] = [Function::Postback, Function::Callback, Function::Sync];

/// Every figure; `BENCH_ONLY=cold` or `BENCH_ONLY=feeds` measures only those (a quick look).
pub async fn all(bench: &Arc<Bench>) -> Vec<Row> {
    let mut rows = Vec::new();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only == "feeds" {
        eprintln!("bench: feeds");
        feeds(bench, &mut rows).await;
        return rows;
    }
    if only == "cost" || only == "handoff" {
        eprintln!("bench: cost");
        cost(bench, &mut rows).await;
        eprintln!("bench: hand-off lag");
        handoff_lag(bench, &mut rows).await;
        return rows;
    }
    eprintln!("bench: cold start");
    cold_starts(bench, &mut rows).await;
    if only == "cold" {
        return rows;
    }
    cpu(bench, &mut rows);
    eprintln!("bench: DynamoDB requests per event");
    requests_per_event(bench, &mut rows).await;
    eprintln!("bench: peak RSS over 1,000 requests");
    memory(bench, &mut rows).await;
    sizes(bench, &mut rows);
    eprintln!("bench: throughput");
    throughput(bench, &mut rows).await;
    eprintln!("bench: feeds");
    feeds(bench, &mut rows).await;
    eprintln!("bench: cost");
    cost(bench, &mut rows).await;
    eprintln!("bench: hand-off lag");
    handoff_lag(bench, &mut rows).await;
    rows
}

/// End-to-end lag of the hand-off (`lag.rs`): write confirmed → event on the local bus.
async fn handoff_lag(bench: &Bench, rows: &mut Vec<Row>) {
    let interval = std::time::Duration::from_millis(250);
    match lag::measure(bench, 200, std::time::Duration::from_millis(37), interval).await {
        Ok(lags) => {
            let (median, p99) = lag::summary(&lags);
            rows.push(row(
                "hand-off lag: DynamoDB write confirmed -> event accepted by the local bus (200 writes, stream polled every 250 ms by the local poller, not Lambda's)",
                format!("median {median:.0} ms, p99 {p99:.0} ms"),
            ));
        }
        Err(e) => rows.push(row("hand-off lag", format!("failed: {e}"))),
    }
}

/// Cost per event kind and per million orders (`cost.rs`), Rust beside the Python baseline for
/// the pushes (the baseline has no other function).
async fn cost(bench: &Bench, rows: &mut Vec<Row>) {
    use crate::cost::{Kind, PRICES, dollars};
    const N: usize = 20;
    bench.proxy.measure_capacity(true);
    let rust = cost::pushes(bench, Function::Postback, N).await;
    let python = match bench.python {
        Some(_) => Some(cost::pushes(bench, Function::PythonPostback, N).await),
        None => None,
    };
    let callbacks = cost::callbacks(bench, N).await;
    let feeds = cost::feed_rows(bench, 100).await;
    let publisher = cost::publisher(bench, 100, 5).await;
    bench.proxy.measure_capacity(false);
    let text = |k: &Kind| {
        format!(
            "{:.1} WCU ({:.1} index), {:.1} RCU{}",
            k.write_units,
            k.index_units,
            k.read_units,
            k.billed_ms
                .map(|ms| format!(", {ms:.1} ms billed at {} MB", k.memory_mb))
                .unwrap_or_default()
        )
    };
    match (&rust, &python) {
        (Ok(kinds), Some(Ok(baseline))) => {
            for (k, b) in kinds.iter().zip(baseline) {
                rows.push(Row {
                    figure: format!("cost: {}", k.label),
                    rust: text(k),
                    python: text(b),
                    ratio: format!("{:.2}x WCU", k.write_units / b.write_units.max(f64::EPSILON)),
                });
            }
        }
        (Ok(kinds), _) => kinds
            .iter()
            .for_each(|k| rows.push(row(format!("cost: {}", k.label), text(k)))),
        (Err(e), _) => rows.push(row("cost: pushes", format!("failed: {e}"))),
    }
    for result in [&callbacks, &feeds] {
        match result {
            Ok(kinds) => kinds
                .iter()
                .for_each(|k| rows.push(row(format!("cost: {}", k.label), text(k)))),
            Err(e) => rows.push(row("cost: callbacks / feed rows", format!("failed: {e}"))),
        }
    }
    match &publisher {
        Ok(k) => rows.push(row(
            format!("cost: {} (per record, batches of 100)", k.label),
            text(k),
        )),
        Err(e) => rows.push(row("cost: view change published", format!("failed: {e}"))),
    }
    let find = |kinds: &Result<Vec<Kind>, String>, label: &str| {
        kinds
            .as_ref()
            .ok()
            .and_then(|ks| ks.iter().find(|k| k.label.starts_with(label)).cloned())
    };
    // Per million orders: the pushes of an order (new, a status change, one duplicate delivery)
    // in both languages; then the whole bundle's mix.
    let pushes_of = |kinds: &Result<Vec<Kind>, String>| -> Option<[f64; 4]> {
        let parts = ["new order push", "status push", "duplicate push"].map(|l| find(kinds, l));
        let mut sum = [0.0; 4];
        for kind in parts {
            let (d, l, a, e) = dollars(&kind?);
            for (s, v) in sum.iter_mut().zip([d, l, a, e]) {
                *s += v * 1e6;
            }
        }
        Some(sum)
    };
    let money = |s: [f64; 4]| {
        format!(
            "${:.2} (DynamoDB ${:.2}, Lambda ${:.2}, API Gateway ${:.2}, EventBridge ${:.2})",
            s.iter().sum::<f64>(),
            s[0],
            s[1],
            s[2],
            s[3]
        )
    };
    if let Some(r) = pushes_of(&rust) {
        let p = python.as_ref().and_then(pushes_of);
        rows.push(Row {
            figure: "cost per million orders, pushes (1 new + 1 status change + 1 duplicate each)".into(),
            rust: money(r),
            python: p.map(money).unwrap_or_default(),
            ratio: p
                .map(|p| format!("{:.2}x", r.iter().sum::<f64>() / p.iter().sum::<f64>()))
                .unwrap_or_default(),
        });
        // The bundle: each order also listed once by the orders feed, one settlement change,
        // and its four view changes published (new, status, listing, settlement).
        let extra = [
            find(&feeds, "order list row (status"),
            find(&feeds, "settlement change"),
            publisher.as_ref().ok().map(|k| Kind {
                events_published: 4.0,
                invocations: 4.0 * k.invocations,
                billed_ms: k.billed_ms.map(|ms| ms * 4.0),
                ..k.clone()
            }),
        ];
        if extra.iter().all(Option::is_some) {
            let mut total = r;
            for kind in extra.into_iter().flatten() {
                let (d, l, a, e) = dollars(&kind);
                for (s, v) in total.iter_mut().zip([d, l, a, e]) {
                    *s += v * 1e6;
                }
            }
            rows.push(row(
                "cost per million orders, Linkbest bundle (pushes above + 1 list row + 1 settlement change + 4 events published)",
                money(total),
            ));
        }
    }
    rows.push(row(
        "prices used (us-east-1 on demand)",
        format!(
            "DynamoDB ${}/M write, ${}/M read units; Lambda arm64 ${}/GB-s + ${}/M requests; HTTP API ${}/M; EventBridge ${}/M events",
            PRICES.write_per_million,
            PRICES.read_per_million,
            PRICES.lambda_gb_second_arm64,
            PRICES.lambda_per_million_requests,
            PRICES.http_api_per_million,
            PRICES.eventbridge_per_million
        ),
    ));
}

async fn cold_starts(bench: &Bench, rows: &mut Vec<Row>) {
    let runs = bench.cold_runs;
    let hello = cold_start::measure(bench, Function::Hello, runs).await;
    let python = match bench.python {
        Some(_) => Some(cold_start::measure(bench, Function::PythonPostback, runs.div_ceil(2).max(3)).await),
        None => None,
    };
    let python_ok = python.as_ref().and_then(|p| p.as_ref().ok());
    rows.push(row(
        "Init (emulator's INIT REPORT), hello-world lambda_runtime function: the floor (median)",
        cell(&hello, |h| format!("{:.2} ms", h.init_report_ms)),
    ));
    for function in FUNCTIONS {
        let rust = cold_start::measure(bench, function, runs).await;
        let vs_python = (function == Function::Postback).then_some(python_ok).flatten();
        let figure = format!(
            "Cold start to the first stored answer, {} (median)",
            function.label()
        );
        rows.push(match &rust {
            Ok(r) => compared(
                figure,
                r.first_answer_ms,
                vs_python.map(|p| p.first_answer_ms),
                "ms",
                1,
            ),
            Err(e) => row(figure, format!("error: {e}")),
        });
        if let Ok(r) = &rust {
            let mut init = compared(
                format!("  init (INIT REPORT), {} (median)", function.label()),
                r.init_report_ms,
                vs_python.map(|p| p.init_report_ms),
                "ms",
                2,
            );
            if let Ok(h) = &hello {
                init.rust = format!(
                    "{} = {:.2} × hello-world",
                    init.rust,
                    r.init_report_ms / h.init_report_ms
                );
            }
            rows.push(init);
            rows.push(compared(
                format!(
                    "  first invocation (REPORT Duration), {} (median)",
                    function.label()
                ),
                r.first_duration_ms,
                vs_python.map(|p| p.first_duration_ms),
                "ms",
                2,
            ));
            if let (Some(i), Some(s)) = (r.init_ms, r.sdk_init_ms) {
                rows.push(row(
                    format!(
                        "  of which `main`'s own work (logged `init_ms`; SDK client), {}",
                        function.label()
                    ),
                    format!("{i:.2} ms ({s:.2} ms)"),
                ));
            }
            if function == Function::Postback {
                rows.extend(secrets_init(bench, runs, r).await);
            }
        }
    }
    if let Some(Err(e)) = &python {
        rows.push(row("Cold start, Python baseline", format!("error: {e}")));
    }
    let python_sdk = python_measure(bench, 5);
    rows.push(Row {
        python: cell(&python_sdk, |(init, _)| format!("{init:.2} ms")),
        ..row(
            "SDK client in a fresh process (Rust: logged `sdk_init_ms` above; Python: import boto3 + client, median)",
            "",
        )
    });
}

/// The postback's init with its tokens read from Secrets Manager (the stand-in on loopback, the
/// real SDK client) beside the same init with the plain variable.
async fn secrets_init(bench: &Bench, runs: usize, plain: &cold_start::ColdStart) -> Vec<Row> {
    let mut env = bench.env.clone();
    env.remove("LINKBEST_POSTBACK_TOKENS");
    env.insert(
        "LINKBEST_POSTBACK_TOKENS_ARN".into(),
        testkit::secrets_standin::arn("postback-tokens"),
    );
    env.insert(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
        bench.secrets.endpoint(),
    );
    let calls_before = bench.secrets.calls();
    let figure =
        "  init with the tokens from Secrets Manager (INIT REPORT; logged `secrets_init_ms`), postback";
    match cold_start::measure_with(bench, Function::Postback, runs, &env).await {
        Ok(r) => vec![row(
            figure,
            format!(
                "{:.2} ms = {:.2} × plain variable ({:.2} ms reading the secret; {} reads for {} cold starts)",
                r.init_report_ms,
                r.init_report_ms / plain.init_report_ms,
                r.secrets_init_ms.unwrap_or(f64::NAN),
                bench.secrets.calls() - calls_before,
                runs + 1
            ),
        )],
        Err(e) => vec![row(figure, format!("error: {e}"))],
    }
}

/// `{client_init_ms, parse_verify_build_us}` from the baseline's measure.py, medians.
fn python_measure(bench: &Bench, runs: usize) -> Result<(f64, f64), String> {
    let python = bench.python.as_ref().ok_or("no baseline")?;
    let body = bench.events.push_body("1795440000123");
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

/// The median of one criterion benchmark, in microseconds.
fn criterion_us(dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(dir.join(id).join("new/estimates.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64().map(|ns| ns / 1000.0)
}

fn cpu(bench: &Bench, rows: &mut Vec<Row>) {
    let crit = |id: &str| criterion_us(&bench.criterion_dir, id);
    let python = python_measure(bench, 3).ok().map(|p| p.1);
    rows.push(match crit("postback_parse_verify_item") {
        Some(rust) => compared(
            "CPU per push: parse + verify + build record (criterion median)",
            rust,
            python,
            "µs",
            2,
        ),
        None => row(
            "CPU per push: parse + verify + build record",
            "no criterion result",
        ),
    });
    for (id, label) in [
        (
            "postback_handle",
            "CPU per push: whole handler incl. SDK request, in-memory HTTP",
        ),
        (
            "postback_store_call",
            "CPU per push: the store call alone (items + SDK request), in-memory HTTP",
        ),
        (
            "callback_handle",
            "CPU per callback: whole handler incl. SDK request, in-memory HTTP",
        ),
        ("settlement_page_parse", "CPU per 200-row settlement page: parse"),
    ] {
        rows.push(row(
            format!("{label} (criterion median)"),
            crit(id)
                .map(|v| format!("{v:.2} µs"))
                .unwrap_or_else(|| "no criterion result".into()),
        ));
    }
    // The publisher per record beside the postback per push (both whole-work figures).
    if let (Some(batch), Some(push)) = (crit("publisher_100_records"), crit("postback_handle")) {
        rows.push(row(
            "CPU per view change published: read + describe + serialize + batch, in-memory bus (criterion median / 100)",
            format!(
                "{:.2} µs per record = {:.2}x the postback's whole handler per push ({push:.2} µs)",
                batch / 100.0,
                batch / 100.0 / push
            ),
        ));
    }
}

async fn requests_per_event(bench: &Bench, rows: &mut Vec<Row>) {
    let python = match bench.python {
        Some(_) => requests::per_event(bench, Function::PythonPostback).await.ok(),
        None => None,
    };
    for function in [Function::Postback, Function::Callback] {
        match requests::per_event(bench, function).await {
            Ok(list) => {
                for (i, (what, calls)) in list.iter().enumerate() {
                    let p = (function == Function::Postback)
                        .then(|| python.as_ref().and_then(|p| p.get(i)))
                        .flatten();
                    rows.push(Row {
                        figure: format!("DynamoDB requests, {}: {what}", function.label()),
                        rust: calls_text(calls),
                        python: p
                            .map(|(w, c)| format!("{} [{w}]", calls_text(c)))
                            .unwrap_or_default(),
                        ratio: p
                            .filter(|(_, c)| calls_total(c) > 0)
                            .map(|(_, c)| format!("{:.3}", calls_total(calls) as f64 / calls_total(c) as f64))
                            .unwrap_or_default(),
                    });
                }
            }
            Err(e) => rows.push(row(
                format!("DynamoDB requests, {}", function.label()),
                format!("error: {e}"),
            )),
        }
    }
}

async fn memory(bench: &Bench, rows: &mut Vec<Row>) {
    let python = match bench.python {
        Some(_) => Some(memory::peak(bench, Function::PythonPostback, 1000).await),
        None => None,
    };
    for function in [Function::Postback, Function::Callback] {
        let rust = memory::peak(bench, function, 1000).await;
        let p = (function == Function::Postback)
            .then_some(python.as_ref())
            .flatten();
        let figure = format!(
            "Peak RSS of the function process after 1,000 requests, {}",
            function.label()
        );
        rows.push(match (&rust, p) {
            (Ok(r), Some(Ok(p))) => compared(figure, r.peak_rss_mib, Some(p.peak_rss_mib), "MiB", 1),
            _ => Row {
                python: p
                    .map(|p| cell(p, |v| format!("{:.1} MiB", v.peak_rss_mib)))
                    .unwrap_or_default(),
                ..row(figure, cell(&rust, |v| format!("{:.1} MiB", v.peak_rss_mib)))
            },
        });
        if let Ok(memory::Memory {
            emulator_max_memory_used_mb: Some(mb),
            ..
        }) = &rust
        {
            rows.push(row(
                format!(
                    "  the emulator's REPORT \"Max Memory Used\", {} (it repeats the memory size)",
                    function.label()
                ),
                format!("{mb:.0} MB"),
            ));
        }
    }
}

fn sizes(bench: &Bench, rows: &mut Vec<Row>) {
    let python = bench
        .python
        .as_ref()
        .and_then(|p| size::python_package_mib(p, &bench.root));
    for function in FUNCTIONS {
        let x86 = bench.bin_dir.join(function.binary());
        let built = size::file_mib(&x86).unwrap_or(f64::NAN);
        let stripped = size::stripped_mib(&x86).unwrap_or(f64::NAN);
        let mut r = compared(
            format!(
                "Binary size x86_64, {} (as built / stripped; Python: Powertools + handler package)",
                function.label()
            ),
            stripped,
            (function == Function::Postback).then_some(python).flatten(),
            "MiB",
            2,
        );
        r.rust = format!("{built:.2} / {stripped:.2} MiB");
        rows.push(r);
        let arm = bench.arm64_dir.join(function.binary()).join("bootstrap");
        rows.push(row(
            format!(
                "Binary size arm64 (cargo lambda build --release --arm64), {}",
                function.label()
            ),
            size::file_mib(&arm)
                .map(|v| format!("{v:.2} MiB"))
                .unwrap_or_else(|| "not built (bench/run.sh --no-arm64?)".into()),
        ));
    }
}

async fn throughput(bench: &Arc<Bench>, rows: &mut Vec<Row>) {
    // The floor: what the emulator and a do-nothing lambda_runtime function cost per request.
    let hello = throughput::run(bench, Function::Hello, 1).await;
    rows.push(row(
        "hello-world, 1 instance: requests/s; REPORT Duration p50; CPU per request of the function process / the emulator (the floor)",
        cell(&hello, |h| {
            format!(
                "{:.0}/s; {:.2} ms; {:.0} µs / {:.0} µs",
                h.rps, h.function_duration_p50_ms, h.function_cpu_us, h.emulator_cpu_us
            )
        }),
    ));
    for instances in [1usize, 8, 32] {
        let rust = throughput::run(bench, Function::Postback, instances).await;
        let python = match bench.python {
            Some(_) => Some(throughput::run(bench, Function::PythonPostback, instances).await),
            None => None,
        };
        let p = python.as_ref().and_then(|r| r.as_ref().ok());
        let label = |what: &str| format!("Postback, {instances} instance(s): {what}");
        let r = match &rust {
            Ok(r) => r,
            Err(e) => {
                rows.push(row(label("requests/s"), format!("error: {e}")));
                continue;
            }
        };
        rows.push(compared(label("requests/s"), r.rps, p.map(|p| p.rps), "", 1));
        rows.push(compared(
            label("p50 latency (client)"),
            r.p50_ms,
            p.map(|p| p.p50_ms),
            "ms",
            2,
        ));
        rows.push(compared(
            label("p99 latency (client)"),
            r.p99_ms,
            p.map(|p| p.p99_ms),
            "ms",
            2,
        ));
        rows.push(compared(
            label("  inside the function (REPORT Duration, p50)"),
            r.function_duration_p50_ms,
            p.map(|p| p.function_duration_p50_ms),
            "ms",
            2,
        ));
        rows.push(compared(
            label("  of which DynamoDB (proxy-measured, mean per event)"),
            r.dynamodb_ms_per_event,
            p.map(|p| p.dynamodb_ms_per_event),
            "ms",
            2,
        ));
        rows.push(compared(
            label("  DynamoDB requests per event"),
            r.dynamodb_requests_per_event,
            p.map(|p| p.dynamodb_requests_per_event),
            "",
            2,
        ));
        rows.push(compared(
            label("  CPU per request: function process"),
            r.function_cpu_us,
            p.map(|p| p.function_cpu_us),
            "µs",
            0,
        ));
        rows.push(compared(
            label("  CPU per request: emulator"),
            r.emulator_cpu_us,
            p.map(|p| p.emulator_cpu_us),
            "µs",
            0,
        ));
        rows.push(compared(
            label("  CPU per request: DynamoDB Local"),
            r.dynamodb_cpu_us,
            p.map(|p| p.dynamodb_cpu_us),
            "µs",
            0,
        ));
        if r.failed > 0 || p.is_some_and(|p| p.failed > 0) {
            rows.push(row(
                label("failed answers"),
                format!("{} (Python {})", r.failed, p.map(|p| p.failed).unwrap_or(0)),
            ));
        }
        if let Some(Err(e)) = &python {
            rows.push(row(label("Python"), format!("error: {e}")));
        }
    }
}

async fn feeds(bench: &Bench, rows: &mut Vec<Row>) {
    let page = feeds::backfill(
        bench,
        json!({"feed": "settlement", "from": bench.one_page.0, "to": bench.one_page.1}),
    )
    .await;
    rows.push(row(
        "Settlement feed, one 200-change page: DynamoDB requests",
        cell(&page, |r| {
            format!(
                "{} — {} items, {} pages",
                calls_text(&r.calls),
                r.summary["items_written"],
                r.summary["pages"]
            )
        }),
    ));
    let big = feeds::backfill(
        bench,
        json!({"feed": "settlement", "from": bench.ten_k.0, "to": bench.ten_k.1}),
    )
    .await;
    rows.push(row(
        "Settlement feed, 10,000 changes: time (REPORT Duration) [goal ≤ 10 s]",
        cell(&big, |r| {
            format!(
                "{:.0} ms ({} items, {} pages, result {})",
                r.duration_ms, r.summary["items_written"], r.summary["pages"], r.summary["result"]
            )
        }),
    ));
    rows.push(row(
        "Settlement feed, 10,000 changes: DynamoDB requests [goal ≤ 600]",
        cell(&big, |r| calls_text(&r.calls)),
    ));
    eprintln!("bench: orders feed re-read (sets up 9,900 pushed and listed orders first)");
    let reread = feeds::orders_reread(bench).await;
    rows.push(row(
        "Orders feed, a 10,000-order window read again (9,900 known and unchanged, 100 never pushed): DynamoDB requests [goal ≤ 400]",
        cell(&reread, |r| calls_text(&r.calls)),
    ));
    rows.push(row(
        "  … orders counted found only by poll [goal: exactly 100]; time (REPORT Duration)",
        cell(&reread, |r| {
            format!(
                "{} ({} rows, {} written); {:.0} ms",
                r.summary["found_only_by_poll"],
                r.summary["rows_received"],
                r.summary["items_written"],
                r.duration_ms
            )
        }),
    ));
}
