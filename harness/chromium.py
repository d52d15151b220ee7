"""Debian's chromium, as every browser of the tests and the scripts starts it: the
Playwright tests (``tests/support/browser.py``), Lighthouse (``harness.lighthouse``) and
the README's screenshots (``scripts/screenshots.py``). Playwright's own browser
downloads are never used."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("LR_TEST_CHROMIUM", "/usr/bin/chromium")

# As the machine's own checks start it: no background traffic, no sandbox (root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
