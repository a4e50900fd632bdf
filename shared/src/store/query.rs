//! Reads of more than one item: a key query (table or index), its pages and their cursors.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CursorError;
use super::attr::Attr;
use super::keys::{self, Index, Key};
use super::{RawItem, Store, StoreError, error::sdk_error};

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
    /// `attribute_not_exists(attr)` filter (applied after the key condition, like `contains`).
    pub without: Option<String>,
    /// Keeps items past their `expiresAt` (that TTL has not deleted yet): for work that must
    /// see them to finish them, like closing a connection whose token expired.
    pub expired_too: bool,
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
            without: None,
            expired_too: false,
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
    pub fn contains<I, T: ?Sized>(mut self, attr: Attr<I, T>, value: &str) -> Self {
        self.contains = Some((attr.name().to_owned(), value.to_owned()));
        self
    }

    /// Keeps only items without `attr`.
    #[must_use]
    pub fn without<I, T: ?Sized>(mut self, attr: Attr<I, T>) -> Self {
        self.without = Some(attr.name().to_owned());
        self
    }

    /// Also the items past their `expiresAt` (see the field of the same name).
    #[must_use]
    pub fn expired_too(mut self) -> Self {
        self.expired_too = true;
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
    pub(super) fn key_attrs(&self) -> Vec<&'static str> {
        let mut attrs = vec![keys::PK, keys::SK];
        if let Some(index) = self.index {
            attrs.extend([index.partition_attr(), index.sort_attr()]);
        }
        attrs
    }

    /// What a cursor of this query is bound to.
    pub(super) fn scope(&self) -> String {
        let index = self.index.map_or("table", Index::name);
        let order = if self.newest_first { "desc" } else { "asc" };
        format!(
            "{index}|{order}|{}|{:?}|{:?}|{:?}{}",
            self.partition,
            self.sort,
            self.contains,
            self.without,
            // Appended only when set: the cursors already issued keep their scope.
            if self.expired_too { "|expired too" } else { "" }
        )
    }
}

/// A Query's expressions, names and values.
struct Expressions {
    condition: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    filter: Option<String>,
}

impl KeyQuery {
    /// The key condition and filter of this query; `live_at` (epoch seconds) adds a filter
    /// leaving out items expired by then.
    fn expressions(&self, live_at: Option<i64>) -> Expressions {
        let mut condition = "#pk = :pk".to_owned();
        let mut names = HashMap::from([("#pk".to_owned(), self.partition_attr().to_owned())]);
        let mut values =
            HashMap::from([(":pk".to_owned(), AttributeValue::S(self.partition.clone()))]);
        match &self.sort {
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
        if self.sort != SortKey::Any {
            names.insert("#sk".to_owned(), self.sort_attr().to_owned());
        }
        let mut filters = Vec::new();
        if let Some((attr, value)) = &self.contains {
            names.insert("#filter".to_owned(), attr.clone());
            values.insert(":filter".to_owned(), AttributeValue::S(value.clone()));
            filters.push("contains(#filter, :filter)".to_owned());
        }
        if let Some(attr) = &self.without {
            names.insert("#without".to_owned(), attr.clone());
            filters.push("attribute_not_exists(#without)".to_owned());
        }
        if let Some(now) = live_at {
            names.insert("#expires".to_owned(), keys::EXPIRES_AT.to_owned());
            values.insert(":now".to_owned(), AttributeValue::N(now.to_string()));
            filters.push("(attribute_not_exists(#expires) OR #expires > :now)".to_owned());
        }
        Expressions {
            condition,
            names,
            values,
            filter: (!filters.is_empty()).then(|| filters.join(" AND ")),
        }
    }
}

impl Store {
    /// A cursor of `fields`, signed and bound to `scope` (for listings that paginate over more
    /// than one Query, whose position is more than one key).
    pub async fn seal_cursor(
        &self,
        scope: &str,
        fields: &[(&str, &str)],
    ) -> Result<String, StoreError> {
        let map = fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), AttributeValue::S((*value).to_owned())))
            .collect();
        self.cursors.encode(scope, &map).await
    }

    /// The fields of a cursor made by [`seal_cursor`](Self::seal_cursor) for `scope`.
    pub async fn open_cursor(
        &self,
        scope: &str,
        cursor: &str,
    ) -> Result<HashMap<String, String>, StoreError> {
        Ok(self
            .cursors
            .decode(scope, cursor)
            .await?
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
        self.client()
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

    /// One page of a Query. Reads `limit + 1` items so that `nextCursor` is `None` exactly when
    /// there is nothing more; the cursor is signed and bound to this query.
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        query: &KeyQuery,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let scope = query.scope();
        let start = match page.cursor.as_deref() {
            Some(cursor) => Some(self.cursors.decode(&scope, cursor).await?),
            None => None,
        };
        if let Some(start) = &start {
            // A genuine cursor of this scope always names this partition; check anyway.
            let partition = start
                .get(query.partition_attr())
                .and_then(|v| v.as_s().ok());
            if partition != Some(&query.partition) {
                return Err(CursorError.into());
            }
        }
        let (items, next_key) = self.fetch(query, start, page.limit).await?;
        let next_cursor = match next_key {
            Some(key) => Some(self.cursors.encode(&scope, &key).await?),
            None => None,
        };
        Ok(Page { items, next_cursor })
    }

    /// Every live item of a Query, page after page (for partitions that stay small, such as a
    /// property's leases; what it reads grows with the partition).
    pub async fn query_every<T: DeserializeOwned>(
        &self,
        query: &KeyQuery,
    ) -> Result<Vec<T>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (mut page, next) = self.fetch(query, start, PageRequest::MAX_LIMIT).await?;
            items.append(&mut page);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// Up to `limit` live items of a Query of the table (not an index) after the item at
    /// `after` (exclusive), and whether there are more: for work that keeps its own place,
    /// like the rent run.
    pub async fn query_after<T: DeserializeOwned>(
        &self,
        query: &KeyQuery,
        after: Option<&Key>,
        limit: u16,
    ) -> Result<(Vec<T>, bool), StoreError> {
        if query.index.is_some() {
            return Err(StoreError::Unavailable(
                "query_after reads the table only".into(),
            ));
        }
        let (items, next) = self.fetch(query, after.map(Key::to_attrs), limit).await?;
        Ok((items, next.is_some()))
    }

    /// The first `limit` items of a Query, without a cursor (for work that starts over from
    /// the first page each time, like the purge: no cursor key needed).
    pub async fn query_head<T: DeserializeOwned>(
        &self,
        query: &KeyQuery,
        limit: u16,
    ) -> Result<Vec<T>, StoreError> {
        Ok(self.fetch(query, None, limit).await?.0)
    }

    /// How many live items a Query matches, its filters applied — counting no further than
    /// `at_most` (what it reads is bounded by that, not by the partition): for a badge such as
    /// a user's unread notifications. Expired items are left out by the Query's filter.
    pub async fn count(&self, query: &KeyQuery, at_most: u16) -> Result<u64, StoreError> {
        let Expressions {
            condition,
            names,
            values,
            filter,
        } = query.expressions(Some(self.clock.unix_seconds()));
        let at_most = u64::from(at_most);
        let mut count = 0u64;
        let mut start = None;
        loop {
            // `Limit` bounds the items a page evaluates (before the filter): never more than
            // are still to count.
            let left = i32::try_from(at_most - count).unwrap_or(i32::MAX);
            let output = self
                .client()
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(|i| i.name().to_owned()))
                .key_condition_expression(&condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit(left.max(1))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sdk_error)?;
            count += u64::try_from(output.count).unwrap_or(0);
            start = output.last_evaluated_key;
            if start.is_none() || count >= at_most {
                return Ok(count.min(at_most));
            }
        }
    }

    /// One Query from `start`: up to `limit` live items, and the key to continue from when
    /// there are more.
    async fn fetch<T: DeserializeOwned>(
        &self,
        query: &KeyQuery,
        start: Option<HashMap<String, AttributeValue>>,
        limit: u16,
    ) -> Result<(Vec<T>, Option<HashMap<String, AttributeValue>>), StoreError> {
        let Expressions {
            condition,
            names,
            values,
            filter,
        } = query.expressions(None);
        let limit = usize::from(limit.clamp(1, PageRequest::MAX_LIMIT));
        let output = self
            .client()
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
        let items = raw
            .into_iter()
            .filter(|item| query.expired_too || !self.is_expired(item))
            .map(serde_dynamo::from_item)
            .collect::<Result<Vec<T>, _>>()?;
        Ok((items, next_key))
    }
}
