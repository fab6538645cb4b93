//! The library every function of the bundle uses, by partner first:
//!
//! - [`linkbest`]: Order Push 2.0 (`push`: parse and verify; `postback`: the postback function's
//!   flow; `store`: push records and the order view), the open API (`api`: signing and the answer
//!   envelope; `client`: HTTP with retries) and its feeds (`settlement`, `orders`);
//! - [`igv`]: the Order Status Callback (`protocol`: parse and verify; `callback`: the callback
//!   function's flow; `store`: callback records and the order view);
//! - [`handoff`]: the partner-neutral hand-off (a view change → one event on a bus), each
//!   partner describing its views in its own `handoff` module;
//! - [`feed`]: the partner-neutral feed machine (window planning, paging, checkpoint and lease,
//!   deadline) that the scheduled sync runs every feed with;
//! - [`store`]: DynamoDB access shared by all (create-once with a forward-only view, batches,
//!   checkpoints), [`keys`] (the key design), and configuration, logging, metrics, TLS.

pub mod aws;

/// Every partner's order views in the hand-off, the one declaration the publisher, `ops
/// republish`, the tests and the bench read: a new partner adds its `handoff::describe` here.
pub const VIEWS: &[handoff::Describe] = &[linkbest::handoff::describe, igv::handoff::describe];
pub mod config;
pub mod feed;
pub mod handoff;
pub mod http;
pub mod igv;
pub mod json;
pub mod keys;
pub mod linkbest;
pub mod logging;
pub mod metrics;
pub mod refused;
pub mod secret;
pub mod store;
pub mod tls;
pub mod trace;
