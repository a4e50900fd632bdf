"""Stream iterators that neither pin nor leak, and records trimmed past the stream's retention."""

from __future__ import annotations

import collections
import json
import os
import time
from typing import Any

from .common import APPLIED, ITERATOR_LIFETIME_SECS, STREAM_RETENTION_SECS, _ORIGINAL, _epoch_seconds


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
