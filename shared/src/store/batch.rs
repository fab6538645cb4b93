//! Many items at once: `BatchGetItem` (what a feed already has, so rows read again cost no write)
//! and `BatchWriteItem` (rows whose key is derived from their content, so a put is idempotent).
//! Both resend what DynamoDB leaves unprocessed, with a growing pause, and give up after a few
//! rounds with an error (the caller answers failure; nothing is skipped silently).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::{Item, Store, StoreError, get_s, s};

/// DynamoDB's limits per request.
const GET_BATCH: usize = 100;
const WRITE_BATCH: usize = 25;
/// Requests of one page in flight at once.
pub const CONCURRENCY: usize = 8;
/// Rounds of resending what DynamoDB left unprocessed before giving up.
const UNPROCESSED_ROUNDS: u32 = 8;

/// A primary key.
pub type Key = (String, String);

fn key_item((pk, sk): &Key) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn pause(round: u32) -> Duration {
    Duration::from_millis(50 << round.min(5))
}

impl Store {
    /// The items stored under `keys` (strongly consistent reads), with only the `attributes`
    /// asked for (the key attributes always come back), and the requests made. Keys not stored
    /// are absent from the map.
    pub async fn get_many(
        &self,
        keys: &[Key],
        attributes: &[&str],
    ) -> Result<(HashMap<Key, Item>, u64), StoreError> {
        self.get_batches(keys, Some(attributes)).await
    }

    /// [`Store::get_many`] with every attribute of each item.
    pub async fn get_whole(&self, keys: &[Key]) -> Result<(HashMap<Key, Item>, u64), StoreError> {
        self.get_batches(keys, None).await
    }

    /// `BatchGetItem` over `keys` (deduplicated, 100 a request, 8 requests at once); `attributes`:
    /// the projection beside the key (`None`: whole items).
    async fn get_batches(
        &self,
        keys: &[Key],
        attributes: Option<&[&str]>,
    ) -> Result<(HashMap<Key, Item>, u64), StoreError> {
        let mut unique = keys.to_vec();
        unique.sort();
        unique.dedup();
        let chunks: Vec<Vec<Key>> = unique.chunks(GET_BATCH).map(<[Key]>::to_vec).collect();
        let results: Vec<(Vec<Item>, u64)> = stream::iter(chunks)
            .map(|chunk| self.get_chunk(chunk, attributes))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let mut found = HashMap::new();
        let mut calls = 0;
        for (items, n) in results {
            calls += n;
            for item in items {
                if let (Some(pk), Some(sk)) = (get_s(&item, "pk"), get_s(&item, "sk")) {
                    found.insert((pk.to_owned(), sk.to_owned()), item);
                }
            }
        }
        Ok((found, calls))
    }

    async fn get_chunk(
        &self,
        chunk: Vec<Key>,
        attributes: Option<&[&str]>,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let projection = attributes.map(|attributes| {
            let mut names = HashMap::from([
                ("#pk".to_owned(), "pk".to_owned()),
                ("#sk".to_owned(), "sk".to_owned()),
            ]);
            let mut expression = vec!["#pk".to_owned(), "#sk".to_owned()];
            for (i, attribute) in attributes.iter().enumerate() {
                names.insert(format!("#a{i}"), (*attribute).to_owned());
                expression.push(format!("#a{i}"));
            }
            (expression.join(", "), names)
        });
        let mut pending: Vec<Item> = chunk.iter().map(key_item).collect();
        let mut items = Vec::new();
        let mut calls = 0;
        for round in 0..UNPROCESSED_ROUNDS {
            calls += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .set_projection_expression(projection.as_ref().map(|(e, _)| e.clone()))
                .set_expression_attribute_names(projection.as_ref().map(|(_, n)| n.clone()))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unexpected {
                    operation: "BatchGetItem",
                    detail: e.to_string(),
                })?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| StoreError::sdk("BatchGetItem", e))?;
            if let Some(mut responses) = output.responses {
                items.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut left| left.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok((items, calls));
            }
            tokio::time::sleep(pause(round)).await;
        }
        Err(StoreError::Unexpected {
            operation: "BatchGetItem",
            detail: format!(
                "{} keys still unprocessed after {UNPROCESSED_ROUNDS} rounds",
                pending.len()
            ),
        })
    }

    /// Puts every item (unconditionally: their keys are derived from their content) in batches of
    /// 25, and returns the requests made. Every item is confirmed before this returns `Ok`.
    pub async fn put_many(&self, items: Vec<Item>) -> Result<u64, StoreError> {
        let writes: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("item is set"),
                    )
                    .build()
            })
            .collect();
        let batches: Vec<Vec<WriteRequest>> =
            writes.chunks(WRITE_BATCH).map(<[WriteRequest]>::to_vec).collect();
        stream::iter(batches)
            .map(|batch| self.write_chunk(batch))
            .buffer_unordered(CONCURRENCY)
            .try_fold(0, |sum, calls| async move { Ok(sum + calls) })
            .await
    }

    async fn write_chunk(&self, batch: Vec<WriteRequest>) -> Result<u64, StoreError> {
        let mut pending = batch;
        let mut calls = 0;
        for round in 0..UNPROCESSED_ROUNDS {
            calls += 1;
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| StoreError::sdk("BatchWriteItem", e))?;
            pending = output
                .unprocessed_items
                .and_then(|mut left| left.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(calls);
            }
            tokio::time::sleep(pause(round)).await;
        }
        Err(StoreError::Unexpected {
            operation: "BatchWriteItem",
            detail: format!(
                "{} items still unprocessed after {UNPROCESSED_ROUNDS} rounds",
                pending.len()
            ),
        })
    }
}
