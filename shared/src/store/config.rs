//! The store's settings (`TABLE_NAME`, `RECORD_TTL_DAYS`, `DYNAMODB_*`), read from the environment.

use std::time::Duration;

use crate::config::{ConfigError, number, required};
use crate::tls::TrustRoots;

/// Settings every function shares: where the data lives and how long DynamoDB may take.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `TABLE_NAME`: the single DynamoDB table of the bundle.
    pub table_name: String,
    /// `RECORD_TTL_DAYS` (default 0 = keep forever): raw push/callback records expire this many days
    /// after they were received. Order views and settlement data never expire.
    pub record_ttl_days: u32,
    /// `DYNAMODB_ATTEMPT_TIMEOUT_MS` (default 2000): one DynamoDB HTTP attempt.
    pub attempt_timeout: Duration,
    /// `DYNAMODB_OPERATION_TIMEOUT_MS` (default 5000): one DynamoDB operation including SDK retries.
    /// Must stay below the function's own timeout so a slow DynamoDB yields a failure answer
    /// (and a partner retry) rather than a silently killed invocation.
    pub operation_timeout: Duration,
    /// `DYNAMODB_TLS_ROOTS` (`amazon`, `system`; default: `amazon` for AWS's endpoint, `system`
    /// when `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` names another): the certificates the
    /// DynamoDB client trusts (see [`crate::tls`]).
    pub tls_roots: TrustRoots,
}

impl StoreConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = required(env, "TABLE_NAME")?;
        let attempt_ms: u64 = number(env, "DYNAMODB_ATTEMPT_TIMEOUT_MS", 2000)?;
        let operation_ms: u64 = number(env, "DYNAMODB_OPERATION_TIMEOUT_MS", 5000)?;
        if attempt_ms == 0 || operation_ms == 0 {
            return Err(ConfigError::Invalid {
                name: "DYNAMODB_OPERATION_TIMEOUT_MS",
                reason: "timeouts must be greater than zero".into(),
            });
        }
        let tls_roots = match env("DYNAMODB_TLS_ROOTS").map(|v| v.trim().to_ascii_lowercase()) {
            None => TrustRoots::for_endpoint(env),
            Some(v) if v == "amazon" => TrustRoots::AmazonTrustServices,
            Some(v) if v == "system" => TrustRoots::System,
            Some(v) => {
                return Err(ConfigError::Invalid {
                    name: "DYNAMODB_TLS_ROOTS",
                    reason: format!("expected amazon or system, got {v:?}"),
                });
            }
        };
        Ok(Self {
            table_name,
            record_ttl_days: number(env, "RECORD_TTL_DAYS", 0)?,
            attempt_timeout: Duration::from_millis(attempt_ms),
            operation_timeout: Duration::from_millis(operation_ms),
            tls_roots,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup;

    #[test]
    fn tls_roots_follow_the_endpoint_unless_set() {
        let base = [("TABLE_NAME", "t")];
        let roots = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            StoreConfig::from_lookup(&lookup(&pairs)).map(|c| c.tls_roots)
        };
        assert_eq!(roots(&[]), Ok(TrustRoots::AmazonTrustServices));
        assert_eq!(
            roots(&[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")]),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            roots(&[
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
                ("DYNAMODB_TLS_ROOTS", "amazon")
            ]),
            Ok(TrustRoots::AmazonTrustServices)
        );
        assert_eq!(roots(&[("DYNAMODB_TLS_ROOTS", "System")]), Ok(TrustRoots::System));
        assert!(matches!(
            roots(&[("DYNAMODB_TLS_ROOTS", "all")]),
            Err(ConfigError::Invalid {
                name: "DYNAMODB_TLS_ROOTS",
                ..
            })
        ));
    }
}
