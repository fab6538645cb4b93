//! Linkbest: Order Push 2.0 (the postback) and the open API's feeds.
//!
//! - `push` (parse, verify), `postback` (the postback function's flow), `store` (push records);
//! - `view`: the order view both channels move forward, and its version rule;
//! - `api` (signing, the answer's envelope), `client` (HTTP, retries, pacing);
//! - `feed` (a Linkbest feed for the feed machine) and the feeds: `settlement`, `orders`;
//! - `sync`: the linkbest-sync function's flow over every feed.

pub mod api;
pub mod client;
pub mod feed;
pub mod handoff;
pub mod orders;
pub mod postback;
pub mod push;
pub mod settings;
pub mod settlement;
pub mod store;
pub mod sync;
pub mod unlinked;
pub mod view;
