//! The iGV callback headers and body on arbitrary bytes: the input is split into the three header
//! values and the body at the first three newlines.
#![no_main]

use lambda_http::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use shared::igv::protocol::{check_window, parse_body, read_headers, verify_signature};
use shared::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let mut headers = HeaderMap::new();
    for name in ["x-request-id", "x-timestamp", "x-signature"] {
        if let Some(value) = parts.next().and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.append(name, value);
        }
    }
    if let Ok(h) = read_headers(&headers) {
        let _ = verify_signature(&h, &[Secret::new("FuzzSecret0123456789abcdefABCDEF")]);
        let _ = check_window(h.timestamp_ms, 1_795_440_540_000, Some(std::time::Duration::from_secs(300)));
    }
    if let Some(body) = parts.next().and_then(|b| std::str::from_utf8(b).ok()) {
        let _ = parse_body(body);
    }
});
