"""IAM for the local endpoint: every call a function makes is authorised against its role's
policies, the way AWS authorises it, and refused the way AWS refuses it.

The local stack (`infra/src/iam.rs`) expands the stacks (flattened) with the SAM translator, resolves each
role's policies against the local resources' ARNs and registers one *principal* per role: an
access key id, the role's ARN and its policy statements. A function signs its calls with its
role's key; the pumps sign with the key of the pipe's role (stream -> queue) or of the worker's
role (queue -> worker), as EventBridge Pipes and Lambda's event source mappings do in AWS.

For each request, `requested_actions` says what IAM would check: the action (`dynamodb:PutItem`),
the resource ARN it is checked against (table, index, stream, queue, secret, SES identity) and
the condition keys of the request context (`ses:FromAddress`, ...). AWS's rules, not moto's:

- TransactWriteItems is checked as PutItem / UpdateItem / DeleteItem / ConditionCheckItem per
  item and TransactGetItems as GetItem per item (IAM has no `TransactWriteItems` action);
- BatchGetItem and BatchWriteItem are checked once per table they name;
- Query and Scan on an index are checked against `table/<name>/index/<index>`;
- GetRecords is checked against the stream ARN its iterator belongs to;
- SQS batch calls are checked as their single-message actions (`SendMessageBatch` needs
  `sqs:SendMessage`);
- Secrets Manager is checked against the secret's full ARN (with its random suffix);
- SES v2 SendEmail is checked against the sender's identity with `ses:FromAddress`,
  `ses:FromDisplayName`, `ses:Recipients` and `ses:ApiVersion` in the context;
- S3 object calls are checked against the object's ARN (`arn:aws:s3:::<bucket>/<key>`: GET and
  HEAD as `s3:GetObject`, PUT as `s3:PutObject`, DELETE as `s3:DeleteObject`, a copy also as
  `s3:GetObject` on its source), whether signed with an Authorization header or presigned (a
  link, a POST policy: `local_s3.py` verifies those first and names the signer);
- KMS is checked against the key's ARN, however the call names the key (id, ARN, alias name or
  ARN; a Decrypt that names none, against the key its ciphertext was made under), with
  `kms:EncryptionContext:<key>` and `kms:EncryptionContextKeys` in the context. A key's access
  is its *key policy*'s: a statement naming the caller allows it, and one naming the account
  (`arn:aws:iam::<account>:root`) lets the caller's identity policies decide; a key with no
  policy registered has the default policy (the account). Nothing else reaches a key.

Evaluation follows IAM's logic within one account: an explicit Deny in the caller's policies or
in the resource's policy wins; otherwise an Allow whose Action, Resource and every Condition match
is needed, in the caller's identity-based policies or in the resource-based policy of the
resource (an SQS queue policy) naming the caller. A *service principal* — an EventBridge rule
delivering to its targets — has no identity policies: only a resource policy naming its service
(`events.amazonaws.com`) can let it in, with `aws:SourceArn` (the rule's ARN) and
`aws:SourceAccount` in the request's context. Action and Resource accept
`NotAction` / `NotResource` and the `*` and `?` wildcards (actions without regard to case,
resources segment by segment). Condition operators: String*, Arn*, Bool, Null, Numeric*, with
`IfExists` and the `ForAllValues:` / `ForAnyValue:` set qualifiers. A condition key the local
stack does not know is absent from the context (so an Allow that depends on it does not apply),
and an operator it does not know fails the request, naming the operator.

Calls signed with any other key (the operator's `testing` credentials: provisioning, tests'
set-up, `ferrite-admin`) are not restricted, like an account administrator's.
"""

from __future__ import annotations

import base64
import collections
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import local_s3

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")


@dataclass
class Principal:
    access_key_id: str
    arn: str  # the assumed-role session ARN, as AWS names the caller in a denial
    statements: list[dict[str, Any]]
    name: str = ""
    # A service acting for a resource (`events.amazonaws.com` for a rule): its calls carry
    # `aws:SourceArn` and are allowed only by resource-based policies.
    service: str | None = None
    source_arn: str | None = None
    # The secret half of its key: what S3 checks a presigned link or a POST policy with.
    secret: str | None = None

    def role_arn(self) -> str:
        """`arn:aws:iam::<account>:role/<name>` of an assumed-role session ARN."""
        match = re.fullmatch(r"arn:aws:sts::(\d+):assumed-role/([^/]+)/.*", self.arn)
        return f"arn:aws:iam::{match.group(1)}:role/{match.group(2)}" if match else self.arn


@dataclass
class Requested:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


class UnmodelledRequest(Exception):
    """A request of a registered principal that this module cannot map to IAM's terms."""


# ---- policy evaluation -----------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    # IAM has only the * and ? wildcards (no [...] classes).
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL) is not None


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    """IAM's ARN matching: `*` alone matches anything; otherwise the six colon-separated
    segments are matched one by one (a wildcard does not span segments), case-sensitively."""
    if pattern == "*":
        return True
    pattern_parts = pattern.split(":", 5)
    resource_parts = resource.split(":", 5)
    if len(pattern_parts) != 6 or len(resource_parts) != 6:
        return _glob_segment(pattern, resource)
    return all(_glob(p, r, ignore_case=False) for p, r in zip(pattern_parts, resource_parts))


def _glob_segment(pattern: str, value: str) -> bool:
    """A match in which a wildcard never crosses a colon."""
    regex = "".join(
        "[^:]*" if c == "*" else "[^:]" if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, value) is not None


def _context_value(context: dict[str, Any], key: str) -> Any:
    for name, value in context.items():
        if name.lower() == key.lower():
            return value
    return None


def _compare(base: str, expected: Any, actual: Any) -> bool:
    expected_s = str(expected).lower() if isinstance(expected, bool) else str(expected)
    actual_s = str(actual).lower() if isinstance(actual, bool) else str(actual)
    if base == "StringEquals" or base == "ArnEquals":
        return actual_s == expected_s
    if base == "StringEqualsIgnoreCase":
        return actual_s.lower() == expected_s.lower()
    if base == "StringLike" or base == "ArnLike":
        if base == "ArnLike":
            return resource_matches(expected_s, actual_s)
        return _glob(expected_s, actual_s, ignore_case=False)
    if base == "Bool":
        return actual_s.lower() == expected_s.lower()
    if base.startswith("Numeric"):
        try:
            a, e = float(actual_s), float(expected_s)
        except ValueError:
            return False
        return {
            "NumericEquals": a == e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }[base]
    raise UnmodelledRequest(f"condition operator {base} is not supported by the local IAM")


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
KNOWN = {
    "StringEquals",
    "StringEqualsIgnoreCase",
    "StringLike",
    "ArnEquals",
    "ArnLike",
    "Bool",
    "NumericEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
}


def condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in ("ForAllValues", "ForAnyValue"):
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    actual = _context_value(context, key)
    expected_values = _as_list(expected)
    if base == "Null":
        # {"Null": {"key": "true"}}: the key is absent.
        wanted_absent = str(expected_values[0]).lower() == "true"
        return (actual is None) == wanted_absent
    negated = base in NEGATED
    positive = NEGATED.get(base, base)
    if positive not in KNOWN:
        raise UnmodelledRequest(f"condition operator {operator} is not supported by the local IAM")
    if actual is None:
        if qualifier == "ForAllValues":
            return True
        return if_exists or negated
    values = actual if isinstance(actual, list) else [actual]

    def one(value: Any) -> bool:
        hit = any(_compare(positive, e, value) for e in expected_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _statement_applies(statement: dict[str, Any], requested: Requested) -> bool:
    if "Action" in statement:
        if not any(action_matches(p, requested.action) for p in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(action_matches(p, requested.action) for p in _as_list(statement["NotAction"])):
            return False
    else:
        return False
    if "Resource" in statement:
        if not any(resource_matches(p, requested.resource) for p in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(resource_matches(p, requested.resource) for p in _as_list(statement["NotResource"])):
            return False
    else:
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in block.items():
            if not condition_holds(operator, key, expected, requested.context):
                return False
    return True


def evaluate(statements: list[dict[str, Any]], requested: Requested) -> str:
    """"Allow", "ExplicitDeny" or "ImplicitDeny"."""
    allowed = False
    for statement in statements:
        if not _statement_applies(statement, requested):
            continue
        if statement.get("Effect") == "Deny":
            return "ExplicitDeny"
        if statement.get("Effect") == "Allow":
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def principal_named(statement: dict[str, Any], principal: Principal) -> bool:
    """Whether a resource-based policy statement's `Principal` names the caller."""
    named = statement.get("Principal")
    if named == "*":
        return True
    if not isinstance(named, dict):
        return False
    if principal.service:
        return principal.service in _as_list(named.get("Service"))
    arns = _as_list(named.get("AWS"))
    return "*" in arns or principal.arn in arns or principal.role_arn() in arns


def evaluate_resource_policy(
    statements: list[dict[str, Any]], principal: Principal, requested: Requested
) -> str:
    """A resource-based policy's verdict for the caller: "Allow", "ExplicitDeny" or
    "ImplicitDeny" (its statements that name another principal do not apply)."""
    return evaluate([s for s in statements if principal_named(s, principal)], requested)


# ---- what a request asks for -----------------------------------------------------------------


def _table_arn(region: str, account: str, name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def _dynamodb(operation: str, body: dict[str, Any], region: str, account: str) -> list[Requested]:
    def table(name: str, index: str | None = None) -> str:
        arn = _table_arn(region, account, name)
        return f"{arn}/index/{index}" if index else arn

    if operation == "TransactWriteItems":
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        out = []
        for entry in body.get("TransactItems", []):
            for kind, op in entry.items():
                out.append(Requested(f"dynamodb:{kinds[kind]}", table(op["TableName"])))
        return out
    if operation == "TransactGetItems":
        return [
            Requested("dynamodb:GetItem", table(entry["Get"]["TableName"]))
            for entry in body.get("TransactItems", [])
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [
            Requested(f"dynamodb:{operation}", table(name))
            for name in body.get("RequestItems", {})
        ]
    if operation in ("ListTables", "DescribeLimits", "DescribeEndpoints"):
        return [Requested(f"dynamodb:{operation}", "*")]
    if "TableName" in body:
        return [Requested(f"dynamodb:{operation}", table(body["TableName"], body.get("IndexName")))]
    raise UnmodelledRequest(f"DynamoDB {operation}")


def _streams(operation: str, body: dict[str, Any]) -> list[Requested]:
    if operation == "ListStreams":
        return [Requested("dynamodb:ListStreams", "*")]
    if operation in ("DescribeStream", "GetShardIterator"):
        return [Requested(f"dynamodb:{operation}", body["StreamArn"])]
    if operation == "GetRecords":
        # The local endpoint's iterators start with the stream ARN (`<arn>|1|<token>`).
        return [Requested("dynamodb:GetRecords", body["ShardIterator"].split("|", 1)[0])]
    raise UnmodelledRequest(f"DynamoDB Streams {operation}")


SQS_BATCH = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _queue_arn(region: str, account: str, queue_url: str) -> str:
    parts = [p for p in urlparse(queue_url).path.split("/") if p]
    if len(parts) >= 2:
        return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"
    return f"arn:aws:sqs:{region}:{account}:{parts[-1] if parts else ''}"


def _sqs(operation: str, body: dict[str, Any], region: str, account: str) -> list[Requested]:
    action = "sqs:" + SQS_BATCH.get(operation, operation)
    if "QueueUrl" in body:
        return [Requested(action, _queue_arn(region, account, body["QueueUrl"]))]
    if "QueueName" in body:
        return [Requested(action, f"arn:aws:sqs:{region}:{account}:{body['QueueName']}")]
    return [Requested(action, "*")]


def _secretsmanager(
    operation: str, body: dict[str, Any], region: str, account: str, secret_arn: Any
) -> list[Requested]:
    secret_id = body.get("SecretId") or body.get("Name")
    if not secret_id:
        return [Requested(f"secretsmanager:{operation}", "*")]
    arn = secret_arn(secret_id) or (
        secret_id
        if secret_id.startswith("arn:")
        else f"arn:aws:secretsmanager:{region}:{account}:secret:{secret_id}"
    )
    return [Requested(f"secretsmanager:{operation}", arn)]


def _kms(operation: str, body: dict[str, Any], region: str, account: str, kms_key: Any) -> list[Requested]:
    def arn_of(reference: str | None) -> str:
        if not reference:
            return "*"
        found = kms_key(reference)
        if found:
            return found
        if reference.startswith("arn:") and ":key/" in reference:
            return reference
        if reference.startswith("alias/") or ":alias/" in reference:
            # An alias that names no key: AWS checks nothing it could allow (NotFound follows).
            return f"arn:aws:kms:{region}:{account}:{reference.split(':')[-1]}"
        return f"arn:aws:kms:{region}:{account}:key/{reference}"

    def ciphertext_key(blob: str | None) -> str | None:
        # The local endpoint's ciphertext starts with the id (36 characters) of its key.
        try:
            return base64.b64decode(blob or "")[:36].decode()
        except (ValueError, UnicodeDecodeError):
            return None

    context: dict[str, Any] = {}
    encryption_context = body.get("EncryptionContext") or {}
    if encryption_context:
        context["kms:EncryptionContextKeys"] = sorted(encryption_context)
        for key, value in encryption_context.items():
            context[f"kms:EncryptionContext:{key}"] = value
    if operation in ("CreateKey", "ListKeys", "ListAliases", "GenerateRandom"):
        return [Requested(f"kms:{operation}", "*")]
    if operation == "Decrypt":
        key = body.get("KeyId") or ciphertext_key(body.get("CiphertextBlob"))
        return [Requested("kms:Decrypt", arn_of(key), context)]
    if operation == "ReEncrypt":
        source = body.get("SourceKeyId") or ciphertext_key(body.get("CiphertextBlob"))
        return [
            Requested("kms:ReEncryptFrom", arn_of(source), context),
            Requested("kms:ReEncryptTo", arn_of(body.get("DestinationKeyId")), context),
        ]
    if "KeyId" in body:
        return [Requested(f"kms:{operation}", arn_of(body["KeyId"]), context)]
    raise UnmodelledRequest(f"TrentService.{operation}")


def _sesv2(
    method: str, path: str, body: dict[str, Any], region: str, account: str
) -> list[Requested]:
    if method == "POST" and path.rstrip("/") == "/v2/email/outbound-emails":
        display, sender = parseaddr(body.get("FromEmailAddress", ""))
        destination = body.get("Destination", {})
        recipients = [
            parseaddr(a)[1]
            for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
            for a in destination.get(kind, [])
        ]
        context = {
            "ses:FromAddress": sender,
            "ses:FromDisplayName": display,
            "ses:Recipients": recipients,
            "ses:ApiVersion": "2",
        }
        identity = body.get("FromEmailAddressIdentityArn") or (
            f"arn:aws:ses:{region}:{account}:identity/{sender}"
        )
        out = [Requested("ses:SendEmail", identity, context)]
        if body.get("ConfigurationSetName"):
            out.append(
                Requested(
                    "ses:SendEmail",
                    f"arn:aws:ses:{region}:{account}:configuration-set/{body['ConfigurationSetName']}",
                    context,
                )
            )
        return out
    raise UnmodelledRequest(f"SES v2 {method} {path}")


def _events(operation: str, body: dict[str, Any], region: str, account: str) -> list[Requested]:
    if operation == "PutEvents":
        buses = {e.get("EventBusName") or "default" for e in body.get("Entries", [])}
        return [
            Requested(
                "events:PutEvents",
                bus if bus.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{bus}",
            )
            for bus in sorted(buses)
        ]
    raise UnmodelledRequest(f"AWSEvents.{operation}")


def requested_actions(
    method: str,
    path: str,
    target: str,
    body_bytes: bytes,
    content_type: str,
    region: str,
    account: str,
    secret_arn: Any = lambda _name: None,
    kms_key: Any = lambda _reference: None,
) -> list[Requested]:
    """What IAM checks for one request (see the module docs)."""
    body: dict[str, Any] = {}
    if body_bytes and "json" in content_type:
        try:
            body = json.loads(body_bytes)
        except ValueError:
            body = {}
    if target:
        prefix, _, operation = target.partition(".")
        if prefix.startswith("DynamoDBStreams_"):
            return _streams(operation, body)
        if prefix.startswith("DynamoDB_"):
            return _dynamodb(operation, body, region, account)
        if prefix == "AmazonSQS":
            return _sqs(operation, body, region, account)
        if prefix == "secretsmanager":
            return _secretsmanager(operation, body, region, account, secret_arn)
        if prefix == "AWSEvents":
            return _events(operation, body, region, account)
        if prefix == "TrentService":
            return _kms(operation, body, region, account, kms_key)
        raise UnmodelledRequest(target)
    if path.startswith("/v2/email/"):
        return _sesv2(method, path, body, region, account)
    if body_bytes and "x-www-form-urlencoded" in content_type:  # SQS's query protocol
        form = {k: v[0] for k, v in parse_qs(body_bytes.decode()).items()}
        if "Action" in form:
            return _sqs(form["Action"], form, region, account)
    raise UnmodelledRequest(f"{method} {unquote(path)}")


# ---- the authorizer --------------------------------------------------------------------------


class Authorizer:
    """The registered principals, the decisions taken (a tally of every one by key, action and
    outcome, and the newest few thousand in full), and the denials in each protocol's shape."""

    def __init__(self, account: str = "123456789012") -> None:
        self.account = account
        self.principals: dict[str, Principal] = {}
        # Resource ARN -> the statements of its resource-based policy (queue policies).
        self.resource_policies: dict[str, list[dict[str, Any]]] = {}
        self.decisions: collections.deque[dict[str, Any]] = collections.deque(maxlen=2000)
        # (access key, principal name, action, outcome) -> count
        self.tally: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        self.lock = threading.Lock()

    def register(self, principals: list[dict[str, Any]]) -> int:
        with self.lock:
            for p in principals:
                self.principals[p["accessKeyId"]] = Principal(
                    access_key_id=p["accessKeyId"],
                    arn=p["arn"],
                    statements=p["statements"],
                    name=p.get("name", ""),
                    service=p.get("service"),
                    source_arn=p.get("sourceArn"),
                    secret=p.get("secretAccessKey"),
                )
            return len(self.principals)

    def register_resource_policies(self, policies: dict[str, list[dict[str, Any]]]) -> int:
        """Sets the resource-based policies of these resources (replacing what they had)."""
        with self.lock:
            self.resource_policies.update(policies)
            return len(self.resource_policies)

    def decide(self, principal: Principal, requested: Requested, region: str) -> str:
        """IAM's verdict on one requested action of a registered principal (recorded)."""
        requested.context.setdefault("aws:PrincipalArn", principal.arn)
        requested.context.setdefault("aws:RequestedRegion", region)
        requested.context.setdefault("aws:SecureTransport", False)
        if principal.service:
            requested.context.setdefault("aws:SourceArn", principal.source_arn)
            requested.context.setdefault("aws:SourceAccount", self.account)
            requested.context.setdefault("aws:PrincipalServiceName", principal.service)
        identity = "ImplicitDeny" if principal.service else evaluate(principal.statements, requested)
        if requested.action.startswith("kms:") and requested.resource.startswith("arn:aws:kms:"):
            outcome = self.key_policy_decision(principal, requested, identity)
            self._record(principal, requested, outcome)
            return outcome
        resource = evaluate_resource_policy(
            self.resource_policies.get(requested.resource, []), principal, requested
        )
        if "ExplicitDeny" in (identity, resource):
            outcome = "ExplicitDeny"
        elif "Allow" in (identity, resource):
            outcome = "Allow"
        else:
            outcome = "ImplicitDeny"
        self._record(principal, requested, outcome)
        return outcome

    def key_policy_decision(self, principal: Principal, requested: Requested, identity: str) -> str:
        """KMS: the key policy decides; identity policies count only where it lets the account
        decide (a statement naming `arn:aws:iam::<account>:root`). No policy registered: the
        default key policy, which lets the account decide."""
        root = f"arn:aws:iam::{self.account}:root"
        statements = self.resource_policies.get(
            requested.resource,
            [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}],
        )
        direct = evaluate_resource_policy(statements, principal, requested)
        account_statements = [
            s
            for s in statements
            if isinstance(s.get("Principal"), dict)
            and {root, self.account} & set(_as_list(s["Principal"].get("AWS")))
        ]
        delegated = evaluate(account_statements, requested)
        if "ExplicitDeny" in (identity, direct, delegated):
            return "ExplicitDeny"
        if direct == "Allow" or (delegated == "Allow" and identity == "Allow"):
            return "Allow"
        return "ImplicitDeny"

    def authorize(self, access_key: str, action: str, resource: str, region: str) -> str | None:
        """The verdict for a call a local stand-in for an AWS service makes on a principal's
        behalf without a request of its own (a pipe putting events on its bus); None for an
        unknown key."""
        principal = self.principals.get(access_key)
        if principal is None:
            return None
        return self.decide(principal, Requested(action, resource), region)

    def unregister(self, access_key_ids: list[str]) -> None:
        with self.lock:
            for key in access_key_ids:
                self.principals.pop(key, None)

    def check(
        self,
        environ: dict[str, Any],
        body: bytes,
        secret_arn: Any = lambda _name: None,
        kms_key: Any = lambda _reference: None,
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """None when the request may proceed; otherwise the denial (status, headers, body)."""
        match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return None
        access_key, region, service = match.groups()
        principal = self.principals.get(access_key)
        if principal is None:
            return None
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if service == "s3":
            bucket, key = local_s3.bucket_and_key(path)
            action = local_s3.object_action(method, key)
            if action is None or not bucket:
                requested = Requested(f"unmodelled:s3 {method} {unquote(path)}", "*")
                self._record(principal, requested, "ImplicitDeny")
                return self._s3_denial(
                    "the local IAM cannot authorise this S3 request; extend infra/local_iam.py"
                )
            source = unquote(environ.get("HTTP_X_AMZ_COPY_SOURCE", "")).split("?")[0].lstrip("/")
            if method == "PUT" and source:
                # CopyObject: S3 checks s3:GetObject on the source, then s3:PutObject on the target.
                source_bucket, source_key = local_s3.bucket_and_key(source)
                denial = self.check_signed(
                    local_s3.Signed(
                        access_key,
                        region,
                        "s3:GetObject",
                        local_s3.resource_arn(source_bucket, source_key),
                    )
                )
                if denial is not None:
                    return denial
            return self.check_signed(
                local_s3.Signed(access_key, region, action, local_s3.resource_arn(bucket, key))
            )
        try:
            wanted = requested_actions(
                method,
                path,
                target,
                body,
                environ.get("CONTENT_TYPE", ""),
                region,
                self.account,
                secret_arn,
                kms_key,
            )
            for requested in wanted:
                outcome = self.decide(principal, requested, region)
                if outcome != "Allow":
                    return self._denial(target, path, principal, requested, outcome)
        except UnmodelledRequest as error:
            requested = Requested(f"unmodelled:{error}", "*")
            self._record(principal, requested, "ImplicitDeny")
            return self._denial(
                target,
                path,
                principal,
                requested,
                "ImplicitDeny",
                f"the local IAM cannot authorise this request ({error}); "
                "extend infra/local_iam.py before relying on it",
            )
        return None

    def check_signed(
        self, signed: local_s3.Signed
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """IAM's verdict on an S3 request whose signer S3 has verified (a presigned link, a POST
        policy, or a call signed with an Authorization header): None to proceed, or S3's
        AccessDenied. Keys of no registered principal are the operator's, unrestricted."""
        principal = self.principals.get(signed.access_key)
        if principal is None:
            return None
        requested = Requested(signed.action, signed.resource)
        outcome = self.decide(principal, requested, signed.region)
        if outcome == "Allow":
            return None
        return self._s3_denial(self.message(principal, requested, outcome))

    @staticmethod
    def _s3_denial(message: str) -> tuple[str, list[tuple[str, str]], bytes]:
        return local_s3.Refusal(403, "AccessDenied", message).response()

    def _record(self, principal: Principal, requested: Requested, outcome: str) -> None:
        self.tally[(principal.access_key_id, principal.name, requested.action, outcome)] += 1
        self.decisions.append(
            {
                "at": time.time(),
                "principal": principal.name,
                "accessKeyId": principal.access_key_id,
                "action": requested.action,
                "resource": requested.resource,
                "decision": outcome,
            }
        )

    @staticmethod
    def message(principal: Principal, requested: Requested, outcome: str) -> str:
        if principal.service:
            why = (
                "with an explicit deny in a resource-based policy"
                if outcome == "ExplicitDeny"
                else f"because no resource-based policy allows {principal.service} "
                f"(aws:SourceArn {principal.source_arn}) the {requested.action} action"
            )
        else:
            why = (
                "with an explicit deny in an identity-based policy"
                if outcome == "ExplicitDeny"
                else f"because no identity-based policy allows the {requested.action} action"
            )
        return (
            f"User: {principal.arn} is not authorized to perform: {requested.action} "
            f"on resource: {requested.resource} {why}"
        )

    def _denial(
        self,
        target: str,
        path: str,
        principal: Principal,
        requested: Requested,
        outcome: str,
        message: str | None = None,
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        text = message or self.message(principal, requested, outcome)
        request_id = str(uuid.uuid4())
        if target.startswith(("secretsmanager", "TrentService")):
            return (
                "400 Bad Request",
                [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("x-amzn-RequestId", request_id),
                ],
                json.dumps({"__type": "AccessDeniedException", "Message": text}).encode(),
            )
        if target.startswith("AmazonSQS"):
            return (
                "403 Forbidden",
                [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("x-amzn-RequestId", request_id),
                    ("x-amzn-query-error", "AccessDenied;Sender"),
                ],
                json.dumps(
                    {"__type": "com.amazon.coral.service#AccessDeniedException", "message": text}
                ).encode(),
            )
        if target:
            return (
                "400 Bad Request",
                [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("x-amzn-RequestId", request_id),
                ],
                json.dumps(
                    {"__type": "com.amazon.coral.service#AccessDeniedException", "message": text}
                ).encode(),
            )
        if path.startswith("/v2/"):
            return (
                "403 Forbidden",
                [
                    ("Content-Type", "application/json"),
                    ("x-amzn-RequestId", request_id),
                    ("x-amzn-ErrorType", "AccessDeniedException"),
                ],
                json.dumps({"message": text}).encode(),
            )
        body = (
            '<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>AccessDenied</Code><Message>{text}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return (
            "403 Forbidden",
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
            body.encode(),
        )

