//! The part Lambda's event source mapping plays for the publisher, locally (`make run`): reads the
//! local table's own stream on DynamoDB Local (`aws-sdk-dynamodbstreams`), keeps the records the
//! template's `FilterCriteria` let through, and invokes the publisher under AWS's Runtime
//! Interface Emulator with the exact event Lambda sends, in batches of up to 100 records. Like
//! the mapping, a partial batch answer (`batchItemFailures`) is retried from the record it names
//! (at most 5 times). Prints one line per invocation. Not Lambda: its polling interval is its own.
//!
//! Usage: TABLE_NAME=… AWS_ENDPOINT_URL_DYNAMODB=… stream-poller --invoke-url URL
//!        [--interval-ms 1000] [--once]

use std::time::Duration;

use serde_json::{Value, json};
use testkit::stream_reader::{StreamCursor, filtered};

const BATCH: usize = 100;
const RETRIES: usize = 5;

#[tokio::main]
async fn main() -> Result<(), String> {
    shared::tls::install_crypto_provider();
    let mut args = std::env::args().skip(1);
    let (mut url, mut interval, mut once) = (None, 1_000u64, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => once = true,
            "--invoke-url" => url = args.next(),
            "--interval-ms" => {
                interval = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("bad --interval-ms")?
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let url = url.ok_or("--invoke-url is required")?;
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let client = testkit::client().await;
    let mut cursor = StreamCursor::open(&client, &table).await;
    let http = reqwest::Client::new();
    loop {
        let records = filtered(&cursor.poll().await);
        for batch in records.chunks(BATCH) {
            invoke(&http, &url, batch).await?;
        }
        if once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(interval)).await;
    }
}

/// Invokes the publisher with `batch`, and again from the first failed record, as the mapping does.
async fn invoke(http: &reqwest::Client, url: &str, batch: &[Value]) -> Result<(), String> {
    let mut from = 0;
    for attempt in 0..=RETRIES {
        let records = &batch[from..];
        let text = http
            .post(url)
            .body(json!({ "Records": records }).to_string())
            .send()
            .await
            .map_err(|e| format!("invoking the publisher: {e}"))?
            .text()
            .await
            .map_err(|e| format!("the publisher's answer: {e}"))?;
        let answer: Value =
            serde_json::from_str(&text).map_err(|e| format!("the publisher's answer {text:?}: {e}"))?;
        let failed = answer["batchItemFailures"][0]["itemIdentifier"].as_str();
        println!(
            "stream-poller: {} records -> publisher -> {}",
            records.len(),
            match failed {
                None => "all published".to_owned(),
                Some(sequence) => format!("first not published: {sequence} (attempt {attempt})"),
            }
        );
        let Some(sequence) = failed else { return Ok(()) };
        let Some(index) = records
            .iter()
            .position(|r| r["dynamodb"]["SequenceNumber"].as_str() == Some(sequence))
        else {
            return Err(format!("the publisher named an unknown record {sequence}"));
        };
        from += index;
        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
    }
    Err(format!(
        "records from {from} not published after {RETRIES} retries"
    ))
}
