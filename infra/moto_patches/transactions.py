"""Idempotent TransactWriteItems for a ClientRequestToken seen in the last 10 minutes."""

from __future__ import annotations

import collections
import hashlib
import json
import time
from typing import Any

from .common import APPLIED, IDEMPOTENCY_WINDOW_SECS


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
