"""A real browser for the tests: Debian's chromium driven by Playwright for Python.

One browser process per test session (``browser``); each test gets a fresh context and
page (``page``), so cookies and storage never leak between tests. The browser resolves
no host but 127.0.0.1 (``--host-resolver-rules``), and every page records the requests
it tried to send anywhere else (``BrowserPage.external``), so a test can prove that a
page works offline. When a test that used a page fails, a full-page screenshot is saved
under ``test-results/screenshots/`` (next to the test report).

Import the fixtures from the top-level conftest (``from tests.support.browser import *``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = ["BrowserPage", "browser", "open_page", "page", "SCREENSHOT_DIR"]

CHROMIUM = os.environ.get("LR_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

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

_LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$")


@dataclass
class BrowserPage:
    """A Playwright page plus what it tried to fetch from outside and what it logged."""

    page: Any  # playwright.sync_api.Page
    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


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
    """A new page of ``context`` that records outside requests, console errors and
    uncaught page errors."""
    raw = context.new_page()
    result = BrowserPage(raw)
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
