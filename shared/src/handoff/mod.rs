//! The hand-off: every committed change of an order view leaves the table as one partner-neutral
//! event (`contract`) on an EventBridge bus, read from the table's stream (`stream`) and published
//! in batches (`publish`). Partner-neutral: each partner describes its own view items in its own
//! module (`linkbest::handoff`, `igv::handoff`), as each describes its feeds; the publisher is
//! handed that list.

pub mod contract;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
pub mod publish;
pub mod replay;
pub mod set_aside;
pub mod settings;
pub mod stream;

pub use contract::{Change, Channel, OrderEvent, TableKey};
pub use stream::{Image, ViewChange};

/// How a partner describes a change of one of its view items: the event, or `None` when the
/// record is not one of its views or changed no view (a duplicate, a record, a checkpoint).
pub type Describe = fn(&ViewChange) -> Option<OrderEvent>;
