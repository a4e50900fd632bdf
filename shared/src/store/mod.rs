//! The DynamoDB layer: one table, typed items (`serde_dynamo`), conditional writes whose
//! failures are typed errors, optimistic locking, and cursor pagination.
//!
//! Every access is a GetItem, a BatchGetItem, one Query, one PutItem/UpdateItem, a
//! BatchWriteItem of idempotent puts, or one TransactWriteItems.
//! The key layout lives in [`keys`].

pub mod cursor;
pub mod keys;

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, PutRequest, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as SdkUpdate, WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use cursor::{CursorCodec, CursorError};
pub use keys::{Index, Key};

use crate::clock::Clock;
use crate::error::{ApiError, Cause, FieldError};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold: the item already exists (`put_new`), or, in a
    /// transaction, the condition of item number `index` failed.
    #[error("condition failed (item {index:?})")]
    ConditionFailed { index: Option<usize> },
    /// The item's `version` is not the one the writer read: someone else changed it first.
    #[error("version conflict (current version {current:?})")]
    VersionConflict { current: Option<u64> },
    /// The item to update does not exist.
    #[error("item not found")]
    NotFound,
    /// A page cursor that we did not issue for this query.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// DynamoDB is throttling, busy with a conflicting transaction, or out of reach: retry later.
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// An item did not match its Rust type (a bug or a migration gap).
    #[error("item mapping failed")]
    Mapping(#[from] serde_dynamo::Error),
    /// Any other SDK failure (a bug: bad expression, missing table, permissions).
    #[error("DynamoDB request failed")]
    Sdk(#[source] Cause),
}

impl From<StoreError> for ApiError {
    /// The default meaning of each store failure for a client; handlers map
    /// `ConditionFailed` themselves when they know more (e.g. `EMAIL_TAKEN`).
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed { .. } => ApiError::Conflict {
                code: "CONFLICT",
                detail: "The request conflicts with the current state of the resource.".into(),
            },
            StoreError::VersionConflict { .. } => ApiError::PreconditionFailed {
                detail: "The resource has changed since it was read; fetch it again and retry."
                    .into(),
            },
            StoreError::NotFound => ApiError::NotFound {
                detail: "No such resource.".into(),
            },
            StoreError::Cursor(_) => ApiError::BadRequest {
                code: "INVALID_CURSOR",
                detail: "The `cursor` parameter is not valid for this listing.".into(),
                errors: vec![FieldError::new("cursor", "is not a valid cursor")],
            },
            StoreError::Unavailable(cause) => ApiError::Unavailable {
                retry_after_secs: 1,
                cause,
            },
            error @ (StoreError::Mapping(_) | StoreError::Sdk(_)) => ApiError::internal(error),
        }
    }
}

/// Error codes DynamoDB uses for "slow down / try again".
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
];

/// Classifies an SDK error that has no operation-specific meaning.
fn sdk_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(service) => service
            .err()
            .code()
            .is_some_and(|code| RETRYABLE_CODES.contains(&code)),
        _ => false,
    };
    if retryable {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Sdk(Box::new(error))
    }
}

/// `?limit=&cursor=` of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u16,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u16 = 20;
    pub const MAX_LIMIT: u16 = 100;

    pub fn first(limit: u16) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

/// One page of a listing: `{ "items": [...], "nextCursor": "..." | null }`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// How the sort key is constrained in a Query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Any,
    BeginsWith(String),
    Between(String, String),
}

/// One Query: a partition of the table or of an index, optionally narrowed on the sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyQuery {
    pub index: Option<Index>,
    pub partition: String,
    pub sort: SortKey,
    pub newest_first: bool,
    /// `contains(attr, value)` filter (applied after the key condition: pages may be short).
    pub contains: Option<(String, String)>,
}

impl KeyQuery {
    /// Items of `partition` in the table itself.
    pub fn table(partition: impl Into<String>) -> Self {
        Self {
            index: None,
            partition: partition.into(),
            sort: SortKey::Any,
            newest_first: false,
            contains: None,
        }
    }

    /// Items of `partition` in a global secondary index.
    pub fn index(index: Index, partition: impl Into<String>) -> Self {
        Self {
            index: Some(index),
            ..Self::table(partition)
        }
    }

    #[must_use]
    pub fn sort(mut self, sort: SortKey) -> Self {
        self.sort = sort;
        self
    }

    /// Keeps only items whose list or string attribute `attr` contains `value`.
    #[must_use]
    pub fn contains(mut self, attr: &str, value: &str) -> Self {
        self.contains = Some((attr.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }

    fn partition_attr(&self) -> &'static str {
        self.index.map_or(keys::PK, Index::partition_attr)
    }

    fn sort_attr(&self) -> &'static str {
        self.index.map_or(keys::SK, Index::sort_attr)
    }

    /// The attributes of an item's position in this query (what `ExclusiveStartKey` needs).
    fn key_attrs(&self) -> Vec<&'static str> {
        let mut attrs = vec![keys::PK, keys::SK];
        if let Some(index) = self.index {
            attrs.extend([index.partition_attr(), index.sort_attr()]);
        }
        attrs
    }

    /// What a cursor of this query is bound to.
    fn scope(&self) -> String {
        let index = self.index.map_or("table", Index::name);
        let order = if self.newest_first { "desc" } else { "asc" };
        format!(
            "{index}|{order}|{}|{:?}|{:?}",
            self.partition, self.sort, self.contains
        )
    }
}

/// One raw item as DynamoDB returns it.
pub type RawItem = HashMap<String, AttributeValue>;

/// An UpdateItem built from parts: `SET`, `ADD` and `REMOVE` clauses plus conditions, with
/// every name and value bound as a placeholder (no injection, no unused values).
#[derive(Debug, Clone)]
pub struct Update {
    key: Key,
    sets: Vec<String>,
    adds: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            sets: Vec::new(),
            adds: Vec::new(),
            removes: Vec::new(),
            conditions: Vec::new(),
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }

    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET attr = value`.
    #[must_use]
    pub fn set(mut self, attr: &str, value: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.sets.push(format!("{n} = {v}"));
        self
    }

    /// `SET attr = value`, serialised with `serde_dynamo`.
    pub fn set_value<T: Serialize>(self, attr: &str, value: &T) -> Result<Self, StoreError> {
        let value = serde_dynamo::to_attribute_value(value)?;
        Ok(self.set(attr, value))
    }

    /// `SET attr = value` when there is a value, `REMOVE attr` when there is none (index key
    /// attributes must be absent, never `NULL`).
    pub fn set_or_remove<T: Serialize>(
        self,
        attr: &str,
        value: Option<&T>,
    ) -> Result<Self, StoreError> {
        match value {
            Some(value) => self.set_value(attr, value),
            None => Ok(self.remove(attr)),
        }
    }

    /// `SET attr = if_not_exists(attr, value)`: set once, never overwritten.
    #[must_use]
    pub fn set_if_absent(mut self, attr: &str, value: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.sets.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `ADD attr delta` (a number; creates it at `delta`).
    #[must_use]
    pub fn add(mut self, attr: &str, delta: i64) -> Self {
        let (n, v) = (
            self.name(attr),
            self.value(AttributeValue::N(delta.to_string())),
        );
        self.adds.push(format!("{n} {v}"));
        self
    }

    /// `REMOVE attr`.
    #[must_use]
    pub fn remove(mut self, attr: &str) -> Self {
        let n = self.name(attr);
        self.removes.push(n);
        self
    }

    /// Condition: the item exists.
    #[must_use]
    pub fn if_exists(mut self) -> Self {
        let n = self.name(keys::PK);
        self.conditions.push(format!("attribute_exists({n})"));
        self
    }

    /// Condition: `attr = value`.
    #[must_use]
    pub fn if_equals(mut self, attr: &str, value: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.conditions.push(format!("{n} = {v}"));
        self
    }

    /// Condition: the number `attr` is greater than `value`.
    #[must_use]
    pub fn if_greater(mut self, attr: &str, value: i64) -> Self {
        let (n, v) = (
            self.name(attr),
            self.value(AttributeValue::N(value.to_string())),
        );
        self.conditions.push(format!("{n} > {v}"));
        self
    }

    /// Condition: the number `attr` is absent or below `limit` (a budget with room left).
    #[must_use]
    pub fn if_below(mut self, attr: &str, limit: u64) -> Self {
        let (n, v) = (
            self.name(attr),
            self.value(AttributeValue::N(limit.to_string())),
        );
        self.conditions
            .push(format!("(attribute_not_exists({n}) OR {n} < {v})"));
        self
    }

    /// Condition: the number `attr` is `value`, an absent attribute counting as 0.
    #[must_use]
    pub fn if_number(mut self, attr: &str, value: u64) -> Self {
        let (n, v) = (
            self.name(attr),
            self.value(AttributeValue::N(value.to_string())),
        );
        self.conditions.push(if value == 0 {
            format!("(attribute_not_exists({n}) OR {n} = {v})")
        } else {
            format!("{n} = {v}")
        });
        self
    }

    /// Optimistic locking: the item's `version` is `expected`; it becomes `expected + 1`.
    #[must_use]
    pub fn bump_version(self, expected: u64) -> Self {
        self.if_equals(keys::VERSION, AttributeValue::N(expected.to_string()))
            .set(keys::VERSION, AttributeValue::N((expected + 1).to_string()))
    }

    fn expression(&self) -> String {
        let mut clauses = Vec::new();
        if !self.sets.is_empty() {
            clauses.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.adds.is_empty() {
            clauses.push(format!("ADD {}", self.adds.join(", ")));
        }
        if !self.removes.is_empty() {
            clauses.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        clauses.join(" ")
    }

    fn condition(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// Only this update's conditions, as a `ConditionCheck` of a transaction: the transaction
    /// fails unless they hold, and the item is not written.
    pub fn into_check(self, store: &Store) -> Result<TransactWriteItem, StoreError> {
        let condition = self
            .condition()
            .unwrap_or_else(|| "attribute_exists(pk)".to_owned());
        let names: HashMap<String, String> = self
            .names
            .into_iter()
            .filter(|(placeholder, _)| condition.contains(placeholder.as_str()))
            .collect();
        let values: HashMap<String, AttributeValue> = self
            .values
            .into_iter()
            .filter(|(placeholder, _)| condition.contains(placeholder.as_str()))
            .collect();
        let check = ConditionCheck::builder()
            .table_name(&store.table)
            .set_key(Some(self.key.to_attrs()))
            .condition_expression(condition)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// This update as an item of a transaction.
    pub fn into_transact(self, store: &Store) -> Result<TransactWriteItem, StoreError> {
        let update = SdkUpdate::builder()
            .table_name(&store.table)
            .set_key(Some(self.key.to_attrs()))
            .update_expression(self.expression())
            .set_condition_expression(self.condition())
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// The table, its client and what reads and writes need (clock for TTL, codec for cursors).
#[derive(Clone)]
pub struct Store {
    client: Client,
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
            client,
            table: table.into(),
            cursors,
            clock,
        }
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
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        let output = self
            .client
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
        self.client
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
        let condition = update.condition();
        let expression = update.expression();
        let output = self
            .client
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
                .client
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
        if items.is_empty() {
            return Ok(());
        }
        let mut pending = items
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(serde_dynamo::to_item(item)?))
                    .build()
                    .map_err(|e| StoreError::Sdk(Box::new(e)))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        for attempt in 0..5 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
            }
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(sdk_error)?;
            pending = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(&self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(
            "BatchWriteItem left items unprocessed".into(),
        ))
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
                .client
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

    /// A cursor of `fields`, signed and bound to `scope` (for listings that paginate over more
    /// than one Query, whose position is more than one key).
    pub fn seal_cursor(&self, scope: &str, fields: &[(&str, &str)]) -> String {
        let map = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), AttributeValue::S((*value).to_owned())))
            .collect();
        self.cursors.encode(scope, &map)
    }

    /// The fields of a cursor made by [`seal_cursor`](Self::seal_cursor) for `scope`.
    pub fn open_cursor(
        &self,
        scope: &str,
        cursor: &str,
    ) -> Result<HashMap<String, String>, StoreError> {
        Ok(self
            .cursors
            .decode(scope, cursor)?
            .into_iter()
            .filter_map(|(name, value)| match value {
                AttributeValue::S(s) => Some((name, s)),
                _ => None,
            })
            .collect())
    }

    /// A Query of `partition`'s items whose sort key starts with `prefix`, in key order.
    fn prefix_query(
        &self,
        partition: &str,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :sk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .expression_attribute_values(":sk", AttributeValue::S(prefix.to_owned()))
    }

    /// The first `limit` items of `partition` whose sort key starts with `prefix`, in key order
    /// (one Query).
    pub async fn query_first(
        &self,
        partition: &str,
        prefix: &str,
        limit: i32,
    ) -> Result<Vec<RawItem>, StoreError> {
        let output = self
            .prefix_query(partition, prefix)
            .limit(limit)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.items.unwrap_or_default())
    }

    /// Every item of a partition whose sort key starts with `prefix` (all pages). For small,
    /// bounded collections such as a user's sessions.
    pub async fn query_all(
        &self,
        partition: &str,
        prefix: &str,
    ) -> Result<Vec<RawItem>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .prefix_query(partition, prefix)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            items.extend(
                output
                    .items
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|i| !self.is_expired(i)),
            );
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
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
        self.client
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

    /// Sets `changes` on the item at `key` if its `version` is still `expected`, and bumps the
    /// version. Returns the new version. [`StoreError::VersionConflict`] when someone wrote first,
    /// [`StoreError::NotFound`] when there is no such item. No lost updates: the check and the
    /// write are one conditional UpdateItem.
    pub async fn update_versioned(
        &self,
        key: &Key,
        expected: u64,
        changes: &[(&str, AttributeValue)],
    ) -> Result<u64, StoreError> {
        let mut expression = String::from("SET #version = :next");
        let mut names = HashMap::from([
            ("#version".to_owned(), keys::VERSION.to_owned()),
            ("#expiresAt".to_owned(), keys::EXPIRES_AT.to_owned()),
        ]);
        let next = expected + 1;
        let mut values = HashMap::from([
            (
                ":now".to_owned(),
                AttributeValue::N(self.clock.unix_seconds().to_string()),
            ),
            (
                ":expected".to_owned(),
                AttributeValue::N(expected.to_string()),
            ),
            (":next".to_owned(), AttributeValue::N(next.to_string())),
        ]);
        for (i, (name, value)) in changes.iter().enumerate() {
            names.insert(format!("#f{i}"), (*name).to_owned());
            values.insert(format!(":f{i}"), value.clone());
        }
        expression.extend((0..changes.len()).map(|i| format!(", #f{i} = :f{i}")));
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.to_attrs()))
            .update_expression(expression)
            .condition_expression(
                "attribute_exists(pk) AND #version = :expected \
                 AND (attribute_not_exists(#expiresAt) OR #expiresAt > :now)",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(|error| {
                let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                    error.as_service_error()
                else {
                    return sdk_error(error);
                };
                match failed.item() {
                    Some(current) if !self.is_expired(current) => StoreError::VersionConflict {
                        current: current
                            .get(keys::VERSION)
                            .and_then(|v| v.as_n().ok())
                            .and_then(|n| n.parse().ok()),
                    },
                    _ => StoreError::NotFound,
                }
            })?;
        Ok(next)
    }

    /// One page of a Query. Reads `limit + 1` items so that `nextCursor` is `None` exactly when
    /// there is nothing more; the cursor is signed and bound to this query.
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        query: &KeyQuery,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let scope = query.scope();
        let start = page
            .cursor
            .as_deref()
            .map(|cursor| self.cursors.decode(&scope, cursor))
            .transpose()?;
        if let Some(start) = &start {
            // A genuine cursor of this scope always names this partition; check anyway.
            let partition = start
                .get(query.partition_attr())
                .and_then(|v| v.as_s().ok());
            if partition != Some(&query.partition) {
                return Err(CursorError.into());
            }
        }

        let mut condition = "#pk = :pk".to_owned();
        let mut names = HashMap::from([("#pk".to_owned(), query.partition_attr().to_owned())]);
        let mut values =
            HashMap::from([(":pk".to_owned(), AttributeValue::S(query.partition.clone()))]);
        match &query.sort {
            SortKey::Any => {}
            SortKey::BeginsWith(prefix) => {
                condition.push_str(" AND begins_with(#sk, :sk)");
                values.insert(":sk".to_owned(), AttributeValue::S(prefix.clone()));
            }
            SortKey::Between(low, high) => {
                condition.push_str(" AND #sk BETWEEN :low AND :high");
                values.insert(":low".to_owned(), AttributeValue::S(low.clone()));
                values.insert(":high".to_owned(), AttributeValue::S(high.clone()));
            }
        }
        if query.sort != SortKey::Any {
            names.insert("#sk".to_owned(), query.sort_attr().to_owned());
        }
        let filter = query.contains.as_ref().map(|(attr, value)| {
            names.insert("#filter".to_owned(), attr.clone());
            values.insert(":filter".to_owned(), AttributeValue::S(value.clone()));
            "contains(#filter, :filter)".to_owned()
        });

        let limit = usize::from(page.limit.clamp(1, PageRequest::MAX_LIMIT));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|i| i.name().to_owned()))
            .key_condition_expression(condition)
            .set_filter_expression(filter)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!query.newest_first)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk_error)?;

        let mut raw = output.items.unwrap_or_default();
        let next_key = if raw.len() > limit {
            raw.truncate(limit);
            raw.last().map(|last| {
                query
                    .key_attrs()
                    .into_iter()
                    .filter_map(|attr| last.get(attr).map(|v| (attr.to_owned(), v.clone())))
                    .collect::<HashMap<_, _>>()
            })
        } else {
            // Fewer items than asked for, yet DynamoDB stopped early (1 MB page): continue there.
            output.last_evaluated_key
        };
        let next_cursor = next_key.map(|key| self.cursors.encode(&scope, &key));
        let items = raw
            .into_iter()
            .filter(|item| !self.is_expired(item))
            .map(serde_dynamo::from_item)
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn store_errors_map_to_client_statuses() {
        let cases: Vec<(StoreError, StatusCode)> = vec![
            (
                StoreError::ConditionFailed { index: Some(1) },
                StatusCode::CONFLICT,
            ),
            (
                StoreError::VersionConflict { current: Some(3) },
                StatusCode::PRECONDITION_FAILED,
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
    fn cursor_scopes_differ_per_query() {
        let a = KeyQuery::index(Index::Gsi1, "USERS").newest_first();
        let b = KeyQuery::index(Index::Gsi1, "USERS");
        let c = KeyQuery::table("USERS");
        assert_ne!(a.scope(), b.scope());
        assert_ne!(b.scope(), c.scope());
        assert_eq!(a.key_attrs(), ["pk", "sk", "gsi1pk", "gsi1sk"]);
    }
}
