//! Lambda entry point of the iGV Order Status Callback.
//!
//! Builds configuration, the DynamoDB client and the secrets (read from Secrets Manager when
//! configured by ARN) once per cold start; every request goes to
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
    let sdk = shared::aws::sdk_config(&config.store).await;
    let client = shared::aws::dynamodb(&sdk);
    let sdk_init = sdk_started.elapsed();
    // A secret from Secrets Manager is read now; one that cannot be read is logged (by ARN) and
    // every request answers failure (the partner retries) until it can.
    let secrets_started = std::time::Instant::now();
    shared::aws::connect_secrets(&sdk, &[&config.secrets]).await;
    let secrets_init = secrets_started.elapsed();
    let callback = Callback::new(Store::from_config(client, &config.store), &config);
    let callback = &callback;
    shared::logging::initialised("callback", started, sdk_init, secrets_init);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(callback.handle(request).await)
    }))
    .await
}
