//! Fault injection between a handler and the real DynamoDB-compatible server: an SDK interceptor
//! that fails chosen DynamoDB operations, either before the request is sent (the store never sees
//! it) or after the server answered (the write happened, but the caller sees an error, as with a
//! connection reset after the write reached DynamoDB).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::Metadata;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// When an injected fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// The request never leaves the client.
    BeforeSending,
    /// The server processed the request; its answer is lost.
    AfterServerAnswered,
}

/// Fails the next `times` calls of one DynamoDB operation (e.g. `"UpdateItem"`).
#[derive(Debug, Clone)]
pub struct FailCalls {
    operation: &'static str,
    strike: Strike,
    remaining: Arc<AtomicU32>,
    injected: Arc<AtomicU32>,
}

impl FailCalls {
    pub fn new(operation: &'static str, strike: Strike, times: u32) -> Self {
        Self {
            operation,
            strike,
            remaining: Arc::new(AtomicU32::new(times)),
            injected: Arc::new(AtomicU32::new(0)),
        }
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u32 {
        self.injected.load(Ordering::SeqCst)
    }

    fn strike(&self, cfg: &ConfigBag, now: Strike) -> Result<(), BoxError> {
        if now != self.strike || cfg.load::<Metadata>().map(Metadata::name) != Some(self.operation) {
            return Ok(());
        }
        let took = self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if took {
            self.injected.fetch_add(1, Ordering::SeqCst);
            return Err(format!("injected fault: {} {:?}", self.operation, self.strike).into());
        }
        Ok(())
    }
}

impl Intercept for FailCalls {
    fn name(&self) -> &'static str {
        "FailCalls"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.strike(cfg, Strike::BeforeSending)
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.strike(cfg, Strike::AfterServerAnswered)
    }
}

/// The same client with a fault injector added.
pub fn with_fault(client: &Client, fault: FailCalls) -> Client {
    Client::from_conf(client.config().to_builder().interceptor(fault).build())
}
