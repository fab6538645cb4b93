//! DynamoDB requests per event, counted by the proxy in front of DynamoDB Local (where each request
//! reaches the server, so both languages are counted the same way, SDK retries included).

use crate::Bench;
use crate::emulator::Emulator;
use crate::events::{Function, answer_body, status_of, stored};
use crate::table::{Calls, calls_between};

/// The requests of one process for: a new event, the same event again, and (postback) the review's
/// test push; each with a label naming the answer.
pub async fn per_event(bench: &Bench, function: Function) -> Result<Vec<(String, Calls)>, String> {
    let emulator = Emulator::start(&bench.rie, &bench.program(function)?, &bench.env).await?;
    let result = async {
        // A first event warms the process (connections, credentials) so only the event's own
        // requests are counted.
        let warm = emulator.invoke(bench.events.new_event(function)).await?;
        if !stored(function, &warm) {
            return Err(format!("warm-up answered {:?}", answer_body(&warm)));
        }
        let event = bench.events.new_event(function);
        let mut rows = Vec::new();
        let (answer, calls) = counted(bench, emulator.invoke(event.clone())).await;
        let answer = answer?;
        if !stored(function, &answer) {
            return Err(format!("new event answered {:?}", answer_body(&answer)));
        }
        rows.push(("new event".to_owned(), calls));
        let (answer, calls) = counted(bench, emulator.invoke(event)).await;
        rows.push((format!("duplicate (answer {})", short(&answer?)), calls));
        if matches!(function, Function::Postback | Function::PythonPostback) {
            let (answer, calls) = counted(bench, emulator.invoke(bench.events.test_push_event())).await;
            rows.push((format!("review test push (answer {})", short(&answer?)), calls));
        }
        Ok(rows)
    }
    .await;
    emulator.stop();
    result
}

/// What `work` answered and the DynamoDB requests made while it ran.
pub async fn counted<T>(bench: &Bench, work: impl Future<Output = T>) -> (T, Calls) {
    let before = bench.proxy.calls();
    let out = work.await;
    (out, calls_between(&before, &bench.proxy.calls()))
}

fn short(answer: &[u8]) -> String {
    let body = answer_body(answer);
    if body.len() <= 3 {
        body
    } else {
        status_of(answer)
            .map(|s| format!("HTTP {s}"))
            .unwrap_or_else(|| "?".into())
    }
}
