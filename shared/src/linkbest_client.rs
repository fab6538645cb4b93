//! HTTP client for the Linkbest settlement service: signed requests, timeouts, retries with capped
//! exponential backoff and jitter, and pacing that slows down after a rate-limit answer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::time::Instant;

use crate::linkbest_api::{
    PageRequest, ResponseProblem, SETTLEMENT_SERVICE, STATUS_OK, SettlementPage, parse_settlement_page,
    signed_request,
};
use crate::secret::Secret;

/// How the client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts per page, the first included.
    pub max_attempts: u32,
    /// First backoff; it doubles up to `max_backoff`, each with random jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Timeout of one HTTP attempt (connect included).
    pub request_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("request timed out")]
    Timeout,
    #[error("HTTP {0}")]
    Http(u16),
    #[error("rate limited (HTTP 429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error(transparent)]
    Malformed(#[from] ResponseProblem),
    #[error("Status {status}: {message}")]
    Status { status: i64, message: String },
    /// The run's deadline came before the page arrived (`last_error`: of the attempts before).
    #[error("the run's deadline came first (last error: {})", last_error.as_deref().unwrap_or("none"))]
    Deadline { last_error: Option<String> },
}

impl FetchError {
    /// Everything is retried but a client error (4xx other than 429): a bad request, app key or
    /// signature does not get better by asking again.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, FetchError::Http(code) if (400..500).contains(code))
            && !matches!(self, FetchError::Deadline { .. })
    }
}

/// The settlement service's client. Built once per cold start.
///
/// The HTTPS client inside is built at the first request, not at init: building it reads and
/// parses the system's certificate store (5–9 ms measured under the emulator), more than the rest
/// of the function's init together; a scheduled run pays it once, when it first asks Linkbest.
#[derive(Debug)]
pub struct LinkbestClient {
    http: std::sync::OnceLock<Result<reqwest::Client, String>>,
    base_url: String,
    app_key: String,
    secret: Secret,
    retry: RetrySettings,
    /// Pause before each request, raised by rate-limit answers (milliseconds).
    pace_ms: AtomicU64,
    /// Requests sent, attempts included (for the run summary).
    requests: AtomicU64,
}

/// Upper bound of the pause between requests after rate limiting.
const MAX_PACE: Duration = Duration::from_secs(30);

impl LinkbestClient {
    pub fn new(base_url: &str, app_key: &str, secret: Secret, retry: RetrySettings) -> Result<Self, String> {
        crate::tls::install_crypto_provider();
        Ok(Self {
            http: std::sync::OnceLock::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            secret,
            retry,
            pace_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        })
    }

    /// The HTTPS client, built at the first call.
    fn http(&self) -> Result<&reqwest::Client, FetchError> {
        let timeout = self.retry.request_timeout;
        self.http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .user_agent(concat!(
                        "partner-ingest-settlement-sync/",
                        env!("CARGO_PKG_VERSION")
                    ))
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| FetchError::Transport(e.clone()))
    }

    /// HTTP requests sent so far (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The current pause between requests.
    pub fn pace(&self) -> Duration {
        Duration::from_millis(self.pace_ms.load(Ordering::Relaxed))
    }

    /// One page, retried on transient failures until it succeeds, the attempts run out, or
    /// `deadline` comes.
    pub async fn settlement_page(
        &self,
        page: &PageRequest,
        deadline: Instant,
    ) -> Result<SettlementPage, FetchError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.base_backoff)
            .with_max_delay(self.retry.max_backoff)
            .with_max_times(self.retry.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        let last_error = std::sync::Mutex::new(None::<FetchError>);
        let attempts = (|| async { self.attempt(page).await })
            .retry(backoff)
            .when(FetchError::is_retryable)
            .adjust(|err, delay| match err {
                FetchError::RateLimited { retry_after: Some(after) } => delay.map(|d| d.max(*after)),
                _ => delay,
            })
            .notify(|err, delay| {
                tracing::warn!(target: "settlement_sync", error = %err, retry_in_ms = delay.as_millis() as u64,
                    stime = page.stime, etime = page.etime, page = page.page, "Linkbest request failed; retrying");
                *last_error.lock().expect("not poisoned") = Some(err.clone());
            });
        match tokio::time::timeout_at(deadline, attempts).await {
            Ok(result) => result,
            Err(_) => {
                let last = last_error.lock().expect("not poisoned").take();
                Err(FetchError::Deadline {
                    last_error: last.map(|e| e.to_string()),
                })
            }
        }
    }

    async fn attempt(&self, page: &PageRequest) -> Result<SettlementPage, FetchError> {
        let pace = self.pace();
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let (path, body) = signed_request(
            &self.app_key,
            self.secret.expose(),
            SETTLEMENT_SERVICE,
            timestamp,
            page,
        );
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http()?
            .post(format!("{}{path}", self.base_url))
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.slow_down();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Err(FetchError::RateLimited { retry_after });
        }
        if !status.is_success() {
            return Err(FetchError::Http(status.as_u16()));
        }
        let text = response.text().await.map_err(classify)?;
        let parsed = parse_settlement_page(&text)?;
        if parsed.status != STATUS_OK {
            return Err(FetchError::Status {
                status: parsed.status,
                message: parsed.message.unwrap_or_default(),
            });
        }
        Ok(parsed)
    }

    /// Doubles the pause between requests (at least one second, at most [`MAX_PACE`]).
    fn slow_down(&self) {
        let _ = self
            .pace_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |ms| {
                Some((ms.saturating_mul(2)).clamp(1_000, MAX_PACE.as_millis() as u64))
            });
    }
}

fn classify(err: reqwest::Error) -> FetchError {
    if err.is_timeout() {
        FetchError::Timeout
    } else {
        // The URL holds no secret (only the app key and service), but the message is kept short.
        FetchError::Transport(err.without_url().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_everything_else_is_retried() {
        assert!(!FetchError::Http(400).is_retryable());
        assert!(!FetchError::Http(403).is_retryable());
        assert!(FetchError::Http(500).is_retryable());
        assert!(FetchError::Http(503).is_retryable());
        assert!(FetchError::RateLimited { retry_after: None }.is_retryable());
        assert!(FetchError::Timeout.is_retryable());
        assert!(FetchError::Malformed(ResponseProblem::BadStatus).is_retryable());
        assert!(
            FetchError::Status {
                status: 1,
                message: String::new()
            }
            .is_retryable()
        );
        assert!(!FetchError::Deadline { last_error: None }.is_retryable());
    }

    #[test]
    fn rate_limits_double_the_pace_up_to_a_cap() {
        let c = LinkbestClient::new(
            "http://127.0.0.1:1",
            "k",
            Secret::new("s"),
            RetrySettings::default(),
        )
        .unwrap();
        assert_eq!(c.pace(), Duration::ZERO);
        c.slow_down();
        assert_eq!(c.pace(), Duration::from_secs(1));
        c.slow_down();
        assert_eq!(c.pace(), Duration::from_secs(2));
        for _ in 0..10 {
            c.slow_down();
        }
        assert_eq!(c.pace(), MAX_PACE);
    }
}
