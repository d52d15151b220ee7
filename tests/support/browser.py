"""A real browser for the tests: Debian's chromium driven by Playwright for Python.

One browser process per test session (``browser``); each test gets a fresh context and
page (``page``), so cookies and storage never leak between tests. The browser resolves
no host but 127.0.0.1 (``--host-resolver-rules``), and every page records the requests
it tried to send anywhere else (``BrowserPage.external``), so a test can prove that a
page works offline, and the layout shifts of each document it loads
(``BrowserPage.layout_shift()``: cumulative layout shift over the load). When a test
that used a page fails, a full-page screenshot is saved under ``test-results/screenshots/``
(next to the test report).

Import the fixtures from the top-level conftest (``from tests.support.browser import *``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.chromium import CHROMIUM, CHROMIUM_ARGS

__all__ = [
    "BrowserPage",
    "SCREENSHOT_DIR",
    "browser",
    "cumulative_layout_shift",
    "open_page",
    "page",
]

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$")

# Runs in every document before its own scripts: reports each layout shift that happens
# while the page loads, i.e. before the first thing a user (or a test) does to it — a
# click, a key, typing, a wheel turn. What moves after an interaction is the answer to
# it, which the layout-shift metric does not count against a page either.
_LAYOUT_SHIFT_SCRIPT = """
(() => {
  if (!('PerformanceObserver' in window)) return;
  const doc = Math.random().toString(36).slice(2);
  let interacted = false;
  for (const type of ['pointerdown', 'keydown', 'input', 'wheel', 'click']) {
    window.addEventListener(type, () => { interacted = true; }, {capture: true, passive: true});
  }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (interacted || entry.hadRecentInput) continue;
      window.__lrLayoutShift?.(doc, location.href, entry.value, entry.startTime);
    }
  }).observe({type: 'layout-shift', buffered: true});
})();
"""


@dataclass
class BrowserPage:
    """A Playwright page plus what it tried to fetch from outside, what it logged and
    how its documents shifted while they loaded."""

    page: Any  # playwright.sync_api.Page
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # per document: (url, [(start time ms, shift value)])
    shifts: dict[str, tuple[str, list[tuple[float, float]]]] = field(default_factory=dict)

    def layout_shift(self) -> dict[str, float]:
        """Cumulative layout shift of each document loaded so far, by URL (the worst when
        a URL was loaded twice). Reads the page once first, so that shifts it reported
        just now are counted."""
        with suppress(Exception):  # a closed page reported all it could
            self.page.evaluate("0")
        worst: dict[str, float] = {}
        for url, entries in self.shifts.values():
            worst[url] = max(worst.get(url, 0.0), cumulative_layout_shift(entries))
        return worst


def cumulative_layout_shift(entries: list[tuple[float, float]]) -> float:
    """The layout-shift metric of web vitals: shifts grouped into session windows (a gap
    under 1 s, a window under 5 s); the largest window's sum."""
    best = current = 0.0
    first = last = -1e9
    for start, value in sorted(entries):
        if start - last < 1000 and start - first < 5000:
            current += value
        else:
            current, first = value, start
        last = start
        best = max(best, current)
    return best


def _require_chromium() -> None:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).is_file():
        pytest.skip(f"chromium not installed at {CHROMIUM} (scripts/test.sh installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless chromium for the whole session."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome-error", "chrome"):
        return False
    return not _LOOPBACK.match(parts.hostname or "")


def open_page(context: Any) -> BrowserPage:
    """A new page of ``context`` that records outside requests, console errors, uncaught
    page errors and layout shifts while each document loads."""
    raw = context.new_page()
    result = BrowserPage(raw)

    def shifted(_source: Any, doc: str, url: str, value: float, start: float) -> None:
        result.shifts.setdefault(doc, (url, []))[1].append((float(start), float(value)))

    raw.expose_binding("__lrLayoutShift", shifted)
    raw.add_init_script(_LAYOUT_SHIFT_SCRIPT)
    raw.on("request", lambda req: result.external.append(req.url) if is_external(req.url) else None)
    raw.on(
        "console",
        lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    raw.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
    return result


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[BrowserPage]:
    """A fresh context (1280x900, the system's light scheme) and page for one test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    result = open_page(context)
    raw = result.page
    try:
        yield result
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
            try:
                raw.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)
            except Exception as exc:  # noqa: BLE001 - a failed screenshot must not mask the failure
                print(f"screenshot failed: {exc}")
        context.close()
