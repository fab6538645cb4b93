//! iGV "Order Status Callback": header reading, HMAC-SHA256 verification, replay window and body
//! parsing (pure, no I/O).
//!
//! The platform POSTs `{createdAt, orderId, orderNum, sellerOrderStatus, buyerId}` with
//! `X-Request-Id`, `X-Timestamp` (unix ms) and `X-Signature` =
//! `hex(HMAC-SHA256(key = secret, message = X-Timestamp + X-Request-Id + secret))`. The body is
//! not signed. See docs/partners.md ("Partner protocol notes") for every decision taken here.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use lambda_http::http::HeaderMap;
use sha2::Sha256;

use crate::json::{RawKind, RawObject, ScalarText, is_plain_unsigned_integer, scalar_text};
use crate::keys::validate_id;
use crate::secret::{Secret, any_secret_signs};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
pub const SIGNATURE_HEADER: &str = "x-signature";

/// `sellerOrderStatus` of an order that is paid, passed risk review and awaits delivery.
pub const AWAITING_DELIVERY: &str = "1";
/// Longest text field kept from the body.
pub const MAX_FIELD_LEN: usize = 255;
/// Longest `X-Timestamp` accepted (unix milliseconds have 13 digits until the year 2286).
const MAX_TIMESTAMP_DIGITS: usize = 16;

/// Why a callback is not authentic (HTTP 401). Messages never contain a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("header {0} is given more than once")]
    RepeatedHeader(&'static str),
    #[error("header {header} is malformed: {reason}")]
    MalformedHeader { header: &'static str, reason: String },
    #[error("signature does not match any configured secret")]
    BadSignature,
    #[error("X-Timestamp is {skew_seconds} s away from now, outside the replay window of {window_seconds} s")]
    OutsideWindow { skew_seconds: u64, window_seconds: u64 },
}

/// Why an authentic callback's body cannot be used (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyProblem {
    #[error("body is not a JSON object ({0})")]
    NotJsonObject(String),
    #[error("field orderId is missing")]
    MissingOrderId,
    #[error("field {field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

/// The signature headers of one callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackHeaders {
    /// `X-Request-Id`: the idempotency key.
    pub request_id: String,
    /// `X-Timestamp` exactly as it enters the signature.
    pub timestamp: String,
    /// `X-Timestamp` as unix milliseconds.
    pub timestamp_ms: u64,
    /// `X-Signature` as received.
    pub signature: String,
}

/// The body of one callback. Every value is kept as exact text (`orderId` has 16+ digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCallback {
    pub order_id: String,
    pub order_num: Option<String>,
    /// Any value is kept: the platform announces statuses beyond 1.
    pub seller_order_status: Option<String>,
    pub created_at: Option<String>,
    pub buyer_id: Option<String>,
}

impl StatusCallback {
    pub fn awaits_delivery(&self) -> bool {
        self.seller_order_status.as_deref() == Some(AWAITING_DELIVERY)
    }
}

fn one_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
    shown: &'static str,
) -> Result<&'h str, AuthFailure> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(AuthFailure::MissingHeader(shown))?;
    if values.next().is_some() {
        return Err(AuthFailure::RepeatedHeader(shown));
    }
    let text = value.to_str().map_err(|_| AuthFailure::MalformedHeader {
        header: shown,
        reason: "not printable ASCII".into(),
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(AuthFailure::MissingHeader(shown));
    }
    Ok(text)
}

/// Reads `X-Request-Id`, `X-Timestamp` and `X-Signature` (header names in any case; each exactly
/// once).
pub fn read_headers(headers: &HeaderMap) -> Result<CallbackHeaders, AuthFailure> {
    let request_id = one_header(headers, REQUEST_ID_HEADER, "X-Request-Id")?;
    validate_id(request_id).map_err(|e| AuthFailure::MalformedHeader {
        header: "X-Request-Id",
        reason: e.to_string(),
    })?;
    let timestamp = one_header(headers, TIMESTAMP_HEADER, "X-Timestamp")?;
    if !is_plain_unsigned_integer(timestamp) || timestamp.len() > MAX_TIMESTAMP_DIGITS {
        return Err(AuthFailure::MalformedHeader {
            header: "X-Timestamp",
            reason: "expected unix milliseconds".into(),
        });
    }
    let timestamp_ms = timestamp.parse().map_err(|_| AuthFailure::MalformedHeader {
        header: "X-Timestamp",
        reason: "out of range".into(),
    })?;
    let signature = one_header(headers, SIGNATURE_HEADER, "X-Signature")?;
    Ok(CallbackHeaders {
        request_id: request_id.to_owned(),
        timestamp: timestamp.to_owned(),
        timestamp_ms,
        signature: signature.to_owned(),
    })
}

/// `HMAC-SHA256(key = secret, message = X-Timestamp + X-Request-Id + secret)`.
pub fn compute_signature(secret: &str, timestamp: &str, request_id: &str) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(request_id.as_bytes());
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The lower-case hex `X-Signature` the platform would send (for tests and sample events).
pub fn signature_hex(secret: &str, timestamp: &str, request_id: &str) -> String {
    hex::encode(compute_signature(secret, timestamp, request_id))
}

/// Verifies `X-Signature` against every secret: hex compared without regard to case, each
/// comparison in constant time, never stopping at the first match.
pub fn verify_signature(headers: &CallbackHeaders, secrets: &[Secret]) -> Result<(), AuthFailure> {
    let signs = |secret: &str| compute_signature(secret, &headers.timestamp, &headers.request_id);
    if any_secret_signs(&headers.signature, secrets, signs) {
        Ok(())
    } else {
        Err(AuthFailure::BadSignature)
    }
}

/// Refuses an `X-Timestamp` further than `window` from `now_ms`, in either direction.
/// `None` disables the check.
pub fn check_window(timestamp_ms: u64, now_ms: u64, window: Option<Duration>) -> Result<(), AuthFailure> {
    let Some(window) = window else {
        return Ok(());
    };
    let skew_ms = now_ms.abs_diff(timestamp_ms);
    if u128::from(skew_ms) > window.as_millis() {
        return Err(AuthFailure::OutsideWindow {
            skew_seconds: skew_ms / 1000,
            window_seconds: window.as_secs(),
        });
    }
    Ok(())
}

fn optional_text(object: &RawObject<'_>, field: &'static str) -> Result<Option<String>, BodyProblem> {
    let invalid = |reason: String| BodyProblem::InvalidField { field, reason };
    let Some(raw) = object.field(field, &[]).map_err(|e| invalid(e.to_string()))? else {
        return Ok(None);
    };
    let text = match scalar_text(raw) {
        Ok(text) => text.into_string(),
        Err(RawKind::Null) => return Ok(None),
        Err(_) => return Err(invalid("expected a string or number".into())),
    };
    if text.chars().count() > MAX_FIELD_LEN {
        return Err(invalid(format!("longer than {MAX_FIELD_LEN} characters")));
    }
    Ok(Some(text))
}

/// Parses a callback body. Field names match in any case; values are kept as exact text.
/// Only `orderId` is required: an unsigned integer, as a JSON number (never through `f64`) or a
/// string of digits.
pub fn parse_body(body: &str) -> Result<StatusCallback, BodyProblem> {
    let object = RawObject::parse(body).map_err(|e| {
        BodyProblem::NotJsonObject(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let invalid_id = |reason: &str| BodyProblem::InvalidField {
        field: "orderId",
        reason: reason.into(),
    };
    let raw_id = object
        .field("orderId", &[])
        .map_err(|e| invalid_id(&e.to_string()))?
        .ok_or(BodyProblem::MissingOrderId)?;
    let order_id = match scalar_text(raw_id) {
        Ok(ScalarText::Number(n) | ScalarText::String(n)) if is_plain_unsigned_integer(&n) => n,
        Err(RawKind::Null) => return Err(BodyProblem::MissingOrderId),
        _ => return Err(invalid_id("expected an unsigned integer")),
    };
    validate_id(&order_id).map_err(|e| invalid_id(&e.to_string()))?;
    Ok(StatusCallback {
        order_id,
        order_num: optional_text(&object, "orderNum")?,
        seller_order_status: optional_text(&object, "sellerOrderStatus")?,
        created_at: optional_text(&object, "createdAt")?,
        buyer_id: optional_text(&object, "buyerId")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    // The worked vector of docs.igv.com (see ../shared/partner-docs/NOTES.md).
    const TS: &str = "1734850099000";
    const RID: &str = "2002986662652579841";
    const SECRET: &str = "aBcDeFgHiJkLmNoPqRsTuVwXyZ012345";
    const EXPECTED: &str = "fd3b0ee18d6a018a553de2b3a2e4f380daa87917401e4981f302d2abee7abd8e";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    #[test]
    fn the_documented_vector() {
        assert_eq!(signature_hex(SECRET, TS, RID), EXPECTED);
    }

    #[test]
    fn headers_in_any_case_verify_with_any_configured_secret() {
        let h = headers(&[
            ("X-REQUEST-ID", RID),
            ("x-timestamp", TS),
            ("X-Signature", &EXPECTED.to_uppercase()),
        ]);
        let parsed = read_headers(&h).unwrap();
        assert_eq!(parsed.timestamp_ms, 1_734_850_099_000);
        assert!(verify_signature(&parsed, &secrets(&["old-secret", SECRET])).is_ok());
        assert_eq!(
            verify_signature(&parsed, &secrets(&["old-secret"])),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(verify_signature(&parsed, &[]), Err(AuthFailure::BadSignature));
    }

    #[test]
    fn a_signature_for_another_request_is_refused() {
        let h = headers(&[
            ("x-request-id", "2002986662652579842"),
            ("x-timestamp", TS),
            ("x-signature", EXPECTED),
        ]);
        assert_eq!(
            verify_signature(&read_headers(&h).unwrap(), &secrets(&[SECRET])),
            Err(AuthFailure::BadSignature)
        );
        let h = headers(&[
            ("x-request-id", RID),
            ("x-timestamp", "1734850099001"),
            ("x-signature", EXPECTED),
        ]);
        assert_eq!(
            verify_signature(&read_headers(&h).unwrap(), &secrets(&[SECRET])),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn every_single_character_change_of_the_signature_is_refused() {
        for i in 0..EXPECTED.len() {
            let mut bytes = EXPECTED.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
            let sig = String::from_utf8(bytes).unwrap();
            let h = headers(&[("x-request-id", RID), ("x-timestamp", TS), ("x-signature", &sig)]);
            assert_eq!(
                verify_signature(&read_headers(&h).unwrap(), &secrets(&[SECRET])),
                Err(AuthFailure::BadSignature)
            );
        }
    }

    #[test]
    fn missing_repeated_and_malformed_headers() {
        let h = headers(&[("x-timestamp", TS), ("x-signature", EXPECTED)]);
        assert_eq!(read_headers(&h), Err(AuthFailure::MissingHeader("X-Request-Id")));
        let h = headers(&[("x-request-id", RID), ("x-timestamp", TS)]);
        assert_eq!(read_headers(&h), Err(AuthFailure::MissingHeader("X-Signature")));
        let h = headers(&[
            ("x-request-id", RID),
            ("x-request-id", "other"),
            ("x-timestamp", TS),
            ("x-signature", EXPECTED),
        ]);
        assert_eq!(read_headers(&h), Err(AuthFailure::RepeatedHeader("X-Request-Id")));
        for ts in ["", "17348500990.00", "-1", "1e12", "99999999999999999"] {
            let h = headers(&[
                ("x-request-id", RID),
                ("x-timestamp", ts),
                ("x-signature", EXPECTED),
            ]);
            assert!(read_headers(&h).is_err(), "timestamp {ts:?}");
        }
        let long = "r".repeat(129);
        for rid in ["has space", long.as_str()] {
            let h = headers(&[
                ("x-request-id", rid),
                ("x-timestamp", TS),
                ("x-signature", EXPECTED),
            ]);
            assert!(
                matches!(read_headers(&h), Err(AuthFailure::MalformedHeader { .. })),
                "{rid}"
            );
        }
        let bad_sig = headers(&[
            ("x-request-id", RID),
            ("x-timestamp", TS),
            ("x-signature", "not-hex"),
        ]);
        assert_eq!(
            verify_signature(&read_headers(&bad_sig).unwrap(), &secrets(&[SECRET])),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn the_replay_window_is_inclusive_in_both_directions_and_can_be_disabled() {
        let w = Some(Duration::from_secs(60));
        assert!(check_window(1_000_000, 1_060_000, w).is_ok());
        assert!(check_window(1_060_000, 1_000_000, w).is_ok());
        assert!(check_window(1_000_000, 1_060_001, w).is_err());
        assert!(check_window(1_060_001, 1_000_000, w).is_err());
        assert!(check_window(0, u64::MAX, None).is_ok());
        assert_eq!(
            check_window(0, 120_000, w),
            Err(AuthFailure::OutsideWindow {
                skew_seconds: 120,
                window_seconds: 60
            })
        );
    }

    #[test]
    fn the_documented_body_keeps_the_order_id_exact() {
        let body = r#"{"createdAt":"2025-12-17T13:44:16","orderId":1689644928115784,"orderNum":"SO1689644928115784","sellerOrderStatus":1,"buyerId":"1907369850568257537"}"#;
        let cb = parse_body(body).unwrap();
        assert_eq!(cb.order_id, "1689644928115784");
        assert_eq!(cb.order_num.as_deref(), Some("SO1689644928115784"));
        assert_eq!(cb.seller_order_status.as_deref(), Some("1"));
        assert!(cb.awaits_delivery());
        assert_eq!(cb.buyer_id.as_deref(), Some("1907369850568257537"));
        // Larger than 2^53: an f64 parser would round it.
        let cb = parse_body(r#"{"orderId":98765432109876543210}"#).unwrap();
        assert_eq!(cb.order_id, "98765432109876543210");
        assert_eq!(cb.seller_order_status, None);
    }

    #[test]
    fn unknown_statuses_are_kept() {
        let cb = parse_body(r#"{"orderId":"12","sellerOrderStatus":7}"#).unwrap();
        assert_eq!(cb.seller_order_status.as_deref(), Some("7"));
        assert!(!cb.awaits_delivery());
        let cb = parse_body(r#"{"ORDERID":12,"sellerorderstatus":"shipped"}"#).unwrap();
        assert_eq!(cb.seller_order_status.as_deref(), Some("shipped"));
    }

    #[test]
    fn bodies_without_a_usable_order_id_are_refused() {
        assert!(matches!(
            parse_body("not json"),
            Err(BodyProblem::NotJsonObject(_))
        ));
        assert!(matches!(parse_body("[]"), Err(BodyProblem::NotJsonObject(_))));
        assert_eq!(parse_body("{}"), Err(BodyProblem::MissingOrderId));
        assert_eq!(
            parse_body(r#"{"orderId":null}"#),
            Err(BodyProblem::MissingOrderId)
        );
        for bad in [
            r#"{"orderId":1.5}"#,
            r#"{"orderId":-1}"#,
            r#"{"orderId":"SO-1"}"#,
            r#"{"orderId":{}}"#,
            r#"{"orderId":1,"orderid":2}"#,
            r#"{"orderId":1,"sellerOrderStatus":[1]}"#,
        ] {
            assert!(
                matches!(parse_body(bad), Err(BodyProblem::InvalidField { .. })),
                "{bad}"
            );
        }
    }
}
