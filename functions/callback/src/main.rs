//! Lambda entry point of the iGV Order Status Callback.
//!
//! Builds configuration and the DynamoDB client once per cold start; every request goes to
//! `shared::igv::callback::Callback::handle`, which answers 200 only after a confirmed write.

use lambda_http::{Error, Request, run, service_fn};
use shared::config::CallbackConfig;
use shared::igv::callback::Callback;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = CallbackConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "callback", error = %e, "configuration invalid; refusing to start");
    })?;
    let sdk_started = std::time::Instant::now();
    let client = shared::aws::dynamodb_client(&config.store).await;
    let sdk_init = sdk_started.elapsed();
    let callback = Callback::new(Store::from_config(client, &config.store), &config);
    let callback = &callback;
    shared::logging::initialised("callback", started, sdk_init);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(callback.handle(request).await)
    }))
    .await
}
