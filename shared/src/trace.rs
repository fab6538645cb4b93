//! Traces from the partner's request to the consumer (issue #30.1), with AWS X-Ray.
//!
//! Decided: X-Ray itself, not OpenTelemetry. With active tracing Lambda already opens the
//! function's segment and runs the X-Ray daemon beside it; what the functions add are subsegments
//! — UDP datagrams in the daemon's documented format to `AWS_XRAY_DAEMON_ADDRESS` — and the trace
//! header on what they hand on. OpenTelemetry would put a collector layer (ADOT) in every
//! function: tens of MB and a slower cold start, for the same segments in the end (its exporter
//! writes X-Ray too). No X-Ray SDK exists for Rust; the protocol is a header line and a JSON
//! document, so [`XRayLayer`] is a `tracing` layer of about a hundred lines.
//!
//! - Every span of target `xray` becomes an independent subsegment of the invocation's segment
//!   (its parent: the enclosing `xray` span, else the `Parent` of the invocation's trace header),
//!   sent when it closes, and only when the invocation is sampled.
//! - The invocation's trace header (`_X_AMZN_TRACE_ID`, set by the runtime for each invocation;
//!   a task may carry its own, [`with_header`]) is kept with every view version a write makes
//!   ([`TRACE_HEADER`]); the publisher sets it as the `PutEvents` entry's `TraceHeader`, so the
//!   consumer's trace of the event links back to the push or callback that made it.
//! - Every log line inside an invocation carries the runtime's span with its `xrayTraceId`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use serde_json::{Value, json};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The environment variable the Lambda runtime sets to the invocation's trace header.
pub const TRACE_HEADER_ENV: &str = "_X_AMZN_TRACE_ID";
/// The attribute of a view (and a settlement change) holding the trace header of the write that
/// made its current version.
pub const TRACE_HEADER: &str = "trace_header";
/// The target of the spans [`XRayLayer`] exports.
pub const TARGET: &str = "xray";

tokio::task_local! {
    static HEADER: String;
}

/// The trace header of the current invocation: the task's own ([`with_header`]), else the
/// runtime's `_X_AMZN_TRACE_ID`.
pub fn current_header() -> Option<String> {
    HEADER
        .try_with(Clone::clone)
        .ok()
        .or_else(|| std::env::var(TRACE_HEADER_ENV).ok())
        .filter(|h| TraceHeader::parse(h).is_some())
}

/// Runs `f` with `header` as its trace header (tests and tools; the functions have the runtime's).
pub async fn with_header<F: std::future::Future>(header: String, f: F) -> F::Output {
    HEADER.scope(header, f).await
}

/// An X-Ray trace header: `Root=1-…;Parent=…;Sampled=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: Option<String>,
    pub sampled: Option<bool>,
}

impl TraceHeader {
    pub fn parse(text: &str) -> Option<Self> {
        let mut header = TraceHeader {
            root: String::new(),
            parent: None,
            sampled: None,
        };
        for part in text.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", v)) => header.root = v.to_owned(),
                Some(("Parent", v)) => header.parent = Some(v.to_owned()),
                Some(("Sampled", v)) => header.sampled = Some(v == "1"),
                _ => {}
            }
        }
        let valid_root = header.root.len() == 35
            && header.root.starts_with("1-")
            && header.root.as_bytes()[10] == b'-'
            && header
                .root
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| b.is_ascii_hexdigit());
        valid_root.then_some(header)
    }

    pub fn to_header(&self) -> String {
        let mut text = format!("Root={}", self.root);
        if let Some(parent) = &self.parent {
            text.push_str(&format!(";Parent={parent}"));
        }
        if let Some(sampled) = self.sampled {
            text.push_str(&format!(";Sampled={}", u8::from(sampled)));
        }
        text
    }
}

/// A new trace id: `1-<epoch seconds, 8 hex>-<96 random bits, 24 hex>`.
pub fn new_root(epoch_secs: u64) -> String {
    format!("1-{:08x}-{:024x}", epoch_secs as u32, fastrand::u128(..) >> 32)
}

/// A new segment or subsegment id: 64 random bits, 16 hex.
pub fn new_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The fields of a span, as X-Ray annotations.
#[derive(Default)]
struct Fields(BTreeMap<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }
}

/// What the layer keeps of an open `xray` span.
struct Open {
    id: String,
    trace_id: String,
    parent_id: Option<String>,
    start: f64,
    fields: Fields,
}

/// The exporter: each `xray` span, closed, as one subsegment document to the X-Ray daemon.
pub struct XRayLayer {
    socket: UdpSocket,
    daemon: SocketAddr,
}

impl XRayLayer {
    /// To the daemon of `AWS_XRAY_DAEMON_ADDRESS` (`host:port`, or `udp:host:port tcp:host:port`),
    /// which Lambda sets when active tracing is on; `None` without it.
    pub fn from_env() -> Option<Self> {
        let address = std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?;
        let udp = address
            .split_whitespace()
            .find_map(|part| part.strip_prefix("udp:"))
            .unwrap_or_else(|| address.split_whitespace().next().unwrap_or_default());
        Self::to(udp)
    }

    /// To the daemon at `address`.
    pub fn to(address: &str) -> Option<Self> {
        let daemon = address.to_socket_addrs().ok()?.next()?;
        let socket = UdpSocket::bind(if daemon.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).ok()?;
        socket.set_nonblocking(true).ok()?;
        Some(Self { socket, daemon })
    }

    fn send(&self, document: &Value) {
        // Never in the way of a delivery: a datagram that cannot be sent is dropped, as the
        // X-Ray SDKs drop it.
        let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{document}");
        let _ = self.socket.send_to(datagram.as_bytes(), self.daemon);
    }
}

impl<S> Layer<S> for XRayLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != TARGET {
            return;
        }
        let Some(header) = current_header().and_then(|h| TraceHeader::parse(&h)) else {
            return;
        };
        if header.sampled == Some(false) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let parent_id = span
            .scope()
            .skip(1)
            .find_map(|ancestor| ancestor.extensions().get::<Open>().map(|open| open.id.clone()))
            .or(header.parent);
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(Open {
            id: new_id(),
            trace_id: header.root,
            parent_id,
            start: now_secs(),
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(open) = span.extensions_mut().get_mut::<Open>()
        {
            values.record(&mut open.fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let mut document = json!({
            "name": span.name(),
            "id": open.id,
            "trace_id": open.trace_id,
            "start_time": open.start,
            "end_time": now_secs(),
            "type": "subsegment",
            "annotations": open.fields.0,
        });
        if let Some(parent) = open.parent_id {
            document["parent_id"] = Value::from(parent);
        }
        if let Some(operation) = document["annotations"].get("operation").cloned() {
            // An AWS call: shown as the service's node in the trace map.
            document["namespace"] = Value::from("aws");
            document["aws"] = json!({"operation": operation});
        }
        self.send(&document);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_nonsense_is_none() {
        let text = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let header = TraceHeader::parse(text).unwrap();
        assert_eq!(header.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(header.parent.as_deref(), Some("53995c3f42cd8ad8"));
        assert_eq!(header.sampled, Some(true));
        assert_eq!(header.to_header(), text);
        assert!(TraceHeader::parse("Root=1-nothex!-x;Sampled=1").is_none());
        assert!(TraceHeader::parse("").is_none());
        let root = new_root(1_765_000_000);
        assert!(TraceHeader::parse(&format!("Root={root}")).is_some(), "{root}");
        assert_eq!(new_id().len(), 16);
    }
}
