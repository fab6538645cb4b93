//! HTTP client of the Linkbest open API: signed requests, timeouts, retries with capped
//! exponential backoff and jitter, and pacing that slows down after a rate-limit answer. One
//! client serves every feed (they share Linkbest's rate limit).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::api::{STATUS_OK, parse_envelope, signed_request};
use crate::feed::{FetchError, PageRequest};
use crate::secret::SecretList;

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

/// Largest answer read: a page of 200 orders is some 100 KB; anything far larger is refused
/// before it is held in memory.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// One service of the API as a feed asks for it: its name and its own parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub name: &'static str,
    pub params: &'static [(&'static str, &'static str)],
}

/// The open API's client. Built once per cold start.
///
/// The HTTPS client inside is built at the first request, not at init: building it reads and
/// parses the system's certificate store (5–9 ms measured under the emulator), more than the rest
/// of the function's init together; a scheduled run pays it once, when it first asks Linkbest.
#[derive(Debug)]
pub struct LinkbestClient {
    http: OnceLock<Result<reqwest::Client, String>>,
    base_url: String,
    app_key: String,
    secret: SecretList,
    retry: RetrySettings,
    /// Pause before each request, raised by rate-limit answers (milliseconds).
    pace_ms: AtomicU64,
    /// Requests sent, attempts included (for the run summary).
    requests: AtomicU64,
}

/// Upper bound of the pause between requests after rate limiting.
const MAX_PACE: Duration = Duration::from_secs(30);

impl LinkbestClient {
    pub fn new(base_url: &str, app_key: &str, secret: SecretList, retry: RetrySettings) -> Self {
        crate::tls::install_crypto_provider();
        Self {
            http: OnceLock::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            app_key: app_key.to_owned(),
            secret,
            retry,
            pace_ms: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
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
                        "partner-ingest-linkbest-sync/",
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

    /// One page of `service`, its rows turned into `T` by `rows` (which refuses the whole page
    /// with a reason), retried on transient failures until it succeeds, the attempts run out, or
    /// `deadline` comes. A page with more rows than asked for is refused.
    pub async fn page<T>(
        &self,
        service: Service,
        page: &PageRequest,
        deadline: Instant,
        rows: impl Fn(&[&RawValue]) -> Result<T, String>,
    ) -> Result<T, FetchError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.base_backoff)
            .with_max_delay(self.retry.max_backoff)
            .with_max_times(self.retry.max_attempts.saturating_sub(1) as usize)
            .with_jitter();
        let last_error = std::sync::Mutex::new(None::<FetchError>);
        let attempts = (|| async { self.attempt(service, page, &rows).await })
            .retry(backoff)
            .when(FetchError::is_retryable)
            .adjust(|err, delay| match err {
                FetchError::RateLimited {
                    retry_after: Some(after),
                } => delay.map(|d| d.max(*after)),
                _ => delay,
            })
            .notify(|err, delay| {
                tracing::warn!(target: "sync", service = service.name, error = %err,
                    retry_in_ms = delay.as_millis() as u64, stime = page.stime, etime = page.etime,
                    page = page.page, "Linkbest request failed; retrying");
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

    async fn attempt<T>(
        &self,
        service: Service,
        page: &PageRequest,
        rows: &impl Fn(&[&RawValue]) -> Result<T, String>,
    ) -> Result<T, FetchError> {
        let pace = self.pace();
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let secret = self
            .secret
            .first()
            .await
            .map_err(|e| FetchError::Credentials(e.to_string()))?;
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let (path, body) = signed_request(
            &self.app_key,
            secret.expose(),
            service.name,
            service.params,
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
        let text = read_bounded(response).await?;
        let envelope = parse_envelope(&text).map_err(|e| FetchError::Refused(e.to_string()))?;
        if envelope.status != STATUS_OK {
            return Err(FetchError::Status {
                status: envelope.status,
                message: envelope.message.unwrap_or_default(),
            });
        }
        // Linkbest answered: the pause eases off (one burst of 429s must not slow every later
        // run of this warm container for good).
        self.ease_off();
        if envelope.rows.len() > page.page_size as usize {
            return Err(FetchError::Refused(format!(
                "{} rows on a page of {}",
                envelope.rows.len(),
                page.page_size
            )));
        }
        rows(&envelope.rows).map_err(FetchError::Refused)
    }

    /// Halves the pause between requests after an answer; under a second it is gone.
    fn ease_off(&self) {
        let _ = self
            .pace_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |ms| {
                (ms > 0).then_some(if ms / 2 < 1_000 { 0 } else { ms / 2 })
            });
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

/// The answer's body as text, refused when longer than [`MAX_ANSWER_BYTES`] or not UTF-8.
async fn read_bounded(mut response: reqwest::Response) -> Result<String, FetchError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(FetchError::Refused(format!(
            "answer over {MAX_ANSWER_BYTES} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(FetchError::Refused(format!(
                "answer over {MAX_ANSWER_BYTES} bytes"
            )));
        }
    }
    String::from_utf8(body).map_err(|_| FetchError::Refused("answer is not UTF-8".into()))
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
    fn rate_limits_double_the_pace_up_to_a_cap() {
        let c = LinkbestClient::new(
            "http://127.0.0.1:1",
            "k",
            vec![crate::secret::Secret::new("s")].into(),
            RetrySettings::default(),
        );
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

    #[test]
    fn answers_ease_the_pace_off_until_it_is_gone() {
        let c = LinkbestClient::new(
            "http://127.0.0.1:1",
            "k",
            vec![crate::secret::Secret::new("s")].into(),
            RetrySettings::default(),
        );
        for _ in 0..12 {
            c.slow_down();
        }
        assert_eq!(c.pace(), MAX_PACE);
        c.ease_off();
        assert_eq!(c.pace(), MAX_PACE / 2);
        for _ in 0..5 {
            c.ease_off();
        }
        assert_eq!(
            c.pace(),
            Duration::ZERO,
            "a burst of 429s is forgotten after a few answers"
        );
        c.ease_off();
        assert_eq!(c.pace(), Duration::ZERO);
    }
}
