"""DynamoDB's consumed capacity for the local endpoint, computed the way DynamoDB bills it.

moto answers `ReturnConsumedCapacity` with a constant (0.5 or 1 unit, whatever the items). Here
the endpoint computes what DynamoDB on-demand would charge for each successful request, from the
items it stored before and after the request, and writes it into the answer's
`ConsumedCapacity` (TOTAL: `CapacityUnits`, `ReadCapacityUnits`, `WriteCapacityUnits`; INDEXES:
also `Table` and `GlobalSecondaryIndexes`). `make capacity` reads it through the SDK.

The rules (Amazon DynamoDB Developer Guide, "Read/write capacity mode" and "Item sizes",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
and "Capacity management for transactions",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html):

- Item size: the UTF-8 bytes of every attribute name plus its value — strings their UTF-8 bytes,
  numbers (significant digits / 2) + 1, binary its bytes, booleans and nulls 1, lists and maps
  3 bytes plus their elements plus 1 byte per element.
- Reads: 1 unit per 4 KB of an item, strongly consistent; half of it eventually consistent (every
  index read is). A GetItem or a BatchGetItem key that finds nothing still costs the minimum. A
  Query or Scan sums the sizes of the items it read (before a filter) and rounds the sum up once.
- Writes: 1 unit per 1 KB of the larger of the item before and after (a delete: before). A
  write changes each global index whose key the item has before or after: 1 write per 1 KB of
  the index entry (ALL projection: the item), 2 when the index key changes.
- Transactions: 2 units per 1 KB of each item, ConditionCheck included (assumed billed like a
  write of that item); their index writes are counted as ordinary index writes.

What is not modelled: a request DynamoDB refuses still consumes capacity (a failed condition
costs its write); moto answers errors without capacity here, and `make capacity` measures happy
paths only.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024

READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def number_size(text: str) -> int:
    """The bytes DynamoDB counts for a number: its significant digits / 2, rounded up, + 1."""
    mantissa = text.lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one DynamoDB JSON value (`{"S": "…"}`)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) if isinstance(b, str) else len(b) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    """The size of an item in DynamoDB JSON (0 for none)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


class Tally:
    """Units of one request, per table and per index."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    def _entry(self, table: str) -> dict[str, Any]:
        return self.tables.setdefault(table, {"read": 0.0, "write": 0.0, "indexes": {}})

    def read(self, table: str, units: float, index: str | None = None) -> None:
        entry = self._entry(table)
        if index:
            slot = entry["indexes"].setdefault(index, {"read": 0.0, "write": 0.0})
            slot["read"] += units
        else:
            entry["read"] += units

    def write(self, table: str, units: float, index: str | None = None) -> None:
        entry = self._entry(table)
        if index:
            slot = entry["indexes"].setdefault(index, {"read": 0.0, "write": 0.0})
            slot["write"] += units
        else:
            entry["write"] += units

    def consumed(self, table: str, detail: str) -> dict[str, Any]:
        entry = self._entry(table)
        read = entry["read"] + sum(i["read"] for i in entry["indexes"].values())
        write = entry["write"] + sum(i["write"] for i in entry["indexes"].values())
        answer: dict[str, Any] = {
            "TableName": table,
            "CapacityUnits": read + write,
            "ReadCapacityUnits": read,
            "WriteCapacityUnits": write,
        }
        if detail == "INDEXES":
            answer["Table"] = {
                "CapacityUnits": entry["read"] + entry["write"],
                "ReadCapacityUnits": entry["read"],
                "WriteCapacityUnits": entry["write"],
            }
            if entry["indexes"]:
                answer["GlobalSecondaryIndexes"] = {
                    name: {
                        "CapacityUnits": i["read"] + i["write"],
                        "ReadCapacityUnits": i["read"],
                        "WriteCapacityUnits": i["write"],
                    }
                    for name, i in entry["indexes"].items()
                }
        return answer


class Capacity:
    """Computes a request's units against a moto DynamoDB backend (`backend(region)`)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    # ---- the stored items ----------------------------------------------------------------

    def _table(self, region: str, name: str) -> Any:
        try:
            return self.backend(region).get_table(name)
        except Exception:  # noqa: BLE001 - an unknown table: moto answers the error itself
            return None

    @staticmethod
    def _stored(table: Any, key: dict[str, Any]) -> dict[str, Any] | None:
        from moto.dynamodb.models.dynamo_type import DynamoType

        hash_value = key.get(table.hash_key_attr)
        if hash_value is None:
            return None
        range_value = key.get(table.range_key_attr) if table.range_key_attr else None
        item = table.get_item(
            DynamoType(hash_value), DynamoType(range_value) if range_value is not None else None
        )
        return item.to_json()["Attributes"] if item is not None else None

    @staticmethod
    def _key_of(table: Any, item: dict[str, Any]) -> dict[str, Any]:
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {n: item[n] for n in names if n in item}

    @staticmethod
    def _indexes(table: Any) -> list[tuple[str, list[str]]]:
        """Each global index: its name and key attributes."""
        found = []
        for index in getattr(table, "global_indexes", []) or []:
            schema = index.schema if hasattr(index, "schema") else index["KeySchema"]
            name = index.name if hasattr(index, "name") else index["IndexName"]
            found.append((name, [k["AttributeName"] for k in schema]))
        return found

    # ---- before a write: what each touched item was ------------------------------------

    def write_keys(self, operation: str, request: dict[str, Any]) -> list[tuple[str, dict, str]]:
        """(table, key, kind) of every item a write request touches; kind: write or check."""
        touched: list[tuple[str, dict, str]] = []
        if operation in ("UpdateItem", "DeleteItem"):
            touched.append((request["TableName"], request["Key"], "write"))
        elif operation == "PutItem":
            touched.append((request["TableName"], request["Item"], "write"))
        elif operation == "TransactWriteItems":
            for entry in request.get("TransactItems", []):
                ((kind, inner),) = entry.items()
                key = inner.get("Key") or inner.get("Item") or {}
                touched.append((inner["TableName"], key, "check" if kind == "ConditionCheck" else "write"))
        elif operation == "BatchWriteItem":
            for table, requests in request.get("RequestItems", {}).items():
                for entry in requests:
                    if "PutRequest" in entry:
                        touched.append((table, entry["PutRequest"]["Item"], "write"))
                    else:
                        touched.append((table, entry["DeleteRequest"]["Key"], "write"))
        return touched

    def snapshot(
        self, region: str, touched: list[tuple[str, dict, str]]
    ) -> list[tuple[str, dict, str, dict | None]]:
        """The touched items as stored now: (table, key, kind, item or None)."""
        taken = []
        for name, key, kind in touched:
            table = self._table(region, name)
            if table is None:
                continue
            key = self._key_of(table, key)
            taken.append((name, key, kind, self._stored(table, key)))
        return taken

    # ---- after the request --------------------------------------------------------------

    def units(
        self,
        region: str,
        operation: str,
        request: dict[str, Any],
        answer: dict[str, Any],
        before: list[tuple[str, dict, str, dict | None]],
    ) -> Tally:
        tally = Tally()
        if operation in WRITES:
            factor = 2 if operation == "TransactWriteItems" else 1
            for name, key, kind, old in before:
                table = self._table(region, name)
                if table is None:
                    continue
                new = self._stored(table, key)
                if kind == "check":
                    tally.write(name, factor * write_units(item_size(old)))
                    continue
                tally.write(name, factor * write_units(max(item_size(old), item_size(new))))
                self._index_writes(tally, name, table, old, new)
        elif operation == "GetItem":
            table = self._table(region, request["TableName"])
            if table is not None:
                stored = self._stored(table, request["Key"])
                tally.read(
                    request["TableName"],
                    read_units(item_size(stored), bool(request.get("ConsistentRead"))),
                )
        elif operation == "BatchGetItem":
            unprocessed = answer.get("UnprocessedKeys") or {}
            for name, wanted in request.get("RequestItems", {}).items():
                table = self._table(region, name)
                if table is None:
                    continue
                skipped = [json.dumps(k, sort_keys=True) for k in unprocessed.get(name, {}).get("Keys", [])]
                for key in wanted.get("Keys", []):
                    if json.dumps(key, sort_keys=True) in skipped:
                        continue
                    tally.read(
                        name,
                        read_units(item_size(self._stored(table, key)), bool(wanted.get("ConsistentRead"))),
                    )
        elif operation in ("Query", "Scan"):
            name = request["TableName"]
            table = self._table(region, name)
            if table is not None:
                items = answer.get("Items", [])
                sizes = []
                needed = 2 if table.range_key_attr else 1
                for item in items:
                    # The whole item is read whatever the projection returns.
                    key = self._key_of(table, item)
                    full = self._stored(table, key) if len(key) == needed else None
                    sizes.append(item_size(full or item))
                read = sum(sizes)
                # Items a filter dropped were read too: counted at the mean size of the others.
                scanned = int(answer.get("ScannedCount", len(items)))
                if scanned > len(items) and sizes:
                    read += (scanned - len(items)) * (read // len(sizes))
                index = request.get("IndexName")
                consistent = bool(request.get("ConsistentRead")) and index is None
                tally.read(name, read_units(read, consistent), index)
        return tally

    def _index_writes(
        self, tally: Tally, name: str, table: Any, old: dict | None, new: dict | None
    ) -> None:
        for index, keys in self._indexes(table):
            had = old is not None and all(k in old for k in keys)
            has = new is not None and all(k in new for k in keys)
            if not had and not has:
                continue
            if had and has:
                moved = any(old[k] != new[k] for k in keys)
                if not moved and old == new:
                    continue
                count = 2 if moved else 1
            else:
                count = 1
            size = max(item_size(old) if had else 0, item_size(new) if has else 0)
            tally.write(name, count * write_units(size), index)

    @staticmethod
    def answer_with(operation: str, answer: dict[str, Any], tally: Tally, detail: str) -> dict[str, Any]:
        """`answer` with `ConsumedCapacity` as DynamoDB writes it for `operation`."""
        if operation in ("BatchGetItem", "BatchWriteItem", "TransactWriteItems", "TransactGetItems"):
            answer["ConsumedCapacity"] = [tally.consumed(t, detail) for t in tally.tables]
        elif tally.tables:
            answer["ConsumedCapacity"] = tally.consumed(next(iter(tally.tables)), detail)
        return answer
