//! Lambda entry point of the Linkbest postback (Order Push 2.0).
//!
//! Builds configuration, the DynamoDB client and the secrets (read from Secrets Manager when
//! configured by ARN) once per cold start; every request goes to
//! `shared::linkbest::postback::Postback::handle`, which always answers HTTP 200 with `1`, `0` or `-1`.

use lambda_http::{Error, Request, run, service_fn};
use shared::config::PostbackConfig;
use shared::linkbest::postback::Postback;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = PostbackConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "postback", error = %e, "configuration invalid; refusing to start");
    })?;
    let sdk_started = std::time::Instant::now();
    let sdk = shared::aws::sdk_config(&config.store).await;
    let client = shared::aws::dynamodb(&sdk);
    let sdk_init = sdk_started.elapsed();
    // A secret from Secrets Manager is read now; one that cannot be read is logged (by ARN) and
    // every request answers failure (the partner retries) until it can.
    let secrets_started = std::time::Instant::now();
    shared::aws::connect_secrets(&sdk, &[&config.tokens]).await;
    let secrets_init = secrets_started.elapsed();
    let postback = Postback::new(Store::from_config(client, &config.store), &config);
    let postback = &postback;
    shared::logging::initialised("postback", started, sdk_init, secrets_init);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(postback.handle(request).await)
    }))
    .await
}
