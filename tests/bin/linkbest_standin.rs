//! The local Linkbest stand-in as a process, for `make run`: serves generated settlement changes
//! (the last three days, plus one fixed day for the backfill sample event) on loopback until
//! killed. Prints its base URL as the first line.
//!
//! Usage: LINKBEST_APP_KEY=… LINKBEST_APP_SECRET=… linkbest-standin [--port 9100] [--changes 500]

use testkit::linkbest_standin::{StandIn, generate};

/// The day `events/settlement-sync-2-backfill.json` asks for (2026-11-01 UTC).
const BACKFILL_FROM: i64 = 1_793_491_200;

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut changes) = (9100u16, 500usize);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--port" => port = value.parse().map_err(|_| "bad --port")?,
            "--changes" => changes = value.parse().map_err(|_| "bad --changes")?,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let app_key = std::env::var("LINKBEST_APP_KEY").map_err(|_| "LINKBEST_APP_KEY is not set")?;
    let secret = std::env::var("LINKBEST_APP_SECRET").map_err(|_| "LINKBEST_APP_SECRET is not set")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut data = generate(changes, now - 3 * 86_400, now - 600, 42);
    data.extend(generate(200, BACKFILL_FROM, BACKFILL_FROM + 86_399, 43));
    let standin = StandIn::start_on(&format!("127.0.0.1:{port}"), &app_key, &secret, data).await;
    println!("{}", standin.base_url());
    std::future::pending::<()>().await;
    Ok(())
}
