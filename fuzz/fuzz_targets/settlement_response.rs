//! The Linkbest settlement answer parser on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::linkbest_api::parse_settlement_page;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(page) = parse_settlement_page(text) {
        for change in &page.changes {
            let _ = change.identity_fields();
        }
    }
});
