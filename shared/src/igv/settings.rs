//! The callback function's settings (`CALLBACK_*`), read from the environment.

use std::time::Duration;

use crate::config::{ConfigError, from_process_env, number, secrets, ttl_outlives_window};
use crate::refused::KeepRefused;
use crate::secret::SecretList;
use crate::store::StoreConfig;

/// Default body limit of the callback: the documented body is about 150 bytes.
pub const DEFAULT_CALLBACK_MAX_BODY_BYTES: usize = 16 * 1024;
/// Default replay window of the callback: 72 hours (see the README for why).
pub const DEFAULT_CALLBACK_MAX_AGE_SECONDS: u64 = 72 * 3600;

/// Settings of the iGV order status callback function.
#[derive(Debug, Clone)]
pub struct CallbackConfig {
    pub store: StoreConfig,
    /// `CALLBACK_HMAC_SECRETS` (or `CALLBACK_HMAC_SECRETS_ARN`): comma-separated iGV secret keys;
    /// a callback signed with any one is accepted.
    pub secrets: SecretList,
    /// `CALLBACK_MAX_AGE_SECONDS` (default 259200 = 72 h; 0 disables): how far `X-Timestamp` may be
    /// from now, in either direction.
    pub max_age: Option<Duration>,
    /// `CALLBACK_MAX_BODY_BYTES` (default 16384): larger bodies are refused with 413.
    pub max_body_bytes: usize,
    /// `REFUSED_KEEP_*`: how callbacks refused for their signature, window or secret are kept to
    /// be re-run (see [`crate::refused`]).
    pub refused: KeepRefused,
}

impl CallbackConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let max_age: u64 = number(env, "CALLBACK_MAX_AGE_SECONDS", DEFAULT_CALLBACK_MAX_AGE_SECONDS)?;
        let max_age = (max_age > 0).then(|| Duration::from_secs(max_age));
        let store = StoreConfig::from_lookup(env)?;
        ttl_outlives_window(store.record_ttl_days, max_age, "CALLBACK_MAX_AGE_SECONDS")?;
        Ok(Self {
            store,
            secrets: secrets(env, "CALLBACK_HMAC_SECRETS", "CALLBACK_HMAC_SECRETS_ARN")?,
            max_age,
            max_body_bytes: number(env, "CALLBACK_MAX_BODY_BYTES", DEFAULT_CALLBACK_MAX_BODY_BYTES)?,
            refused: KeepRefused::from_lookup(env)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&from_process_env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lookup;

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
}
