//! Lambda entry point of the Linkbest postback (Order Push 2.0).
//!
//! Builds configuration and the DynamoDB client once per cold start; every request goes to
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
    let client = shared::aws::dynamodb_client(&config.store).await;
    let sdk_init = sdk_started.elapsed();
    let postback = Postback::new(Store::from_config(client, &config.store), &config);
    let postback = &postback;
    shared::logging::initialised("postback", started, sdk_init);
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(postback.handle(request).await)
    }))
    .await
}
