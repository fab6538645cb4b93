//! iGV: the Order Status Callback.

pub mod callback;
pub mod handoff;
pub mod not_understood;
pub mod protocol;
pub mod settings;
pub mod store;
