"""The local AWS endpoint: moto's server, patched to keep AWS's promises, one request at a time,
with each function held to its IAM policy.

- **Patched moto** (`moto_patches/`): atomic writes rolled back item by item, stream records
  only for committed changes, indexed queries, stream iterators that expire, memory bounded by
  live data, idempotent transactions.
- **One request at a time, first come first served.** moto's backends are not safe under
  concurrent requests (a conditional write checks, then writes). AWS is linearizable per item;
  to keep that promise locally every request holds one lock while moto handles it. The lock is
  fair (a ticket lock): no caller, a pump say, can be overtaken indefinitely by a busy suite.
  A request's body is read *before* the lock is taken, so a slow or stalled client cannot hold
  everyone else up, and an idle connection is closed after `IDLE_TIMEOUT_SECS`.
- **IAM** (`local_iam.py`): calls signed with a registered principal's key are authorised
  against its policies and refused as AWS refuses them.
- **S3's checks of what a browser sends** (`local_s3.py`): a POST upload's policy (signature,
  expiry, key, content type, size) and a presigned link's signature and expiry, refused with
  S3's error codes before moto stores or serves anything; anonymous requests to a bucket are
  refused (every bucket is private). The signer is then held to IAM.
- **AWS's validation where moto is lenient**: unused expression attribute values or names are a
  ValidationException, as in DynamoDB.
- **Consumed capacity as DynamoDB bills it** (`moto_capacity.py`): a request that asks for
  `ReturnConsumedCapacity` gets the read and write units computed from the items it read and
  wrote (moto answers a constant); `make capacity` is built on it.
- **A control API** under `/_ferrite/` for the local stack and the tests: register principals
  and resource-based policies (queue policies), ask for a verdict a local stand-in for a service
  needs (a pipe putting events on its bus),
  read the authorisation decisions, the mail SES accepted, table statistics and the endpoint's
  own status (patches, memory).

Usage: moto_server.py -H 127.0.0.1 -p 4566
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import signal
import sys
import threading
import time
from typing import Any
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import moto_capacity  # noqa: E402
import moto_patches  # noqa: E402

moto_patches.apply()

import moto  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple  # noqa: E402

import local_iam  # noqa: E402
import local_s3  # noqa: E402
import oidc_issuer  # noqa: E402

ACCOUNT = "123456789012"
# Longer than the SDK's connection-pool idle timeout (90 s), so clients close idle connections
# first and never reuse one the server is closing.
IDLE_TIMEOUT_SECS = 120


class FairLock:
    """A ticket lock: callers get the lock in the order they asked for it."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._condition:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._condition.wait()

    def __exit__(self, *_exc: Any) -> None:
        with self._condition:
            self._serving += 1
            self._condition.notify_all()


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def read_body(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    length = environ.get("CONTENT_LENGTH") or "0"
    try:
        size = int(length)
    except ValueError:
        size = 0
    return stream.read(size) if size > 0 else b""


def secret_arn(region: str) -> Any:
    def lookup(secret_id: str) -> str | None:
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[ACCOUNT][region].secrets.get(secret_id)
        return secret.arn if secret is not None else None

    return lookup


def kms_key(region: str) -> Any:
    """The ARN of the key a KMS call names (its id, ARN, alias name or alias ARN), if any."""

    def lookup(reference: str) -> str | None:
        from moto.kms.models import kms_backends

        backend = kms_backends[ACCOUNT][region]
        try:
            if reference.startswith("alias/") or ":alias/" in reference:
                key_id = backend.get_key_id_from_alias(backend.get_alias_name(reference))
            else:
                key_id = backend.get_key_id(reference)
            key = backend.keys.get(key_id) if key_id else None
        except Exception:  # noqa: BLE001 - an unknown reference is simply not a key
            return None
        return key.arn if key is not None else None

    return lookup


def bucket_exists(name: str) -> bool:
    from moto.s3.models import s3_backends

    return name in s3_backends[ACCOUNT]["aws"].buckets


def dynamodb_backend(region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][region]


class LocalAws:
    """WSGI middleware around moto: control API, IAM, the fair lock."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = FairLock()
        self.authorizer = local_iam.Authorizer(ACCOUNT)
        self.requests = 0
        self.started = time.time()
        # operation -> [count, seconds holding the lock, seconds waiting for it, slowest]
        self.timings: dict[str, list[float]] = {}
        self.capacity = moto_capacity.Capacity(dynamodb_backend)
        # Stand-ins for Google, Apple and a generic OpenID Connect issuer.
        self.issuers = oidc_issuer.Issuers()
        # S3's checks of presigned links and browser uploads (moto makes none).
        self.s3 = local_s3.S3Checks(self.secret_for, self.now, bucket_exists)
        # Seconds added to the clock S3 checks expiry with (tests of an expired link).
        self.clock_offset = 0.0

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            seconds=self.clock_offset
        )

    def secret_for(self, access_key: str) -> str | None:
        """The secret of a key: a registered principal's, or the operator's (`testing`)."""
        principal = self.authorizer.principals.get(access_key)
        if principal is not None:
            return principal.secret
        return "testing" if access_key == "testing" else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        path = environ.get("PATH_INFO", "")
        operation = environ.get("HTTP_X_AMZ_TARGET") or f"{environ.get('REQUEST_METHOD')} {path}"
        arrived = time.perf_counter()
        with self.lock:
            self.requests += 1
            if path.startswith("/_ferrite/"):
                return self.control(environ, body, start_response)
            entered = time.perf_counter()
            try:
                return self.handle(environ, body, start_response)
            finally:
                done = time.perf_counter()
                timing = self.timings.setdefault(operation, [0, 0.0, 0.0, 0.0])
                timing[0] += 1
                timing[1] += done - entered
                timing[2] += entered - arrived
                timing[3] = max(timing[3], done - entered)

    def handle(self, environ: dict[str, Any], body: bytes, start_response: Any) -> list[bytes]:
        """One AWS request, inside the lock: S3's checks of what browsers send, IAM, AWS's
        validation, then moto."""
        s3 = self.s3.check(environ, body)
        if isinstance(s3, local_s3.Refusal):
            status, headers, payload = s3.response()
            start_response(status, headers + [("Content-Length", str(len(payload)))])
            return [payload]
        if isinstance(s3, local_s3.Signed):
            denial = self.authorizer.check_signed(s3)
            if denial is not None:
                status, headers, payload = denial
                start_response(status, headers + [("Content-Length", str(len(payload)))])
                return [payload]
            return list(self.app(environ, start_response))
        region = local_iam.CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        where = region.group(2) if region else "us-east-1"
        denial = self.authorizer.check(environ, body, secret_arn(where), kms_key(where))
        if denial is not None:
            status, headers, payload = denial
            start_response(status, headers + [("Content-Length", str(len(payload)))])
            return [payload]
        missing = self.missing_configuration_set(
            environ, body, region.group(2) if region else "us-east-1"
        )
        if missing is not None:
            return self.reply(
                start_response,
                404,
                {"__type": "NotFoundException", "message": missing},
                "application/json",
                [("x-amzn-ErrorType", "NotFoundException")],
            )
        invalid = self.validate(environ, body)
        if invalid is not None:
            return self.reply(
                start_response,
                400,
                {"__type": "com.amazon.coral.validate#ValidationException", "message": invalid},
                "application/x-amz-json-1.0",
            )
        capacity = self.capacity_request(environ, body)
        if capacity is not None:
            return self.with_capacity(environ, start_response, region, *capacity)
        # Materialise the body inside the lock: moto may build it lazily.
        return list(self.app(environ, start_response))

    @staticmethod
    def capacity_request(environ: dict[str, Any], body: bytes) -> tuple[str, dict, str] | None:
        """(operation, request, detail) of a DynamoDB request that asks for its consumed
        capacity, which moto would answer with a constant (see moto_capacity)."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.partition(".")[2]
        if not target.startswith("DynamoDB_") or operation not in moto_capacity.READS + moto_capacity.WRITES:
            return None
        try:
            request = json.loads(body)
        except ValueError:
            return None
        detail = request.get("ReturnConsumedCapacity", "NONE") if isinstance(request, dict) else "NONE"
        if detail not in ("TOTAL", "INDEXES"):
            return None
        return operation, request, detail

    def with_capacity(
        self,
        environ: dict[str, Any],
        start_response: Any,
        region: Any,
        operation: str,
        request: dict[str, Any],
        detail: str,
    ) -> list[bytes]:
        """moto's answer, with the capacity DynamoDB would have consumed."""
        name = region.group(2) if region else "us-east-1"
        before = self.capacity.snapshot(name, self.capacity.write_keys(operation, request))
        started: list[Any] = []
        payload = b"".join(self.app(environ, lambda status, headers, *rest: started.append((status, headers))))
        status, headers = started[0]
        if status.startswith("200"):
            answer = json.loads(payload or b"{}")
            tally = self.capacity.units(name, operation, request, answer, before)
            payload = json.dumps(moto_capacity.Capacity.answer_with(operation, answer, tally, detail)).encode()
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
            headers.append(("Content-Length", str(len(payload))))
        start_response(status, headers)
        return [payload]

    @staticmethod
    def missing_configuration_set(environ: dict[str, Any], body: bytes, region: str) -> str | None:
        """SES refuses to send with a configuration set that does not exist; moto ignores the
        name. Why the send is refused, or None."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/v2/email/outbound-emails":
            return None
        try:
            name = json.loads(body or b"{}").get("ConfigurationSetName")
        except (ValueError, AttributeError):
            return None
        if not name:
            return None
        from moto.sesv2.models import sesv2_backends

        known = sesv2_backends[ACCOUNT][region].core_backend._list_all_configuration_sets()
        if any(c.configuration_set_name == name for c in known):
            return None
        return f"Configuration set <{name}> does not exist."

    @staticmethod
    def validate(environ: dict[str, Any], body: bytes) -> str | None:
        """What DynamoDB refuses and moto does not (see moto_patches)."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_") or not body:
            return None
        try:
            request = json.loads(body)
        except ValueError:
            return None
        if not isinstance(request, dict):
            return None
        return moto_patches.unused_expression_attributes(target.partition(".")[2], request)

    # ---- /_ferrite/ ------------------------------------------------------------------------

    def control(self, environ: dict[str, Any], body: bytes, start_response: Any) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return self.reply(start_response, 400, {"message": "malformed JSON"})
        if path == "/_ferrite/status" and method == "GET":
            return self.reply(
                start_response,
                200,
                {
                    "moto": moto.__version__,
                    "patches": moto_patches.APPLIED,
                    "principals": len(self.authorizer.principals),
                    "requests": self.requests,
                    "rssBytes": rss_bytes(),
                    "uptimeSecs": time.time() - self.started,
                },
            )
        if path == "/_ferrite/s3/buckets" and method == "POST":
            for bucket in payload.get("buckets", []):
                refused = self.make_bucket(bucket)
                if refused is not None:
                    return self.reply(start_response, 400, {"message": refused})
            return self.reply(start_response, 200, {"buckets": len(payload.get("buckets", []))})
        if path == "/_ferrite/iam/principals" and method == "POST":
            count = self.authorizer.register(payload.get("principals", []))
            return self.reply(start_response, 200, {"principals": count})
        if path == "/_ferrite/iam/principals" and method == "GET":
            # One principal's registration, as it was registered (a test that changes a role for
            # a moment puts it back with this).
            principal = self.authorizer.principals.get(query.get("accessKeyId", ""))
            if principal is None:
                return self.reply(start_response, 404, {"message": "no such principal"})
            registration = {
                "accessKeyId": principal.access_key_id,
                "secretAccessKey": principal.secret,
                "arn": principal.arn,
                "name": principal.name,
                "statements": principal.statements,
            }
            if principal.service:
                registration |= {"service": principal.service, "sourceArn": principal.source_arn}
            return self.reply(start_response, 200, registration)
        if path == "/_ferrite/iam/principals" and method == "DELETE":
            self.authorizer.unregister(payload.get("accessKeyIds", []))
            return self.reply(start_response, 200, {})
        if path == "/_ferrite/iam/resource-policies" and method == "POST":
            count = self.authorizer.register_resource_policies(payload.get("policies", {}))
            return self.reply(start_response, 200, {"resourcePolicies": count})
        if path == "/_ferrite/iam/authorize" and method == "POST":
            # A local stand-in for a service asks whether a principal may make a call it makes
            # on that principal's behalf (a pipe's PutEvents on its bus).
            decision = self.authorizer.authorize(
                payload.get("accessKeyId", ""),
                payload.get("action", ""),
                payload.get("resource", ""),
                payload.get("region", "us-east-1"),
            )
            if decision is None:
                return self.reply(start_response, 404, {"message": "no such principal"})
            return self.reply(start_response, 200, {"decision": decision})
        if path == "/_ferrite/iam/decisions" and method == "GET":
            # Every decision, tallied; the newest in full. Filters: accessKeyId, principal,
            # action, decision.
            def wanted(record: dict[str, Any]) -> bool:
                return all(record.get(k) == v for k, v in query.items())

            tally = [
                {"accessKeyId": k, "principal": p, "action": a, "decision": d, "count": n}
                for (k, p, a, d), n in sorted(self.authorizer.tally.items())
            ]
            return self.reply(
                start_response,
                200,
                {
                    "tally": [t for t in tally if wanted(t)],
                    "recent": [d for d in self.authorizer.decisions if wanted(d)],
                },
            )
        if path.startswith(oidc_issuer.PREFIX):
            host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
            answer = self.issuers.handle(method, path, f"http://{host}", payload)
            if answer is not None:
                return self.reply(start_response, *answer)
        if path == "/_ferrite/ses/messages" and method == "GET":
            return self.reply(start_response, 200, {"messages": self.sent_messages(query.get("to"))})
        if path == "/_ferrite/timings" and method == "GET":
            # Where the endpoint's time goes, per operation (ms): handled inside the lock, and
            # waited for it.
            return self.reply(
                start_response,
                200,
                {
                    "operations": [
                        {
                            "operation": name,
                            "count": int(count),
                            "handledMs": round(handled * 1000, 1),
                            "waitedMs": round(waited * 1000, 1),
                            "meanMs": round(handled * 1000 / count, 2) if count else 0,
                            "slowestMs": round(slowest * 1000, 1),
                        }
                        for name, (count, handled, waited, slowest) in sorted(
                            self.timings.items(), key=lambda kv: -kv[1][1]
                        )
                    ]
                },
            )
        if path == "/_ferrite/dynamodb/tables" and method == "GET":
            return self.reply(start_response, 200, {"tables": self.table_stats()})
        return self.reply(start_response, 404, {"message": f"no control route {method} {path}"})

    def make_bucket(self, bucket: dict[str, Any], region: str = "us-east-1") -> str | None:
        """Makes a bucket of the stack (if absent) and configures its queue notifications, each
        only if the queue's policy lets S3 send to it for this bucket — S3 checks the
        destinations when a notification is configured (and CloudFormation fails with its
        message otherwise). None, or why the configuration is refused."""
        from moto.s3.models import s3_backends

        backend = s3_backends[ACCOUNT]["aws"]
        name = bucket["name"]
        arn = f"arn:aws:s3:::{name}"
        s3 = local_iam.Principal(
            access_key_id="s3.amazonaws.com",
            arn="s3.amazonaws.com",
            statements=[],
            name=name,
            service="s3.amazonaws.com",
            source_arn=arn,
        )
        notifications = bucket.get("notifications", [])
        refused = [
            n["queueArn"]
            for n in notifications
            if self.authorizer.decide(
                s3, local_iam.Requested("sqs:SendMessage", n["queueArn"]), region
            )
            != "Allow"
        ]
        if refused:
            return (
                "Unable to validate the following destination configurations "
                f"(bucket {name}: no queue policy lets s3.amazonaws.com send to "
                f"{', '.join(refused)} for this bucket)"
            )
        if name not in backend.buckets:
            backend.create_bucket(name, region)
        queues = []
        for n in notifications:
            rules = [
                {"Name": part, "Value": n[part]} for part in ("prefix", "suffix") if part in n
            ]
            queue = {"Queue": n["queueArn"], "Event": n["events"]}
            if rules:
                queue["Filter"] = {"S3Key": {"FilterRule": rules}}
            queues.append(queue)
        backend.put_bucket_notification_configuration(
            name, {"QueueConfiguration": queues} if queues else {}
        )
        return None

    @staticmethod
    def reply(
        start_response: Any,
        status: int,
        value: Any,
        content_type: str = "application/json",
        headers: list[tuple[str, str]] | None = None,
    ) -> list[bytes]:
        text = json.dumps(value, default=str).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
        start_response(
            f"{status} {reason}",
            [("Content-Type", content_type), ("Content-Length", str(len(text)))]
            + (headers or []),
        )
        return [text]

    @staticmethod
    def sent_messages(to: str | None) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        out = []
        for region, backend in ses_backends[ACCOUNT].items():
            for message in getattr(backend, "sent_messages", []):
                destinations = getattr(message, "destinations", {}) or {}
                recipients = [
                    a for kind in ("ToAddresses", "CcAddresses", "BccAddresses")
                    for a in destinations.get(kind, [])
                ]
                if to is not None and to not in recipients:
                    continue
                out.append(
                    {
                        "id": message.id,
                        "region": region,
                        "source": getattr(message, "source", None),
                        "to": recipients,
                        "subject": getattr(message, "subject", None),
                        "body": getattr(message, "body", None),
                    }
                )
        return out

    @staticmethod
    def table_stats() -> list[dict[str, Any]]:
        from moto.dynamodb.models import dynamodb_backends

        out = []
        for region, backend in dynamodb_backends[ACCOUNT].items():
            for table in backend.tables.values():
                shard = table.stream_shard
                out.append(
                    {
                        "region": region,
                        "name": table.name,
                        "items": sum(
                            1 if table.range_key_attr is None else len(p)
                            for p in table.items.values()
                        ),
                        "streamRecords": len(shard.items) if shard is not None else 0,
                    }
                )
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    MotoRequestHandler.timeout = IDLE_TIMEOUT_SECS
    run_simple(
        args.host,
        args.port,
        LocalAws(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
