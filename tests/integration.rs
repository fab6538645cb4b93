//! The integration tests, one module per subject, in one test binary: it starts one DynamoDB Local
//! (every test makes its own table in it) and runs the tests of every module side by side.
//!
//!   cargo test -p integration-tests --test integration orders::   one module
//!   cargo test -p integration-tests --test integration a_backfill  any test by name

mod callback;
mod docs;
mod events;
mod faults;
mod handoff;
mod histories;
mod hostile;
mod operator;
mod orders;
mod peak;
mod postback;
mod redrive;
mod reprocess;
mod schema;
mod secrets;
mod settlement;
mod template;
mod trace;
