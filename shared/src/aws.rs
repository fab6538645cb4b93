//! The DynamoDB client, built once per cold start.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_dynamodb::Client;

use crate::config::StoreConfig;
use crate::tls::{TrustRoots, sdk_https_client};

/// Builds the DynamoDB client from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL_DYNAMODB` for a local server) with the configured timeouts, so a slow or
/// unreachable DynamoDB turns into a failure answer well before the function's own deadline.
pub async fn dynamodb_client(config: &StoreConfig) -> Client {
    dynamodb_client_from(aws_config::defaults(BehaviorVersion::latest()), config).await
}

/// Builds the DynamoDB client from a given loader (tests point it at their own server) with the
/// configured timeouts.
pub async fn dynamodb_client_from(loader: ConfigLoader, config: &StoreConfig) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.attempt_timeout)
        .operation_attempt_timeout(config.attempt_timeout)
        .operation_timeout(config.operation_timeout)
        .build();
    let loader = loader
        .timeout_config(timeouts)
        .http_client(sdk_https_client(config.tls_roots));
    Client::new(&loader.load().await)
}

/// A DynamoDB client from the environment with the SDK's own timeouts, for tools that are not
/// functions (the ops command, local table set-up, the load test).
/// The bundle's HTTPS client is always given: without the SDK's default client feature, a config
/// without one cannot send anything.
pub async fn default_dynamodb_client() -> Client {
    let roots = TrustRoots::for_endpoint(&crate::config::from_process_env);
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(sdk_https_client(roots));
    Client::new(&loader.load().await)
}
