//! The library every function of the bundle uses: partner protocols (pure parsing and
//! signatures), DynamoDB access, configuration and logging.

pub mod aws;
pub mod callback;
pub mod config;
pub mod http;
pub mod igv_callback;
pub mod json;
pub mod keys;
pub mod linkbest_api;
pub mod linkbest_client;
pub mod linkbest_push;
pub mod logging;
pub mod metrics;
pub mod postback;
pub mod secret;
pub mod settlement;
pub mod settlement_sync;
pub mod store;
pub mod tls;
