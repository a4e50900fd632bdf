"""Patches to moto 5.2.5 so that the local endpoint keeps AWS's promises that Ferrite relies on.

Each patch fixes a difference between moto and DynamoDB that Ferrite met (issue "Fidelity"):

- **Atomic writes, rolled back item by item.** moto's TransactWriteItems deep-copies every table
  it touches (once per transaction item) and, on failure, swaps the copy in for the live table.
  That costs time and memory in proportion to the table, not the transaction (3 s per
  transaction at 20,000 items), and the swap orphans the table's stream shard: a stream reader
  keeps reading the discarded shard, which holds the records of the cancelled transaction
  (events for changes that never happened) and never receives another one (the pipeline stalls).
  Here every write (PutItem, UpdateItem, DeleteItem, TransactWriteItems) is a unit of work that
  snapshots only the items it touches, restores only those on failure, and emits stream records
  only when it commits: one record per changed item, none for an unchanged one, as DynamoDB does.
- **Idempotent transactions.** TransactWriteItems with a `ClientRequestToken` seen in the last 10
  minutes succeeds without being applied again (the SDK retries with the same token after a
  timeout), or fails with `IdempotentParameterMismatchException` if the request differs.
- **Queries that cost what they touch.** moto answers a Query by sorting every item of the table;
  here the candidates are the slice of the partition or global-index bucket (both kept sorted)
  that the key condition, ExclusiveStartKey, direction and Limit can reach, and moto's own code
  filters, orders, pages and projects them as before.
- **Answers that cost what they hold.** moto serialises every item of an answer by walking
  botocore's service model (about 1.5 ms an item, 3 ms a stream record); item reads and writes
  and stream records, DynamoDB JSON already, are sent as they are (checked equal by the tests).
- **Stream iterators that neither pin nor leak.** moto keeps every shard iterator it ever issued
  (one per GetRecords call), each holding the shard object. Here an iterator names the table and a
  sequence number, is resolved at each read, and expires after 15 minutes, as in DynamoDB Streams.
  Records older than the stream's retention (24 h, as in AWS) are trimmed.
- **Unused expression attributes are refused.** DynamoDB answers a ValidationException when
  `ExpressionAttributeValues` or `ExpressionAttributeNames` hold a key no expression uses;
  moto accepts it (`unused_expression_attributes`, applied by the endpoint to every request).
- **Memory bounded by live data.** moto's `BaseModel` appends every instance it ever creates to a
  class-level list (`instances_tracked`, for its dashboard), copies included, so nothing is ever
  freed. Here that list holds weak references. Reading a missing item no longer creates an empty
  partition.

`apply()` refuses to run on any other moto version, and checks that the functions it wraps are
still the code it was written against (a hash of their source): an upgrade that changes them fails
loudly at start-up instead of silently losing a fix. `infra/tests/test_moto_patches.py` checks
each behaviour.
"""

from __future__ import annotations

import bisect
import collections
import copy
import hashlib
import inspect
import json
import os
import re
import threading
import time
import weakref
from typing import Any

PINNED_MOTO = "5.2.5"

# sha256 of the source of every moto function a patch wraps or relies on, as in moto 5.2.5.
EXPECTED_SOURCES = {
    "moto.dynamodb.models.DynamoDBBackend.transact_write_items": "81db2cb7d94e39c9",
    "moto.dynamodb.models.DynamoDBBackend.update_item": "218984588dd689a5",
    "moto.dynamodb.models.table.Table.put_item": "de23933013ef8426",
    "moto.dynamodb.models.table.Table.delete_item": "1594f7b07616c8cb",
    "moto.dynamodb.models.table.Table.get_item": "b08e98fe37b7e583",
    "moto.dynamodb.models.table.Table.query": "002b4d00be6df07c",
    "moto.dynamodb.models.table.Table.all_items": "c80d2ee3c896acd0",
    "moto.dynamodb.models.table.StreamShard.add": "357dc6da267e5dd7",
    "moto.dynamodb.models.table.StreamShard.get": "fa7e9a0d7b438c2f",
    "moto.dynamodbstreams.models.DynamoDBStreamsBackend.get_shard_iterator": "a0be676df0bfc9ef",
    "moto.dynamodbstreams.models.DynamoDBStreamsBackend.get_records": "db8c6cb04430c08f",
    "moto.dynamodb.responses.DynamoHandler.transact_write_items": "61c163fff213f33a",
    "moto.core.common_models.BaseModel.__new__": "08cf0ef20e88029a",
    "moto.dynamodbstreams.responses.DynamoDBStreamsHandler.get_records": "eca5821a96bdd10d",
    "moto.core.responses.ActionResult.execute_result": "6333faa349b58671",
}

# How long a stream record is kept (DynamoDB Streams: 24 hours) and a shard iterator is valid
# (15 minutes), in seconds. The retention can be shortened for experiments.
STREAM_RETENTION_SECS = int(os.environ.get("FERRITE_STREAM_RETENTION_SECS", str(24 * 3600)))
ITERATOR_LIFETIME_SECS = 15 * 60
# DynamoDB's idempotency window for ClientRequestToken.
IDEMPOTENCY_WINDOW_SECS = 10 * 60

APPLIED: list[str] = []
# The wrapped functions whose source was checked against EXPECTED_SOURCES before patching.
VERIFIED: list[str] = []


def source_hash(function: Any) -> str:
    """The first 16 hex digits of the sha256 of a function's source."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def _resolve(dotted: str) -> Any:
    module_name, _, rest = dotted.partition(".")
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: Any = __import__(".".join(parts[:split]), fromlist=["_"])
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(module_name + rest)


def check_sources() -> list[str]:
    """The wrapped functions whose source differs from what the patches were written against."""
    changed = []
    for dotted, expected in EXPECTED_SOURCES.items():
        actual = source_hash(_resolve(dotted))
        if actual != expected:
            changed.append(f"{dotted}: {actual} (expected {expected})")
    return changed


# ---- weak instance tracking ------------------------------------------------------------------


class WeakInstances:
    """A stand-in for moto's `instances_tracked` list that does not keep instances alive."""

    def __init__(self) -> None:
        self._refs: list[weakref.ref[Any]] = []
        self._appended = 0

    def append(self, instance: Any) -> None:
        try:
            self._refs.append(weakref.ref(instance))
        except TypeError:  # no __weakref__ slot: not tracked
            return
        self._appended += 1
        if self._appended % 1024 == 0:  # drop dead references now and then
            self._refs = [r for r in self._refs if r() is not None]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([i for i in (r() for r in self._refs) if i is not None])

    def __len__(self) -> int:
        return sum(1 for r in self._refs if r() is not None)


def _patch_instance_tracking() -> None:
    from moto.core import common_models, model_instances

    def tracked(cls: type) -> WeakInstances:
        current = cls.__dict__.get("instances_tracked")
        if not isinstance(current, WeakInstances):
            current = WeakInstances()
            cls.instances_tracked = current  # type: ignore[attr-defined]
        return current

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        instance = object.__new__(cls)
        tracked(cls).append(instance)
        return instance

    common_models.BaseModel.__new__ = __new__  # type: ignore[method-assign]

    def reset_model_data() -> None:
        for models in model_instances.model_data.values():
            for model in models.values():
                model.instances_tracked = WeakInstances()  # type: ignore[attr-defined]

    model_instances.reset_model_data = reset_model_data
    APPLIED.append("weak-instance-tracking")


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
_ORIGINAL: dict[str, Any] = {}


def _current() -> UnitOfWork | None:
    return getattr(_STATE, "unit", None)


def _stored_item(table: Any, hash_key: Any, range_key: Any) -> Any:
    partition = table.items.get(hash_key)
    if partition is None:
        return None
    if table.range_key_attr is None:
        return partition
    return partition.get(range_key)


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


# ---- queries over sorted indexes of the items, not the whole table -----------------------------
#
# Every table keeps, beside moto's own storage, each partition's range keys in order and each
# global secondary index as buckets (one per index partition) of items in index order. A Query
# reads the slice of one partition or bucket that its key condition, its ExclusiveStartKey, its
# direction and its Limit can reach — all items with the range values at the edge of the slice
# included — and hands that slice to moto's own query code, which filters, orders, pages and
# projects it exactly as before. So a page costs what it returns, whatever the partition holds.


def _sortable(value: Any) -> Any:
    """A key attribute's value in DynamoDB's order (strings, numbers as decimals, binary)."""
    return value.cast_value


def _gsi_attrs(index: Any, kind: str) -> list[str]:
    return [k["AttributeName"] for k in index.schema if k["KeyType"] == kind]


def _primary_sort(item: Any) -> tuple[Any, Any]:
    return (_sortable(item.hash_key), _sortable(item.range_key) if item.range_key else "")


def _index_entries(table: Any, item: Any) -> list[tuple[str, tuple[Any, ...], Any]]:
    """(index, hash values, range sort value or None) of each global index that holds `item`."""
    entries = []
    for index in table.global_indexes:
        values = tuple(item.attrs.get(name) for name in _gsi_attrs(index, "HASH"))
        if not values or any(v is None for v in values):
            continue
        ranges = _gsi_attrs(index, "RANGE")
        if any(item.attrs.get(name) is None for name in ranges):
            continue  # DynamoDB indexes an item only with all of the index's key attributes
        rsort = _sortable(item.attrs[ranges[0]]) if len(ranges) == 1 else None
        entries.append((index.name, values, rsort))
    return entries


class Bucket:
    """Items of one partition of an index, and their keys in order: (range value, primary)."""

    __slots__ = ("items", "keys", "__weakref__")

    def __init__(self) -> None:
        self.items: dict[tuple[Any, Any], Any] = {}
        self.keys: list[tuple[Any, tuple[Any, Any]]] = []

    def add(self, rsort: Any, psort: tuple[Any, Any], item: Any) -> None:
        self.items[psort] = item
        if rsort is not None:
            bisect.insort(self.keys, (rsort, psort))

    def remove(self, rsort: Any, psort: tuple[Any, Any]) -> None:
        self.items.pop(psort, None)
        if rsort is not None:
            at = bisect.bisect_left(self.keys, (rsort, psort))
            if at < len(self.keys) and self.keys[at] == (rsort, psort):
                del self.keys[at]


def _ensure_index(table: Any) -> None:
    if "_ferrite_gsi" in table.__dict__:
        return
    table._ferrite_gsi = {}
    table._ferrite_entries = {}
    table._ferrite_ranges = {}
    for partition_key, partition in list(table.items.items()):
        items = [partition] if table.range_key_attr is None else list(partition.values())
        for item in items:
            _reindex(table, partition_key, item.range_key)


def _reindex(table: Any, hash_key: Any, range_key: Any) -> None:
    """Brings the sorted indexes up to date for one key (after any change to that item)."""
    if "_ferrite_gsi" not in table.__dict__:
        _ensure_index(table)
        return
    primary = (hash_key, range_key)
    for name, values, rsort, psort in table._ferrite_entries.pop(primary, ()):
        bucket = table._ferrite_gsi.get(name, {}).get(values)
        if bucket is not None:
            bucket.remove(rsort, psort)
            if not bucket.items:
                del table._ferrite_gsi[name][values]
    item = _stored_item(table, hash_key, range_key)
    if table.range_key_attr is not None:
        # (range value, range key) in order; range values are unique within a partition.
        ranges = table._ferrite_ranges.setdefault(hash_key, [])
        rsort = _sortable(range_key)
        at = bisect.bisect_left(ranges, rsort, key=_first)
        present = at < len(ranges) and ranges[at][0] == rsort
        if item is not None and not present:
            ranges.insert(at, (rsort, range_key))
        elif item is None and present:
            del ranges[at]
        if not ranges:
            del table._ferrite_ranges[hash_key]
    if item is None:
        return
    psort = _primary_sort(item)
    entries = []
    for name, values, rsort in _index_entries(table, item):
        table._ferrite_gsi.setdefault(name, {}).setdefault(values, Bucket()).add(rsort, psort, item)
        entries.append((name, values, rsort, psort))
    if entries:
        table._ferrite_entries[primary] = entries


def _first(entry: tuple[Any, Any]) -> Any:
    return entry[0]


def _successor(prefix: Any) -> Any:
    """The smallest value greater than every value that starts with `prefix` (None: none)."""
    while prefix:
        last = prefix[-1]
        if isinstance(prefix, str):
            if ord(last) < 0x10FFFF:
                return prefix[:-1] + chr(ord(last) + 1)
        elif last < 0xFF:
            return prefix[:-1] + bytes([last + 1])
        prefix = prefix[:-1]
    return None


def _window(
    keys: list[Any],
    comparison: str | None,
    values: list[Any],
    start: Any,
    forward: bool,
    limit: int | None,
) -> list[Any]:
    """The entries of `keys` (sorted by their range value, `entry[0]`) a Query can reach: those
    its key condition allows, from its ExclusiveStartKey on, in its direction, `limit` + 1 of
    them and every entry sharing a range value with the last one taken."""
    first = _first
    lo, hi = 0, len(keys)
    bounds = [_sortable(v) for v in values]
    if comparison == "EQ":
        lo = bisect.bisect_left(keys, bounds[0], key=first)
        hi = bisect.bisect_right(keys, bounds[0], key=first)
    elif comparison == "LT":
        hi = bisect.bisect_left(keys, bounds[0], key=first)
    elif comparison == "LE":
        hi = bisect.bisect_right(keys, bounds[0], key=first)
    elif comparison == "GT":
        lo = bisect.bisect_right(keys, bounds[0], key=first)
    elif comparison == "GE":
        lo = bisect.bisect_left(keys, bounds[0], key=first)
    elif comparison == "BETWEEN":
        lo = bisect.bisect_left(keys, bounds[0], key=first)
        hi = bisect.bisect_right(keys, bounds[1], key=first)
    elif comparison == "BEGINS_WITH":
        lo = bisect.bisect_left(keys, bounds[0], key=first)
        end = _successor(bounds[0])
        if end is not None:
            hi = bisect.bisect_left(keys, end, key=first)
    elif comparison is not None:
        raise ValueError(comparison)
    if start is not None:
        if forward:
            lo = max(lo, bisect.bisect_left(keys, start, key=first))
        else:
            hi = min(hi, bisect.bisect_right(keys, start, key=first))
    order = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
    taken: list[Any] = []
    counted = 0  # entries at the start key's own range value may be behind it: not counted
    for i in order:
        value = first(keys[i])
        if limit is not None and counted > limit and value != first(taken[-1]):
            return taken
        taken.append(keys[i])
        counted += value != start
    # moto (like DynamoDB) answers a LastEvaluatedKey when the Limit is reached and anything at
    # all follows: the first entry past the key condition's range stands in for it.
    beyond = hi if forward else lo - 1
    if 0 <= beyond < len(keys):
        taken.append(keys[beyond])
    return taken


# moto's names of key-condition comparisons, and the window's.
_COMPARISONS = {
    "EQ": "EQ",
    "=": "EQ",
    "LT": "LT",
    "<": "LT",
    "LE": "LE",
    "<=": "LE",
    "GT": "GT",
    ">": "GT",
    "GE": "GE",
    ">=": "GE",
    "BETWEEN": "BETWEEN",
    "BEGINS_WITH": "BEGINS_WITH",
}


def query_candidates(
    table: Any,
    hash_key: Any,
    index_name: str | None,
    hash_key_conditions: Any,
    range_comparison: str | None = None,
    range_objs: Any = (),
    range_key_conditions: Any = None,
    limit: int | None = None,
    exclusive_start_key: dict[str, Any] | None = None,
    forward: bool = True,
) -> list[Any] | None:
    """The items a Query can return (a superset of its page), or None when only a full scan
    can tell."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    _ensure_index(table)
    conditions = dict(hash_key_conditions or [])
    if range_comparison is not None:
        range_comparison = _COMPARISONS.get(range_comparison.upper(), "unsupported")
    if len(range_key_conditions or []) > 1:
        range_comparison = "unsupported"

    def start_value(attr: str | None) -> Any:
        if exclusive_start_key is None or attr is None:
            return None
        if attr not in exclusive_start_key:
            raise KeyError(attr)
        return _sortable(DynamoType(exclusive_start_key[attr]))

    def partition(value: Any) -> list[Any] | None:
        stored = table.items.get(value)
        if stored is None:
            return []
        if table.range_key_attr is None:
            return [stored]
        if range_comparison == "unsupported":
            return list(stored.values())
        try:
            start = start_value(table.range_key_attr)
        except KeyError:
            return list(stored.values())
        ranges = table._ferrite_ranges.get(value, [])
        reached = _window(ranges, range_comparison, list(range_objs), start, forward, limit)
        return [stored[key] for _rsort, key in reached]

    if not index_name:
        return partition(hash_key) if hash_key is not None else None
    for index in table.indexes:  # local indexes share the table's partition: no window
        if index.name == index_name and table.hash_key_attr in conditions:
            stored = table.items.get(conditions[table.hash_key_attr])
            if stored is None:
                return []
            return [stored] if table.range_key_attr is None else list(stored.values())
    for index in table.global_indexes:
        if index.name != index_name:
            continue
        names = _gsi_attrs(index, "HASH")
        if not names or any(n not in conditions for n in names):
            return None
        bucket = table._ferrite_gsi.get(index_name, {}).get(tuple(conditions[n] for n in names))
        if bucket is None:
            return []
        ranges = _gsi_attrs(index, "RANGE")
        if len(ranges) != 1 or range_comparison == "unsupported":
            return list(bucket.items.values())
        if range_key_conditions and range_key_conditions[-1][0] != ranges[0]:
            return list(bucket.items.values())
        try:
            start = start_value(ranges[0])
        except KeyError:
            return list(bucket.items.values())
        reached = _window(bucket.keys, range_comparison, list(range_objs), start, forward, limit)
        return [bucket.items[psort] for _rsort, psort in reached]
    return None


def _patch_queries() -> None:
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Any) -> list[Any]:
        scope = self.__dict__.get("_ferrite_scope")
        if scope is None:
            return original_all_items(self)
        return sorted(
            scope,
            key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key,
        )

    def query(
        self: Any,
        hash_key: Any,
        range_comparison: str | None,
        range_objs: list[Any],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: Any = None,
        range_key_conditions: Any = None,
        **filter_kwargs: Any,
    ) -> Any:
        arguments = (
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
        )
        named = {
            "index_name": index_name,
            "consistent_read": consistent_read,
            "filter_expression": filter_expression,
            "hash_key_conditions": hash_key_conditions,
            "range_key_conditions": range_key_conditions,
            **filter_kwargs,
        }
        scope = None
        if not filter_kwargs:  # the legacy QueryFilter reads every item
            scope = query_candidates(
                self,
                hash_key,
                index_name,
                hash_key_conditions,
                range_comparison,
                range_objs,
                range_key_conditions,
                limit,
                exclusive_start_key,
                scan_index_forward is not False,
            )
        if scope is None:
            return original_query(self, *arguments, **named)
        self._ferrite_scope = scope
        try:
            return original_query(self, *arguments, **named)
        finally:
            del self._ferrite_scope

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    APPLIED.append("indexed-queries")


# ---- streams: iterators by name and sequence, expiry, retention -------------------------------


def _patch_streams() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.models.table import StreamShard
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    class ExpiredIteratorException(JsonRESTError):
        def __init__(self) -> None:
            super().__init__(
                "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
                "Iterator expired. The iterator was created more than 15 minutes ago.",
            )

    class TrimmedDataAccessException(JsonRESTError):
        def __init__(self) -> None:
            super().__init__(
                "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException",
                "The operation attempted to read past the oldest stream record in a shard.",
            )

    class StreamValidation(JsonRESTError):
        def __init__(self, message: str) -> None:
            super().__init__("com.amazon.coral.validate#ValidationException", message)

    original_add = _ORIGINAL.get("StreamShard.add", StreamShard.add)

    def trimmed(shard: Any) -> int:
        return shard.__dict__.get("_ferrite_trimmed", 0)

    def trim(shard: Any) -> None:
        horizon = time.time() - STREAM_RETENTION_SECS
        count = 0
        for record in shard.items:
            if record.__dict__.get("_ferrite_at", 0) >= horizon:
                break
            count += 1
        if count:
            del shard.items[:count]
            shard._ferrite_trimmed = trimmed(shard) + count

    def first_sequence(shard: Any) -> int:
        return shard.starting_sequence_number + trimmed(shard)

    def next_sequence(shard: Any) -> int:
        return first_sequence(shard) + len(shard.items)

    def add(self: Any, old: Any, new: Any) -> None:
        # moto numbers a record len(items) + start: keep numbers growing across trims.
        trim(self)
        before = len(self.items)
        saved = self.starting_sequence_number
        self.starting_sequence_number = saved + trimmed(self)
        try:
            original_add(self, old, new)
        finally:
            self.starting_sequence_number = saved
        for record in self.items[before:]:
            record._ferrite_at = time.time()

    def get(self: Any, start: int, quantity: int) -> list[dict[str, Any]]:
        trim(self)
        offset = start - first_sequence(self)
        if offset < 0:
            raise TrimmedDataAccessException()
        return [r.to_json() for r in self.items[offset : offset + quantity]]

    iterators: collections.OrderedDict[str, tuple[float, str, str, int, Any]] = (
        collections.OrderedDict()
    )

    def expire() -> None:
        now = time.time()
        while iterators:
            token, (issued, *_rest) = next(iter(iterators.items()))
            if now - issued <= ITERATOR_LIFETIME_SECS:
                break
            del iterators[token]

    def issue(arn: str, table: Any, sequence: int) -> str:
        token = f"{arn}|1|{os.urandom(24).hex()}"
        iterators[token] = (time.time(), arn, table.name, sequence, table.stream_shard)
        return token

    class Iterator:
        def __init__(self, token: str) -> None:
            self.arn = token

    def get_shard_iterator(
        self: Any, arn: str, shard_id: str, shard_iterator_type: str, sequence_number: Any = None
    ) -> Any:
        expire()
        table = self._get_table_from_arn(arn)
        shard = table.stream_shard
        if shard is None or shard.id != shard_id:
            raise StreamValidation(f"Invalid ShardId: {shard_id}")
        trim(shard)
        if shard_iterator_type == "TRIM_HORIZON":
            sequence = first_sequence(shard)
        elif shard_iterator_type == "LATEST":
            sequence = next_sequence(shard)
        elif shard_iterator_type in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            if sequence_number is None:
                raise StreamValidation("SequenceNumber is required for this iterator type")
            sequence = int(sequence_number) + (
                1 if shard_iterator_type == "AFTER_SEQUENCE_NUMBER" else 0
            )
            if sequence < first_sequence(shard):
                raise TrimmedDataAccessException()
        else:
            raise StreamValidation(f"Invalid ShardIteratorType: {shard_iterator_type}")
        return Iterator(issue(arn, table, sequence))

    def get_records(self: Any, iterator_arn: str, limit: int) -> dict[str, Any]:
        expire()
        entry = iterators.get(iterator_arn)
        if entry is None:
            raise ExpiredIteratorException()
        _issued, arn, table_name, sequence, shard = entry
        table = self.dynamodb.tables.get(table_name)
        if table is None or table.stream_shard is not shard:
            raise ExpiredIteratorException()  # the table (or its stream) was replaced
        records = shard.get(sequence, min(int(limit), 1000))
        if records:
            sequence = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
        return {"NextShardIterator": issue(arn, table, sequence), "Records": records}

    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def records_response(self: Any) -> str:
        # moto serialises each record by walking botocore's shapes (about 3 ms a record, inside
        # the endpoint's lock); the records are DynamoDB JSON already, so dump them as they are.
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"), limit or 1000)
        return json.dumps(result, default=_epoch_seconds)

    StreamShard.get = get  # type: ignore[method-assign]
    _ORIGINAL["DynamoDBStreamsHandler.get_records"] = DynamoDBStreamsHandler.get_records
    DynamoDBStreamsHandler.get_records = records_response  # type: ignore[method-assign]
    # The unit-of-work patch's `add` (which holds records back until commit) calls this one.
    _ORIGINAL["StreamShard.add"] = add
    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
    APPLIED.append("stream-iterators-and-retention")


def _epoch_seconds(value: Any) -> float:
    """JSON for a timestamp of the AWS JSON protocols: seconds since the epoch."""
    import datetime

    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000) / 1000  # milliseconds, as moto's serialiser sends
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ---- item reads and writes answered without walking botocore's shapes --------------------------

# The DynamoDB operations whose answers are items: moto serialises each attribute by walking the
# service model (about 1.5 ms an item, inside the endpoint's lock); their results are plain
# DynamoDB JSON already.
FAST_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
    }
)
FAST_SERIALIZATION = True


def _wire(value: Any) -> Any:
    """moto's result as the JSON protocol sends it: None dropped, bytes as base64."""
    import base64

    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


def _patch_fast_results() -> None:
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if FAST_SERIALIZATION and context.operation_model.name in FAST_OPERATIONS:
            body = json.dumps(_wire(self.result), default=_epoch_seconds)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]
    APPLIED.append("fast-item-results")


# ---- TransactWriteItems idempotency ----------------------------------------------------------


def _patch_idempotent_transactions() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    class IdempotentParameterMismatch(JsonRESTError):
        def __init__(self) -> None:
            super().__init__(
                "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
                "Request token reused with different parameters",
            )

    original = DynamoHandler.transact_write_items
    seen: collections.OrderedDict[str, tuple[float, str]] = collections.OrderedDict()

    def transact_write_items(self: Any) -> Any:
        now = time.time()
        while seen:
            token, (at, _digest) = next(iter(seen.items()))
            if now - at <= IDEMPOTENCY_WINDOW_SECS:
                break
            del seen[token]
        token = self.body.get("ClientRequestToken")
        digest = hashlib.sha256(
            json.dumps(self.body.get("TransactItems"), sort_keys=True).encode()
        ).hexdigest()
        if token and token in seen:
            if seen[token][1] != digest:
                raise IdempotentParameterMismatch()
            from moto.core.responses import ActionResult

            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        result = original(self)
        if token:
            seen[token] = (now, digest)
        return result

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]
    APPLIED.append("idempotent-transactions")


def apply() -> None:
    """Applies every patch, once; refuses an unexpected moto."""
    if APPLIED:
        return
    import moto

    if moto.__version__ != PINNED_MOTO:
        raise SystemExit(
            f"infra/moto_patches.py is written for moto {PINNED_MOTO}, not {moto.__version__}: "
            "check each patch against the new version, then update PINNED_MOTO and the hashes"
        )
    changed = check_sources()
    if changed:
        raise SystemExit(
            "moto's code changed under infra/moto_patches.py:\n  " + "\n  ".join(changed)
        )
    VERIFIED.extend(EXPECTED_SOURCES)
    _patch_instance_tracking()
    _patch_units_of_work()
    _patch_queries()
    _patch_streams()
    _patch_idempotent_transactions()
    _patch_fast_results()


# ---- expression attributes that no expression uses --------------------------------------------

_EXPRESSIONS = (
    "ConditionExpression",
    "UpdateExpression",
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
)


def unused_expression_attributes(operation: str, body: dict[str, Any]) -> str | None:
    """DynamoDB refuses a request whose ExpressionAttributeValues or ExpressionAttributeNames
    hold a key that none of its expressions uses (moto accepts it): the ValidationException
    message AWS answers, or None. Transaction items are checked one by one."""

    def check(request: dict[str, Any]) -> str | None:
        text = " ".join(str(request.get(name, "")) for name in _EXPRESSIONS)
        for field, prefix in (("ExpressionAttributeValues", ":"), ("ExpressionAttributeNames", "#")):
            defined = request.get(field) or {}
            used = set(re.findall(re.escape(prefix) + r"[A-Za-z0-9_]+", text))
            unused = sorted(k for k in defined if k not in used)
            if unused:
                return (
                    f"Value provided in {field} unused in expressions: keys: {{{', '.join(unused)}}}"
                )
        return None

    if operation == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            for request in entry.values():
                problem = check(request)
                if problem:
                    return problem
        return None
    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"):
        return check(body)
    return None
