"""S3's own checks of what a browser sends with a presigned upload or download, which moto skips
(it stores any POST upload and serves any presigned GET, whatever its signature, expiry or
policy). The local endpoint runs these before moto sees the request, and refuses as S3 refuses,
with S3's error codes, so an upload that AWS would turn away never reaches a bucket, its
notification or a worker.

- **Browser uploads (POST, SigV4 POST policy)** — the form's `policy` is checked against its
  `x-amz-signature` (HMAC-SHA256 with the signer's key, scoped by `x-amz-credential`), then its
  `expiration`, then every condition: exact matches (`{"field": v}`, `["eq", "$field", v]`),
  prefixes (`["starts-with", "$field", p]`), `content-length-range` against the file's size,
  and `bucket` against the bucket posted to. Every form field but `x-amz-signature`, `policy`,
  `file` and `x-ignore-*` must be named by a condition (S3: "Extra input fields"). The `file`
  field must come last.
- **Presigned requests (query-string SigV4)** — `X-Amz-Expires` (at most 7 days) from
  `X-Amz-Date` against the endpoint's clock, then the signature over the canonical request
  (`UNSIGNED-PAYLOAD`, the signed headers as received).
- **Anonymous requests** to an existing bucket are refused (AccessDenied): every bucket of the
  stack is private with Block Public Access on, so an object is reachable only signed.

Who signed is then held to IAM like any caller (`local_iam`): the signer of a POST policy needs
`s3:PutObject` on the object, the signer of a link `s3:GetObject` (or what its method asks).

Sources: Amazon S3 API Reference, "Authenticating Requests in Browser-Based Uploads Using POST
(AWS Signature Version 4)", "Creating a POST Policy", "Authenticating Requests: Using Query
Parameters (AWS Signature Version 4)", and "Error Responses" (codes and messages below).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, unquote

from werkzeug.formparser import parse_form_data

# The longest a presigned URL may be valid (SigV4 query authentication).
MAX_EXPIRES_SECS = 7 * 24 * 3600
# What S3 ignores in a POST form when it matches fields with conditions.
UNCONDITIONED_FIELDS = {"x-amz-signature", "policy", "file"}
SCOPE = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")


@dataclass
class Refusal:
    """S3's answer to a request it refuses: status, error code, message and extra elements."""

    status: int
    code: str
    message: str
    extra: dict[str, str] | None = None

    def response(self) -> tuple[str, list[tuple[str, str]], bytes]:
        request_id = uuid.uuid4().hex[:16].upper()
        extra = "".join(f"<{k}>{_xml(v)}</{k}>" for k, v in (self.extra or {}).items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{_xml(self.message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        reason = {400: "Bad Request", 403: "Forbidden"}[self.status]
        return (
            f"{self.status} {reason}",
            [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)],
            body,
        )


@dataclass
class Signed:
    """A verified presigned request or POST upload: who signed it and what it asks of IAM."""

    access_key: str
    region: str
    action: str
    resource: str


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """SigV4's derived key for one day, region and service."""
    key = _hmac(("AWS4" + secret).encode(), day)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _amz_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def _iso_time(text: str) -> dt.datetime | None:
    """A POST policy's `expiration` (ISO 8601, UTC, with or without milliseconds)."""
    for pattern in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.timezone.utc)
        except (TypeError, ValueError):
            continue
    return None


def bucket_and_key(path: str) -> tuple[str, str]:
    """Path-style `/<bucket>/<key>` (the local endpoint's addressing)."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def object_action(method: str, key: str) -> str | None:
    """The IAM action of a request on an object (None for what the local stack does not
    model: bucket sub-resources)."""
    if not key:
        return "s3:ListBucket" if method in ("GET", "HEAD") else None
    return {
        "GET": "s3:GetObject",
        "HEAD": "s3:GetObject",
        "PUT": "s3:PutObject",
        "DELETE": "s3:DeleteObject",
    }.get(method)


def resource_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"


class S3Checks:
    """S3's checks of presigned requests and POST uploads. `secret_for(access_key)` is the
    secret of a key the endpoint knows (None for an unknown one); `now()` the endpoint's clock;
    `bucket_exists(name)` whether the bucket exists."""

    def __init__(
        self,
        secret_for: Callable[[str], str | None],
        now: Callable[[], dt.datetime],
        bucket_exists: Callable[[str], bool],
    ) -> None:
        self.secret_for = secret_for
        self.now = now
        self.bucket_exists = bucket_exists

    def check(self, environ: dict[str, Any], body: bytes) -> Refusal | Signed | None:
        """A refusal, a verified signer (for IAM) or None: not a request these checks cover
        (signed with an Authorization header, or not for S3)."""
        if environ.get("HTTP_AUTHORIZATION"):
            return None
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = _query_pairs(environ.get("QUERY_STRING", ""))
        names = {name.lower() for name, _ in query}
        if "x-amz-signature" in names or "x-amz-credential" in names:
            return self.presigned(environ, method, path, query)
        content_type = environ.get("CONTENT_TYPE", "")
        bucket, key = bucket_and_key(path)
        if method == "POST" and content_type.startswith("multipart/form-data") and not key:
            return self.post_upload(environ, body, bucket)
        if method == "OPTIONS" or not bucket or path.startswith(("/_ferrite/", "/moto-api/")):
            return None
        if self.bucket_exists(bucket):
            return Refusal(403, "AccessDenied", "Access Denied")
        return None

    # ---- presigned requests --------------------------------------------------------------

    def presigned(
        self, environ: dict[str, Any], method: str, path: str, query: list[tuple[str, str]]
    ) -> Refusal | Signed:
        params = {name: value for name, value in query}
        required = [
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
            "X-Amz-Expires",
        ]
        missing = [name for name in required if name not in params]
        if missing:
            return Refusal(
                400,
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters.",
            )
        if params["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            return Refusal(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            )
        scope = SCOPE.match(params["X-Amz-Credential"])
        signed_at = _amz_time(params["X-Amz-Date"])
        if scope is None or signed_at is None:
            return Refusal(
                400,
                "AuthorizationQueryParametersError",
                "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
                "expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
            )
        access_key, day, region, service = scope.groups()
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            expires = -1
        if not 0 < expires <= MAX_EXPIRES_SECS:
            return Refusal(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            )
        now = self.now()
        if now > signed_at + dt.timedelta(seconds=expires):
            return Refusal(
                403,
                "AccessDenied",
                "Request has expired",
                {
                    "X-Amz-Expires": str(expires),
                    "Expires": (signed_at + dt.timedelta(seconds=expires)).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    "ServerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )
        secret = self.secret_for(access_key)
        if secret is None:
            return _unknown_key()
        if day != signed_at.strftime("%Y%m%d") or service != "s3":
            return _signature_mismatch()
        headers = params["X-Amz-SignedHeaders"].lower().split(";")
        canonical = "\n".join(
            [
                method,
                _canonical_path(environ),
                _canonical_query([(n, v) for n, v in query if n != "X-Amz-Signature"]),
                "".join(f"{h}:{_header(environ, h)}\n" for h in headers),
                ";".join(headers),
                "UNSIGNED-PAYLOAD",
            ]
        )
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                params["X-Amz-Date"],
                f"{day}/{region}/s3/aws4_request",
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        expected = hmac.new(
            signing_key(secret, day, region, "s3"), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return _signature_mismatch()
        bucket, key = bucket_and_key(path)
        action = object_action(method, key) or f"s3:{method}"
        return Signed(access_key, region, action, resource_arn(bucket, key))

    # ---- browser uploads -------------------------------------------------------------------

    def post_upload(self, environ: dict[str, Any], body: bytes, bucket: str) -> Refusal | Signed:
        fields, file_size, file_last = _form(environ, body)
        lowered = {name.lower(): value for name, value in fields}
        if file_size is None:
            return Refusal(
                400,
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                {"ArgumentName": "file", "ArgumentValue": "0"},
            )
        # The file must come last: a field after it is as good as absent.
        for name in ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"):
            if not file_last or name not in lowered:
                return _missing_field(name)
        if lowered["x-amz-algorithm"] != "AWS4-HMAC-SHA256":
            return Refusal(400, "InvalidArgument", "Unsupported algorithm")
        scope = SCOPE.match(lowered["x-amz-credential"])
        if scope is None:
            return Refusal(400, "InvalidArgument", "Invalid credential in POST form")
        access_key, day, region, service = scope.groups()
        secret = self.secret_for(access_key)
        if secret is None:
            return _unknown_key()
        expected = hmac.new(
            signing_key(secret, day, region, service),
            lowered["policy"].encode(),
            hashlib.sha256,
        ).hexdigest()
        if service != "s3" or not hmac.compare_digest(expected, lowered["x-amz-signature"]):
            return _signature_mismatch()
        try:
            policy = json.loads(base64.b64decode(lowered["policy"], validate=True))
        except (binascii.Error, ValueError):
            return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
        if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
            return Refusal(
                400, "InvalidPolicyDocument", "Invalid Policy: Policy missing conditions."
            )
        expiration = _iso_time(policy.get("expiration"))
        if expiration is None:
            return Refusal(
                400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value."
            )
        if self.now() > expiration:
            return Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = dict(lowered, bucket=bucket)
        covered: set[str] = set()
        for condition in policy["conditions"]:
            refusal = _condition(condition, values, covered, file_size)
            if refusal is not None:
                return refusal
        extra = [
            name
            for name, _ in fields
            if name.lower() not in covered
            and name.lower() not in UNCONDITIONED_FIELDS
            and not name.lower().startswith("x-ignore-")
        ]
        if extra:
            return Refusal(
                403,
                "AccessDenied",
                "Invalid according to Policy: Extra input fields: " + ", ".join(extra),
            )
        return Signed(access_key, region, "s3:PutObject", resource_arn(bucket, lowered["key"]))


def _unknown_key() -> Refusal:
    return Refusal(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    )


def _missing_field(name: str) -> Refusal:
    """S3's answer to a POST form without `name` (or with it after the file)."""
    return Refusal(
        400,
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please check "
        "the order of the fields.",
        {"ArgumentName": name, "ArgumentValue": ""},
    )


def _signature_mismatch() -> Refusal:
    return Refusal(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _condition(
    condition: Any, values: dict[str, str], covered: set[str], file_size: int
) -> Refusal | None:
    """One POST policy condition against the form; the fields it names join `covered`."""
    failed = Refusal(
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy Condition failed: " + json.dumps(condition),
    )
    if isinstance(condition, dict) and len(condition) == 1:
        ((name, expected),) = condition.items()
        covered.add(name.lower())
        return None if values.get(name.lower()) == expected else failed
    if not isinstance(condition, list) or len(condition) != 3:
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Condition.")
    operator = str(condition[0]).lower()
    if operator == "content-length-range":
        try:
            low, high = int(condition[1]), int(condition[2])
        except (TypeError, ValueError):
            return Refusal(
                400, "InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range."
            )
        if file_size > high:
            return Refusal(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                {"ProposedSize": str(file_size), "MaxSizeAllowed": str(high)},
            )
        if file_size < low:
            return Refusal(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                {"ProposedSize": str(file_size), "MinSizeAllowed": str(low)},
            )
        return None
    field, expected = condition[1], condition[2]
    if operator not in ("eq", "starts-with") or not str(field).startswith("$"):
        return Refusal(
            400, "InvalidPolicyDocument", f"Invalid Policy: Invalid condition: {json.dumps(condition)}"
        )
    name = str(field)[1:].lower()
    covered.add(name)
    actual = values.get(name)
    if actual is None:
        return failed
    if operator == "eq":
        return None if actual == expected else failed
    return None if actual.startswith(str(expected)) else failed


def _form(environ: dict[str, Any], body: bytes) -> tuple[list[tuple[str, str]], int | None, bool]:
    """The form's text fields in order, the size of its `file` (None without one) and whether
    `file` came last."""
    form_environ = dict(environ)
    form_environ["wsgi.input"] = io.BytesIO(body)
    form_environ["CONTENT_LENGTH"] = str(len(body))
    _stream, form, files = parse_form_data(form_environ)
    fields = [(name, value) for name, value in form.items(multi=True)]
    upload = files.get("file")
    if upload is None:
        return fields, None, False
    try:
        size = len(upload.read())
    finally:
        upload.close()
    # The part order as sent: `file` must follow every field it is checked with.
    boundary = environ.get("CONTENT_TYPE", "").partition("boundary=")[2].strip('"').encode()
    parts = body.split(b"--" + boundary) if boundary else []
    named = [re.search(rb'name="([^"]*)"', part) for part in parts]
    order = [m.group(1).decode("latin-1") for m in named if m]
    return fields, size, bool(order) and order[-1] == "file"


def _query_pairs(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name.replace("+", "%20")), unquote(value.replace("+", "%20"))))
    return pairs


def _encode(text: str) -> str:
    """SigV4's URI encoding: every byte but the unreserved characters."""
    return quote(text.encode(), safe="-_.~")


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{n}={v}" for n, v in sorted((_encode(n), _encode(v)) for n, v in pairs))


def _canonical_path(environ: dict[str, Any]) -> str:
    """The path as S3 canonicalises it: each segment encoded once, slashes kept."""
    raw = environ.get("PATH_INFO", "/").encode("latin-1")
    return quote(raw, safe="/-_.~") or "/"


def _header(environ: dict[str, Any], name: str) -> str:
    if name == "host":
        value = environ.get("HTTP_HOST", "")
    elif name == "content-type":
        value = environ.get("CONTENT_TYPE", "")
    elif name == "content-length":
        value = environ.get("CONTENT_LENGTH", "")
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"), "")
    return " ".join(value.split())
