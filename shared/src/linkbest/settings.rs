//! Linkbest's settings, read from the environment: the postback function's (`POSTBACK_*`,
//! `LINKBEST_POSTBACK_TOKENS`) and linkbest-sync's (`LINKBEST_*`, `SETTLEMENT_*`, `ORDERS_*`,
//! `SYNC_*`), with the open API's limits they are checked against.

use std::time::Duration;

use super::api::{DEFAULT_BASE_URL, MAX_PAGE_SIZE, MAX_WINDOW_SECONDS};
use super::client::RetrySettings;
use crate::config::{ConfigError, from_process_env, number, required, seconds, secrets, ttl_outlives_window};
use crate::feed::FeedSettings;
use crate::feed::windows::WindowSettings;
use crate::refused::KeepRefused;
use crate::secret::SecretList;
use crate::store::StoreConfig;

/// Default body limit of the postback: a push carries one order, a few KiB at most.
pub const DEFAULT_POSTBACK_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default of `POSTBACK_CREATE_TIME_WINDOW_SECONDS`: a push's `CreateTime` may be one day from
/// now either way (the retries span ~45 minutes; a day also absorbs an 8-hour time-zone slip in
/// Linkbest's epochs, which the `PushClockSkew` metric would show).
pub const DEFAULT_POSTBACK_CREATE_TIME_WINDOW_SECONDS: u64 = 86_400;
/// The shortest window accepted: Linkbest's push retry horizon with margin (a shorter one would
/// refuse genuine retries).
pub const MIN_POSTBACK_CREATE_TIME_WINDOW_SECONDS: u64 = LINKBEST_PUSH_HORIZON_SECONDS as u64;

/// Settings of the Linkbest postback function.
#[derive(Debug, Clone)]
pub struct PostbackConfig {
    pub store: StoreConfig,
    /// `LINKBEST_POSTBACK_TOKENS` (or `LINKBEST_POSTBACK_TOKENS_ARN`, a Secrets Manager secret
    /// holding the same text): comma-separated postback tokens; a push signed with any one is
    /// accepted.
    pub tokens: SecretList,
    /// `POSTBACK_MAX_BODY_BYTES` (default 65536): larger bodies are refused with `-1` before parsing.
    pub max_body_bytes: usize,
    /// `POSTBACK_CREATE_TIME_WINDOW_SECONDS` (default 86400; at least 3000; 0 disables, for the
    /// fixed sample events of local runs): how far a push's `CreateTime` may be from now, either
    /// way. A push outside answers `-1` (counted `PushesOutOfWindow`); the review's test push is
    /// exempt (it is never stored).
    pub create_time_window: Option<Duration>,
    /// `REFUSED_KEEP_*`: how pushes refused for their signature, window or token are kept to be
    /// re-run (see [`crate::refused`]).
    pub refused: KeepRefused,
}

impl PostbackConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let window: u64 = number(
            env,
            "POSTBACK_CREATE_TIME_WINDOW_SECONDS",
            DEFAULT_POSTBACK_CREATE_TIME_WINDOW_SECONDS,
        )?;
        if window != 0 && window < MIN_POSTBACK_CREATE_TIME_WINDOW_SECONDS {
            return Err(ConfigError::Invalid {
                name: "POSTBACK_CREATE_TIME_WINDOW_SECONDS",
                reason: format!(
                    "must be 0 (off) or at least {MIN_POSTBACK_CREATE_TIME_WINDOW_SECONDS} \
                     (Linkbest retries a push for ~45 minutes)"
                ),
            });
        }
        let create_time_window = (window > 0).then(|| Duration::from_secs(window));
        let store = StoreConfig::from_lookup(env)?;
        ttl_outlives_window(
            store.record_ttl_days,
            create_time_window,
            "POSTBACK_CREATE_TIME_WINDOW_SECONDS",
        )?;
        Ok(Self {
            store,
            tokens: secrets(env, "LINKBEST_POSTBACK_TOKENS", "LINKBEST_POSTBACK_TOKENS_ARN")?,
            max_body_bytes: number(env, "POSTBACK_MAX_BODY_BYTES", DEFAULT_POSTBACK_MAX_BODY_BYTES)?,
            create_time_window,
            refused: KeepRefused::from_lookup(env)?,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&from_process_env)
    }
}

/// The environment variables of one feed's paging settings.
#[derive(Debug, Clone, Copy)]
pub struct FeedVars {
    pub page_size: &'static str,
    pub window: &'static str,
    pub overlap: &'static str,
    pub safety_lag: &'static str,
    pub initial_lookback: &'static str,
}

/// Linkbest Order Push 2.0 gives up on a push after its fourth retry, about 45 minutes after the
/// first attempt (NOTES.md); with five minutes of margin, the orders feed's default safety lag.
pub const LINKBEST_PUSH_HORIZON_SECONDS: i64 = 50 * 60;

/// `SETTLEMENT_*`: the settlement feed.
pub const SETTLEMENT_VARS: FeedVars = FeedVars {
    page_size: "SETTLEMENT_PAGE_SIZE",
    window: "SETTLEMENT_WINDOW_SECONDS",
    overlap: "SETTLEMENT_OVERLAP_SECONDS",
    safety_lag: "SETTLEMENT_SAFETY_LAG_SECONDS",
    initial_lookback: "SETTLEMENT_INITIAL_LOOKBACK_SECONDS",
};

/// `ORDERS_*`: the orders feed.
pub const ORDERS_VARS: FeedVars = FeedVars {
    page_size: "ORDERS_PAGE_SIZE",
    window: "ORDERS_WINDOW_SECONDS",
    overlap: "ORDERS_OVERLAP_SECONDS",
    safety_lag: "ORDERS_SAFETY_LAG_SECONDS",
    initial_lookback: "ORDERS_INITIAL_LOOKBACK_SECONDS",
};

/// The defaults of a Linkbest feed: pages of 200 (the most the API serves), one-day windows,
/// re-reading an hour before the checkpoint, the first run a day back, and `safety_lag` behind
/// now. No limit on the pages of a window: runs resume where the last stopped, and an offset page
/// equal to the one before fails the run (a source ignoring `Page`).
pub fn linkbest_feed_defaults(safety_lag: i64) -> FeedSettings {
    FeedSettings {
        page_size: MAX_PAGE_SIZE,
        windows: WindowSettings {
            max_span: MAX_WINDOW_SECONDS,
            overlap: 3_600,
            safety_lag,
            initial_lookback: MAX_WINDOW_SECONDS,
        },
    }
}

/// One feed's paging settings from `vars`, `defaults` where unset.
pub fn feed_settings(
    env: &dyn Fn(&str) -> Option<String>,
    vars: &FeedVars,
    defaults: FeedSettings,
) -> Result<FeedSettings, ConfigError> {
    let page_size: u32 = number(env, vars.page_size, defaults.page_size)?;
    if page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ConfigError::Invalid {
            name: vars.page_size,
            reason: format!("must be 1 to {MAX_PAGE_SIZE}"),
        });
    }
    let max_span: i64 = number(env, vars.window, defaults.windows.max_span)?;
    if !(1..=MAX_WINDOW_SECONDS).contains(&max_span) {
        return Err(ConfigError::Invalid {
            name: vars.window,
            reason: format!("must be 1 to {MAX_WINDOW_SECONDS} (the API refuses longer windows)"),
        });
    }
    Ok(FeedSettings {
        page_size,
        windows: WindowSettings {
            max_span,
            overlap: seconds(env, vars.overlap, defaults.windows.overlap)?,
            safety_lag: seconds(env, vars.safety_lag, defaults.windows.safety_lag)?,
            initial_lookback: seconds(env, vars.initial_lookback, defaults.windows.initial_lookback)?,
        },
    })
}

/// Settings of the linkbest-sync function (the scheduled pull of Linkbest's feeds).
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub store: StoreConfig,
    /// `LINKBEST_API_BASE_URL` (default `https://api.linkbest.com`).
    pub base_url: String,
    /// `LINKBEST_APP_KEY`.
    pub app_key: String,
    /// `LINKBEST_APP_SECRET` (or `LINKBEST_APP_SECRET_ARN`). Never logged. Linkbest has one valid
    /// app secret at a time: the first of a list is used.
    pub app_secret: SecretList,
    /// `SETTLEMENT_*`: the settlement feed (safety lag 300 s by default).
    pub settlement: FeedSettings,
    /// `ORDERS_*`: the orders feed (safety lag [`LINKBEST_PUSH_HORIZON_SECONDS`] by default, so
    /// every order it reads has had all its push attempts).
    pub orders: FeedSettings,
    /// `SYNC_DEADLINE_MARGIN_MS` (default 15000): a run stops starting new pages this long before
    /// the Lambda deadline.
    pub deadline_margin: Duration,
    /// `SYNC_FALLBACK_BUDGET_MS` (default 60000): how long a run may take when the runtime's
    /// deadline is not in the future (`cargo lambda watch` sends a fixed small number).
    pub fallback_budget: Duration,
    /// `LINKBEST_HTTP_TIMEOUT_MS` (10000), `LINKBEST_MAX_ATTEMPTS` (5), `LINKBEST_BACKOFF_BASE_MS`
    /// (500), `LINKBEST_BACKOFF_MAX_MS` (20000).
    pub retry: RetrySettings,
}

impl SyncConfig {
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let attempts: u32 = number(env, "LINKBEST_MAX_ATTEMPTS", 5)?;
        if attempts == 0 {
            return Err(ConfigError::Invalid {
                name: "LINKBEST_MAX_ATTEMPTS",
                reason: "must be at least 1".into(),
            });
        }
        let base_url = env("LINKBEST_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "LINKBEST_API_BASE_URL",
                reason: "must be an http(s) URL".into(),
            });
        }
        Ok(Self {
            store: StoreConfig::from_lookup(env)?,
            base_url,
            app_key: required(env, "LINKBEST_APP_KEY")?,
            app_secret: secrets(env, "LINKBEST_APP_SECRET", "LINKBEST_APP_SECRET_ARN")?,
            settlement: feed_settings(env, &SETTLEMENT_VARS, linkbest_feed_defaults(300))?,
            orders: feed_settings(
                env,
                &ORDERS_VARS,
                linkbest_feed_defaults(LINKBEST_PUSH_HORIZON_SECONDS),
            )?,
            deadline_margin: Duration::from_millis(number(env, "SYNC_DEADLINE_MARGIN_MS", 15_000)?),
            fallback_budget: Duration::from_millis(number(env, "SYNC_FALLBACK_BUDGET_MS", 60_000)?),
            retry: RetrySettings {
                max_attempts: attempts,
                base_backoff: Duration::from_millis(number(env, "LINKBEST_BACKOFF_BASE_MS", 500)?),
                max_backoff: Duration::from_millis(number(env, "LINKBEST_BACKOFF_MAX_MS", 20_000)?),
                request_timeout: Duration::from_millis(number(env, "LINKBEST_HTTP_TIMEOUT_MS", 10_000)?),
            },
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
    use crate::igv::settings::CallbackConfig;
    use crate::tls::TrustRoots;

    #[test]
    fn postback_defaults() {
        let env = lookup(&[("TABLE_NAME", "t"), ("LINKBEST_POSTBACK_TOKENS", "a,b")]);
        let c = PostbackConfig::from_lookup(&env).unwrap();
        assert_eq!(c.store.table_name, "t");
        assert_eq!(c.tokens.plain_len(), Some(2));
        assert_eq!(c.max_body_bytes, 65536);
        assert_eq!(c.store.record_ttl_days, 0);
        assert_eq!(c.store.operation_timeout, Duration::from_secs(5));
        assert_eq!(c.store.tls_roots, TrustRoots::AmazonTrustServices);
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
    fn sync_defaults_and_limits() {
        let base = [
            ("TABLE_NAME", "t"),
            ("LINKBEST_APP_KEY", "2312521"),
            ("LINKBEST_APP_SECRET", "app-secret"),
        ];
        let c = SyncConfig::from_lookup(&lookup(&base)).unwrap();
        assert_eq!(c.base_url, "https://api.linkbest.com");
        assert_eq!(c.settlement.page_size, 200);
        assert_eq!(c.settlement.windows, WindowSettings::default());
        assert_eq!(c.orders.windows.safety_lag, LINKBEST_PUSH_HORIZON_SECONDS);
        assert_eq!(c.orders.windows.overlap, 3_600);
        assert!(!format!("{c:?}").contains("app-secret"));
        let mut pairs = base.to_vec();
        pairs.extend([("ORDERS_PAGE_SIZE", "50"), ("SETTLEMENT_OVERLAP_SECONDS", "7200")]);
        let c = SyncConfig::from_lookup(&lookup(&pairs)).unwrap();
        assert_eq!(
            (c.orders.page_size, c.settlement.page_size),
            (50, 200),
            "each feed its own"
        );
        assert_eq!(
            (c.settlement.windows.overlap, c.orders.windows.overlap),
            (7_200, 3_600)
        );
        for (name, value) in [
            ("SETTLEMENT_PAGE_SIZE", "201"),
            ("ORDERS_PAGE_SIZE", "0"),
            ("SETTLEMENT_WINDOW_SECONDS", "86401"),
            ("ORDERS_WINDOW_SECONDS", "0"),
            ("LINKBEST_API_BASE_URL", "ftp://x"),
            ("LINKBEST_MAX_ATTEMPTS", "0"),
            ("ORDERS_SAFETY_LAG_SECONDS", "-60"),
            ("SETTLEMENT_SAFETY_LAG_SECONDS", "-1"),
            ("SETTLEMENT_OVERLAP_SECONDS", "-3600"),
            ("ORDERS_INITIAL_LOOKBACK_SECONDS", "-1"),
        ] {
            let mut pairs = base.to_vec();
            pairs.push((name, value));
            match SyncConfig::from_lookup(&lookup(&pairs)) {
                Err(ConfigError::Invalid { name: named, .. }) => assert_eq!(named, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_secret_comes_from_its_variable_or_from_secrets_manager_never_both() {
        let base = [("TABLE_NAME", "t")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            PostbackConfig::from_lookup(&lookup(&pairs))
        };
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:postback-AbCdEf";
        let c = with(&[("LINKBEST_POSTBACK_TOKENS_ARN", arn)]).unwrap();
        assert!(c.tokens.needs_client());
        assert_eq!(c.tokens.plain_len(), None);
        assert!(format!("{:?}", c.tokens).contains(arn));
        assert!(matches!(
            with(&[
                ("LINKBEST_POSTBACK_TOKENS", "a"),
                ("LINKBEST_POSTBACK_TOKENS_ARN", arn)
            ]),
            Err(ConfigError::Invalid {
                name: "LINKBEST_POSTBACK_TOKENS_ARN",
                ..
            })
        ));
        assert_eq!(
            with(&[]).unwrap_err(),
            ConfigError::Missing {
                name: "LINKBEST_POSTBACK_TOKENS"
            }
        );
        assert!(matches!(
            with(&[
                ("LINKBEST_POSTBACK_TOKENS_ARN", arn),
                ("SECRETS_REFRESH_SECONDS", "soon")
            ]),
            Err(ConfigError::Invalid {
                name: "SECRETS_REFRESH_SECONDS",
                ..
            })
        ));
    }

    #[test]
    fn the_push_create_time_window_and_record_ttls() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("TABLE_NAME", "t"), ("LINKBEST_POSTBACK_TOKENS", "a")];
            pairs.extend_from_slice(extra);
            PostbackConfig::from_lookup(&lookup(&pairs))
        };
        assert_eq!(
            with(&[]).unwrap().create_time_window,
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            with(&[("POSTBACK_CREATE_TIME_WINDOW_SECONDS", "0")])
                .unwrap()
                .create_time_window,
            None
        );
        for (name, value) in [
            ("POSTBACK_CREATE_TIME_WINDOW_SECONDS", "600"),
            ("POSTBACK_CREATE_TIME_WINDOW_SECONDS", "-1"),
        ] {
            assert!(
                matches!(with(&[(name, value)]), Err(ConfigError::Invalid { name: n, .. }) if n == name),
                "{name}={value}"
            );
        }
        // A record TTL shorter than the window a repeat can arrive in would let it in twice.
        assert!(with(&[("RECORD_TTL_DAYS", "1")]).is_ok());
        assert!(matches!(
            with(&[
                ("RECORD_TTL_DAYS", "1"),
                ("POSTBACK_CREATE_TIME_WINDOW_SECONDS", "172800")
            ]),
            Err(ConfigError::Invalid {
                name: "RECORD_TTL_DAYS",
                ..
            })
        ));
        assert!(matches!(
            with(&[
                ("RECORD_TTL_DAYS", "30"),
                ("POSTBACK_CREATE_TIME_WINDOW_SECONDS", "0")
            ]),
            Err(ConfigError::Invalid {
                name: "RECORD_TTL_DAYS",
                ..
            })
        ));
        let callback = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("TABLE_NAME", "t"), ("CALLBACK_HMAC_SECRETS", "s")];
            pairs.extend_from_slice(extra);
            CallbackConfig::from_lookup(&lookup(&pairs))
        };
        assert!(
            callback(&[("RECORD_TTL_DAYS", "3")]).is_ok(),
            "72 h window, 3-day TTL"
        );
        assert!(matches!(
            callback(&[("RECORD_TTL_DAYS", "2")]),
            Err(ConfigError::Invalid {
                name: "RECORD_TTL_DAYS",
                ..
            })
        ));
        assert!(matches!(
            callback(&[("RECORD_TTL_DAYS", "90"), ("CALLBACK_MAX_AGE_SECONDS", "0")]),
            Err(ConfigError::Invalid {
                name: "RECORD_TTL_DAYS",
                ..
            })
        ));
    }

    #[test]
    fn config_debug_never_shows_tokens() {
        let env = lookup(&[("TABLE_NAME", "t"), ("LINKBEST_POSTBACK_TOKENS", "sekrit-token")]);
        let c = PostbackConfig::from_lookup(&env).unwrap();
        assert!(!format!("{c:?}").contains("sekrit-token"));
    }
}
