//! The Linkbest open API's answer on arbitrary bytes, read as both feeds read it: the envelope,
//! then the rows as settlement changes and as listed orders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::linkbest::api::parse_envelope;
use shared::linkbest::orders::{OrderRow, parse_orders};
use shared::linkbest::settlement::parse_changes;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(envelope) = parse_envelope(text) {
        if let Ok(changes) = parse_changes(&envelope.rows) {
            for change in &changes {
                let _ = change.identity_fields();
            }
        }
        if let Ok(orders) = parse_orders(&envelope.rows) {
            for row in &orders {
                match row {
                    OrderRow::Listed(order) => {
                        assert!(shared::keys::validate_id(&order.order_sn).is_ok())
                    }
                    OrderRow::Unlinked(row) => assert!(!row.raw.is_empty()),
                }
            }
        }
    }
});
