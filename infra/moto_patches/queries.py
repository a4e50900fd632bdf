"""Queries that cost what they touch: each partition and global-index bucket kept sorted, a
Query reading only the slice its key condition reaches."""

from __future__ import annotations

import bisect
from typing import Any

from .common import APPLIED, _stored_item


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
