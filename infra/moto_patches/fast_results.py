"""Answers that cost what they hold: item reads, writes and stream records sent as the
DynamoDB JSON they already are."""

from __future__ import annotations

import json
from typing import Any

from .common import APPLIED, _epoch_seconds


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
