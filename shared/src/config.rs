//! Reading the environment: the only source of configuration (every variable is in the README).
//!
//! Each module owns its settings and reads them with these helpers (`store::StoreConfig`,
//! `linkbest::settings`, `igv::settings`); this module knows none of them. Every reader takes a
//! lookup function so it can be tested without touching the process environment;
//! [`from_process_env`] is the one used by the functions.

use std::time::Duration;

use crate::secret::{SecretList, SecretSetting, parse_secret_list};

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

pub(crate) fn required(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    env(name)
        .map(|v| v.trim().to_owned())
        .ok_or(ConfigError::Missing { name })
}

pub(crate) fn number<T: std::str::FromStr>(
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

/// Default of `SECRETS_REFRESH_SECONDS`: how often a secret from Secrets Manager is read again.
pub const DEFAULT_SECRETS_REFRESH_SECONDS: u64 = 300;

/// A list of secrets from the variable `name` (the value itself, comma-separated) or from
/// `arn_name` (a Secrets Manager secret's ARN or name, read at init and every
/// `SECRETS_REFRESH_SECONDS`). Exactly one of the two must be set.
pub(crate) fn secrets(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    arn_name: &'static str,
) -> Result<SecretList, ConfigError> {
    let setting = match (env(name), env(arn_name)) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                name: arn_name,
                reason: format!("set either {name} or {arn_name}, not both"),
            });
        }
        (None, None) => return Err(ConfigError::Missing { name }),
        (Some(value), None) => {
            let list = parse_secret_list(&value);
            if list.is_empty() {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "the list holds no secret".into(),
                });
            }
            SecretSetting::Plain(list)
        }
        (None, Some(id)) => SecretSetting::SecretsManager {
            id: id.trim().to_owned(),
            refresh: Duration::from_secs(number(
                env,
                "SECRETS_REFRESH_SECONDS",
                DEFAULT_SECRETS_REFRESH_SECONDS,
            )?),
        },
    };
    Ok(SecretList::from_setting(name, &setting))
}

/// A non-negative number of seconds (a negative safety lag would read the future and move the
/// checkpoint past rows not yet written; a negative overlap would leave gaps).
pub(crate) fn seconds(
    env: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    let value: u64 = number(env, name, default.max(0) as u64)?;
    i64::try_from(value).map_err(|_| ConfigError::Invalid {
        name,
        reason: "too large".into(),
    })
}

/// A record TTL must outlive the window in which a delivery can still arrive (the replay window),
/// or a retry after the record expired would be stored a second time.
pub(crate) fn ttl_outlives_window(
    record_ttl_days: u32,
    window: Option<Duration>,
    window_name: &'static str,
) -> Result<(), ConfigError> {
    if record_ttl_days == 0 {
        return Ok(());
    }
    let ttl = Duration::from_secs(u64::from(record_ttl_days) * 86_400);
    match window {
        Some(window) if ttl >= window => Ok(()),
        _ => Err(ConfigError::Invalid {
            name: "RECORD_TTL_DAYS",
            reason: format!(
                "records would expire before {window_name} lets a repeat of them in \
                 (set a TTL of at least the window, or a window; 0 keeps records for ever)"
            ),
        }),
    }
}

/// A lookup over fixed pairs, for the settings' tests.
#[cfg(test)]
pub(crate) fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}
