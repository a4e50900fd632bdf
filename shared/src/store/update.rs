//! [`Update`]: one UpdateItem built from parts, usable alone or inside a transaction.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update as SdkUpdate,
};
use serde::Serialize;

use super::attr::{Attr, Entries, Number};
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
    unserialisable: Option<serde_dynamo::Error>,
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
            unserialisable: None,
        }
    }

    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    /// A document path (`units.<key>.status`), each part its own name placeholder: a map's
    /// keys may hold any character.
    fn path(&mut self, path: &[&str]) -> String {
        path.iter()
            .map(|part| self.name(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    fn raw_value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// A value placeholder for `value`, serialised with `serde_dynamo`. A value that cannot be
    /// serialised (none of the item types can fail) is kept as the update's error, returned
    /// when the update is sent or put into a transaction, so the setters chain.
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> String {
        match serde_dynamo::to_attribute_value(value) {
            Ok(value) => self.raw_value(value),
            Err(error) => {
                self.unserialisable.get_or_insert(error);
                self.raw_value(AttributeValue::Null(true))
            }
        }
    }

    fn number(&mut self, n: impl std::fmt::Display) -> String {
        self.raw_value(AttributeValue::N(format!("{n}")))
    }

    /// The update, or the error of a value that could not be serialised.
    pub(super) fn checked(self) -> Result<Self, StoreError> {
        match self.unserialisable {
            Some(error) => Err(StoreError::Mapping(error)),
            None => Ok(self),
        }
    }

    /// `SET attr = value`.
    #[must_use]
    pub fn set<I, T: Serialize + ?Sized>(mut self, attr: Attr<I, T>, value: &T) -> Self {
        let (n, v) = (self.name(attr.name()), self.value(value));
        self.sets.push(format!("{n} = {v}"));
        self
    }

    /// `SET attr = value` when there is a value, `REMOVE attr` when there is none (index key
    /// attributes must be absent, never `NULL`).
    #[must_use]
    pub fn set_or_remove<I, T: Serialize>(self, attr: Attr<I, T>, value: Option<&T>) -> Self {
        match value {
            Some(value) => self.set(attr, value),
            None => self.remove(attr),
        }
    }

    /// `SET attr = if_not_exists(attr, value)`: set once, never overwritten.
    #[must_use]
    pub fn set_if_absent<I, T: Serialize + ?Sized>(mut self, attr: Attr<I, T>, value: &T) -> Self {
        let (n, v) = (self.name(attr.name()), self.value(value));
        self.sets.push(format!("{n} = if_not_exists({n}, {v})"));
        self
    }

    /// `ADD attr delta` (a number; creates it at `delta`).
    #[must_use]
    pub fn add<I, N: Number>(mut self, attr: Attr<I, N>, delta: i64) -> Self {
        let (n, v) = (self.name(attr.name()), self.number(delta));
        self.adds.push(format!("{n} {v}"));
        self
    }

    /// `REMOVE attr`.
    #[must_use]
    pub fn remove<I, T: ?Sized>(mut self, attr: Attr<I, T>) -> Self {
        let n = self.name(attr.name());
        self.removes.push(n);
        self
    }

    /// `SET attr.<key> = value`: one entry of a map attribute.
    #[must_use]
    pub fn set_entry<I, M: Entries>(mut self, attr: Attr<I, M>, key: &str, value: &M::Value) -> Self
    where
        M::Value: Serialize,
    {
        let (n, v) = (self.path(&[attr.name(), key]), self.value(value));
        self.sets.push(format!("{n} = {v}"));
        self
    }

    /// `SET attr.<key>.field = value`: one field of one entry of a map attribute.
    #[must_use]
    pub fn set_entry_field<I, M: Entries, F: Serialize>(
        mut self,
        attr: Attr<I, M>,
        key: &str,
        field: Attr<M::Value, F>,
        value: &F,
    ) -> Self {
        let assignment = self.entry_field(attr, key, field, value);
        self.sets.push(assignment);
        self
    }

    /// `attr.<key>.field = value`, its names and value bound as placeholders.
    fn entry_field<I, M: Entries, F: Serialize>(
        &mut self,
        attr: Attr<I, M>,
        key: &str,
        field: Attr<M::Value, F>,
        value: &F,
    ) -> String {
        let (n, v) = (
            self.path(&[attr.name(), key, field.name()]),
            self.value(value),
        );
        format!("{n} = {v}")
    }

    /// `REMOVE attr.<key>`: one entry of a map attribute.
    #[must_use]
    pub fn remove_entry<I, M: Entries>(mut self, attr: Attr<I, M>, key: &str) -> Self {
        let n = self.path(&[attr.name(), key]);
        self.removes.push(n);
        self
    }

    /// Condition: the map attribute has no entry `key`.
    #[must_use]
    pub fn if_no_entry<I, M: Entries>(mut self, attr: Attr<I, M>, key: &str) -> Self {
        let n = self.path(&[attr.name(), key]);
        self.conditions.push(format!("attribute_not_exists({n})"));
        self
    }

    /// Condition: the map attribute has an entry `key`.
    #[must_use]
    pub fn if_entry<I, M: Entries>(mut self, attr: Attr<I, M>, key: &str) -> Self {
        let n = self.path(&[attr.name(), key]);
        self.conditions.push(format!("attribute_exists({n})"));
        self
    }

    /// Condition: the entry `key` of the map attribute is `value`.
    #[must_use]
    pub fn if_entry_equals<I, M: Entries>(
        mut self,
        attr: Attr<I, M>,
        key: &str,
        value: &M::Value,
    ) -> Self
    where
        M::Value: Serialize,
    {
        let (n, v) = (self.path(&[attr.name(), key]), self.value(value));
        self.conditions.push(format!("{n} = {v}"));
        self
    }

    /// Condition: `field` of the entry `key` of the map attribute is `value`.
    #[must_use]
    pub fn if_entry_field_equals<I, M: Entries, F: Serialize>(
        mut self,
        attr: Attr<I, M>,
        key: &str,
        field: Attr<M::Value, F>,
        value: &F,
    ) -> Self {
        let comparison = self.entry_field(attr, key, field, value);
        self.conditions.push(comparison);
        self
    }

    /// Condition: the item exists.
    #[must_use]
    pub fn if_exists(mut self) -> Self {
        let n = self.name(keys::PK);
        self.conditions.push(format!("attribute_exists({n})"));
        self
    }

    /// Condition: the item has `attr`.
    #[must_use]
    pub fn if_present<I, T: ?Sized>(mut self, attr: Attr<I, T>) -> Self {
        let n = self.name(attr.name());
        self.conditions.push(format!("attribute_exists({n})"));
        self
    }

    /// Condition: the item has no `attr`.
    #[must_use]
    pub fn if_absent<I, T: ?Sized>(mut self, attr: Attr<I, T>) -> Self {
        let n = self.name(attr.name());
        self.conditions.push(format!("attribute_not_exists({n})"));
        self
    }

    /// Condition: `attr = value`.
    #[must_use]
    pub fn if_equals<I, T: Serialize + ?Sized>(mut self, attr: Attr<I, T>, value: &T) -> Self {
        let (n, v) = (self.name(attr.name()), self.value(value));
        self.conditions.push(format!("{n} = {v}"));
        self
    }

    /// Condition: the number `attr` is greater than `value`.
    #[must_use]
    pub fn if_greater<I, N: Number>(mut self, attr: Attr<I, N>, value: i64) -> Self {
        let (n, v) = (self.name(attr.name()), self.number(value));
        self.conditions.push(format!("{n} > {v}"));
        self
    }

    /// Condition: `attr` is absent or sorts before `value` (a mark that only moves forward).
    #[must_use]
    pub fn if_absent_or_before<I, T: Serialize + ?Sized>(
        mut self,
        attr: Attr<I, T>,
        value: &T,
    ) -> Self {
        let (n, v) = (self.name(attr.name()), self.value(value));
        self.conditions
            .push(format!("(attribute_not_exists({n}) OR {n} < {v})"));
        self
    }

    /// Condition: the number `attr` is absent or below `limit` (a budget with room left).
    #[must_use]
    pub fn if_below<I, N: Number>(mut self, attr: Attr<I, N>, limit: u64) -> Self {
        let (n, v) = (self.name(attr.name()), self.number(limit));
        self.conditions
            .push(format!("(attribute_not_exists({n}) OR {n} < {v})"));
        self
    }

    /// Condition: the number `attr` is `value`, an absent attribute counting as 0.
    #[must_use]
    pub fn if_number<I, N: Number>(mut self, attr: Attr<I, N>, value: u64) -> Self {
        let (n, v) = (self.name(attr.name()), self.number(value));
        self.conditions.push(if value == 0 {
            format!("(attribute_not_exists({n}) OR {n} = {v})")
        } else {
            format!("{n} = {v}")
        });
        self
    }

    /// The item's `version` moves on by one, whatever it is (for writes whose own conditions
    /// already say what they need of the item).
    #[must_use]
    pub fn next_version(mut self) -> Self {
        let (n, v) = (self.name(keys::VERSION), self.number(1));
        self.adds.push(format!("{n} {v}"));
        self
    }

    /// Optimistic locking: the item's `version` is `expected`; it becomes `expected + 1`.
    #[must_use]
    pub fn bump_version(mut self, expected: u64) -> Self {
        let (n, v) = (self.name(keys::VERSION), self.number(expected));
        self.conditions.push(format!("{n} = {v}"));
        let next = self.number(expected + 1);
        self.sets.push(format!("{n} = {next}"));
        self
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
    fn conditions_only(self) -> Result<ConditionsOnly, StoreError> {
        let this = self.checked()?;
        let condition = this
            .condition()
            .unwrap_or_else(|| "attribute_exists(pk)".to_owned());
        let names: HashMap<String, String> = this
            .names
            .into_iter()
            .filter(|(placeholder, _)| mentions(&condition, placeholder))
            .collect();
        let values: HashMap<String, AttributeValue> = this
            .values
            .into_iter()
            .filter(|(placeholder, _)| mentions(&condition, placeholder))
            .collect();
        Ok(ConditionsOnly {
            key: this.key.to_attrs(),
            names: (!names.is_empty()).then_some(names),
            values: (!values.is_empty()).then_some(values),
            condition,
        })
    }

    /// Only this update's conditions, as a `ConditionCheck` of a transaction: the transaction
    /// fails unless they hold, and the item is not written.
    pub fn into_check(self, store: &Store) -> Result<TransactWriteItem, StoreError> {
        let only = self.conditions_only()?;
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
        let only = self.conditions_only()?;
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
        let this = self.checked()?;
        let update = SdkUpdate::builder()
            .table_name(&store.table)
            .set_key(Some(this.key.to_attrs()))
            .update_expression(this.expression())
            .set_condition_expression(this.condition())
            .set_expression_attribute_names(Some(this.names))
            .set_expression_attribute_values((!this.values.is_empty()).then_some(this.values))
            .build()
            .map_err(|e| StoreError::Sdk(Box::new(e)))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// Whether `expression` uses `placeholder` (`#n1` is not used by an expression naming only
/// `#n10`: DynamoDB refuses names and values an expression does not use).
fn mentions(expression: &str, placeholder: &str) -> bool {
    expression.match_indices(placeholder).any(|(at, _)| {
        !expression[at + placeholder.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
    })
}

/// What a `ConditionCheck` or a conditional `Delete` carries of an [`Update`].
struct ConditionsOnly {
    key: HashMap<String, AttributeValue>,
    condition: String,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}
