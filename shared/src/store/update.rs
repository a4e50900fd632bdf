//! [`Update`]: one UpdateItem built from parts, usable alone or inside a transaction.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update as SdkUpdate,
};
use serde::Serialize;

use super::keys;
use super::{Key, Store, StoreError};

/// An UpdateItem built from parts: `SET`, `ADD` and `REMOVE` clauses plus conditions, with
/// every name and value bound as a placeholder (no injection, no unused values).
#[derive(Debug, Clone)]
pub struct Update {
    pub(super) key: Key,
    sets: Vec<String>,
    adds: Vec<String>,
    removes: Vec<String>,
    conditions: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
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

    /// A document path (`units.<key>`), each part its own name placeholder: a map's keys may
    /// hold any character.
    fn path(&mut self, path: &[&str]) -> String {
        path.iter()
            .map(|part| self.name(part))
            .collect::<Vec<_>>()
            .join(".")
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

    /// `SET a.b = value`, serialised with `serde_dynamo`: one entry of a map attribute.
    pub fn set_value_at<T: Serialize>(
        mut self,
        path: &[&str],
        value: &T,
    ) -> Result<Self, StoreError> {
        let value = serde_dynamo::to_attribute_value(value)?;
        let (n, v) = (self.path(path), self.value(value));
        self.sets.push(format!("{n} = {v}"));
        Ok(self)
    }

    /// `REMOVE a.b`: one entry of a map attribute.
    #[must_use]
    pub fn remove_at(mut self, path: &[&str]) -> Self {
        let n = self.path(path);
        self.removes.push(n);
        self
    }

    /// Condition: the entry at `path` does not exist.
    #[must_use]
    pub fn if_absent_at(mut self, path: &[&str]) -> Self {
        let n = self.path(path);
        self.conditions.push(format!("attribute_not_exists({n})"));
        self
    }

    /// Condition: the value at `path` (say `units.<key>.id`) is `value`.
    #[must_use]
    pub fn if_equals_at(mut self, path: &[&str], value: AttributeValue) -> Self {
        let (n, v) = (self.path(path), self.value(value));
        self.conditions.push(format!("{n} = {v}"));
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

    pub(super) fn expression(&self) -> String {
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

    pub(super) fn condition(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    /// The key and only the conditions of this update, with just the names and values they
    /// use (DynamoDB refuses unused ones).
    fn conditions_only(self) -> ConditionsOnly {
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
        ConditionsOnly {
            key: self.key.to_attrs(),
            names: (!names.is_empty()).then_some(names),
            values: (!values.is_empty()).then_some(values),
            condition,
        }
    }

    /// Only this update's conditions, as a `ConditionCheck` of a transaction: the transaction
    /// fails unless they hold, and the item is not written.
    pub fn into_check(self, store: &Store) -> Result<TransactWriteItem, StoreError> {
        let only = self.conditions_only();
        let check = ConditionCheck::builder()
            .table_name(&store.table)
            .set_key(Some(only.key))
            .condition_expression(only.condition)
            .set_expression_attribute_names(only.names)
            .set_expression_attribute_values(only.values)
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A `Delete` of the item under this update's conditions, as an item of a transaction:
    /// the item goes only if they hold (its sets and adds are ignored).
    pub fn into_delete(self, store: &Store) -> Result<TransactWriteItem, StoreError> {
        let only = self.conditions_only();
        let delete = Delete::builder()
            .table_name(&store.table)
            .set_key(Some(only.key))
            .condition_expression(only.condition)
            .set_expression_attribute_names(only.names)
            .set_expression_attribute_values(only.values)
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
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

/// What a `ConditionCheck` or a conditional `Delete` carries of an [`Update`].
struct ConditionsOnly {
    key: HashMap<String, AttributeValue>,
    condition: String,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}
