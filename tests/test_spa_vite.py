"""A real Vite build served through LR_SPA_DIR, driven in chromium.

``tests/vite-spa`` is a small SPA with a history-mode router that calls ``/api`` on its
own origin. The test builds it with Vite (fingerprinted assets, a module entry, a CSS
file, a file from ``public/``), serves the output with the gateway and checks what a
team deploying their own UI relies on: deep links that survive reload, back and
forward; cache headers on what Vite emits; the default CSP allowing a Vite build; and
no request leaving the machine.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import __version__
from gateway.settings import DEFAULT_CSP
from harness.registry import free_port
from tests.support.gateway_server import GatewayServer

PROJECT = Path(__file__).resolve().parent / "vite-spa"


def _run(args: list[str], timeout: float) -> None:
    result = subprocess.run(  # noqa: S603 - fixed argv
        args, cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are needed to build the Vite SPA (scripts/test.sh installs them)")
    if not (PROJECT / "node_modules" / ".bin" / "vite").exists():
        _run([npm, "ci", "--no-audit", "--no-fund"], timeout=300)
    out = tmp_path_factory.mktemp("vite") / "dist"
    _run(
        [str(PROJECT / "node_modules" / ".bin" / "vite"), "build", "--outDir", str(out)],
        timeout=120,
    )
    return out


@pytest.fixture(scope="module")
def server(dist: Path, registry: Any) -> Iterator[GatewayServer]:
    srv = GatewayServer(registry.url, free_port(), spa_dir=str(dist)).start()
    yield srv
    srv.stop()


def test_vite_output_gets_the_cache_policy(dist: Path, server: GatewayServer) -> None:
    import httpx

    assets = sorted(p.name for p in (dist / "assets").iterdir())
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        index = client.get("/", headers={"Accept": "text/html"})
        assert index.headers["cache-control"] == "no-cache"
        assert index.headers["content-security-policy"] == DEFAULT_CSP
        for name in assets:
            r = client.get(f"/assets/{name}")
            assert r.status_code == 200, name
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            assert r.headers["content-type"].startswith(kind)
        assert client.get("/favicon.svg").headers["cache-control"] == "public, max-age=300"
        assert client.get("/assets/index-Zz9Yy8Xx.js").status_code == 404


def test_vite_spa_routes_in_chromium(server: GatewayServer, page: Any) -> None:
    from playwright.sync_api import expect

    p = page.page
    p.goto(server.url + "/repos/demo/app/tags/1.2.3")
    expect(p.locator("#route")).to_have_text("tag 1.2.3 of demo/app")
    expect(p.locator("#version")).to_have_text(f"gateway {__version__}")
    expect(p.locator("#route")).to_have_css("color", "rgb(10, 20, 30)")

    p.get_by_role("link", name="home").click()
    expect(p.locator("#route")).to_have_text("page /")
    p.go_back()
    expect(p.locator("#route")).to_have_text("tag 1.2.3 of demo/app")
    p.reload()
    expect(p.locator("#route")).to_have_text("tag 1.2.3 of demo/app")
    p.go_forward()
    expect(p.locator("#route")).to_have_text("page /")

    assert page.external == []
    assert page.page_errors == []
    assert [e for e in page.console_errors if "Content Security Policy" in e] == []
