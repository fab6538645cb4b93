//! iGV: the Order Status Callback.

pub mod callback;
pub mod handoff;
pub mod protocol;
pub mod settings;
pub mod store;
