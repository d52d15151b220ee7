"""Fixtures for the reference UI's browser tests (tests/test_ui_*.py).

Gateways on real sockets (uvicorn on 127.0.0.1), shared per session:

- ``ui_site``: over the standard registry (``registry``, never modified), deletes off;
- ``ui_delete_site``: over a registry of its own, filled here, deletes on;
- ``ui_auth_site``: over an htpasswd registry, no service account (login needed);
- ``ui_empty_site``: over an empty registry;
- ``demo_site``: over a registry holding the demo's content (harness/demo.py),
  deletes on and ``/v2`` in push mode as ``scripts/demo.sh`` runs it; never modified.

``ui`` wraps the ``page`` fixture: ``ui.goto(path)`` opens a path of a site, and at the
end of the test it asserts what every UI test must hold — no request left 127.0.0.1, no
uncaught page error, no Content-Security-Policy violation, and no page that moved while
it loaded (cumulative layout shift at most ``CLS_BUDGET`` for every document the test
opened). ``ui_context`` opens further
contexts (dark scheme, phone width, clipboard permissions) under the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import httpx
import pytest

from harness.demo import Demo, seed_demo
from harness.images import PushedImage, Pusher, push_image, push_index, tag_existing
from harness.registry import RegistryProcess, free_port
from tests.support.browser import BrowserPage, open_page
from tests.support.callers import XHR
from tests.support.fixtures import FilledRegistry
from tests.support.gateway_server import GatewayServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = [
    "AUTH_USERS",
    "CLS_BUDGET",
    "XHR",
    "UiContext",
    "UiPage",
    "UiSite",
    "DemoSite",
    "assert_clean",
    "demo_site",
    "format_bytes",
    "ui",
    "ui_auth_site",
    "ui_context",
    "ui_delete_site",
    "ui_empty_site",
    "ui_site",
]

AUTH_USERS = {"alice": "alice-Ui-7d41"}

# The most a page may move while it loads (cumulative layout shift; "good" in Core Web
# Vitals is up to 0.1).
CLS_BUDGET = 0.05

# What chromium logs when the page's CSP blocks something.
CSP_MARKERS = ("Content Security Policy", "Content-Security-Policy", "Refused to")


@dataclass
class UiSite:
    """A gateway serving the UI, and what its registry holds."""

    server: GatewayServer
    registry_url: str
    pull_host: str
    images: dict[str, PushedImage] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, path: str, **kwargs: Any) -> httpx.Response:
        """A direct call to the gateway (the expected data, or state set-up)."""
        with httpx.Client(base_url=self.url, trust_env=False, timeout=10) as client:
            return client.request(kwargs.pop("method", "GET"), path, **kwargs)


@contextmanager
def _site(
    registry_url: str, images: dict[str, PushedImage] | None = None, **settings: Any
) -> Iterator[UiSite]:
    """A gateway on a real socket in front of ``registry_url``, stopped afterwards."""
    server = GatewayServer(registry_url, free_port(), **settings).start()
    try:
        pull_host = pull_host_of(server.url, registry_url, settings)
        yield UiSite(server, registry_url, pull_host, images or {})
    finally:
        server.stop()


def pull_host_of(gateway_url: str, registry_url: str, settings: dict[str, Any]) -> str:
    """The host the UI puts in pull commands: LR_PULL_HOST; else the gateway's own (the
    page's) while it serves /v2 (the default), else the registry's."""
    if settings.get("pull_host"):
        return str(settings["pull_host"])
    if settings.get("v2_mode", "pull") != "off":
        return _host(gateway_url)
    return _host(registry_url)


def _host(url: str) -> str:
    return httpx.URL(url).netloc.decode()


@pytest.fixture(scope="session")
def ui_site(registry: FilledRegistry) -> Iterator[UiSite]:
    with _site(registry.url) as site:
        yield site


@pytest.fixture(scope="session")
def ui_empty_site(registry_factory: Callable[..., RegistryProcess]) -> Iterator[UiSite]:
    process = registry_factory()
    with _site(process.url) as site:
        yield site


@pytest.fixture(scope="session")
def ui_delete_site(registry_factory: Callable[..., RegistryProcess]) -> Iterator[UiSite]:
    """Deletes on. Each delete test owns its repositories, so the order of tests does
    not matter: del/tag (1.0 and its alias stable; 2.0), del/image (1.0 and its alias
    prod on one digest; 2.0), del/index (an index 1.0 with the alias latest), del/bulk
    (1.0 and its alias stable; 2.0; 3.0), del/usage (1.0; 2.0), del/empty (no tag
    left)."""
    process = registry_factory(delete_enabled=True)
    images: dict[str, PushedImage] = {}
    with Pusher(process.url) as p:
        for repo, alias in (("del/tag", "stable"), ("del/image", "prod")):
            one = push_image(p, repo, "1.0", created="2024-06-01T10:00:00Z")
            tag_existing(p, repo, alias, one)
            two = push_image(p, repo, "2.0", created="2024-07-01T10:00:00Z")
            images[f"{repo}:1.0"] = one
            images[f"{repo}:2.0"] = two
        children = [
            push_image(p, "del/index", None, architecture="amd64"),
            push_image(p, "del/index", None, architecture="arm64", variant="v8"),
        ]
        index = push_index(p, "del/index", "1.0", children)
        tag_existing(p, "del/index", "latest", index)
        for tag in ("1.0", "2.0", "3.0"):
            images[f"del/bulk:{tag}"] = push_image(p, "del/bulk", tag, n_layers=1)
        tag_existing(p, "del/bulk", "stable", images["del/bulk:1.0"])
        for tag in ("1.0", "2.0"):
            images[f"del/usage:{tag}"] = push_image(p, "del/usage", tag, n_layers=1)
        gone = push_image(p, "del/empty", "1.0", n_layers=1)
        p.delete_manifest("del/empty", gone.digest)
    with _site(process.url, images, delete_enabled=True) as site:
        yield site


@dataclass
class DemoSite(UiSite):
    demo: Demo = field(default_factory=Demo)


@pytest.fixture(scope="session")
def demo_site(
    registry_factory: Callable[..., RegistryProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoSite]:
    """The demo: its content, deletes on, /v2 in push mode. Tests only read it."""
    process = registry_factory(delete_enabled=True)
    with Pusher(process.url) as p:
        demo = seed_demo(p)
    data = tmp_path_factory.mktemp("demo-data")
    server = GatewayServer(
        process.url, free_port(), delete_enabled=True, v2_mode="push", data_dir=data
    ).start()
    try:
        yield DemoSite(server, process.url, _host(server.url), demo=demo)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ui_auth_site(registry_factory: Callable[..., RegistryProcess]) -> Iterator[UiSite]:
    """An htpasswd registry holding team/app:1.0 and team/app:1.1; no service account."""
    process = registry_factory(auth="htpasswd", htpasswd_users=AUTH_USERS)
    images: dict[str, PushedImage] = {}
    with Pusher(process.url, "alice", AUTH_USERS["alice"]) as p:
        for tag in ("1.0", "1.1"):
            images[f"team/app:{tag}"] = push_image(p, "team/app", tag)
    with _site(process.url, images) as site:
        yield site


# -- pages ----------------------------------------------------------------------------------


def assert_clean(page: BrowserPage) -> None:
    """What every UI page must hold: nothing fetched from outside 127.0.0.1, no uncaught
    error, no CSP violation, no document that moved more than ``CLS_BUDGET`` while it
    loaded."""
    assert page.external == [], page.external
    assert page.page_errors == [], page.page_errors
    violations = [e for e in page.console_errors if any(m in e for m in CSP_MARKERS)]
    assert violations == [], violations
    shifted = {url: round(cls, 4) for url, cls in page.layout_shift().items() if cls > CLS_BUDGET}
    assert shifted == {}, f"layout shift over {CLS_BUDGET} while loading: {shifted}"


@dataclass
class UiPage:
    """A BrowserPage with a base URL. ``page`` is the Playwright Page."""

    browser_page: BrowserPage
    base_url: str = ""

    @property
    def page(self) -> Page:
        return cast("Page", self.browser_page.page)

    def goto(self, path: str, site: UiSite | None = None) -> Any:
        base = site.url if site is not None else self.base_url
        if site is not None:
            self.base_url = site.url
        return self.page.goto(base + path)

    def path(self) -> str:
        """The current location, path and query, without the origin."""
        url = httpx.URL(self.page.url)
        return url.raw_path.decode()


@pytest.fixture
def ui(page: BrowserPage) -> Iterator[UiPage]:
    """The ``page`` fixture with a base URL and the end-of-test checks."""
    wrapped = UiPage(page)
    yield wrapped
    assert_clean(page)


UiContext = Callable[..., AbstractContextManager[UiPage]]


@pytest.fixture
def ui_context(browser: Any) -> Iterator[UiContext]:
    """``with ui_context(site, color_scheme="dark", viewport=…) as ui:`` — another
    browser context (its own cookies and settings), checked like ``ui``."""
    opened: list[Any] = []

    @contextmanager
    def factory(site: UiSite, **options: Any) -> Iterator[UiPage]:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        opened.append(context)
        context.set_default_timeout(10_000)
        tracked = open_page(context)
        try:
            yield UiPage(tracked, site.url)
            assert_clean(tracked)
        finally:
            context.close()

    yield factory
    for context in opened:
        with suppress(Exception):  # closed already
            context.close()


def format_bytes(size: int) -> str:
    """What the UI shows for a size (its format.js): binary units, one decimal under 100."""
    value = float(size)
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{size} B"
    text = f"{value:.1f}" if value < 100 else str(round(value))
    return f"{text} {units[unit]}"
