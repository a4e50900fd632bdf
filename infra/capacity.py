"""`make capacity`: CAPACITY.md — what each endpoint costs per million requests, what a mixed
workload costs a month next to an always-on container, and which limit stops it first.

Inputs, each named in the output:

- the calls and capacity each endpoint's happy path made, measured by `tests/api/calls.rs`
  against the local endpoint (`FERRITE_CAPACITY_OUT`), which bills reads and writes as DynamoDB
  on-demand does (`infra/moto_capacity.py`);
- the stacks (template.yaml and stacks/, flattened): each route's function and memory, the stage
  throttle, batch sizes;
- `bench/prices.json`: the dated price table, with its sources;
- the assumptions below (`ASSUMPTIONS`), written out in the output.

Usage: capacity.py --calls .local/capacity/calls.jsonl --out CAPACITY.md
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import re
from typing import Any

import stacks

from moto_capacity import read_units

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Every number the model needs that is not measured here. Each is printed in CAPACITY.md.
ASSUMPTIONS: dict[str, tuple[float, str]] = {
    "dynamodb_read_ms": (4.0, "DynamoDB GetItem/Query/BatchGetItem round trip from Lambda in-region, p50 (AWS: single-digit milliseconds)"),
    "dynamodb_write_ms": (8.0, "UpdateItem/TransactWriteItems round trip, p50 (a transaction's two phases)"),
    "kms_ms": (5.0, "a KMS Encrypt or Decrypt of a second factor's 52 bytes from Lambda in-region, p50"),
    "handler_cpu_ms_at_1_vcpu": (0.5, "parse, authorize (EdDSA verify 0.04 ms), serialise, log: the criterion benches sum to ~0.2 ms; doubled for the runtime"),
    "argon2_ms_at_1_vcpu": (20.0, "one argon2id hash or verification, m=19 MiB t=2 (docs/performance.md: ~20 ms on the bench machine's core)"),
    "vcpu_at_1769_mb": (1.0, "Lambda's CPU share: one vCPU at 1,769 MB, proportional below"),
    "log_bytes_per_request": (1500.0, "a request's log: the JSON 'request handled' line, its EMF metric documents, START/END/REPORT"),
    "feed_entry_bytes": (600.0, "a feed entry: ids, title (~60 chars), excerpt (280), tags, dates, keys"),
    "post_bytes": (2600.0, "a post item with a 2 KB body (the author's list reads whole items from gsi2)"),
    "list_item_bytes": (700.0, "a user, audit entry or property item in an admin or registry list"),
    "page_size": (20.0, "items per list page"),
    "distinct_authors_per_page": (10.0, "authors of a feed page (one BatchGetItem key each, strongly consistent)"),
    "peak_to_average": (3.0, "busiest second of the day over the day's mean rate"),
    "container_rps_per_vcpu": (400.0, "NestJS on Node: requests per second one vCPU serves when each waits 1-3 DynamoDB round trips (event loop, ~2.5 ms CPU each)"),
    "container_tasks_minimum": (2.0, "always-on tasks for availability (two zones)"),
    "sqs_requests_per_message": (1.2, "send (a rule of the bus) + receive and delete by the event source mapping, in batches of up to 10"),
    "ses_sending_rate": (14.0, "emails per second of a production SES account's default quota (the sandbox: 1)"),
    "lambda_concurrency": (1000.0, "the account's default concurrency quota (all functions together)"),
    "partition_wcu": (1000.0, "write units per second one partition key serves (DynamoDB)"),
    "partition_rcu": (3000.0, "read units per second one partition key serves (DynamoDB)"),
}

# The KMS calls of the functions that seal second factors (measured among the calls, no units).
KMS_OPERATIONS = ("Encrypt", "Decrypt")

# Endpoints whose measured reads depend on how many items a page holds: (index of the call in
# the measured calls, items in a full page, bytes each, strongly consistent, billed per item — a
# BatchGetItem — rather than per sum — a Query). The measurement ran with one or two items; a
# full page is extrapolated at the assumed size.
def _pages(a: dict[str, float]) -> dict[str, list[tuple[int, float, float, bool, bool]]]:
    page = a["page_size"]
    authors = a["distinct_authors_per_page"]
    return {
        "GET /v1/posts": [(0, page, a["feed_entry_bytes"], True, False), (2, authors, a["list_item_bytes"], True, True)],
        "GET /v1/users/{id}/posts": [(1, page, a["post_bytes"], False, False)],
        "GET /v1/users": [(1, page, a["list_item_bytes"], True, False)],
        "GET /v1/audit": [(1, page, a["list_item_bytes"], True, False)],
        "GET /v1/properties?country=": [(1, page, a["list_item_bytes"], False, False), (2, authors, a["list_item_bytes"], True, True)],
    }

# Functions that hash or verify a password (argon2) per request.
HASHING = {
    "POST /v1/auth/register": 1,
    "POST /v1/auth/login": 1,
    "POST /v1/users/me/email": 1,
}

# A social app's day, per daily active user: requests of each endpoint.
WORKLOAD = {
    "GET /v1/posts": 15.0,
    "GET /v1/posts/{id} (anonymous)": 8.0,
    "GET /v1/users/{id}/profile": 2.0,
    "GET /v1/users/{id}/posts": 2.0,
    "GET /v1/users/me": 3.0,
    "POST /v1/auth/refresh": 4.0,
    "POST /v1/auth/login": 0.3,
    "POST /v1/posts": 0.1,
    "PATCH /v1/posts/{id}": 0.05,
    "DELETE /v1/posts/{id}": 0.01,
    "PATCH /v1/users/me": 0.01,
    "POST /v1/auth/register": 0.01,
    "POST /v1/auth/password/forgot": 0.005,
}
DAILY_USERS = (10_000, 100_000, 1_000_000)


def routes(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'METHOD /path' -> {function, memory} from the (flattened) tree of stacks: each
    `AWS::ApiGatewayV2::Route`, through its integration, to the function it invokes."""
    default_memory = template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    resources = template["Resources"]

    def function(logical_id: str) -> dict[str, Any]:
        resource = resources[logical_id]
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        return {"function": binary, "memory": resource.get("Properties", {}).get("MemorySize", default_memory)}

    found = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::ApiGatewayV2::Route":
            continue
        props = resource["Properties"]
        integration = re.fullmatch(r"integrations/\$\{(\w+)\}", props["Target"]["Fn::Sub"]).group(1)
        uri = resources[integration]["Properties"]["IntegrationUri"]
        if not isinstance(uri, dict) or "Ref" not in uri:
            # A WebSocket route (`$connect`: the function by its invocation URI): not an HTTP
            # endpoint of the mix.
            continue
        uri = uri["Ref"]
        found[props["RouteKey"]] = function(uri.split(".")[0])
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            entry = function(logical_id)
            if entry["function"] and entry["function"].startswith("worker-"):
                found[entry["function"]] = entry
    return found


def route_of(endpoint: str) -> str:
    """The template route of a measured endpoint name ('GET /v1/posts/{id} (anonymous)')."""
    name = re.sub(r" \(.*\)$", "", endpoint).split("?")[0]
    return name


class Model:
    def __init__(self, measured: list[dict[str, Any]], template: dict[str, Any], prices: dict[str, Any]) -> None:
        self.a = {k: v for k, (v, _) in ASSUMPTIONS.items()}
        self.prices = prices
        self.routes = routes(template)
        self.template = template
        self.endpoints: dict[str, dict[str, Any]] = {}
        pages = _pages(self.a)
        for entry in measured:
            name = entry["endpoint"]
            calls = [dict(c) for c in entry["calls"]]
            for index, items, size, consistent, per_item in pages.get(name, []):
                if index < len(calls):
                    calls[index]["readUnits"] = (
                        items * read_units(size, consistent) if per_item else read_units(items * size, consistent)
                    )
            self.endpoints[name] = {
                "calls": calls,
                "read": sum(c["readUnits"] for c in calls),
                "write": sum(c["writeUnits"] for c in calls),
                "events": sum(c.get("events", 0) for c in calls),
                "emails": sum(c.get("emails", 0) for c in calls),
                "kms": sum(1 for c in calls if c["operation"] in KMS_OPERATIONS),
                "extrapolated": name in pages,
            }
        self.per_event = self._worker("worker-audit")
        self.per_email = self._worker("worker-email")

    def _worker(self, prefix: str) -> dict[str, float]:
        for name, e in self.endpoints.items():
            if name.startswith(prefix):
                batch = int(re.search(r"batch of (\d+)", name).group(1))  # type: ignore[union-attr]
                return {"read": e["read"] / batch, "write": e["write"] / batch, "calls": len(e["calls"]) / batch}
        return {"read": 0.0, "write": 0.0, "calls": 0.0}

    def memory(self, endpoint: str) -> int:
        return int(self.routes.get(route_of(endpoint), {}).get("memory", 256))

    def duration_ms(self, endpoint: str) -> float:
        """Estimated billed duration: CPU scaled by the memory's CPU share, plus round trips."""
        e = self.endpoints[endpoint]
        share = min(1.0, self.memory(endpoint) / 1769) * self.a["vcpu_at_1769_mb"]
        cpu = self.a["handler_cpu_ms_at_1_vcpu"] + HASHING.get(route_of(endpoint), 0) * self.a["argon2_ms_at_1_vcpu"]
        waits = 0.0
        sequential = e["calls"]
        if route_of(endpoint) == "GET /v1/users/{id}/posts":
            sequential = sequential[:1]  # the author and the page are read concurrently
        for call in sequential:
            if call["operation"] in KMS_OPERATIONS:
                waits += self.a["kms_ms"]
                continue
            reads = call["operation"] in ("GetItem", "BatchGetItem", "Query", "Scan")
            waits += self.a["dynamodb_read_ms"] if reads else self.a["dynamodb_write_ms"]
        return math.ceil(cpu / share + waits)

    def cost_per_million(self, endpoint: str) -> dict[str, float]:
        p = self.prices
        e = self.endpoints[endpoint]
        gb_s = self.duration_ms(endpoint) / 1000 * self.memory(endpoint) / 1024
        lam = p["lambda"]["per_million_requests"] + gb_s * 1e6 * p["lambda"]["per_gb_second_arm64"]
        ddb = (
            e["read"] * p["dynamodb_on_demand"]["per_million_read_request_units"]
            + e["write"] * p["dynamodb_on_demand"]["per_million_write_request_units"]
        )
        # Each event: a pipe request, an event on the bus, the audit queue, a share of an audit
        # worker invocation (batches of 10) and its write; each email: the email queue, a share
        # of the email worker, its claim writes, SES.
        batch = 10
        audit_worker_gb_s = (self.a["handler_cpu_ms_at_1_vcpu"] / (256 / 1769) + batch * self.a["dynamodb_write_ms"]) / 1000 * 256 / 1024 / batch
        pipeline = e["events"] * (
            p["eventbridge_pipes"]["per_million_requests"]
            + p["eventbridge_bus"]["per_million_events"]
            + self.a["sqs_requests_per_message"] * p["sqs_standard"]["per_million_requests"]
            + p["lambda"]["per_million_requests"] / batch
            + audit_worker_gb_s * 1e6 * p["lambda"]["per_gb_second_arm64"]
            + self.per_event["write"] * p["dynamodb_on_demand"]["per_million_write_request_units"]
        ) + e["emails"] * (
            self.a["sqs_requests_per_message"] * p["sqs_standard"]["per_million_requests"]
            + p["lambda"]["per_million_requests"] / batch
            + self.per_email["write"] * p["dynamodb_on_demand"]["per_million_write_request_units"]
            + self.per_email["read"] * p["dynamodb_on_demand"]["per_million_read_request_units"]
            + p["ses"]["per_thousand_emails"] * 1000
        )
        logs = self.a["log_bytes_per_request"] * 1e6 / 1e9 * p["cloudwatch_logs"]["per_gb_ingested"]
        api = p["api_gateway_http"]["per_million_requests"]
        kms = e["kms"] * p["kms"]["per_ten_thousand_requests"] * 100
        return {"lambda": lam, "api": api, "dynamodb": ddb, "pipeline": pipeline, "logs": logs,
                "kms": kms, "total": lam + api + ddb + pipeline + logs + kms}

    # ---- the workload ----------------------------------------------------------------------

    def month(self, daily_users: int) -> dict[str, float]:
        days = 30
        requests = {e: n * daily_users * days for e, n in WORKLOAD.items() if e in self.endpoints}
        serverless = sum(self.cost_per_million(e)["total"] * r / 1e6 for e, r in requests.items())
        ddb = sum((self.cost_per_million(e)["dynamodb"] + self.cost_per_million(e)["pipeline"]) * r / 1e6 for e, r in requests.items())
        logs = sum(self.cost_per_million(e)["logs"] * r / 1e6 for e, r in requests.items())
        total_requests = sum(requests.values())
        mean_rps = total_requests / (days * 86400)
        peak_rps = mean_rps * self.a["peak_to_average"]
        # The container: vCPUs for the peak (argon2 counted apart), at least two tasks of 0.25 vCPU.
        hashing_cpu_s = sum(r * HASHING.get(route_of(e), 0) * self.a["argon2_ms_at_1_vcpu"] / 1000 for e, r in requests.items()) / (days * 86400) * self.a["peak_to_average"]
        vcpus = max(self.a["container_tasks_minimum"] * 0.25, peak_rps / self.a["container_rps_per_vcpu"] + hashing_cpu_s)
        tasks = int(max(self.a["container_tasks_minimum"], math.ceil(vcpus / 1.0)))
        vcpu_per_task = max(0.25, vcpus / tasks)
        hours = days * 24
        fp = self.prices["fargate_arm64"]
        fargate = tasks * hours * (vcpu_per_task * fp["per_vcpu_hour"] + 2 * vcpu_per_task * fp["per_gb_hour"])
        lb = self.prices["application_load_balancer"]
        # One LCU: 25 new connections/s, 3,000 active, 1 GB/h, or 1,000 rule evaluations/s.
        lcus = max(1.0, peak_rps / 25 / 2)
        alb = hours * (lb["per_hour"] + lcus * lb["per_lcu_hour"] * (mean_rps / peak_rps if peak_rps else 1))
        container = fargate + alb + ddb + logs
        return {
            "requests": total_requests, "mean_rps": mean_rps, "peak_rps": peak_rps,
            "serverless": serverless, "container": container, "tasks": tasks,
            "vcpu_per_task": vcpu_per_task, "fargate": fargate, "alb": alb, "ddb": ddb,
        }

    # ---- the limits ----------------------------------------------------------------------

    def limits(self) -> list[tuple[str, str, float, str]]:
        """(limit, what it caps, the total request rate of the workload at which it binds, the
        change that lifts it)."""
        a = self.a
        share = {e: n / sum(WORKLOAD.values()) for e, n in WORKLOAD.items()}
        api = self.template["Parameters"]
        route_rate = float(api["ThrottlingRateLimit"]["Default"])
        busiest = max(share.items(), key=lambda kv: kv[1])
        found = [(
            f"stage throttle: {route_rate:.0f} rps per route (ThrottlingRateLimit)",
            f"the busiest route, {busiest[0]} ({busiest[1]:.0%} of requests)",
            route_rate / busiest[1],
            "raise ThrottlingRateLimit/ThrottlingBurstLimit (the account's API Gateway quota is 10,000 rps) and let a CDN answer the public reads (they are cacheable)",
        )]
        post = self.endpoints.get("POST /v1/posts")
        if post:
            # A published post's feed entry: a transactional write into FEED#<month> (2 units per KB).
            entry_units = 2 * max(1, math.ceil(a["feed_entry_bytes"] / 1024))
            posts_per_s = a["partition_wcu"] / entry_units
            found.append((
                f"feed month partition FEED#<month>: {a['partition_wcu']:.0f} WCU/s",
                f"published posts ({entry_units} WRU each into one partition): {posts_per_s:.0f}/s",
                posts_per_s / share["POST /v1/posts"],
                "write-shard the month bucket (FEED#<month>#<n>, read by merging n Queries)",
            ))
            feed = self.endpoints["GET /v1/posts"]["calls"][0]["readUnits"]
            pages_per_s = a["partition_rcu"] / feed
            found.append((
                f"feed month partition FEED#<month>: {a['partition_rcu']:.0f} RCU/s",
                f"feed pages ({feed:g} RRU each, strongly consistent): {pages_per_s:.0f}/s",
                pages_per_s / share["GET /v1/posts"],
                "eventually consistent feed reads (half the units) and the CDN in front of them (s-maxage=60 leaves one origin read per minute per page)",
            ))
            found.append((
                f"a hot tag FEED#<tag>#<month>: {a['partition_rcu']:.0f} RCU/s",
                f"one tag's pages: {pages_per_s:.0f}/s",
                pages_per_s / (share["GET /v1/posts"] / 2),
                "as above; a tag read by half the feed traffic",
            ))
        found.append((
            f"a viral post's item: {a['partition_rcu']:.0f} RCU/s",
            f"reads of one post (1 RRU each): {a['partition_rcu']:.0f}/s",
            a["partition_rcu"] / (share["GET /v1/posts/{id} (anonymous)"] * 0.5),
            "the CDN (anonymous reads of a published post are public, max-age=60); DAX otherwise",
        ))
        found.append((
            f"throttle counter THROTTLE#login-ip#<ip>: {a['partition_wcu']:.0f} WCU/s",
            "sign-ins from one address (a NAT): 2 WRU counted + 2 given back each, 250/s",
            float("inf"),
            "per-IP limits stop one address far earlier (LoginFailuresPerIp); shard the counter if a single NAT must sign in more than 250 users a second",
        ))
        found.append((
            f"throttle counter THROTTLE#reset-unsent#all: {a['partition_wcu']:.0f} WCU/s",
            "password-reset requests that send nothing, all clients together: 500/s",
            500 / share["POST /v1/auth/password/forgot"],
            "only suppressed resets write it; shard by a hash of the address if it ever binds",
        ))
        found.append((
            "admin counter STATS/ADMINS",
            "role changes to or from admin: 500/s",
            float("inf"),
            "none needed (an admin's action, not a user's)",
        ))
        mean_ms = sum(self.duration_ms(e) * n for e, n in WORKLOAD.items() if e in self.endpoints) / sum(n for e, n in WORKLOAD.items() if e in self.endpoints)
        found.append((
            f"Lambda concurrency: {a['lambda_concurrency']:.0f} (account quota)",
            f"in-flight requests at {mean_ms:.0f} ms mean duration; each function scales by 1,000 environments every 10 s",
            a["lambda_concurrency"] / (mean_ms / 1000),
            "ask AWS for a higher concurrency quota; reserve concurrency for the sign-in path",
        ))
        emails_per_request = sum(self.endpoints[e]["emails"] * share[e] for e in WORKLOAD if e in self.endpoints)
        found.append((
            f"SES sending rate: {a['ses_sending_rate']:.0f}/s (account quota)",
            f"emails ({emails_per_request * 1000:.2f} per thousand requests of the mix)",
            a["ses_sending_rate"] / emails_per_request if emails_per_request else float("inf"),
            "ask AWS for a higher sending quota; the email queue absorbs bursts meanwhile (worker MaximumConcurrency 2)",
        ))
        return sorted(found, key=lambda f: f[2])


def load_section() -> list[str]:
    """The figures of the latest `make load` (bench/load.md), or how to get them."""
    path = ROOT / "bench/load.md"
    if not path.exists():
        return ["No `make load` run yet: it writes bench/load.md, which this section shows.", ""]
    return [path.read_text().rstrip(), ""]


def money(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def render(model: Model, source: str) -> str:
    p = model.prices
    out = ["# Capacity and cost", ""]
    out.append(
        "Generated by `make capacity` (`infra/capacity.py`) from measured inputs: each endpoint's "
        "DynamoDB calls and the read/write request units they consumed, measured by "
        "`tests/api/calls.rs` against the local endpoint, which bills each request the way "
        "DynamoDB on-demand does from the items it stores (`infra/moto_capacity.py`: item sizes, "
        "4 KB reads, 1 KB writes, transactions ×2, every global index a write touches); the "
        "functions' memory and the stage throttle from the stacks (`template.yaml`, `stacks/`); the prices of "
        f"`bench/prices.json` ({p['region']}, transcribed {p['transcribed']}: {p['checked']}). "
        "Everything else is an assumption, listed at the end with its value. Durations are "
        "**estimated**, not measured in AWS: CPU from the benches scaled by the memory's CPU "
        "share, plus an assumed DynamoDB round trip per sequential call."
    )
    out += ["", f"Measured calls: `{source}`.", "", "## Per endpoint", ""]
    out.append("| endpoint | calls | RRU | WRU | events | emails | memory | est. duration | $ per million: Lambda | API | DynamoDB | events & email | KMS | logs | **total** |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in sorted((n for n in model.endpoints if not n.startswith("worker")), key=lambda n: (route_of(n).split(" ")[-1], n)):
        e = model.endpoints[name]
        c = model.cost_per_million(name)
        mark = " †" if e["extrapolated"] else ""
        out.append(
            f"| `{name}` | {len(e['calls'])} | {e['read']:g}{mark} | {e['write']:g} | {e['events']} | {e['emails']} "
            f"| {model.memory(name)} MB | {model.duration_ms(name):.0f} ms | {money(c['lambda'])} | {money(c['api'])} "
            f"| {money(c['dynamodb'])} | {money(c['pipeline'])} | {money(c['kms'])} | {money(c['logs'])} | **{money(c['total'])}** |"
        )
    out += ["", "† a full page: measured with one or two items, extrapolated to "
            f"{model.a['page_size']:.0f} items of the assumed size (the calls are measured; the units of the list's read are scaled).", ""]
    feed = model.endpoints.get("GET /v1/posts")
    if feed and len(feed["calls"]) > 2:
        authors = feed["calls"][2]["readUnits"]
        out += [
            f"What dominates: a feed page costs {feed['read']:g} RRU, {authors:g} of them for its "
            "authors' BatchGetItem (one strongly consistent unit per author, however small the "
            "item) and only "
            f"{feed['calls'][0]['readUnits']:g} for the page itself; reading the authors eventually "
            "consistently would halve that part (a deleted account's posts could then show for "
            "a second longer). Writes are dominated by the transactions' double price and the two "
            "global indexes most items carry. Email endpoints are dominated by SES itself.",
            "",
        ]
    out.append(
        f"Behind every event (an outbox item): a stream record the pipe forwards (one pipe "
        f"request) as an event on the stack's bus (one custom event), the audit queue, a tenth of an audit worker invocation and its write — "
        f"measured: {model.per_event['write']:g} WRU per event (the entry and its two index "
        f"entries). Behind every email: the email queue, a tenth of an email worker invocation, "
        f"its claim — measured {model.per_email['write']:g} WRU and {model.per_email['read']:g} RRU "
        f"per email — and SES ({money(p['ses']['per_thousand_emails'])} per thousand)."
    )
    rent = next((n for n in model.endpoints if n.startswith("worker-rent")), None)
    if rent:
        e = model.endpoints[rent]
        due = int(re.search(r"(\d+) leases due", rent).group(1))  # type: ignore[union-attr]
        cost = model.cost_per_million(rent)
        # No API request behind a run; one run of this shape per `due` charges.
        per_run = (cost["total"] - cost["api"]) / 1e6
        per_thousand = per_run * 1000 / due
        out += [
            "",
            f"The daily rent run (EventBridge Scheduler → the rent queue → `worker-rent`), measured on "
            f"a day with {due} leases due: {len(e['calls'])} calls ("
            + ", ".join(c["operation"] for c in e["calls"][:4])
            + f", …), {e['read']:g} RRU and {e['write']:g} WRU, {e['events']} events. Each lease is "
            f"charged once a month, so **a thousand leases cost {money(per_thousand)} a month** "
            f"(DynamoDB {money(cost['dynamodb'] / 1e6 * 1000 / due)}, the charges' events through the "
            f"pipeline {money(cost['pipeline'] / 1e6 * 1000 / due)}, Lambda "
            f"{money(cost['lambda'] / 1e6 * 1000 / due)}); what a day reads grows with the leases due "
            "that day, not with the registry. Add each lease's monthly reminder that rent is due "
            f"(an event and an email: {money(p['ses']['per_thousand_emails'])} per thousand at SES's "
            "price, more when rent is overdue or a lease ends). The schedule's 30 ticks a month are "
            "within EventBridge Scheduler's free tier (14 million invocations a month), and a day "
            "without a lease due or to remind costs one item read, four empty queries and one write.",
        ]
    s3 = p.get("s3_standard")
    if s3:
        # A document's life in S3: the browser's POST (a PUT-class request), the worker's ranged
        # GET and its COPY to documents/ (and DELETE of the upload, free); a download is a GET
        # and the bytes sent.
        per_thousand_docs = (2 * s3["put_copy_post_list_per_thousand"] + s3["get_per_thousand"])
        out += [
            "",
            "Documents (issue #31) are stored in S3 Standard, never passed through a function: a "
            f"thousand documents cost {money(per_thousand_docs)} in S3 requests once (the "
            "browser's POST, the worker's ranged GET and its copy out of `incoming/`; deleting is "
            f"free), then {money(s3['storage_per_gb_month'])} per GB and month stored; a thousand "
            f"downloads {money(s3['get_per_thousand'])} plus {money(s3['transfer_out_per_gb'])} per "
            "GB sent (after the first 100 GB a month). **A thousand 2 MB documents cost "
            f"{money(per_thousand_docs + 2 * s3['storage_per_gb_month'])} in their first month and "
            f"{money(2 * s3['storage_per_gb_month'])} a month after** (S3 alone; their API calls and "
            "the worker's table writes are in the table above). The property quotas "
            "(`DocumentsPerProperty`, `DocumentBytesPerProperty`) bound what one owner can store.",
        ]
    out += ["", "## A social app, per month", ""]
    out.append("Per daily active user and day: " + ", ".join(f"{n:g} × `{e}`" for e, n in WORKLOAD.items()) + f" ({sum(WORKLOAD.values()):g} requests). No CDN (the public reads could be served from one).")
    out += ["", "| daily users | requests / month | mean rps | peak rps | Ferrite (serverless) | always-on container | container setup |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for users in DAILY_USERS:
        m = model.month(users)
        out.append(
            f"| {users:,} | {m['requests'] / 1e6:,.1f} M | {m['mean_rps']:.1f} | {m['peak_rps']:.1f} | **{money(m['serverless'])}** "
            f"| **{money(m['container'])}** | {m['tasks']} Fargate arm64 tasks × {m['vcpu_per_task']:.2f} vCPU ({money(m['fargate'])}) + ALB ({money(m['alb'])}) + the same DynamoDB and pipeline ({money(m['ddb'])}) |"
        )
    out += [
        "",
        "The container column is the cheapest always-on shape that could serve the peak: NestJS "
        "on Fargate arm64 behind an Application Load Balancer, at least two tasks (two zones), "
        "sized by the assumed requests per vCPU plus the argon2 CPU of sign-ins; it keeps the same "
        "DynamoDB table and event pipeline (what it saves is API Gateway and Lambda). It does not "
        "include the engineering of patching, scaling and deploying it.",
        "",
        "## Where it stops",
        "",
        "The limits of the stack in the order the mix above meets them (the request rate of the "
        "whole mix at which each binds):",
        "",
        "| limit | caps | binds at (rps of the mix) | what lifts it |",
        "| --- | --- | --- | --- |",
    ]
    for limit, caps, rps, lift in model.limits():
        at = "never (not on a user's path)" if rps == float("inf") else f"{rps:,.0f}"
        out.append(f"| {limit} | {caps} | {at} | {lift} |")
    limits = model.limits()
    first, design = limits[0], next(l for l in limits if not l[0].startswith("stage throttle"))
    bucket = next(l for l in limits if "WCU" in l[0] and "FEED#<month>" in l[0])
    verdict = (
        "is met below 1,000 rps of this mix: the month bucket must be write-sharded"
        if bucket[2] < 1000
        else f"is not met below 1,000 rps of this mix (it binds at {bucket[2]:,.0f}), so its write "
        "sharding is not implemented: it would cost every feed read n Queries for no gain"
    )
    out += [
        "",
        f"The first limit is **{first[0]}**, at about {first[2]:,.0f} rps of the mix"
        + (": a template parameter, not the design" if first[0].startswith("stage throttle") else "")
        + f". The first limit of the design is **{design[0]}**, at about {design[2]:,.0f} rps. "
        f"The feed's month bucket for writes {verdict}.",
        "",
        "## Under load, locally",
        "",
        *load_section(),
        "## Assumptions",
        "",
        "| name | value | what it stands for |",
        "| --- | --- | --- |",
    ]
    for name, (value, why) in ASSUMPTIONS.items():
        out.append(f"| `{name}` | {value:g} | {why} |")
    out += [
        "",
        "Not in the model: the free tiers; data transfer out (API answers are small); DynamoDB "
        "storage (about $0.25 per GB-month: the outbox expires after a day, the audit trail "
        "stays); CloudWatch custom metrics and alarms (about $0.30 per metric-month and $0.10 per "
        "alarm: the stack's 16 alarms are $1.60 a month whatever the traffic); the key that seals "
        f"second factors ({money(p['kms']['per_key_month'])} a month, up to three times that once "
        "rotated twice; its requests are in the table); Secrets Manager "
        "($0.40 per secret-month and $0.05 per 10,000 reads: read once per cold start); failed "
        "conditional writes, which DynamoDB bills and this measurement records as 0.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", required=True)
    parser.add_argument("--prices", default=str(ROOT / "bench/prices.json"))
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--out", default=str(ROOT / "CAPACITY.md"))
    args = parser.parse_args()
    measured = [json.loads(line) for line in pathlib.Path(args.calls).read_text().splitlines() if line.strip()]
    template = stacks.flatten(args.template)
    prices = json.loads(pathlib.Path(args.prices).read_text())
    model = Model(measured, template, prices)
    pathlib.Path(args.out).write_text(render(model, pathlib.Path(args.calls).name))
    print(f"capacity: {len(model.endpoints)} endpoints measured; wrote {args.out}")


if __name__ == "__main__":
    main()
