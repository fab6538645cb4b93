//! The Linkbest push body parser and signature check on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::linkbest::push::{parse_push, verify_sign};
use shared::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(push) = parse_push(text) {
        let _ = push.is_test_push();
        let _ = push.version();
        let _ = verify_sign(&push, &[Secret::new("fuzz-token")]);
    }
});
