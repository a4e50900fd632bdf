#!/usr/bin/env python3
"""`make fuzz`: schemathesis against the whole local stack, authenticated as an admin.

Run under `ferrite-local exec --api` (the Makefile does): it exports FERRITE_API_URL and the
stack's TABLE_NAME. Registers a user through the API, promotes it with `ferrite-admin
grant-role` (the documented way), signs in again for a token that carries the role, then runs
`st run openapi.json` with every operation, the four conformance checks, and the budget given
by FUZZ_EXAMPLES (test cases per operation per phase) and FUZZ_MAX_TIME (seconds: the fuzzing
and stateful phases repeat until it is spent). Writes the JSON
report to .local/fuzz/ and prints how many requests were sent; exits non-zero on any failure
or when fewer requests than FUZZ_MIN_REQUESTS were made.
"""

import json
import os
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
API = os.environ["FERRITE_API_URL"].rstrip("/")
PASSWORD = "fuzzing violet anchors drift"


def post(path, body):
    request = urllib.request.Request(
        API + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


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
    token = post("/v1/auth/login", {"email": email, "password": PASSWORD})["accessToken"]
    warm_up(token)

    report_dir = ROOT / ".local/fuzz"
    report_dir.mkdir(parents=True, exist_ok=True)
    report = report_dir / "report.json"
    command = [
        str(ROOT / ".venv/bin/st"),
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
    requests = count_requests(report)
    minimum = int(os.environ.get("FUZZ_MIN_REQUESTS", "0"))
    print(f"fuzz: {requests} test cases sent (minimum {minimum}); report {report}")
    if result.returncode != 0:
        return result.returncode
    if requests < minimum:
        print("fuzz: too few requests for the budget", file=sys.stderr)
        return 1
    return 0


def count_requests(path):
    """Test cases schemathesis ran (each one at least one HTTP request), from its JSON report."""
    try:
        return int(json.loads(path.read_text())["test_cases"]["generated"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
