//! The floor of the bench's cold-start figures: the smallest useful `lambda_runtime` function. It
//! answers each event with the event itself. Built in release with the workspace's profile, run
//! under the same Runtime Interface Emulator as the functions; its init is what any Rust function
//! pays before doing anything of its own.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
