//! The hand-off publisher's reading of a DynamoDB stream record on arbitrary bytes: the record
//! reader, then every partner's view description. A record of any shape is a poison record or an
//! event, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::handoff::stream::read_record;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(change) = read_record(&value) {
        for describe in [shared::linkbest::handoff::describe, shared::igv::handoff::describe] {
            if let Some(event) = describe(&change) {
                assert!(!event.changes.is_empty());
                assert_eq!(event.event_id.len(), 32);
                let _ = serde_json::to_string(&event).expect("an event serializes");
            }
        }
    }
});
