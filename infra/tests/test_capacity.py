"""The cost model of `make capacity` (infra/capacity.py) on measured calls it is given."""

from __future__ import annotations

import json
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import capacity  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def call(operation: str, read: float = 0, write: float = 0, events: int = 0, emails: int = 0) -> dict:
    return {"operation": operation, "readUnits": read, "writeUnits": write, "items": 1,
            "events": events, "emails": emails}


MEASURED = [
    {"endpoint": "GET /v1/users/me", "calls": [call("BatchGetItem", read=2)]},
    {"endpoint": "POST /v1/posts", "calls": [call("BatchGetItem", read=2), call("UpdateItem", write=1),
                                              call("TransactWriteItems", write=12, events=1)]},
    {"endpoint": "GET /v1/posts", "calls": [call("Query", read=1), call("Query"), call("BatchGetItem", read=1)]},
    {"endpoint": "GET /v1/posts/{id} (anonymous)", "calls": [call("GetItem", read=1), call("GetItem", read=1)]},
    {"endpoint": "POST /v1/auth/password/forgot", "calls": [call("TransactWriteItems", write=2, events=1, emails=1)]},
    {"endpoint": "POST /v1/users/me/mfa/totp/confirm", "calls": [call("BatchGetItem", read=2), call("Decrypt"),
                                                                 call("TransactWriteItems", write=10, events=1)]},
    {"endpoint": "worker-audit (a batch of 2 events)", "calls": [call("PutItem", write=3), call("PutItem", write=3)]},
]


def model() -> capacity.Model:
    template = capacity.stacks.flatten(ROOT / "template.yaml")
    prices = json.loads((ROOT / "bench/prices.json").read_text())
    return capacity.Model(MEASURED, template, prices)


class CostModel(unittest.TestCase):
    def test_an_endpoints_dynamodb_cost_is_its_measured_units_at_the_listed_prices(self) -> None:
        m = model()
        cost = m.cost_per_million("GET /v1/users/me")
        self.assertAlmostEqual(cost["dynamodb"], 2 * 0.125)
        self.assertAlmostEqual(cost["api"], 1.00)
        self.assertAlmostEqual(
            cost["total"],
            cost["lambda"] + cost["api"] + cost["dynamodb"] + cost["pipeline"] + cost["kms"] + cost["logs"],
        )
        self.assertEqual(cost["kms"], 0)
        # 256 MB: 0.5 ms of CPU at a 256/1769 share, one read round trip.
        self.assertEqual(m.duration_ms("GET /v1/users/me"), 4 + 4)

    def test_a_kms_call_is_a_request_at_kmss_price_and_a_round_trip_with_no_capacity(self) -> None:
        m = model()
        e = m.endpoints["POST /v1/users/me/mfa/totp/confirm"]
        self.assertEqual((e["kms"], e["read"], e["write"]), (1, 2, 10))
        # $0.03 per 10,000 requests: $3 per million.
        self.assertAlmostEqual(m.cost_per_million("POST /v1/users/me/mfa/totp/confirm")["kms"], 3.0)
        # Its memory's CPU share, a read, the Decrypt and a write, one after another.
        cpu = m.duration_ms("GET /v1/users/me") - 4
        self.assertEqual(
            m.duration_ms("POST /v1/users/me/mfa/totp/confirm"), cpu + 4 + m.a["kms_ms"] + 8
        )

    def test_events_and_emails_carry_their_pipeline_and_ses(self) -> None:
        m = model()
        self.assertEqual(m.per_event["write"], 3)
        post = m.cost_per_million("POST /v1/posts")["pipeline"]
        forgot = m.cost_per_million("POST /v1/auth/password/forgot")["pipeline"]
        self.assertGreater(post, 0)
        # An email adds SES's $0.10 per thousand: $100 per million.
        self.assertGreater(forgot - post, 100)

    def test_a_feed_page_is_extrapolated_per_item_for_its_authors(self) -> None:
        m = model()
        calls = m.endpoints["GET /v1/posts"]["calls"]
        self.assertEqual(calls[0]["readUnits"], 3)  # 20 entries of 600 B, strongly consistent
        self.assertEqual(calls[2]["readUnits"], 10)  # 10 authors, one unit each

    def test_the_limits_come_in_the_order_the_mix_meets_them(self) -> None:
        limits = model().limits()
        rates = [rps for _, _, rps, _ in limits]
        self.assertEqual(rates, sorted(rates))
        self.assertTrue(limits[0][0].startswith("stage throttle"))


if __name__ == "__main__":
    unittest.main()
