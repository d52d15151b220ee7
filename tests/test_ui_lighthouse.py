"""Lighthouse budgets on every view of the reference UI, phone and desktop presets.

Each view of the demo's content (harness/lighthouse.py ``VIEWS``), audited by
Lighthouse in Debian's chromium with its mobile preset (a phone on slow 4G, CPU slowed
4×) and its desktop preset, must score: performance at least 95, accessibility 100,
best practices 100, no failing audit in those two categories (label in name among
them), and a cumulative layout shift of at most 0.05.

Lighthouse takes seconds a page: this module runs it once for every view and preset, in
one chromium (a view under the performance budget once more: that score is timed, and a
busy machine can slow one run), and is marked ``lighthouse``: ``pytest -m "not
lighthouse"`` leaves it out of a quick local run; CI (scripts/test.sh) runs it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.lighthouse import (
    BUDGET,
    PRESETS,
    VIEWS,
    lighthouse_missing,
    over_budget,
    run_lighthouse,
    table,
)
from harness.waiting import eventually
from tests.support.ui import DemoSite, UiSite

pytestmark = pytest.mark.lighthouse


def warm_searches(sites: dict[str, str]) -> None:
    """The search views' index walked first (the demo has no service account: the
    first search walks within its request), so Lighthouse times the page, not the walk."""
    for _name, site, path in VIEWS:
        if path.startswith("/search?q="):
            query = {"q": path.removeprefix("/search?q=")}
            with httpx.Client(base_url=sites[site], trust_env=False, timeout=30) as client:
                eventually(
                    lambda c=client, q=query: c.get("/api/search", params=q).json()["complete"],
                    within=60,
                    what="the search index walk",
                )


@pytest.fixture(scope="module")
def audits(demo_site: DemoSite, ui_auth_site: UiSite) -> list[dict[str, Any]]:
    missing = lighthouse_missing()
    if missing is not None:
        pytest.skip(missing)
    sites = {"demo": demo_site.url, "login": ui_auth_site.url}
    warm_searches(sites)
    pages = [
        {"name": name, "url": sites[site] + path, "preset": preset}
        for preset in PRESETS
        for name, site, path in VIEWS
    ]
    results = run_lighthouse(pages)
    # The performance score is timed: a page under budget is audited once more (a busy
    # machine can slow one run), and the better of the two runs counts. Everything else
    # must hold on the first run.
    again = [i for i, r in enumerate(results) if r["performance"] < BUDGET.performance]
    if again:
        for i, retry in zip(again, run_lighthouse([pages[i] for i in again]), strict=True):
            if retry["performance"] > results[i]["performance"]:
                results[i] = {**results[i], "performance": retry["performance"]}
    print("\n" + table(results))  # shown with -s, and kept in the report on failure
    return results


@pytest.mark.parametrize("preset", PRESETS)
def test_every_view_meets_the_budgets(audits: list[dict[str, Any]], preset: str) -> None:
    results = [r for r in audits if r["preset"] == preset]
    assert len(results) == len(VIEWS)
    problems = [p for r in results for p in over_budget(r)]
    assert problems == [], "\n".join(problems) + "\n\n" + table(results)
