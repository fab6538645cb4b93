//! The publisher's settings (`EVENT_BUS_NAME`, `PUBLISHER_*`), read from the environment.

use std::time::Duration;

use super::publish::RetrySettings;
use crate::config::{ConfigError, from_process_env, number, required};
use crate::store::StoreConfig;

/// Settings of the publisher function (the hand-off).
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// The SDK's timeouts and trust roots (`DYNAMODB_*`): the publisher shares the bundle's.
    pub store: StoreConfig,
    /// `EVENT_BUS_NAME`: the bus the events go to (the template's `<stack>-orders`).
    pub bus_name: String,
    /// `PUBLISHER_MAX_ATTEMPTS` (default 4) and `PUBLISHER_BACKOFF_BASE_MS` (default 100): how
    /// often an entry the bus refused is tried within one invocation, with doubling pauses.
    pub retry: RetrySettings,
    /// `PUBLISHER_DEADLINE_MARGIN_MS` (default 5000): the publisher stops sending this long before
    /// the invocation's deadline, so it sets poison aside and answers the partial failure before
    /// Lambda's timeout would fail the whole batch.
    pub deadline_margin: Duration,
}

impl PublisherConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let attempts: u32 = number(env, "PUBLISHER_MAX_ATTEMPTS", 4)?;
        if attempts == 0 {
            return Err(ConfigError::Invalid {
                name: "PUBLISHER_MAX_ATTEMPTS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            store: StoreConfig::from_lookup(env)?,
            bus_name: required(env, "EVENT_BUS_NAME")?,
            retry: RetrySettings {
                attempts,
                first_pause: Duration::from_millis(number(env, "PUBLISHER_BACKOFF_BASE_MS", 100)?),
            },
            deadline_margin: Duration::from_millis(number(env, "PUBLISHER_DEADLINE_MARGIN_MS", 5_000)?),
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
    fn the_bus_is_required_and_retries_bounded() {
        let base = [("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "partner-ingest-orders")];
        let c = PublisherConfig::from_lookup(&lookup(&base)).unwrap();
        assert_eq!(c.bus_name, "partner-ingest-orders");
        assert_eq!(c.retry.attempts, 4);
        assert_eq!(c.deadline_margin, Duration::from_secs(5));
        assert_eq!(
            PublisherConfig::from_lookup(&lookup(&[("TABLE_NAME", "t")])).unwrap_err(),
            ConfigError::Missing {
                name: "EVENT_BUS_NAME"
            }
        );
        let mut zero = base.to_vec();
        zero.push(("PUBLISHER_MAX_ATTEMPTS", "0"));
        assert!(PublisherConfig::from_lookup(&lookup(&zero)).is_err());
    }
}
