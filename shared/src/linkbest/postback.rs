//! The postback function: Linkbest Order Push 2.0 in, `1` / `0` / `-1` out.
//!
//! The flow is parse → verify → (test push? answer) → one conditional write → answer. Every
//! failure is a typed [`PostbackError`], and [`answer_for`] is the one place that turns a result
//! into the protocol's answer. A push is answered `1` only after DynamoDB confirmed the write.

use std::time::Instant;

use tracing::Instrument;

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::http::{body_bytes, lambda_request_id};
use crate::keys::{
    LINKBEST_REFUSED_KEPT_PK, LINKBEST_REFUSED_PREFIX, LINKBEST_REFUSED_QUEUE, PUSH_SK, linkbest_push_pk,
};
use crate::linkbest::push::{OrderLink, OrderPush, PushRejection, parse_push, verify_sign};
use crate::linkbest::settings::PostbackConfig;
use crate::linkbest::store::NewPush;
use crate::metrics::{self, names};
use crate::refused::{KeepRefused, Kept, KeptDelivery, Refused, RefusedSource, Rerun};
use crate::secret::{SecretError, SecretList};
use crate::store::{RecordWrite, Store, StoreError};

/// Where pushes refused for their signature, window or token are kept (issue #29.1).
pub const REFUSED: RefusedSource = RefusedSource {
    name: "linkbest",
    prefix: LINKBEST_REFUSED_PREFIX,
    queue: LINKBEST_REFUSED_QUEUE,
    counter_pk: LINKBEST_REFUSED_KEPT_PK,
};

impl PostbackError {
    /// The kind under which a push refused this way is kept to be re-run: refused for its
    /// signature, its `CreateTime` window or an unreadable token — what a token rotated on one
    /// side only, or a clock, does to a genuine push. Malformed pushes are not kept.
    fn kept_as(&self) -> Option<&'static str> {
        match self {
            PostbackError::Rejected(PushRejection::BadSignature) => Some("bad_signature"),
            PostbackError::OutOfWindow { .. } => Some("outside_window"),
            PostbackError::SecretsUnavailable(_) => Some("secrets_unavailable"),
            _ => None,
        }
    }
}

/// Everything that makes a push fail (answer `-1`, Linkbest retries).
#[derive(Debug, thiserror::Error)]
pub enum PostbackError {
    #[error("method {0} is not allowed (Linkbest pushes with POST)")]
    MethodNotAllowed(String),
    #[error("body is empty")]
    EmptyBody,
    #[error("body of {len} bytes is over the limit of {limit} bytes")]
    BodyTooLarge { len: usize, limit: usize },
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error(transparent)]
    Rejected(#[from] PushRejection),
    /// A validly signed push whose `CreateTime` is too far from now (`skew_secs` = received −
    /// created). Linkbest retries; the orders feed reads the order back in any case.
    #[error("CreateTime is {skew_secs} s before now, outside the window of ±{window_secs} s")]
    OutOfWindow { skew_secs: i64, window_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The postback tokens cannot be read (Secrets Manager): nothing can be verified, so nothing
    /// is accepted, and Linkbest retries.
    #[error(transparent)]
    SecretsUnavailable(#[from] SecretError),
}

/// What a successfully handled push led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostbackOutcome {
    /// A push written (new PushId) or found (duplicate; nothing overwritten) in the store.
    Record(RecordWrite),
    /// The review's test push: verified, answered, never stored.
    TestPush,
}

/// The protocol's answer, written as the whole response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAnswer {
    /// `1`: the order was stored.
    Stored,
    /// `0`: received, but it was already stored.
    AlreadyHad,
    /// `-1`: not received; Linkbest retries (60 s, 300 s, 600 s, 1800 s).
    Failed,
}

impl PushAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            PushAnswer::Stored => "1",
            PushAnswer::AlreadyHad => "0",
            PushAnswer::Failed => "-1",
        }
    }
}

/// The one mapping from a handled push to the protocol answer.
///
/// The review's test push answers `1` ("received"), as the document asks for `0` or `1`.
pub fn answer_for(result: &Result<PostbackOutcome, PostbackError>) -> PushAnswer {
    match result {
        Ok(PostbackOutcome::Record(RecordWrite::Created { .. })) | Ok(PostbackOutcome::TestPush) => {
            PushAnswer::Stored
        }
        Ok(PostbackOutcome::Record(RecordWrite::Duplicate { .. })) => PushAnswer::AlreadyHad,
        Err(_) => PushAnswer::Failed,
    }
}

/// The CloudWatch metric (EMF, unit Count) each handled push adds one to.
pub fn metric_for(result: &Result<PostbackOutcome, PostbackError>) -> &'static str {
    match result {
        Ok(PostbackOutcome::Record(RecordWrite::Created { .. })) => names::PUSHES_STORED,
        Ok(PostbackOutcome::Record(RecordWrite::Duplicate { .. })) => names::DUPLICATES,
        Ok(PostbackOutcome::TestPush) => names::TEST_PUSHES,
        Err(PostbackError::Rejected(PushRejection::BadSignature)) => names::SIGNATURE_FAILURES,
        Err(PostbackError::OutOfWindow { .. }) => names::PUSHES_OUT_OF_WINDOW,
        Err(PostbackError::Store(_)) => names::STORE_FAILURES,
        Err(PostbackError::SecretsUnavailable(_)) => names::SECRETS_UNAVAILABLE,
        Err(_) => names::REJECTED_REQUESTS,
    }
}

/// The postback function's state, built once per cold start.
#[derive(Debug, Clone)]
pub struct Postback {
    store: Store,
    tokens: SecretList,
    max_body_bytes: usize,
    create_time_window: Option<std::time::Duration>,
    refused: KeepRefused,
}

/// One delivery as the handler saw it, for the log line.
struct Delivery {
    push: Option<OrderPush>,
    result: Result<PostbackOutcome, PostbackError>,
    /// How long the DynamoDB write took, when one was made.
    store_time: Option<std::time::Duration>,
    /// `received_at − CreateTime` in seconds, for a validly signed push (not the test push).
    skew_secs: Option<i64>,
}

impl Postback {
    pub fn new(store: Store, config: &PostbackConfig) -> Self {
        Self {
            store,
            tokens: config.tokens.clone(),
            max_body_bytes: config.max_body_bytes,
            create_time_window: config.create_time_window,
            refused: config.refused,
        }
    }

    /// Handles one HTTP request from API Gateway (or a function URL) and logs one line about it.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let lambda_request_id = lambda_request_id(&request);
        let received_at = OffsetDateTime::now_utc();
        let delivery = self
            .process(
                request.method(),
                body_bytes(&request),
                received_at,
                lambda_request_id.as_deref(),
            )
            .instrument(tracing::info_span!(target: crate::trace::TARGET, "postback"))
            .await;
        let answer = answer_for(&delivery.result);
        let kept = self
            .keep_if_refused(
                &delivery,
                body_bytes(&request),
                received_at,
                lambda_request_id.as_deref(),
            )
            .await;
        log_delivery(
            &delivery,
            answer,
            started,
            lambda_request_id.as_deref(),
            kept.as_ref(),
        );
        let mut figures = Vec::new();
        if let Some(secs) = delivery.skew_secs {
            figures.push((names::PUSH_CLOCK_SKEW, secs as f64, metrics::Unit::Seconds));
        }
        if let Some(name) = kept.as_ref().and_then(Kept::metric) {
            figures.push((name, 1.0, metrics::Unit::Count));
        }
        metrics::emit_delivery(
            "postback",
            metric_for(&delivery.result),
            delivery.store_time,
            &figures,
        );
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::Text(answer.as_str().to_owned()))
            .expect("a static response is always valid")
    }

    /// Keeps a push refused for its signature, window or token (issue #29.1); `None` for any
    /// other delivery.
    async fn keep_if_refused(
        &self,
        delivery: &Delivery,
        body: &[u8],
        received_at: OffsetDateTime,
        lambda_request_id: Option<&str>,
    ) -> Option<Kept> {
        let error = delivery.result.as_ref().err()?;
        let refused = Refused {
            reason: error.to_string(),
            kind: error.kept_as()?,
            headers: Vec::new(),
            raw_body: body,
            received_at,
            lambda_request_id,
        };
        Some(self.store.keep_refused(&REFUSED, &self.refused, &refused).await)
    }

    /// Re-runs a kept refused push at the moment it first arrived: verified again with the tokens
    /// and window configured now, and stored through the live path (running it twice stores
    /// nothing twice). With `dry_run`, only verified, and whether its `PushId` is stored already
    /// is read.
    pub async fn rerun(&self, kept: &KeptDelivery, dry_run: bool) -> Rerun {
        let at = kept.received_at();
        if dry_run {
            let push = match self
                .check_request(&Method::POST, &kept.raw_body)
                .and_then(|text| parse_push(text).map_err(PostbackError::from))
            {
                Ok(push) => push,
                Err(e) => return Rerun::Unchanged(e.to_string()),
            };
            return match self.authenticate(&push, at).await {
                Ok(_) if push.is_test_push() => Rerun::WouldAccept {
                    key: "(the review's test push: answered, never stored)".to_owned(),
                    stored_before: false,
                },
                Ok(_) => match self.store.exists(&linkbest_push_pk(&push.push_id), PUSH_SK).await {
                    Ok(stored_before) => Rerun::WouldAccept {
                        key: linkbest_push_pk(&push.push_id),
                        stored_before,
                    },
                    Err(e) => Rerun::Failed(e.to_string()),
                },
                Err(e @ PostbackError::SecretsUnavailable(_)) => Rerun::Failed(e.to_string()),
                Err(e) => Rerun::Unchanged(e.to_string()),
            };
        }
        let started = Instant::now();
        let delivery = self.process(&Method::POST, &kept.raw_body, at, None).await;
        let answer = answer_for(&delivery.result);
        log_delivery(&delivery, answer, started, None, None);
        let key = delivery
            .push
            .as_ref()
            .map(|p| linkbest_push_pk(&p.push_id))
            .unwrap_or_default();
        match &delivery.result {
            Ok(PostbackOutcome::TestPush) => Rerun::Accepted {
                key,
                outcome: "test_push",
            },
            Ok(PostbackOutcome::Record(RecordWrite::Created { .. })) => Rerun::Accepted {
                key,
                outcome: "stored",
            },
            Ok(PostbackOutcome::Record(RecordWrite::Duplicate { .. })) => Rerun::Accepted {
                key,
                outcome: "duplicate",
            },
            Err(e @ (PostbackError::Store(_) | PostbackError::SecretsUnavailable(_))) => {
                Rerun::Failed(e.to_string())
            }
            Err(e) => Rerun::Unchanged(e.to_string()),
        }
    }

    /// The push's signature, verified with the current tokens, and its `CreateTime` inside the
    /// window at `received_at` (the test push is exempt); the skew, when there is one.
    async fn authenticate(
        &self,
        push: &OrderPush,
        received_at: OffsetDateTime,
    ) -> Result<Option<i64>, PostbackError> {
        verify_sign(push, &self.tokens.current().await?)?;
        if push.is_test_push() {
            // Never stored, so no version to bound; the document's test push is from 2025.
            return Ok(None);
        }
        let skew = received_at.unix_timestamp() - push.create_time_secs as i64;
        if let Some(window) = self.create_time_window
            && skew.unsigned_abs() > window.as_secs()
        {
            return Err(PostbackError::OutOfWindow {
                skew_secs: skew,
                window_secs: window.as_secs(),
            });
        }
        Ok(Some(skew))
    }

    /// Handles one request; the result and what was parsed, without logging.
    async fn process(
        &self,
        method: &Method,
        body: &[u8],
        received_at: OffsetDateTime,
        lambda_request_id: Option<&str>,
    ) -> Delivery {
        let text = match self.check_request(method, body) {
            Ok(text) => text,
            Err(e) => {
                return Delivery {
                    push: None,
                    result: Err(e),
                    store_time: None,
                    skew_secs: None,
                };
            }
        };
        let push = match parse_push(text) {
            Ok(push) => push,
            Err(e) => {
                return Delivery {
                    push: None,
                    result: Err(e.into()),
                    store_time: None,
                    skew_secs: None,
                };
            }
        };
        let mut store_time = None;
        let mut skew_secs = None;
        let result = self
            .accept(
                &push,
                text,
                received_at,
                lambda_request_id,
                &mut store_time,
                &mut skew_secs,
            )
            .await;
        Delivery {
            push: Some(push),
            result,
            store_time,
            skew_secs,
        }
    }

    fn check_request<'b>(&self, method: &Method, body: &'b [u8]) -> Result<&'b str, PostbackError> {
        if method != Method::POST {
            return Err(PostbackError::MethodNotAllowed(method.to_string()));
        }
        if body.len() > self.max_body_bytes {
            return Err(PostbackError::BodyTooLarge {
                len: body.len(),
                limit: self.max_body_bytes,
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(PostbackError::EmptyBody);
        }
        std::str::from_utf8(body).map_err(|_| PostbackError::NotUtf8)
    }

    async fn accept(
        &self,
        push: &OrderPush,
        raw_body: &str,
        received_at: OffsetDateTime,
        lambda_request_id: Option<&str>,
        store_time: &mut Option<std::time::Duration>,
        skew_secs: &mut Option<i64>,
    ) -> Result<PostbackOutcome, PostbackError> {
        let authenticated = self.authenticate(push, received_at).await;
        // The skew is known (and logged) even when the window refuses the push.
        *skew_secs = match &authenticated {
            Ok(skew) => *skew,
            Err(PostbackError::OutOfWindow { skew_secs, .. }) => Some(*skew_secs),
            Err(_) => None,
        };
        if authenticated?.is_none() {
            return Ok(PostbackOutcome::TestPush);
        }
        let new = NewPush {
            push,
            raw_body,
            received_at,
            lambda_request_id,
        };
        let writing = Instant::now();
        let written = self.store.store_linkbest_push(&new).await;
        *store_time = Some(writing.elapsed());
        Ok(PostbackOutcome::Record(written?))
    }
}

impl crate::refused::Rerunner for Postback {
    fn source(&self) -> &'static RefusedSource {
        &REFUSED
    }

    fn rerun<'a>(&'a self, kept: &'a KeptDelivery, dry_run: bool) -> crate::feed::BoxFuture<'a, Rerun> {
        Box::pin(Postback::rerun(self, kept, dry_run))
    }
}

fn log_delivery(
    delivery: &Delivery,
    answer: PushAnswer,
    started: Instant,
    lambda_request_id: Option<&str>,
    kept: Option<&Kept>,
) {
    let kept = kept.map(Kept::word);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let push = delivery.push.as_ref();
    let push_id = push.map(|p| p.push_id.as_str());
    let event_type = push.map(|p| p.event_type.as_str());
    let order_sn = push.and_then(|p| match &p.order {
        OrderLink::Order(o) => Some(o.order_sn.as_str()),
        _ => None,
    });
    let order_problem = push.and_then(|p| match &p.order {
        OrderLink::Unusable(why) => Some(why.as_str()),
        _ => None,
    });
    let answer = answer.as_str();
    match &delivery.result {
        Ok(PostbackOutcome::Record(RecordWrite::Created { view })) => tracing::info!(
            target: "postback", outcome = "stored", answer, push_id, event_type, order_sn,
            view = ?view, order_problem, latency_ms, lambda_request_id, "push stored"
        ),
        Ok(PostbackOutcome::Record(RecordWrite::Duplicate {
            same_content: Some(false),
            ..
        })) => tracing::warn!(
            target: "postback", outcome = "duplicate", answer, push_id, event_type, order_sn,
            content_differs = true, latency_ms, lambda_request_id,
            "push id already stored with different content (possible replay or partner bug); kept the first"
        ),
        Ok(PostbackOutcome::Record(RecordWrite::Duplicate { same_content })) => tracing::info!(
            target: "postback", outcome = "duplicate", answer, push_id, event_type, order_sn,
            content_compared = same_content.is_some(), latency_ms, lambda_request_id,
            "push already stored"
        ),
        Ok(PostbackOutcome::TestPush) => tracing::info!(
            target: "postback", outcome = "test_push", answer, push_id, event_type, latency_ms,
            lambda_request_id, "review test push answered, nothing stored"
        ),
        Err(PostbackError::Store(e)) => tracing::error!(
            target: "postback", outcome = "store_failed", answer, push_id, event_type, order_sn,
            error = %e, error_code = e.code(), latency_ms, lambda_request_id,
            "push not stored; Linkbest will retry"
        ),
        Err(PostbackError::SecretsUnavailable(e)) => tracing::error!(
            target: "postback", outcome = "secrets_unavailable", answer, push_id, event_type,
            error = %e, latency_ms, lambda_request_id, kept,
            "postback tokens not available; push not verified, Linkbest will retry"
        ),
        Err(PostbackError::OutOfWindow {
            skew_secs,
            window_secs,
        }) => tracing::warn!(
            target: "postback", outcome = "out_of_window", answer, push_id, event_type, order_sn,
            create_time = push.map(|p| p.create_time.as_str()), skew_secs, window_secs, latency_ms,
            lambda_request_id, kept,
            "validly signed push with a CreateTime outside the window; refused, Linkbest will retry"
        ),
        Err(e) => tracing::warn!(
            target: "postback", outcome = "rejected", answer, push_id, event_type,
            reason = %e, test_push = push.map(OrderPush::is_test_push), latency_ms, lambda_request_id,
            kept, "push refused"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ViewWrite;

    #[test]
    fn every_outcome_counts_toward_one_metric() {
        let stored = Ok(PostbackOutcome::Record(RecordWrite::Created {
            view: ViewWrite::NoView,
        }));
        let duplicate = Ok(PostbackOutcome::Record(RecordWrite::Duplicate {
            same_content: None,
        }));
        assert_eq!(metric_for(&stored), "PushesStored");
        assert_eq!(metric_for(&duplicate), "Duplicates");
        assert_eq!(metric_for(&Ok(PostbackOutcome::TestPush)), "TestPushes");
        assert_eq!(
            metric_for(&Err(PostbackError::Rejected(PushRejection::BadSignature))),
            "SignatureFailures"
        );
        assert_eq!(metric_for(&Err(PostbackError::EmptyBody)), "RejectedRequests");
        let store = StoreError::Unexpected {
            operation: "PutItem",
            detail: String::new(),
        };
        assert_eq!(metric_for(&Err(PostbackError::Store(store))), "StoreFailures");
        assert_eq!(answer_for(&stored), PushAnswer::Stored);
        assert_eq!(answer_for(&duplicate), PushAnswer::AlreadyHad);
    }
}
