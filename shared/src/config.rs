//! Configuration, read only from environment variables (documented in the README).
//!
//! Every reader takes a lookup function so it can be tested without touching the process
//! environment; [`from_process_env`] is the one used by the functions.

use std::time::Duration;

use crate::secret::{Secret, parse_secret_list};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: &'static str },
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Looks a variable up in the process environment (unset and empty are the same).
pub fn from_process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(env: &dyn Fn(&str) -> Option<String>, name: &'static str) -> Result<String, ConfigError> {
    env(name)
        .map(|v| v.trim().to_owned())
        .ok_or(ConfigError::Missing { name })
}

fn number<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match env(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            reason: format!("expected a non-negative whole number, got {v:?}"),
        }),
    }
}

fn secrets(env: &dyn Fn(&str) -> Option<String>, name: &'static str) -> Result<Vec<Secret>, ConfigError> {
    let list = parse_secret_list(&required(env, name)?);
    if list.is_empty() {
        return Err(ConfigError::Invalid {
            name,
            reason: "the list holds no secret".into(),
        });
    }
    Ok(list)
}

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
        Ok(Self {
            table_name,
            record_ttl_days: number(env, "RECORD_TTL_DAYS", 0)?,
            attempt_timeout: Duration::from_millis(attempt_ms),
            operation_timeout: Duration::from_millis(operation_ms),
        })
    }
}

/// Default body limit of the postback: a push carries one order, a few KiB at most.
pub const DEFAULT_POSTBACK_MAX_BODY_BYTES: usize = 64 * 1024;

/// Settings of the Linkbest postback function.
#[derive(Debug, Clone)]
pub struct PostbackConfig {
    pub store: StoreConfig,
    /// `LINKBEST_POSTBACK_TOKENS`: comma-separated postback tokens; a push signed with any one is accepted.
    pub tokens: Vec<Secret>,
    /// `POSTBACK_MAX_BODY_BYTES` (default 65536): larger bodies are refused with `-1` before parsing.
    pub max_body_bytes: usize,
}

impl PostbackConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(env)?,
            tokens: secrets(env, "LINKBEST_POSTBACK_TOKENS")?,
            max_body_bytes: number(env, "POSTBACK_MAX_BODY_BYTES", DEFAULT_POSTBACK_MAX_BODY_BYTES)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&from_process_env)
    }
}

/// Default body limit of the callback: the documented body is about 150 bytes.
pub const DEFAULT_CALLBACK_MAX_BODY_BYTES: usize = 16 * 1024;
/// Default replay window of the callback: 72 hours (see the README for why).
pub const DEFAULT_CALLBACK_MAX_AGE_SECONDS: u64 = 72 * 3600;

/// Settings of the iGV order status callback function.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub store: StoreConfig,
    /// `CALLBACK_HMAC_SECRETS`: comma-separated iGV secret keys; a callback signed with any one is accepted.
    pub secrets: Vec<Secret>,
    /// `CALLBACK_MAX_AGE_SECONDS` (default 259200 = 72 h; 0 disables): how far `X-Timestamp` may be
    /// from now, in either direction.
    pub max_age: Option<Duration>,
    /// `CALLBACK_MAX_BODY_BYTES` (default 16384): larger bodies are refused with 413.
    pub max_body_bytes: usize,
}

impl CallbackConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let max_age: u64 = number(env, "CALLBACK_MAX_AGE_SECONDS", DEFAULT_CALLBACK_MAX_AGE_SECONDS)?;
        Ok(Self {
            store: StoreConfig::from_lookup(env)?,
            secrets: secrets(env, "CALLBACK_HMAC_SECRETS")?,
            max_age: (max_age > 0).then(|| Duration::from_secs(max_age)),
            max_body_bytes: number(env, "CALLBACK_MAX_BODY_BYTES", DEFAULT_CALLBACK_MAX_BODY_BYTES)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&from_process_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn postback_defaults() {
        let env = lookup(&[("TABLE_NAME", "t"), ("LINKBEST_POSTBACK_TOKENS", "a,b")]);
        let c = PostbackConfig::from_lookup(&env).unwrap();
        assert_eq!(c.store.table_name, "t");
        assert_eq!(c.tokens.len(), 2);
        assert_eq!(c.max_body_bytes, 65536);
        assert_eq!(c.store.record_ttl_days, 0);
        assert_eq!(c.store.operation_timeout, Duration::from_secs(5));
    }

    #[test]
    fn missing_and_invalid_values_are_named() {
        let env = lookup(&[("TABLE_NAME", "t")]);
        assert_eq!(
            PostbackConfig::from_lookup(&env).unwrap_err(),
            ConfigError::Missing {
                name: "LINKBEST_POSTBACK_TOKENS"
            }
        );
        let env = lookup(&[("TABLE_NAME", "t"), ("LINKBEST_POSTBACK_TOKENS", " , ")]);
        assert!(matches!(
            PostbackConfig::from_lookup(&env).unwrap_err(),
            ConfigError::Invalid {
                name: "LINKBEST_POSTBACK_TOKENS",
                ..
            }
        ));
        let env = lookup(&[
            ("TABLE_NAME", "t"),
            ("LINKBEST_POSTBACK_TOKENS", "a"),
            ("POSTBACK_MAX_BODY_BYTES", "lots"),
        ]);
        assert!(matches!(
            PostbackConfig::from_lookup(&env).unwrap_err(),
            ConfigError::Invalid {
                name: "POSTBACK_MAX_BODY_BYTES",
                ..
            }
        ));
    }

    #[test]
    fn callback_defaults_and_a_disabled_window() {
        let env = lookup(&[("TABLE_NAME", "t"), ("CALLBACK_HMAC_SECRETS", "s1")]);
        let c = CallbackConfig::from_lookup(&env).unwrap();
        assert_eq!(c.max_age, Some(Duration::from_secs(259_200)));
        assert_eq!(c.max_body_bytes, 16_384);
        let env = lookup(&[
            ("TABLE_NAME", "t"),
            ("CALLBACK_HMAC_SECRETS", "s1"),
            ("CALLBACK_MAX_AGE_SECONDS", "0"),
        ]);
        assert_eq!(CallbackConfig::from_lookup(&env).unwrap().max_age, None);
        let env = lookup(&[("TABLE_NAME", "t")]);
        assert_eq!(
            CallbackConfig::from_lookup(&env).unwrap_err(),
            ConfigError::Missing {
                name: "CALLBACK_HMAC_SECRETS"
            }
        );
    }

    #[test]
    fn config_debug_never_shows_tokens() {
        let env = lookup(&[("TABLE_NAME", "t"), ("LINKBEST_POSTBACK_TOKENS", "sekrit-token")]);
        let c = PostbackConfig::from_lookup(&env).unwrap();
        assert!(!format!("{c:?}").contains("sekrit-token"));
    }
}
