//! Lambda entry point of the Linkbest postback (Order Push 2.0).
//!
//! Builds configuration, the DynamoDB client and the secrets (read from Secrets Manager when
//! configured by ARN) once per cold start; every request goes to
//! `shared::linkbest::postback::Postback::handle`, which always answers HTTP 200 with `1`, `0` or `-1`.

use lambda_http::{Error, Request, run, service_fn};
use shared::linkbest::postback::Postback;
use shared::linkbest::settings::PostbackConfig;
use shared::store::Store;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::logging::init();
    let config = PostbackConfig::from_env().inspect_err(|e| {
        tracing::error!(target: "postback", error = %e, "configuration invalid; refusing to start");
    })?;
    // The tokens from Secrets Manager are read now; if they cannot be, that is logged (by ARN)
    // and every push is answered -1 (the partner retries) until they can.
    let aws = shared::aws::cold_start(&config.store, &[&config.tokens]).await;
    let postback = Postback::new(Store::from_config(aws.dynamodb, &config.store), &config);
    let postback = &postback;
    shared::logging::initialised("postback", started, aws.sdk_init, aws.secrets_init);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(postback.handle(request).await)
    }))
    .await
}
