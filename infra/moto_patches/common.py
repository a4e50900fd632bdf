"""What the patches share: their settings, the record of what was applied, moto's originals
that a patch replaced, and the small helpers more than one patch reads items and times with."""

from __future__ import annotations

import os
from typing import Any

# How long a stream record is kept (DynamoDB Streams: 24 hours) and a shard iterator is valid
# (15 minutes), in seconds. The retention can be shortened for experiments.
STREAM_RETENTION_SECS = int(os.environ.get("FERRITE_STREAM_RETENTION_SECS", str(24 * 3600)))
ITERATOR_LIFETIME_SECS = 15 * 60
# DynamoDB's idempotency window for ClientRequestToken.
IDEMPOTENCY_WINDOW_SECS = 10 * 60

APPLIED: list[str] = []
# The wrapped functions whose source was checked against EXPECTED_SOURCES before patching.
VERIFIED: list[str] = []
# moto's functions as they were before a patch replaced them (a patch may still call them).
_ORIGINAL: dict[str, Any] = {}


def _stored_item(table: Any, hash_key: Any, range_key: Any) -> Any:
    partition = table.items.get(hash_key)
    if partition is None:
        return None
    if table.range_key_attr is None:
        return partition
    return partition.get(range_key)


def _epoch_seconds(value: Any) -> float:
    """JSON for a timestamp of the AWS JSON protocols: seconds since the epoch."""
    import datetime

    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000) / 1000  # milliseconds, as moto's serialiser sends
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
