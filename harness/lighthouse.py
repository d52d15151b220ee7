"""Lighthouse over the reference UI: the budgets every view must meet.

Lighthouse (the npm package, pinned in ``tests/lighthouse/package.json``, installed by
``scripts/test.sh`` with ``npm ci``) audits a page in Debian's chromium
(``CHROME_PATH``). ``tests/lighthouse/run.mjs`` runs it over a list of pages in one
chromium and answers one summary per page; ``run_lighthouse`` calls it.

The views and the budgets are here, so the test (tests/test_ui_lighthouse.py) and the
table in docs/ui.md (scripts/ui_budgets.py) measure the same thing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.chromium import CHROMIUM as CHROME

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "lighthouse" / "run.mjs"
INSTALLED = ROOT / "tests" / "lighthouse" / "node_modules" / "lighthouse"
# axe-core, the accessibility engine Lighthouse runs (installed with it): the browser
# tests run it themselves where Lighthouse does not look (the dark scheme, dialogs).
AXE = ROOT / "tests" / "lighthouse" / "node_modules" / "axe-core" / "axe.min.js"

PRESETS = ("mobile", "desktop")

# Every view of the reference UI, on the demo's content: (name, site, path). "login" is
# on a gateway whose registry asks for credentials; the others on the demo. The small tag
# list is an index's (its rows carry platform chips), the image detail an index's (its
# platforms, layers and attestations); each page below its list holds the storage panel.
VIEWS: list[tuple[str, str, str]] = [
    ("repositories", "demo", "/"),
    ("tags: an index, 2 tags", "demo", "/r/demo/multiarch"),
    ("tags: 60, by version, 50 a page", "demo", "/r/demo/releases?sort=-version&n=50"),
    ("tags: 240, by date, 100 a page", "demo", "/r/demo/nightly?sort=-created&n=100"),
    ("image: an index", "demo", "/r/demo/multiarch/-/image/1.0.0"),
    ("config and history", "demo", "/r/demo/multiarch/-/image/1.0.0/history?platform=linux/amd64"),
    ("files: a directory", "demo", "/r/demo/webapp/-/image/2.0/files?path=/app"),
    ("files: a layer's changes", "demo", "/r/demo/webapp/-/image/2.0/files?layer=2"),
    ("compare two tags", "demo", "/r/demo/webapp/-/compare?from=1.0&to=2.0"),
    ("login", "login", "/login"),
    ("activity", "demo", "/activity"),
    ("stale report", "demo", "/stale"),
    ("search: a tag glob, grouped by repository", "demo", "/search?q=tag:1.*"),
]


@dataclass(frozen=True)
class Budget:
    performance: int = 95
    accessibility: int = 100
    best_practices: int = 100
    cls: float = 0.05


BUDGET = Budget()


def lighthouse_missing() -> str | None:
    """Why Lighthouse cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (scripts/test.sh installs it)"
    if not INSTALLED.is_dir():
        return "lighthouse is not installed: npm ci --prefix tests/lighthouse"
    if shutil.which(CHROME) is None and not Path(CHROME).is_file():
        return f"chromium not installed at {CHROME}"
    return None


def run_lighthouse(pages: list[dict[str, str]], *, timeout: float = 600) -> list[dict[str, Any]]:
    """Audit ``pages`` ([{"name", "url", "preset"}]) in one chromium; one summary each:
    name, url, preset, performance, accessibility, best_practices (0-100), cls, lcp_ms,
    failing {accessibility, best_practices, performance: [{id, title, score}]}."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as listing:
        json.dump(pages, listing)
    try:
        env = {**os.environ, "CHROME_PATH": CHROME}
        done = subprocess.run(  # noqa: S603 - fixed argv
            ["node", str(RUNNER), listing.name],  # noqa: S607 - node from PATH
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    finally:
        os.unlink(listing.name)
    if done.returncode != 0:
        raise RuntimeError(f"lighthouse failed ({done.returncode}):\n{done.stderr[-4000:]}")
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def over_budget(result: dict[str, Any], budget: Budget = BUDGET) -> list[str]:
    """What of one page's summary is under budget, in words ([] when it meets it)."""
    where = f"{result['name']} ({result['preset']})"
    problems: list[str] = []
    if result.get("runtime_error"):
        problems.append(f"{where}: Lighthouse could not audit it: {result['runtime_error']}")
    for key, least in (
        ("performance", budget.performance),
        ("accessibility", budget.accessibility),
        ("best_practices", budget.best_practices),
    ):
        if result[key] < least:
            problems.append(f"{where}: {key.replace('_', ' ')} {result[key]} < {least}")
    if result["cls"] > budget.cls:
        problems.append(f"{where}: layout shift {result['cls']:.3f} > {budget.cls}")
    for category in ("accessibility", "best_practices"):
        for audit in result["failing"][category]:
            problems.append(f"{where}: {category} audit failed: {audit['id']} ({audit['title']})")
    return problems


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table of docs/ui.md: view × preset."""
    lines = [
        "| view | preset | performance | accessibility | best practices | CLS | LCP |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['preset']} | {r['performance']} | {r['accessibility']} "
            f"| {r['best_practices']} | {r['cls']:.3f} | {r['lcp_ms'] / 1000:.1f} s |"
        )
    return "\n".join(lines)
