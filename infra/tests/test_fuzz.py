"""`make fuzz` (infra/fuzz.py) gives the fuzzer real ids: every id a path names has seeded data
of its kind, so a new route does not stop at a 404. Run: .venv/bin/python -m unittest discover
infra/tests"""

from __future__ import annotations

import json
import os
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("FERRITE_API_URL", "http://127.0.0.1:1")
import fuzz  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = json.loads((ROOT / "openapi.json").read_text())
SEEDED = {
    "users", "others", "sessions", "own_sessions", "posts", "properties", "unit_properties", "units", "leases",
    "providers", "entries", "documents", "webhooks",
}


class RealIds(unittest.TestCase):
    def test_every_path_parameter_of_the_document_is_bound_to_seeded_ids(self) -> None:
        bound = fuzz.bindings(DOCUMENT)
        unbound = []
        for path in DOCUMENT["paths"]:
            for name in re.findall(r"\{([A-Za-z]+)\}", path):
                kinds = [kind for key, kind in bound.get(path, []) if key == f"path.{name}"]
                if not kinds or not set(kinds) <= SEEDED:
                    unbound.append(f"{path}: {name}")
        self.assertEqual(unbound, [], "give infra/fuzz.py's seed and ID_KINDS/COLLECTIONS these ids")

    def test_ids_in_bodies_and_queries_are_bound_where_the_document_has_them(self) -> None:
        bound = fuzz.bindings(DOCUMENT)
        self.assertIn(("body.unitId", "units"), bound["/v1/leases"])
        self.assertIn(("body.tenantId", "users"), bound["/v1/leases"])
        self.assertIn(("body.newOwnerId", "users"), bound["/v1/properties/{id}/transfer"])
        self.assertIn(("query.actorId", "users"), bound["/v1/audit"])
        # The admin's session routes never name the fuzzer's own account (it would sign out).
        self.assertEqual(bound["/v1/users/{id}/sessions"], [("path.id", "others")])
        self.assertIn(("path.sessionId", "sessions"), bound["/v1/users/{id}/sessions/{sessionId}"])
        self.assertEqual(bound["/v1/users/me/sessions/{id}"], [("path.id", "own_sessions")])
        # A unit's path pairs it with the property that holds the seeded units.
        self.assertIn(("path.id", "unit_properties"), bound["/v1/properties/{id}/units/{unitId}"])

    def test_the_config_gives_each_binding_its_dictionary(self) -> None:
        ids = {kind: [f"01ARZ3NDEKTSV4RRFFQ69G5F{n:02d}"] for n, kind in enumerate(sorted(SEEDED))}
        text = fuzz.config(ids, DOCUMENT)
        import tomllib

        parsed = tomllib.loads(text)
        self.assertEqual(set(parsed["dictionaries"]), SEEDED)
        leases = next(o for o in parsed["operations"] if o["include-path"] == "/v1/leases/{id}")
        self.assertEqual(
            leases["parameters"]["path.id"], {"dictionary": "leases", "probability": fuzz.REAL_ID_PROBABILITY}
        )


if __name__ == "__main__":
    unittest.main()
