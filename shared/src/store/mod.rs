//! The DynamoDB layer: one table, typed items (`serde_dynamo`), conditional writes whose
//! failures are typed errors, optimistic locking, and cursor pagination.
//!
//! Every access is a GetItem, a BatchGetItem, one Query, one PutItem/UpdateItem, a
//! BatchWriteItem of idempotent puts, or one TransactWriteItems.
//! The key layout lives in [`keys`].

pub mod attr;
pub mod cursor;
mod error;
pub mod keys;
mod query;
mod update;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue,
    TransactWriteItem, WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::attributes;
pub use attr::Attr;
pub use cursor::{CursorCodec, CursorError, NoCursorKey};
pub use error::{OnCondition, StoreError, expect_version};
pub use query::{KeyQuery, Page, PageRequest, SortKey};
pub use update::Update;

use error::sdk_error;
pub use keys::{Index, Key};

use crate::clock::Clock;

/// One raw item as DynamoDB returns it.
pub type RawItem = HashMap<String, AttributeValue>;

/// An item as a DynamoDB stream record carries it (`NewImage`, in DynamoDB's JSON), read as a
/// typed item on demand.
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct StreamImage(serde_dynamo::Item);

impl StreamImage {
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, StoreError> {
        Ok(serde_dynamo::from_item(self.0)?)
    }
}

/// The DynamoDB client of a store, built when the first call is made (or given). Building one
/// parses the SDK's partition table and compiles its region patterns, the largest piece of a
/// function's own init (BENCHMARKS.md); built on first use it no longer delays the runtime's
/// first poll for an event. (It still costs the first request the same: the cold overhead in
/// BENCHMARKS.md counts both.)
type LazyClient = Arc<LazyLock<Client, Box<dyn FnOnce() -> Client + Send>>>;

/// The table, its client and what reads and writes need (clock for TTL, codec for cursors).
#[derive(Clone)]
pub struct Store {
    client: LazyClient,
    table: String,
    cursors: CursorCodec,
    clock: Clock,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        cursors: CursorCodec,
        clock: Clock,
    ) -> Self {
        Self {
            client: Arc::new(LazyLock::new(Box::new(move || client))),
            table: table.into(),
            cursors,
            clock,
        }
    }

    /// A store whose client is built from `sdk` when the first call is made (no work now).
    pub fn on_first_use(
        sdk: crate::aws::SdkConfig,
        table: impl Into<String>,
        cursors: CursorCodec,
        clock: Clock,
    ) -> Self {
        Self {
            client: Arc::new(LazyLock::new(Box::new(move || Client::new(&sdk)))),
            table: table.into(),
            cursors,
            clock,
        }
    }

    /// Starts reading the cursor key if it is read on first use (see [`crate::secrets`]).
    pub fn start_reading_cursor_key(&self) {
        self.cursors.start();
    }

    /// The same store, signing cursors with `cursors`.
    #[must_use]
    pub fn with_cursors(mut self, cursors: CursorCodec) -> Self {
        self.cursors = cursors;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Epoch seconds `seconds` from now: the `expiresAt` of an item that should live that long.
    pub fn expires_in(&self, seconds: i64) -> i64 {
        self.clock.unix_seconds().saturating_add(seconds)
    }

    fn is_expired(&self, item: &HashMap<String, AttributeValue>) -> bool {
        item.get(keys::EXPIRES_AT)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|at| at <= self.clock.unix_seconds())
    }

    /// Reads one item (strongly consistent). An item past its `expiresAt` is treated as absent:
    /// DynamoDB deletes expired items lazily, up to days later.
    /// Whether the table answers: one eventually consistent GetItem of a key that holds
    /// nothing (`HEALTH#probe` / `PROBE`), projected to its key — half a read unit, no data.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Key::new("HEALTH#probe", "PROBE").to_attrs()))
            .projection_expression("pk")
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let output = self
            .client()
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.to_attrs()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        match output.item {
            Some(item) if !self.is_expired(&item) => Ok(Some(serde_dynamo::from_item(item)?)),
            _ => Ok(None),
        }
    }

    /// A `Put` of a new item, for use alone or in a transaction: fails if an item with the same
    /// key exists.
    pub fn put_new_op<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Writes a new item; [`StoreError::ConditionFailed`] if its key is taken.
    pub async fn put_new<T: Serialize>(&self, item: &T) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|error| {
                if let Some(PutItemError::ConditionalCheckFailedException(_)) =
                    error.as_service_error()
                {
                    return StoreError::ConditionFailed { index: None };
                }
                sdk_error(error)
            })?;
        Ok(())
    }

    /// Writes an item, replacing whatever is at its key (a record rewritten whole, e.g. a
    /// webhook delivery's latest attempt).
    pub async fn put<T: Serialize>(&self, item: &T) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    /// A `Put` that replaces whatever is at the item's key (for a transaction).
    pub fn put_op<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(item)?))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A `Delete` (for a transaction); with `must_exist`, the transaction fails if it is gone.
    pub fn delete_op(&self, key: &Key, must_exist: bool) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.to_attrs()))
            .set_condition_expression(must_exist.then(|| "attribute_exists(pk)".to_owned()))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A `Delete` that fails the transaction unless the item is at `version`.
    pub fn delete_versioned_op(
        &self,
        key: &Key,
        version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.to_attrs()))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", keys::VERSION)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Runs one UpdateItem and returns the item as it is afterwards.
    pub async fn update(&self, update: Update) -> Result<RawItem, StoreError> {
        let update = update.checked()?;
        let condition = update.condition();
        let expression = update.expression();
        let output = self
            .client()
            .update_item()
            .table_name(&self.table)
            .set_key(Some(update.key.to_attrs()))
            .update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values((!update.values.is_empty()).then_some(update.values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|error| {
                if let Some(UpdateItemError::ConditionalCheckFailedException(_)) =
                    error.as_service_error()
                {
                    return StoreError::ConditionFailed { index: None };
                }
                sdk_error(error)
            })?;
        Ok(output.attributes.unwrap_or_default())
    }

    /// Reads up to 100 items in one BatchGetItem (strongly consistent), in the order of `keys`;
    /// expired items read as `None`.
    pub async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<RawItem>>, StoreError> {
        let mut found: Vec<RawItem> = Vec::new();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys.iter().map(Key::to_attrs).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Sdk(Box::new(e)))?,
        );
        // DynamoDB may leave keys unprocessed under load: ask again for those (bounded).
        for attempt in 0..5 {
            let Some(pending) = request.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let output = self
                .client()
                .batch_get_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(sdk_error)?;
            if let Some(mut responses) = output.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            request = output
                .unprocessed_keys
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
        }
        if request.is_some() {
            return Err(StoreError::Unavailable(
                "BatchGetItem left keys unprocessed".into(),
            ));
        }
        Ok(keys
            .iter()
            .map(|key| {
                found
                    .iter()
                    .position(|item| {
                        item.get(keys::PK).and_then(|v| v.as_s().ok()) == Some(&key.pk)
                            && item.get(keys::SK).and_then(|v| v.as_s().ok()) == Some(&key.sk)
                    })
                    .map(|i| found.swap_remove(i))
                    .filter(|item| !self.is_expired(item))
            })
            .collect())
    }

    /// Writes up to 25 items (replacing whatever is at their keys) in one BatchWriteItem,
    /// asking again for any DynamoDB leaves unprocessed (bounded). For idempotent writes that
    /// must not join a transaction (a hot item written by many concurrent transactions would
    /// make them conflict).
    pub async fn put_batch<T: Serialize>(&self, items: &[T]) -> Result<(), StoreError> {
        let requests = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(serde_dynamo::to_item(item)?))
                    .build()
                    .map_err(|e| StoreError::Sdk(Box::new(e)))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_batch(requests).await
    }

    /// Deletes up to 25 items by key in one BatchWriteItem (an absent one is no error), asking
    /// again for any DynamoDB leaves unprocessed (bounded). For items nobody else writes, such
    /// as a deleted account's notifications.
    pub async fn delete_batch(&self, keys: &[Key]) -> Result<(), StoreError> {
        let requests = keys
            .iter()
            .map(|key| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key.to_attrs()))
                    .build()
                    .map_err(|e| StoreError::Sdk(Box::new(e)))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.write_batch(requests).await
    }

    /// One BatchWriteItem of up to 25 `requests`, asking again (bounded, backing off) for what
    /// DynamoDB leaves unprocessed.
    async fn write_batch(&self, mut pending: Vec<WriteRequest>) -> Result<(), StoreError> {
        for attempt in 0..5 {
            if pending.is_empty() {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let output = self
                .client()
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(sdk_error)?;
            pending = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "BatchWriteItem left items unprocessed".into(),
            ))
        }
    }

    /// The distinct partition keys of the table that start with one of `prefixes`: one Scan
    /// (all pages) that reads only `pk`. For operators' one-off migrations, never a request.
    pub async fn partitions_starting_with(
        &self,
        prefixes: &[&str],
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut found = std::collections::BTreeSet::new();
        let filter = (0..prefixes.len())
            .map(|i| format!("begins_with(#pk, :p{i})"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let values: HashMap<String, AttributeValue> = prefixes
            .iter()
            .enumerate()
            .map(|(i, p)| (format!(":p{i}"), AttributeValue::S((*p).to_owned())))
            .collect();
        let mut start = None;
        loop {
            let page = self
                .client()
                .scan()
                .table_name(&self.table)
                .projection_expression("#pk")
                .filter_expression(&filter)
                .expression_attribute_names("#pk", keys::PK)
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            found.extend(
                page.items()
                    .iter()
                    .filter_map(|item| item.get(keys::PK).and_then(|v| v.as_s().ok()).cloned()),
            );
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// Deserialises a raw item.
    pub fn parse<T: DeserializeOwned>(item: RawItem) -> Result<T, StoreError> {
        Ok(serde_dynamo::from_item(item)?)
    }

    /// Writes all `items` atomically (TransactWriteItems, up to 100). A failed condition is
    /// [`StoreError::ConditionFailed`] with the position of the item whose condition failed.
    pub async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|error| {
                let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    error.as_service_error()
                else {
                    return sdk_error(error);
                };
                let reasons = cancelled.cancellation_reasons();
                if let Some(index) = reasons
                    .iter()
                    .position(|r| r.code() == Some("ConditionalCheckFailed"))
                {
                    return StoreError::ConditionFailed { index: Some(index) };
                }
                let retryable = reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some(
                            "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                });
                if retryable {
                    StoreError::Unavailable(Box::new(error))
                } else {
                    StoreError::Sdk(Box::new(error))
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use http::StatusCode;

    #[test]
    fn store_errors_map_to_client_statuses() {
        let cases: Vec<(StoreError, StatusCode)> = vec![
            (
                StoreError::ConditionFailed { index: Some(1) },
                StatusCode::CONFLICT,
            ),
            (StoreError::NotFound, StatusCode::NOT_FOUND),
            (StoreError::Cursor(CursorError), StatusCode::BAD_REQUEST),
            (
                StoreError::Unavailable("throttled".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::Sdk("bad expression".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status(), status);
        }
    }

    #[test]
    fn a_failed_condition_means_what_the_writer_says_and_stale_is_412() {
        let refused: Result<(), StoreError> = Err(StoreError::ConditionFailed { index: Some(2) });
        let error = refused
            .on_condition(|index| {
                ApiError::bad_request(if index == Some(2) { "AT" } else { "ELSEWHERE" }, "")
            })
            .unwrap_err();
        assert_eq!(
            (error.status(), error.code()),
            (StatusCode::BAD_REQUEST, "AT")
        );
        let stale: Result<(), StoreError> = Err(StoreError::ConditionFailed { index: None });
        assert_eq!(
            stale.or_stale().unwrap_err().status(),
            StatusCode::PRECONDITION_FAILED
        );
        let other: Result<(), StoreError> = Err(StoreError::NotFound);
        assert_eq!(
            other.or_stale().unwrap_err().status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(expect_version(Some(3), 3).expect("current"), 3);
        assert_eq!(expect_version(None, 7).expect("no precondition"), 7);
        assert_eq!(
            expect_version(Some(2), 3).unwrap_err().status(),
            StatusCode::PRECONDITION_FAILED
        );
    }

    #[test]
    fn cursor_scopes_differ_per_query() {
        let a = KeyQuery::index(Index::Gsi1, "USERS").newest_first();
        let b = KeyQuery::index(Index::Gsi1, "USERS");
        let c = KeyQuery::table("USERS");
        assert_ne!(a.scope(), b.scope());
        assert_ne!(b.scope(), c.scope());
        assert_eq!(a.key_attrs(), ["pk", "sk", "gsi1pk", "gsi1sk"]);
    }
}
