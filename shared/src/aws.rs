//! The AWS clients (DynamoDB; Secrets Manager when a secret is read from it), built once per cold
//! start from one SDK configuration.

use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_sdk_dynamodb::Client;

use crate::secret::{SecretError, SecretList};
use crate::store::StoreConfig;
use crate::tls::{TrustRoots, sdk_https_client};

/// Builds the DynamoDB client from a given loader (tests point it at their own server) with the
/// configured timeouts.
pub async fn dynamodb_client_from(loader: ConfigLoader, config: &StoreConfig) -> Client {
    Client::new(&sdk_config_from(loader, config).await)
}

/// The SDK configuration of a function (region, credentials, endpoints from the environment) with
/// the configured timeouts and the bundle's HTTPS client.
pub async fn sdk_config(config: &StoreConfig) -> SdkConfig {
    sdk_config_from(aws_config::defaults(BehaviorVersion::latest()), config).await
}

/// [`sdk_config`] from a given loader.
pub async fn sdk_config_from(loader: ConfigLoader, config: &StoreConfig) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(config.attempt_timeout)
        .operation_attempt_timeout(config.attempt_timeout)
        .operation_timeout(config.operation_timeout)
        .build();
    loader
        .timeout_config(timeouts)
        .http_client(sdk_https_client(config.tls_roots))
        .load()
        .await
}

/// What a function builds once per cold start, and how long each part took (for the
/// `initialised` log line, `shared::logging::initialised`).
pub struct ColdStart {
    /// The SDK configuration the clients were built from (for a function's other clients).
    pub sdk: SdkConfig,
    pub dynamodb: Client,
    /// Building the SDK configuration and the DynamoDB client.
    pub sdk_init: Duration,
    /// Reading the secrets configured by ARN (next to nothing for plain variables).
    pub secrets_init: Duration,
}

/// The cold-start sequence of every function: the SDK configuration from the environment with the
/// configured timeouts (so a slow or unreachable DynamoDB turns into a failure answer well before
/// the function's own deadline), the DynamoDB client, and each of the function's secret lists read
/// now (see [`connect_secrets`]: one that cannot be read is logged by ARN, and every request answers
/// its protocol's failure until it can be read).
pub async fn cold_start(store: &StoreConfig, secrets: &[&SecretList]) -> ColdStart {
    let sdk_started = Instant::now();
    let sdk = sdk_config(store).await;
    let dynamodb = Client::new(&sdk);
    let sdk_init = sdk_started.elapsed();
    let secrets_started = Instant::now();
    connect_secrets(&sdk, secrets).await;
    ColdStart {
        sdk,
        dynamodb,
        sdk_init,
        secrets_init: secrets_started.elapsed(),
    }
}

/// Reads every list that comes from Secrets Manager now, at init, with one client built only if
/// one is needed (`AWS_ENDPOINT_URL_SECRETS_MANAGER` points it at a local stand-in). A list that
/// cannot be read is logged by name and ARN (never a value) and keeps trying when used; the
/// errors are returned for the start-up log line.
pub async fn connect_secrets(sdk: &SdkConfig, lists: &[&SecretList]) -> Vec<SecretError> {
    let mut client = None::<aws_sdk_secretsmanager::Client>;
    let mut errors = Vec::new();
    for list in lists.iter().filter(|l| l.needs_client()) {
        let made = client
            .get_or_insert_with(|| aws_sdk_secretsmanager::Client::new(sdk))
            .clone();
        if let Err(e) = list.connect(|| made).await {
            errors.push(e);
        }
    }
    errors
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
