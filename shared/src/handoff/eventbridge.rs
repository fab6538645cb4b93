//! The bus port on Amazon EventBridge: one `PutEvents` request per [`Entry`] batch, on the bus
//! `EVENT_BUS_NAME`. Per-entry answers come back in order (`FailedEntryCount`, each entry's
//! `ErrorCode`); a request that fails as a whole (throttled, unreachable) refuses all its entries.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use tracing::Instrument;

use super::publish::{Bus, BusError, Entry};
use crate::feed::BoxFuture;

/// EventBridge as the bus.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: &str) -> Self {
        Self {
            client,
            bus_name: bus_name.to_owned(),
        }
    }
}

impl Bus for EventBridgeBus {
    fn put_events<'a>(
        &'a self,
        entries: &'a [Entry],
    ) -> BoxFuture<'a, Result<Vec<Option<String>>, BusError>> {
        Box::pin(async move {
            let request = entries.iter().map(|entry| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(&entry.source)
                    .detail_type(entry.detail_type)
                    .detail(&entry.detail)
                    .set_trace_header(entry.trace_header.clone())
                    .build()
            });
            let answer = self
                .client
                .put_events()
                .set_entries(Some(request.collect()))
                .send()
                .instrument(tracing::info_span!(target: crate::trace::TARGET, "EventBridge", operation = "PutEvents", entries = entries.len()))
                .await
                .map_err(|e| BusError(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
            Ok(answer
                .entries()
                .iter()
                .map(|result| {
                    result
                        .error_code()
                        .map(|code| format!("{code}: {}", result.error_message().unwrap_or_default()))
                })
                .collect())
        })
    }
}
