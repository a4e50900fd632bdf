#!/usr/bin/env python3
"""`make docs-check`: renders GET /v1/docs in headless Chromium and checks that the page shows
every operation of openapi.json (a section per operationId, which only Redoc's script creates).

Run under `ferrite-local exec --api` (the Makefile does). Needs Chromium (Debian: `apt-get
install chromium`); CHROMIUM names another binary.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main():
    browser = os.environ.get("CHROMIUM") or next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        print("docs-check: no Chromium found (apt-get install chromium, or set CHROMIUM)", file=sys.stderr)
        return 2
    url = os.environ["FERRITE_API_URL"].rstrip("/") + "/v1/docs"
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=30000",
            "--dump-dom",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    out = ROOT / ".local/docs-dom.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dom)
    document = json.loads((ROOT / "openapi.json").read_text())
    operations = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    # Redoc renders each operation as a section whose heading links to
    # `#tag/<tag>/operation/<operationId>`: present only once the script has run.
    missing = [o for o in operations if f'/operation/{o}"' not in dom]
    print(f"docs-check: {len(operations) - len(missing)} of {len(operations)} operations rendered ({out})")
    for operation in missing:
        print(f"  not rendered: {operation}", file=sys.stderr)
    return 1 if missing or not operations else 0


if __name__ == "__main__":
    sys.exit(main())
