//! The local orders bus for `make run` / `make invoke`: the `PutEvents` stand-in
//! (`testkit::eventbridge_standin`) as a process on loopback until killed, printing every event
//! it accepts as one JSON line (`EventBusName`, `Source`, `DetailType`, `Detail`), as a consumer
//! would receive it. Prints its endpoint as the first line.
//!
//! Usage: eventbridge-standin [--port 9200]

use testkit::eventbridge_standin::EventBridgeStandIn;

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut port = 9200u16;
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--port" => port = value.parse().map_err(|_| "bad --port")?,
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let bus = EventBridgeStandIn::start_on(&format!("127.0.0.1:{port}"), true).await;
    println!("eventbridge-standin: {}", bus.endpoint());
    std::future::pending::<()>().await;
    Ok(())
}
