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
each behaviour. One module per patch; `common` holds what they share.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from typing import Any

from . import fast_results, memory, queries, streams, transactions, units_of_work
from .common import (
    _ORIGINAL,
    APPLIED,
    IDEMPOTENCY_WINDOW_SECS,
    ITERATOR_LIFETIME_SECS,
    STREAM_RETENTION_SECS,
    VERIFIED,
)
from .expressions import unused_expression_attributes
from .queries import query_candidates

__all__ = [
    "_ORIGINAL",
    "APPLIED",
    "EXPECTED_SOURCES",
    "IDEMPOTENCY_WINDOW_SECS",
    "ITERATOR_LIFETIME_SECS",
    "PINNED_MOTO",
    "STREAM_RETENTION_SECS",
    "VERIFIED",
    "apply",
    "check_sources",
    "query_candidates",
    "source_hash",
    "time",
    "unused_expression_attributes",
]

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


def apply() -> None:
    """Applies every patch, once; refuses an unexpected moto."""
    if APPLIED:
        return
    import moto

    if moto.__version__ != PINNED_MOTO:
        raise SystemExit(
            f"infra/moto_patches/ is written for moto {PINNED_MOTO}, not {moto.__version__}: "
            "check each patch against the new version, then update PINNED_MOTO and the hashes"
        )
    changed = check_sources()
    if changed:
        raise SystemExit(
            "moto's code changed under infra/moto_patches/:\n  " + "\n  ".join(changed)
        )
    VERIFIED.extend(EXPECTED_SOURCES)
    memory._patch_instance_tracking()
    units_of_work._patch_units_of_work()
    queries._patch_queries()
    streams._patch_streams()
    transactions._patch_idempotent_transactions()
    fast_results._patch_fast_results()
