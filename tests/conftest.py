"""Shared fixtures: real registries (tests/support) and gateways in front of them."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

# Apps built outside a test's own fixture (module- and session-scoped gateways) get this
# run's data folder, never the working folder's data/ (``_own_data_dir`` below gives each
# test one of its own).
os.environ["LR_DATA_DIR"] = tempfile.mkdtemp(prefix="lr-test-data-")

from fastapi.testclient import TestClient  # noqa: E402

from gateway.main import create_app  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from tests.support.activity import *  # noqa: E402,F403
from tests.support.browser import *  # noqa: E402,F403
from tests.support.fixtures import *  # noqa: E402,F403
from tests.support.fixtures import FilledRegistry  # noqa: E402
from tests.support.served import *  # noqa: E402,F403
from tests.support.ui import *  # noqa: E402,F403

GatewayFactory = Callable[..., Any]


@contextmanager
def gateway_for(
    registry_url: str, *, transport: httpx.AsyncBaseTransport | None = None, **settings: Any
) -> Iterator[TestClient]:
    """A TestClient (lifespan run) for a gateway in front of ``registry_url`` (reached
    through ``transport`` when given: a MockTransport playing it).

    Settings are passed explicitly; the environment and any ``.env`` are ignored.
    """
    values: dict[str, Any] = {
        "registry_url": registry_url,
        "catalog_page_size": 10,
        "data_dir": Path(tempfile.mkdtemp(prefix="lr-data-")),
    }
    values.update(settings)
    app = create_app(Settings(_env_file=None, **values), transport=transport)  # type: ignore[call-arg]
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture(autouse=True)
def _own_data_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every app a test builds without naming its data folder (``LR_DATA_DIR``: content
    kept on disk, layer indexes…) gets one of its own, never the working folder's
    ``data/``: what one test's gateway kept must not answer another's."""
    monkeypatch.setenv("LR_DATA_DIR", str(tmp_path_factory.mktemp("lr-data")))


@pytest.fixture
def make_gateway() -> Iterator[GatewayFactory]:
    """``with make_gateway(url, **settings) as client:`` — a fresh gateway per use."""
    yield gateway_for


@pytest.fixture(scope="session")
def api(registry: FilledRegistry) -> Iterator[TestClient]:
    """A gateway (no auth, deletes off, small catalog pages) over the standard registry."""
    with gateway_for(registry.url) as client:
        yield client


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item (``rep_call``), so fixtures such as the
    browser page can tell that their test failed (and save a screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


PARTS = ("all", "browser", "alone", "others", "browser+alone")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--part",
        choices=PARTS,
        default="all",
        help="run only the tests driving chromium (with a few modules that balance the "
        "two parts), only the tests that need the machine to themselves (marker 'alone', "
        "and the Lighthouse budgets), only the others, the first two in one process, or "
        "all. scripts/test.sh runs 'browser+alone' beside 'others': the 'alone' tests "
        "wait for the file named by LR_ALONE_AFTER (written when 'others' ends), as "
        "their clocks are real",
    )


ALONE_WAIT_SECONDS = 3600.0  # the other part's end, at most (then the tests run anyway)

# Modules that need no browser but run in the browser part (before its browser tests),
# so that the two parts scripts/test.sh runs side by side take about as long: the
# browser part alone ends minutes before the others.
BALANCED_INTO_BROWSER_PART = frozenset(
    {
        "test_fuzz_api.py",
        "test_conformance.py",
        "test_registry_outage.py",
        "test_disk_content.py",
        "test_memory_bound.py",
        "test_faulty_registry.py",
    }
)


def _uses_browser(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


def _part(item: pytest.Item) -> str:
    if item.get_closest_marker("lighthouse") or item.get_closest_marker("alone"):
        return "alone"
    if _uses_browser(item):
        return "browser"
    return "browser" if item.path.name in BALANCED_INTO_BROWSER_PART else "others"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``--part``, only that part is kept. Browser tests run after the others, in
    their order (while Playwright's sync API holds the session's browser, an event loop
    of its own runs in the main thread, under which the asyncio tests cannot start
    theirs), and the tests held to a wall clock last."""
    part = config.getoption("--part")
    if part != "all":
        wanted = set(part.split("+"))
        keep = [i for i in items if _part(i) in wanted]
        dropped = [i for i in items if _part(i) not in wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    items.sort(key=_run_order)  # stable: the collection's order within each group


def _run_order(item: pytest.Item) -> int:
    if _part(item) == "alone":
        return 2
    return 1 if _uses_browser(item) else 0


_waited = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the first test held to a wall clock, wait for the file ``LR_ALONE_AFTER``
    names (scripts/test.sh writes it when the part running beside this one ends), so
    that those tests have the machine to themselves."""
    global _waited
    marker = os.environ.get("LR_ALONE_AFTER")
    if _waited or not marker or _part(item) != "alone":
        return
    _waited = True
    deadline = time.monotonic() + ALONE_WAIT_SECONDS
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.5)  # the other pytest process: nothing here to wait on but a file
