#!/usr/bin/env python3
"""`make fuzz`: schemathesis against the whole local stack, authenticated as an admin.

Run under `ferrite-local exec --api` (the Makefile does): it exports FERRITE_API_URL and the
stack's TABLE_NAME. Registers a user through the API, promotes it with `ferrite-admin
grant-role` (the documented way), signs in again for a token that carries the role, then runs
`st run openapi.json` with every operation, the four conformance checks, and the budget given
by FUZZ_EXAMPLES (test cases per operation per phase) and FUZZ_MAX_TIME (seconds: the fuzzing
and stateful phases repeat until it is spent).

Real ids. Before the run it makes data through the API — a second user (a tenant), published
posts and a draft, two properties with units and a lease — and writes a schemathesis config
whose dictionaries give each id parameter (path, query and body: `id`, `unitId`, `actorId`,
`tenantId`, `newOwnerId`…) the ids of its kind most of the time (`REAL_ID_PROBABILITY`), so the
generated requests reach the handlers' logic instead of stopping at a 404; the rest of the time
the generated ULID tests the 404 path. What still stops early, and why, is in docs/api.md
("Fuzzing"). Writes the JSON
report to .local/fuzz/ and prints how many requests were sent; exits non-zero on any failure
or when fewer requests than FUZZ_MIN_REQUESTS were made.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
API = os.environ["FERRITE_API_URL"].rstrip("/")
PASSWORD = "fuzzing violet anchors drift"


def call(method, path, body, token=None, headers=None):
    """One JSON request to the stack, as `token`'s bearer when given (with `headers`); the
    answer's JSON."""
    headers = {"content-type": "application/json", **(headers or {})}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        API + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method=method,
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def post(path, body):
    return call("POST", path, body)


REAL_ID_PROBABILITY = 0.8


def seed(token, admin_id, admin_email):
    """Data of every kind the API names by id, made through the API as the admin (the owner of
    the properties) and a second user (the tenant): their ids by kind."""
    tag = uuid.uuid4().hex[:8]
    tenant_email = f"fuzz-tenant-{tag}@example.com"
    tenant = post("/v1/auth/register", {"email": tenant_email, "name": "Tenant", "password": PASSWORD})
    tenant_id = tenant["user"]["id"]
    posts = [
        call("POST", "/v1/posts", {"title": f"Fuzz {n}", "body": "Seeded.", "tags": ["fuzz"], "status": status},
             token)["id"]
        for n, status in enumerate(["published", "published", "draft"])
    ]
    properties, units, leases = [], [], []
    for n in range(2):
        address = {"line1": f"{n + 1} Fuzz Street", "city": "Berlin", "postalCode": "10115", "country": "DE"}
        property_id = call("POST", "/v1/properties",
                           {"fileNumber": f"FZ-{tag}-{n}", "address": address, "kind": "residential"}, token)["id"]
        properties.append(property_id)
    # Every unit in the first property: a unit's path names its property, so the pair is real.
    for label in ["A", "B", "C", "D"]:
        units.append(call("POST", f"/v1/properties/{properties[0]}/units", {"label": label}, token)["id"])
    # Sessions of the tenant, for the admin's session routes (the fuzzer's own are never named:
    # ending them would sign the run out).
    tenant_login = {"email": tenant_email, "password": PASSWORD}
    for _ in range(2):
        post("/v1/auth/login", tenant_login)
    sessions = [s["id"] for s in call("GET", f"/v1/users/{tenant_id}/sessions", None, token)["items"]]
    # The fuzzer's own sessions but the one it runs on: one more sign-in (the warm-up ended the
    # others).
    post("/v1/auth/login", {"email": admin_email, "password": PASSWORD})
    own_sessions = [
        s["id"] for s in call("GET", "/v1/users/me/sessions", None, token)["items"] if not s["current"]
    ]
    leases.append(call("POST", "/v1/leases", {
        "unitId": units[0], "tenantId": tenant_id, "startDate": "2027-01-01",
        "rent": {"amountMinor": 100000, "currency": "EUR"},
    }, token)["id"])
    # Entries of its ledger (a charge and a payment), for the reversal route.
    entries = [
        call("POST", f"/v1/leases/{leases[0]}/charges", {
            "category": "rent", "amountMinor": 100000, "currency": "EUR", "effectiveDate": "2027-01-01",
        }, token)["id"],
        call("POST", f"/v1/leases/{leases[0]}/payments", {
            "amountMinor": 50000, "currency": "EUR", "effectiveDate": "2027-01-03",
        }, token, headers={"Idempotency-Key": f"fuzz-{tag}"})["id"],
    ]
    # Documents of a property and of the lease (left pending: no upload), for the documents'
    # routes (deleting one is a fair thing for a fuzzer to try).
    documents = [
        call("POST", f"/v1/properties/{properties[1]}/documents",
             {"name": "deed.pdf", "contentType": "application/pdf", "size": 1000}, token)["document"]["id"],
        call("POST", f"/v1/leases/{leases[0]}/documents",
             {"name": "contract.pdf", "contentType": "application/pdf", "size": 1000}, token)["document"]["id"],
    ]
    # A webhook endpoint (its deliveries fail: no network here), for the webhooks' routes.
    webhooks = [
        call("POST", "/v1/webhooks", {
            "url": "https://hooks.example.com/fuzz", "eventTypes": ["post.published"],
        }, token)["id"],
    ]
    return {
        "users": [admin_id, tenant_id],
        "documents": documents,
        "webhooks": webhooks,
        "others": [tenant_id],
        "sessions": sessions,
        "own_sessions": own_sessions,
        "posts": posts,
        "properties": properties,
        "unit_properties": properties[:1],
        "units": units,
        "leases": leases,
        "entries": entries,
        # The providers the local stack accepts (each a stand-in issuer).
        "providers": ["google", "apple", "oidc"],
    }


# The kind of id a parameter names, by its name (an `id` in the path: by the path's collection).
ID_KINDS = {"provider": "providers", "entryId": "entries", "sessionId": "sessions", "unitId": "units", "tenantId": "users", "newOwnerId": "users", "actorId": "users", "ownerId": "users"}
COLLECTIONS = {"users": "users", "posts": "posts", "properties": "properties", "leases": "leases", "documents": "documents", "webhooks": "webhooks"}


def bindings(document):
    """(path, [(schemathesis parameter key, kind)]) for every path with an id parameter: path
    parameters, query parameters and body fields, read from the document."""
    schemas = document["components"]["schemas"]
    found = {}
    for path, item in document["paths"].items():
        keys = set()
        names = re.findall(r"\{([A-Za-z]+)\}", path)
        for name in names:
            kind = COLLECTIONS.get(path.split("/")[2]) if name == "id" else ID_KINDS.get(name)
            if name == "id" and "unitId" in names:
                kind = "unit_properties"
            if name == "id" and path == "/v1/users/me/sessions/{id}":
                kind = "own_sessions"
            if name == "id" and path.startswith("/v1/users/{id}/sessions"):
                # Never the fuzzer's own account: ending its sessions would end the run.
                kind = "others"
            if kind:
                keys.add((f"path.{name}", kind))
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and parameter["name"] in ID_KINDS:
                    keys.add((f"query.{parameter['name']}", ID_KINDS[parameter["name"]]))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            reference = body.get("schema", {}).get("$ref", "")
            fields = schemas.get(reference.rsplit("/", 1)[-1], {}).get("properties", {})
            for field in fields:
                if field in ID_KINDS:
                    keys.add((f"body.{field}", ID_KINDS[field]))
        if keys:
            found[path] = sorted(keys)
    return found


def config(ids, document):
    """A schemathesis.toml giving each id parameter the seeded ids of its kind (TOML written by
    hand: the values are ULIDs and paths, nothing to escape)."""
    lines = []
    for kind, values in ids.items():
        lines.append(f"[dictionaries.{kind}]")
        lines.append("values = [" + ", ".join(f'"{v}"' for v in values) + "]")
        lines.append("")
    for path, keys in bindings(document).items():
        lines.append("[[operations]]")
        lines.append(f'include-path = "{path}"')
        lines.append("[operations.parameters]")
        for key, kind in keys:
            lines.append(f'"{key}" = {{ dictionary = "{kind}", probability = {REAL_ID_PROBABILITY} }}')
        lines.append("")
    return "\n".join(lines)


def warm_up(token):
    """Calls every operation once, sequentially, before the clock starts: `cargo lambda watch`
    starts a function's process on its first call, which should not count against the budget
    (the functions themselves are built before the stack answers)."""
    document = json.loads((ROOT / "openapi.json").read_text())
    for path, item in document["paths"].items():
        for method in item:
            url = API + path.replace("{id}", "01JDX3M5Q6T7V8W9XAYBZC0D1E")
            data = b"{}" if method in ("post", "put", "patch") else None
            request = urllib.request.Request(
                url,
                data=data,
                method=method.upper(),
                headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
            )
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    response.read()
            except urllib.error.HTTPError as error:
                error.read()  # any answer means the function is built and running


def main():
    email = f"fuzzer-{uuid.uuid4().hex[:12]}@example.com"
    post("/v1/auth/register", {"email": email, "name": "Fuzzer", "password": PASSWORD})
    subprocess.run(
        [str(ROOT / "target/debug/ferrite-admin"), "grant-role", "--email", email, "--role", "ADMIN"],
        check=True,
    )
    session = post("/v1/auth/login", {"email": email, "password": PASSWORD})
    token = session["accessToken"]
    warm_up(token)
    ids = seed(token, session["user"]["id"], email)

    report_dir = ROOT / ".local/fuzz"
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / "report.json"
    settings = report_dir / "schemathesis.toml"
    settings.write_text(config(ids, json.loads((ROOT / "openapi.json").read_text())))
    command = [
        str(ROOT / ".venv/bin/st"),
        "--config-file",
        str(settings),
        "run",
        str(ROOT / "openapi.json"),
        "--url",
        API,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES", "100"),
        "--max-time",
        os.environ.get("FUZZ_MAX_TIME", "420"),
        "--request-timeout",
        "60",
        "--seed",
        os.environ.get("FUZZ_SEED", "20261124"),
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    # In .local/fuzz, not the repository root: schemathesis and hypothesis keep caches in the
    # working directory, and a new directory beside the sources makes `cargo lambda watch`
    # rebuild and restart every function in the middle of the run.
    result = subprocess.run(command, cwd=report_dir)
    print_reach(report)
    requests = count_requests(report)
    minimum = int(os.environ.get("FUZZ_MIN_REQUESTS", "0"))
    print(f"fuzz: {requests} test cases sent (minimum {minimum}); report {report}")
    if result.returncode != 0:
        return result.returncode
    if requests < minimum:
        print("fuzz: too few requests for the budget", file=sys.stderr)
        return 1
    return 0


def reach(path):
    """Per operation, the generated requests the API accepted (2xx), rejected (400/422) and
    could not find (404), over every phase, from the report's `valid_rates`."""
    try:
        rates = json.loads(path.read_text())["valid_rates"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    totals = {}
    for operation, phases in rates.items():
        total = totals.setdefault(operation, {"accepted": 0, "rejected": 0, "unreachable": 0, "conflicts": 0})
        for counts in phases.values():
            for key in total:
                total[key] += counts.get(key, 0)
    return totals


def print_reach(path):
    """How far the generated requests got: the operations where fewer than half were accepted
    (docs/api.md, "Fuzzing", says why each one stops where it does)."""
    totals = reach(path)
    if not totals:
        return
    accepted = sum(t["accepted"] for t in totals.values())
    sent = sum(sum(t.values()) for t in totals.values())
    print(f"fuzz: {accepted} of {sent} generated requests accepted by the handlers")
    for operation, total in sorted(totals.items()):
        counted = sum(total.values())
        if counted and total["accepted"] * 2 < counted:
            print(
                f"  {operation}: {total['accepted']} accepted, {total['rejected']} refused as invalid, "
                f"{total['unreachable']} not found, {total['conflicts']} conflicts"
            )


def count_requests(path):
    """Test cases schemathesis ran (each one at least one HTTP request), from its JSON report."""
    try:
        return int(json.loads(path.read_text())["test_cases"]["generated"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
