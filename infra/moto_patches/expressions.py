"""Expression attributes that no expression uses are refused, as DynamoDB refuses them."""

from __future__ import annotations

import re
from typing import Any



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
