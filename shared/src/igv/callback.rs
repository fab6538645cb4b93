//! The callback function: iGV Order Status Callback in, HTTP status out.
//!
//! The flow is method → size → signature headers → HMAC → replay window → body → one conditional
//! write (plus the forward-only order view) → 200. Every failure is a typed [`CallbackError`];
//! [`CallbackError::status`] is the one place that turns it into the HTTP answer. The platform
//! reads only the status code and retries anything but 200.

use std::time::{Duration, Instant};

use tracing::Instrument;

use lambda_http::http::{HeaderMap, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::http::{body_bytes, lambda_request_id};
use crate::igv::protocol::{
    AuthFailure, CallbackHeaders, StatusCallback, check_window, parse_body, read_headers, verify_signature,
};
use crate::igv::settings::CallbackConfig;
use crate::igv::store::{NewCallback, UnreadableCallback};
use crate::keys::{CALLBACK_SK, IGV_REFUSED_KEPT_PK, IGV_REFUSED_PREFIX, IGV_REFUSED_QUEUE, igv_callback_pk};
use crate::metrics::{self, names};
use crate::refused::{KeepRefused, Kept, KeptDelivery, Refused, RefusedSource, Rerun};
use crate::secret::{SecretError, SecretList};
use crate::store::{RecordWrite, Store, StoreError};

/// Where callbacks refused for their signature, window or secret are kept (issue #29.1).
pub const REFUSED: RefusedSource = RefusedSource {
    name: "igv",
    prefix: IGV_REFUSED_PREFIX,
    queue: IGV_REFUSED_QUEUE,
    counter_pk: IGV_REFUSED_KEPT_PK,
};

/// Everything that makes a callback fail (any answer but 200: the platform retries).
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("method {0} is not allowed (the platform POSTs callbacks)")]
    MethodNotAllowed(String),
    #[error("body of {len} bytes is over the limit of {limit} bytes")]
    BodyTooLarge { len: usize, limit: usize },
    #[error(transparent)]
    Unauthorized(#[from] AuthFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The iGV keys cannot be read (Secrets Manager): nothing can be verified; iGV retries a
    /// non-200 answer.
    #[error(transparent)]
    SecretsUnavailable(#[from] SecretError),
}

impl CallbackError {
    /// The one mapping from a failure to the HTTP answer.
    pub fn status(&self) -> StatusCode {
        match self {
            CallbackError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            CallbackError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            CallbackError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            CallbackError::Store(_) | CallbackError::SecretsUnavailable(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The kind under which a callback refused this way is kept to be re-run: refused for its
    /// signature, its window or an unreadable secret — what a wrong or late-rotated secret, or a
    /// clock, does to a genuine callback. Malformed requests are not kept (nothing to re-run).
    fn kept_as(&self) -> Option<&'static str> {
        match self {
            CallbackError::Unauthorized(AuthFailure::BadSignature) => Some("bad_signature"),
            CallbackError::Unauthorized(AuthFailure::OutsideWindow { .. }) => Some("outside_window"),
            CallbackError::SecretsUnavailable(_) => Some("secrets_unavailable"),
            _ => None,
        }
    }

    /// The short word of the JSON answer and the log's `outcome`.
    fn outcome(&self) -> &'static str {
        match self {
            CallbackError::MethodNotAllowed(_) => "method_not_allowed",
            CallbackError::BodyTooLarge { .. } => "too_large",
            CallbackError::Unauthorized(_) => "unauthorized",
            CallbackError::Store(_) => "store_failed",
            CallbackError::SecretsUnavailable(_) => "secrets_unavailable",
        }
    }
}

/// What a successfully handled callback led to: stored (new `X-Request-Id`) or found; and
/// whether its body was understood. An authentic callback whose body is not (an `orderId` that
/// is not a number, a status that is not a scalar, not JSON) is stored raw and answered 200
/// too: iGV would retry twice and give up, and there is no iGV feed to recover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackOutcome {
    pub write: RecordWrite,
    /// Why the body was not understood, when it was not.
    pub not_understood: Option<String>,
}

impl From<RecordWrite> for CallbackOutcome {
    fn from(write: RecordWrite) -> Self {
        Self {
            write,
            not_understood: None,
        }
    }
}

fn outcome_word(outcome: &CallbackOutcome) -> &'static str {
    match (&outcome.write, &outcome.not_understood) {
        (RecordWrite::Created { .. }, None) => "stored",
        (RecordWrite::Created { .. }, Some(_)) => "not_understood",
        (RecordWrite::Duplicate { .. }, _) => "duplicate",
    }
}

/// The HTTP status for a handled callback: 200 only for a confirmed write or a known request id.
pub fn status_for(result: &Result<CallbackOutcome, CallbackError>) -> StatusCode {
    match result {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status(),
    }
}

/// The CloudWatch metric (EMF, unit Count) each handled callback adds one to.
pub fn metric_for(result: &Result<CallbackOutcome, CallbackError>) -> &'static str {
    match result {
        Ok(CallbackOutcome {
            write: RecordWrite::Created { .. },
            not_understood: None,
        }) => names::CALLBACKS_STORED,
        Ok(CallbackOutcome {
            write: RecordWrite::Created { .. },
            not_understood: Some(_),
        }) => names::CALLBACKS_NOT_UNDERSTOOD,
        Ok(CallbackOutcome {
            write: RecordWrite::Duplicate { .. },
            ..
        }) => names::DUPLICATES,
        Err(CallbackError::Unauthorized(_)) => names::SIGNATURE_FAILURES,
        Err(CallbackError::Store(_)) => names::STORE_FAILURES,
        Err(CallbackError::SecretsUnavailable(_)) => names::SECRETS_UNAVAILABLE,
        Err(_) => names::REJECTED_REQUESTS,
    }
}

/// The callback function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct Callback {
    store: Store,
    secrets: SecretList,
    max_age: Option<Duration>,
    max_body_bytes: usize,
    refused: KeepRefused,
}

/// What the handler could read of a delivery, for the log line.
#[derive(Default)]
struct Seen {
    headers: Option<CallbackHeaders>,
    callback: Option<StatusCallback>,
    /// How long the DynamoDB write took, when one was made.
    store_time: Option<std::time::Duration>,
}

/// One delivery as the handler saw it.
struct Delivery {
    seen: Seen,
    result: Result<CallbackOutcome, CallbackError>,
}

impl Callback {
    pub fn new(store: Store, config: &CallbackConfig) -> Self {
        Self {
            store,
            secrets: config.secrets.clone(),
            max_age: config.max_age,
            max_body_bytes: config.max_body_bytes,
            refused: config.refused,
        }
    }

    /// Handles one HTTP request and logs one line about it.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        self.handle_at(request, OffsetDateTime::now_utc()).await
    }

    /// [`Callback::handle`] with the clock given (tests move it).
    pub async fn handle_at(&self, request: Request, now: OffsetDateTime) -> Response<Body> {
        let started = Instant::now();
        let lambda_request_id = lambda_request_id(&request);
        let delivery = self
            .process(
                request.method(),
                request.headers(),
                body_bytes(&request),
                now,
                lambda_request_id.as_deref(),
            )
            .instrument(tracing::info_span!(target: crate::trace::TARGET, "callback"))
            .await;
        let status = status_for(&delivery.result);
        let kept = self
            .keep_if_refused(&delivery, body_bytes(&request), now, lambda_request_id.as_deref())
            .await;
        log_delivery(
            &delivery,
            status,
            started,
            lambda_request_id.as_deref(),
            kept.as_ref(),
        );
        let kept_metric = kept
            .as_ref()
            .and_then(Kept::metric)
            .map(|name| (name, 1.0, metrics::Unit::Count));
        metrics::emit_delivery(
            "callback",
            metric_for(&delivery.result),
            delivery.seen.store_time,
            kept_metric.as_slice(),
        );
        let word = match &delivery.result {
            Ok(outcome) => outcome_word(outcome),
            Err(e) => e.outcome(),
        };
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::Text(format!(r#"{{"result":"{word}"}}"#)))
            .expect("a static response is always valid")
    }

    /// Keeps a callback refused for its signature, window or secret (issue #29.1), when its
    /// signature headers could be read; `None` for any other delivery.
    async fn keep_if_refused(
        &self,
        delivery: &Delivery,
        body: &[u8],
        now: OffsetDateTime,
        lambda_request_id: Option<&str>,
    ) -> Option<Kept> {
        let kind = delivery.result.as_ref().err()?.kept_as()?;
        let h = delivery.seen.headers.as_ref()?;
        let refused = Refused {
            reason: delivery.result.as_ref().err()?.to_string(),
            kind,
            headers: vec![
                (crate::igv::protocol::REQUEST_ID_HEADER, h.request_id.clone()),
                (crate::igv::protocol::TIMESTAMP_HEADER, h.timestamp.clone()),
                (crate::igv::protocol::SIGNATURE_HEADER, h.signature.clone()),
            ],
            raw_body: body,
            received_at: now,
            lambda_request_id,
        };
        Some(self.store.keep_refused(&REFUSED, &self.refused, &refused).await)
    }

    /// Re-runs a kept refused callback at the moment it first arrived: verified again with the
    /// secrets and window configured now, and stored through the live path (running it twice
    /// stores nothing twice). With `dry_run`, only verified, and whether its `X-Request-Id` is
    /// stored already is read.
    pub async fn rerun(&self, kept: &KeptDelivery, dry_run: bool) -> Rerun {
        let mut headers = HeaderMap::new();
        for (name, value) in &kept.headers {
            let (Ok(name), Ok(value)) = (
                lambda_http::http::HeaderName::from_bytes(name.as_bytes()),
                lambda_http::http::HeaderValue::from_str(value),
            ) else {
                return Rerun::Unchanged(format!("kept header {name:?} cannot be sent again"));
            };
            headers.append(name, value);
        }
        let at = kept.received_at();
        if dry_run {
            let mut seen = Seen::default();
            return match self.authenticate(&headers, at, &mut seen).await {
                Ok(h) => match self
                    .store
                    .exists(&igv_callback_pk(&h.request_id), CALLBACK_SK)
                    .await
                {
                    Ok(stored_before) => Rerun::WouldAccept {
                        key: igv_callback_pk(&h.request_id),
                        stored_before,
                    },
                    Err(e) => Rerun::Failed(e.to_string()),
                },
                Err(e @ CallbackError::SecretsUnavailable(_)) => Rerun::Failed(e.to_string()),
                Err(e) => Rerun::Unchanged(e.to_string()),
            };
        }
        let started = Instant::now();
        let delivery = self
            .process(&Method::POST, &headers, &kept.raw_body, at, None)
            .await;
        log_delivery(&delivery, status_for(&delivery.result), started, None, None);
        match &delivery.result {
            Ok(outcome) => Rerun::Accepted {
                key: igv_callback_pk(
                    &delivery
                        .seen
                        .headers
                        .as_ref()
                        .map(|h| h.request_id.clone())
                        .unwrap_or_default(),
                ),
                outcome: outcome_word(outcome),
            },
            Err(e @ (CallbackError::Store(_) | CallbackError::SecretsUnavailable(_))) => {
                Rerun::Failed(e.to_string())
            }
            Err(e) => Rerun::Unchanged(e.to_string()),
        }
    }

    /// The signature headers, verified with the current secrets, inside the window at `now`.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        now: OffsetDateTime,
        seen: &mut Seen,
    ) -> Result<CallbackHeaders, CallbackError> {
        let signed = seen.headers.insert(read_headers(headers)?);
        verify_signature(signed, &self.secrets.current().await?)?;
        let now_ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        check_window(signed.timestamp_ms, now_ms, self.max_age)?;
        Ok(signed.clone())
    }

    async fn process(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
        lambda_request_id: Option<&str>,
    ) -> Delivery {
        let mut seen = Seen::default();
        let result = self
            .accept(method, headers, body, now, lambda_request_id, &mut seen)
            .await;
        Delivery { seen, result }
    }

    async fn accept(
        &self,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
        lambda_request_id: Option<&str>,
        seen: &mut Seen,
    ) -> Result<CallbackOutcome, CallbackError> {
        if method != Method::POST {
            return Err(CallbackError::MethodNotAllowed(method.to_string()));
        }
        if body.len() > self.max_body_bytes {
            return Err(CallbackError::BodyTooLarge {
                len: body.len(),
                limit: self.max_body_bytes,
            });
        }
        let signed = self.authenticate(headers, now, seen).await?;
        let signed = &signed;
        let parsed = std::str::from_utf8(body)
            .map_err(|_| "body is not UTF-8".to_owned())
            .and_then(|text| parse_body(text).map(|cb| (text, cb)).map_err(|e| e.to_string()));
        let (text, callback) = match parsed {
            Ok((text, callback)) => (text, seen.callback.insert(callback)),
            Err(problem) => {
                let new = UnreadableCallback {
                    headers: signed,
                    raw_body: body,
                    problem: &problem,
                    received_at: now,
                    lambda_request_id,
                };
                let writing = Instant::now();
                let written = self.store.store_unreadable_igv_callback(&new).await;
                seen.store_time = Some(writing.elapsed());
                return Ok(CallbackOutcome {
                    write: written?,
                    not_understood: Some(problem),
                });
            }
        };
        let new = NewCallback {
            headers: signed,
            callback,
            raw_body: text,
            received_at: now,
            lambda_request_id,
        };
        let writing = Instant::now();
        let written = self.store.store_igv_callback(&new).await;
        seen.store_time = Some(writing.elapsed());
        Ok(written?.into())
    }
}

impl crate::refused::Rerunner for Callback {
    fn source(&self) -> &'static RefusedSource {
        &REFUSED
    }

    fn rerun<'a>(&'a self, kept: &'a KeptDelivery, dry_run: bool) -> crate::feed::BoxFuture<'a, Rerun> {
        Box::pin(Callback::rerun(self, kept, dry_run))
    }
}

fn log_delivery(
    delivery: &Delivery,
    status: StatusCode,
    started: Instant,
    lambda_request_id: Option<&str>,
    kept: Option<&Kept>,
) {
    let kept = kept.map(Kept::word);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let request_id = delivery.seen.headers.as_ref().map(|h| h.request_id.as_str());
    let x_timestamp = delivery.seen.headers.as_ref().map(|h| h.timestamp_ms);
    let order_id = delivery.seen.callback.as_ref().map(|c| c.order_id.as_str());
    let seller_order_status = delivery
        .seen
        .callback
        .as_ref()
        .and_then(|c| c.seller_order_status.as_deref());
    let status = status.as_u16();
    let result = delivery
        .result
        .as_ref()
        .map(|o| (&o.write, o.not_understood.as_deref()));
    match result {
        Ok((RecordWrite::Created { .. }, Some(problem))) => tracing::error!(
            target: "callback", outcome = "not_understood", status, request_id, x_timestamp,
            problem, latency_ms, lambda_request_id,
            "authentic callback whose body is not understood: stored raw (queue IGV#NOT_UNDERSTOOD) for a person to read"
        ),
        Ok((RecordWrite::Created { view }, None)) => tracing::info!(
            target: "callback", outcome = "stored", status, request_id, x_timestamp, order_id,
            seller_order_status, view = ?view, latency_ms, lambda_request_id, "callback stored"
        ),
        Ok((
            RecordWrite::Duplicate {
                same_content: Some(false),
                ..
            },
            _,
        )) => tracing::warn!(
            target: "callback", outcome = "duplicate", status, request_id, x_timestamp, order_id,
            seller_order_status, content_differs = true, latency_ms, lambda_request_id,
            "request id already stored with a different body (the body is unsigned: possible replay); kept the first"
        ),
        Ok((RecordWrite::Duplicate { same_content }, _)) => tracing::info!(
            target: "callback", outcome = "duplicate", status, request_id, x_timestamp, order_id,
            seller_order_status, content_compared = same_content.is_some(), latency_ms,
            lambda_request_id, "callback already stored"
        ),
        Err(e @ CallbackError::Store(store)) => tracing::error!(
            target: "callback", outcome = e.outcome(), status, request_id, x_timestamp, order_id,
            error = %store, error_code = store.code(), latency_ms, lambda_request_id,
            "callback not stored; the platform will retry"
        ),
        Err(e @ CallbackError::SecretsUnavailable(why)) => tracing::error!(
            target: "callback", outcome = e.outcome(), status, request_id, x_timestamp,
            error = %why, latency_ms, lambda_request_id, kept,
            "iGV keys not available; callback not verified, the platform will retry"
        ),
        Err(e) => tracing::warn!(
            target: "callback", outcome = e.outcome(), status, request_id, x_timestamp, order_id,
            reason = %e, latency_ms, lambda_request_id, kept, "callback refused"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igv::protocol::AuthFailure;
    use crate::store::ViewWrite;

    #[test]
    fn every_outcome_counts_toward_one_metric_and_one_status() {
        let stored: Result<CallbackOutcome, CallbackError> = Ok(RecordWrite::Created {
            view: ViewWrite::Updated,
        }
        .into());
        assert_eq!(
            (metric_for(&stored), status_for(&stored)),
            ("CallbacksStored", StatusCode::OK)
        );
        let dup = Ok(RecordWrite::Duplicate {
            same_content: Some(true),
        }
        .into());
        assert_eq!(
            (metric_for(&dup), status_for(&dup)),
            ("Duplicates", StatusCode::OK)
        );
        let unauth = Err(CallbackError::Unauthorized(AuthFailure::BadSignature));
        assert_eq!(
            (metric_for(&unauth), status_for(&unauth)),
            ("SignatureFailures", StatusCode::UNAUTHORIZED)
        );
        let store = Err(CallbackError::Store(StoreError::Unexpected {
            operation: "PutItem",
            detail: String::new(),
        }));
        assert_eq!(
            (metric_for(&store), status_for(&store)),
            ("StoreFailures", StatusCode::INTERNAL_SERVER_ERROR)
        );
        let odd = Ok(CallbackOutcome {
            write: RecordWrite::Created {
                view: ViewWrite::NoView,
            },
            not_understood: Some("field orderId is invalid".into()),
        });
        assert_eq!(
            (metric_for(&odd), status_for(&odd)),
            ("CallbacksNotUnderstood", StatusCode::OK),
            "authentic but not understood: stored, answered 200, counted apart"
        );
        let big = Err(CallbackError::BodyTooLarge { len: 2, limit: 1 });
        assert_eq!(
            (metric_for(&big), status_for(&big)),
            ("RejectedRequests", StatusCode::PAYLOAD_TOO_LARGE)
        );
    }
}
