//! The local Linkbest stand-in as a process, for `make run`: serves generated settlement changes
//! and orders (the last three days, plus one fixed day for the backfill sample events) on loopback
//! until killed. The orders include the one `events/postback-1-new-push.json` pushes (so the
//! orders feed finds it pushed) and many that no event pushes (so it finds them only by poll).
//! Prints its base URL as the first line.
//!
//! Usage: LINKBEST_APP_KEY=… LINKBEST_APP_SECRET=… linkbest-standin [--port 9100] [--changes 500] [--orders 40]

use testkit::linkbest_standin::{StandIn, generate, generate_orders, order};

/// The day the backfill sample events ask for (2026-11-01 UTC).
const BACKFILL_FROM: i64 = 1_793_491_200;
/// The order `events/postback-1-new-push.json` pushes (status 0, 129.90).
const PUSHED_ORDER: &str = "SO20261123000017";

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut changes, mut orders) = (9100u16, 500usize, 40usize);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--port" => port = value.parse().map_err(|_| "bad --port")?,
            "--changes" => changes = value.parse().map_err(|_| "bad --changes")?,
            "--orders" => orders = value.parse().map_err(|_| "bad --orders")?,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let app_key = std::env::var("LINKBEST_APP_KEY").map_err(|_| "LINKBEST_APP_KEY is not set")?;
    let secret = std::env::var("LINKBEST_APP_SECRET").map_err(|_| "LINKBEST_APP_SECRET is not set")?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut data = generate(changes, now - 3 * 86_400, now - 600, 42);
    data.extend(generate(200, BACKFILL_FROM, BACKFILL_FROM + 86_399, 43));
    let standin = StandIn::start_on(&format!("127.0.0.1:{port}"), &app_key, &secret, data).await;
    // Orders updated over the last three days, all older than the orders feed's safety lag.
    let mut listed = generate_orders(orders, now - 3 * 86_400, now - 3 * 3_600, 44, "SO-LIST-");
    listed.push(order(PUSHED_ORDER, now - 2 * 86_400, "0", 12_990));
    listed.extend(generate_orders(
        50,
        BACKFILL_FROM,
        BACKFILL_FROM + 86_399,
        45,
        "SO-LIST-",
    ));
    standin.add_orders(listed);
    println!("{}", standin.base_url());
    std::future::pending::<()>().await;
    Ok(())
}
