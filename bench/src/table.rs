//! The one Markdown table the bench prints: figure, Rust, Python baseline, ratio.

use std::collections::BTreeMap;

/// DynamoDB requests by operation.
pub type Calls = BTreeMap<String, u64>;

/// One row of the table.
pub struct Row {
    pub figure: String,
    pub rust: String,
    pub python: String,
    pub ratio: String,
}

/// A row with one figure.
pub fn row(figure: impl Into<String>, rust: impl Into<String>) -> Row {
    Row {
        figure: figure.into(),
        rust: rust.into(),
        python: String::new(),
        ratio: String::new(),
    }
}

/// A row with both figures (same unit) and their ratio Rust / Python.
pub fn compared(figure: impl Into<String>, rust: f64, python: Option<f64>, unit: &str, digits: usize) -> Row {
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

/// A cell for a result: its text, or the error (shortened).
pub fn cell<T>(result: &Result<T, String>, f: impl Fn(&T) -> String) -> String {
    match result {
        Ok(v) => f(v),
        Err(e) => format!("error: {}", e.chars().take(120).collect::<String>()),
    }
}

/// `3 (1 TransactWriteItems, 2 PutItem)`.
pub fn calls_text(calls: &Calls) -> String {
    if calls.is_empty() {
        return "0".into();
    }
    let total: u64 = calls.values().sum();
    let parts: Vec<String> = calls.iter().map(|(op, n)| format!("{n} {op}")).collect();
    format!("{total} ({})", parts.join(", "))
}

pub fn calls_total(calls: &Calls) -> u64 {
    calls.values().sum()
}

/// `after - before`, operations with no new request left out.
pub fn calls_between(before: &Calls, after: &Calls) -> Calls {
    after
        .iter()
        .filter_map(|(op, n)| {
            let d = n - before.get(op).copied().unwrap_or(0);
            (d > 0).then(|| (op.clone(), d))
        })
        .collect()
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints the table (and returns it, for the report file).
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from("| Figure | Rust | Python baseline | Rust / Python |\n|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.figure, r.rust, r.python, r.ratio
        ));
    }
    out
}
