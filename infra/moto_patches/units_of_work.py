"""Atomic writes, rolled back item by item, with stream records only on commit."""

from __future__ import annotations

import copy
import threading
from typing import Any

from .queries import _reindex
from .common import APPLIED, _ORIGINAL, _stored_item


# ---- units of work: per-item snapshots, stream records on commit -----------------------------


class UnitOfWork:
    """The items one write request touches: their state before it, restored if it fails."""

    def __init__(self) -> None:
        # (id(table), hash, range) -> (table, hash, range, snapshot or None), in first-touch order
        self.before: dict[tuple[int, Any, Any], tuple[Any, Any, Any, Any]] = {}

    def touch(self, table: Any, hash_key: Any, range_key: Any) -> None:
        key = (id(table), hash_key, range_key)
        if key not in self.before:
            current = _stored_item(table, hash_key, range_key)
            self.before[key] = (table, hash_key, range_key, copy.deepcopy(current))

    def commit(self) -> None:
        for table, hash_key, range_key, before in self.before.values():
            after = _stored_item(table, hash_key, range_key)
            if before is None and after is None:
                continue
            if before is not None and after is not None and before == after:
                continue  # DynamoDB writes no stream record for a write that changes nothing
            if table.stream_shard is not None:
                _ORIGINAL["StreamShard.add"](table.stream_shard, before, after)

    def rollback(self) -> None:
        for table, hash_key, range_key, before in reversed(list(self.before.values())):
            _store_item(table, hash_key, range_key, before)


_STATE = threading.local()


def _current() -> UnitOfWork | None:
    return getattr(_STATE, "unit", None)


def _store_item(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Puts `item` (or nothing, for None) at a key, without a stream record."""
    if table.range_key_attr is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    else:
        partition = table.items.get(hash_key)
        if item is None:
            if partition is not None:
                partition.pop(range_key, None)
                if not partition:
                    del table.items[hash_key]
        else:
            if partition is None:
                partition = table.items[hash_key] = {}
            partition[range_key] = item
    _reindex(table, hash_key, range_key)


def atomic(method: Any) -> Any:
    """Runs a backend write as one unit of work (nested calls join the outer one)."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _current() is not None:
            return method(self, *args, **kwargs)
        unit = UnitOfWork()
        _STATE.unit = unit
        try:
            result = method(self, *args, **kwargs)
        except BaseException:
            _STATE.unit = None
            unit.rollback()
            raise
        _STATE.unit = None
        unit.commit()
        return result

    wrapper.__wrapped__ = method  # type: ignore[attr-defined]
    return wrapper


def _patch_units_of_work() -> None:
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard, Table

    _ORIGINAL["StreamShard.add"] = StreamShard.add
    original_put = Table.put_item
    original_delete = Table.delete_item

    def add(self: Any, old: Any, new: Any) -> None:
        if _current() is not None:
            return  # the unit of work emits one record per item when it commits
        _ORIGINAL["StreamShard.add"](self, old, new)

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        from moto.dynamodb.models.dynamo_type import DynamoType

        unit = _current()
        if unit is not None and self.hash_key_attr in item_attrs:
            range_key = (
                DynamoType(item_attrs[self.range_key_attr])
                if self.range_key_attr and self.range_key_attr in item_attrs
                else None
            )
            unit.touch(self, DynamoType(item_attrs[self.hash_key_attr]), range_key)
        item = original_put(self, item_attrs, *args, **kwargs)
        _reindex(self, item.hash_key, item.range_key)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        unit = _current()
        if unit is not None:
            unit.touch(self, hash_key, range_key)
        item = original_delete(self, hash_key, range_key)
        partition = self.items.get(hash_key)
        if self.range_key_attr is not None and partition is not None and not partition:
            del self.items[hash_key]
        _reindex(self, hash_key, range_key)
        return item

    def get_item(
        self: Any, hash_key: Any, range_key: Any = None, projection_expression: Any = None
    ) -> Any:
        from moto.dynamodb.exceptions import MockValidationException

        if self.has_range_key and not range_key:
            raise MockValidationException(
                "Table has a range key, but no range key was passed into get_item"
            )
        result = _stored_item(self, hash_key, range_key)
        if projection_expression and result:
            result = result.project(projection_expression)
        return result

    original_update = DynamoDBBackend.update_item

    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        table = self.get_table(table_name)
        hash_key, range_key = self.get_keys_value(table, key)
        unit = _current()
        assert unit is not None, "update_item runs inside a unit of work"
        unit.touch(table, hash_key, range_key)
        try:
            return original_update(self, table_name, key, *args, **kwargs)
        finally:
            _reindex(table, hash_key, range_key)

    # TransactWriteItems: moto backs up whole tables with copy.deepcopy before the first write and
    # swaps them back on failure. Inside a transaction, "copying" a table returns the table itself
    # (so the swap is a no-op) and the unit of work restores the touched items instead.
    class _CopyShim:
        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if isinstance(value, Table) and getattr(_STATE, "in_transaction", False):
                return value
            return copy.deepcopy(value, memo)

    backend_module.copy = _CopyShim()  # type: ignore[assignment]
    original_transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _STATE.in_transaction = True
        try:
            return original_transact(self, transact_items)
        finally:
            _STATE.in_transaction = False

    StreamShard.add = add  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    Table.get_item = get_item  # type: ignore[method-assign]
    DynamoDBBackend.put_item = atomic(DynamoDBBackend.put_item)  # type: ignore[method-assign]
    DynamoDBBackend.delete_item = atomic(DynamoDBBackend.delete_item)  # type: ignore[method-assign]
    DynamoDBBackend.update_item = atomic(update_item)  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = atomic(transact_write_items)  # type: ignore[method-assign]
    APPLIED.append("per-item-units-of-work")
