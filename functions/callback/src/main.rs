//! Lambda entry point of the iGV Order Status Callback.
//!
//! Builds configuration, the DynamoDB client and the secrets (read from Secrets Manager when
//! configured by ARN) once per cold start; every request goes to
//! `shared::igv::callback::Callback::handle`, which answers 200 only after a confirmed write.

use lambda_http::{Error, Request, run, service_fn};
use shared::igv::callback::Callback;
use shared::igv::settings::CallbackConfig;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = CallbackConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "callback", error = %e, "configuration invalid; refusing to start");
    })?;
    // The keys from Secrets Manager are read now; if they cannot be, that is logged (by ARN) and
    // every callback is answered 500 (iGV retries) until they can.
    let aws = shared::aws::cold_start(&config.store, &[&config.secrets]).await;
    let callback = Callback::new(Store::from_config(aws.dynamodb, &config.store), &config);
    let callback = &callback;
    shared::logging::initialised("callback", started, aws.sdk_init, aws.secrets_init);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(callback.handle(request).await)
    }))
    .await
}
