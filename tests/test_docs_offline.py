"""/docs and /redoc work with no network but the gateway's, under the HTML policy.

HTTP level: the pages name only the gateway's own assets, have no inline script, and the
assets are served with the right types and cache headers. In chromium (which resolves no
host but 127.0.0.1): Swagger UI and ReDoc render the operations, ask nothing of the
outside, and hit no Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.settings import DEFAULT_CSP
from gateway.web.docs import redoc_csp
from harness.registry import free_port
from tests.support.browser import BrowserPage
from tests.support.fixtures import FilledRegistry
from tests.support.gateway_server import GatewayServer

PAGES = ("/docs", "/redoc")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
ASSET_REF = re.compile(r'(?:src|href)="([^"]+)"')
ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
    "swagger-init.js": "text/javascript",
    "swagger-dark.css": "text/css",
}
VENDOR = files("fastapi_offline") / "static"

# Recorded in every page before its own scripts run (an init script is not subject to
# the page's policy): each violation the browser reports, whether or not it logs one.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _asset_urls(html: str) -> list[str]:
    return [url for url in ASSET_REF.findall(html) if url.startswith("/docs/assets/")]


# -- HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_page_is_html_with_own_assets_only(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert "Light Registry gateway" in html
    assert "cdn" not in html.lower()
    assert re.search(r"https?://", html) is None, "a URL to another host in the page"
    assert INLINE_SCRIPT.search(html) is None, "an inline <script> (the CSP refuses it)"
    urls = _asset_urls(html)
    assert urls, html
    every_ref = ASSET_REF.findall(html)
    assert all(u.startswith("/docs/assets/") for u in every_ref), every_ref
    for url in urls:
        assert api.get(url).status_code == 200, url


def test_swagger_page_gets_the_html_policy(api: TestClient) -> None:
    assert api.get("/docs").headers["content-security-policy"] == DEFAULT_CSP


def test_redoc_page_allows_only_a_blob_worker_beyond_it(api: TestClient) -> None:
    policy = api.get("/redoc").headers["content-security-policy"]
    assert policy == DEFAULT_CSP + "; worker-src blob:"
    assert redoc_csp("default-src 'none'; worker-src 'none'") == (
        "default-src 'none'; worker-src 'none'"
    ), "an operator's own worker-src is kept"


@pytest.mark.parametrize("name", sorted(ASSET_TYPES))
def test_asset_types_and_cache_headers(api: TestClient, name: str) -> None:
    response = api.get(f"/docs/assets/{name}", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == ASSET_TYPES[name]
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-encoding" not in response.headers
    etag = response.headers["etag"]
    again = api.get(f"/docs/assets/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("name", ["swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"])
def test_vendor_assets_are_the_package_files(api: TestClient, name: str) -> None:
    response = api.get(f"/docs/assets/{name}", headers={"Accept-Encoding": "identity"})
    assert response.content == (VENDOR / name).read_bytes()


def test_text_assets_are_gzipped_for_browsers(api: TestClient) -> None:
    raw = api.get("/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "identity"})
    response = api.get("/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) < len(raw.content) / 2
    refused = api.get("/docs/assets/swagger-ui.css", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_redoc_bundle_fetches_no_logo_from_its_cdn(api: TestClient) -> None:
    body = api.get("/docs/assets/redoc.standalone.js").content
    assert b"cdn.redoc.ly" not in body
    assert b"cdn.redoc.ly" in (VENDOR / "redoc.standalone.js").read_bytes(), (
        "the package no longer names the CDN logo: drop the patch in gateway/web/docs.py"
    )


def test_unknown_asset_is_a_404_envelope(api: TestClient) -> None:
    for path in ("/docs/assets/nope.js", "/docs/assets/..%2Fdocs.py", "/docs/nothing"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "NOT_FOUND", path


def test_docs_routes_stay_out_of_the_schema(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


def test_init_script_ships_in_the_package() -> None:
    script = files("gateway.web") / "docs_assets" / "swagger-init.js"
    assert b"SwaggerUIBundle(" in script.read_bytes()


# -- in chromium -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_server(registry: FilledRegistry) -> Iterator[GatewayServer]:
    server = GatewayServer(registry.url, port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


def _open(page: BrowserPage, url: str) -> tuple[Any, list[str]]:
    """Go to ``url``, recording every console line about the policy."""
    refused: list[str] = []

    def on_console(message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            refused.append(text)

    page.page.on("console", on_console)
    page.page.add_init_script(RECORD_VIOLATIONS)
    response = page.page.goto(url)
    return response, refused


def _assert_clean(page: BrowserPage, refused: list[str]) -> None:
    assert page.external == [], "requests to the outside"
    assert refused == [], "CSP messages in the console"
    assert page.page.evaluate("window.__csp") == [], "CSP violations"
    assert page.page_errors == []
    assert page.console_errors == []


def test_swagger_ui_renders_the_operations(docs_server: GatewayServer, page: BrowserPage) -> None:
    response, refused = _open(page, docs_server.url + "/docs")
    assert response.headers["content-security-policy"] == DEFAULT_CSP
    ui = page.page
    ui.locator(".information-container .title", has_text="Light Registry gateway").wait_for()
    row = ui.locator("#operations-repositories-list_repositories")
    row.locator(".opblock-summary-path", has_text="/api/repositories").wait_for()
    assert "list_repositories" in row.inner_text()
    assert ui.locator(".opblock").count() >= 13
    # The operation's own page works against the live gateway: parameters, a real call.
    row.locator(".opblock-summary-control").click()
    # Each error response lists its codes (from the schema, rendered as Markdown).
    row.locator("code", has_text="PAGINATION_NUMBER_INVALID").first.wait_for()
    ui.get_by_role("button", name="Try it out").click()
    ui.get_by_role("button", name="Execute").click()
    answer = row.locator(".live-responses-table tr.response").first
    answer.wait_for()
    assert answer.locator(".response-col_status").inner_text().strip().startswith("200")
    assert '"repositories"' in answer.locator(".microlight").first.inner_text()
    assert ui.title() == "Light Registry gateway"
    _assert_clean(page, refused)


def test_swagger_ui_follows_the_dark_scheme(docs_server: GatewayServer, browser: Any) -> None:
    """In a dark-scheme browser the page is dark (Swagger UI itself has a light theme
    only: it is drawn inverted over a dark background); in a light one, as it ships."""
    seen: dict[str, dict[str, str]] = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(docs_server.url + "/docs")
            page.locator(".information-container .title").wait_for()
            seen[scheme] = page.evaluate(
                """() => ({
                    body: getComputedStyle(document.body).backgroundColor,
                    filter: getComputedStyle(document.querySelector('.swagger-ui')).filter,
                })"""
            )
        finally:
            context.close()
    assert seen["light"]["filter"] == "none", seen
    assert seen["light"]["body"] in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), seen
    assert seen["dark"]["body"] == "rgb(14, 17, 22)", seen
    assert "invert" in seen["dark"]["filter"], seen


def test_redoc_renders_and_searches(docs_server: GatewayServer, page: BrowserPage) -> None:
    response, refused = _open(page, docs_server.url + "/redoc")
    assert response.headers["content-security-policy"] == DEFAULT_CSP + "; worker-src blob:"
    ui = page.page
    ui.get_by_role("heading", name="List a repository's tags").first.wait_for()
    assert ui.get_by_text("/api/repositories/{name}/tags").count() >= 1
    # Search runs in ReDoc's blob: worker: the one thing the page's own policy allows.
    ui.get_by_placeholder("Search...").fill("blob")
    ui.locator("[role=search] li", has_text="Download a blob").first.wait_for()
    _assert_clean(page, refused)


def test_openapi_document_headers(api: TestClient) -> None:
    r = api.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-content-type-options"] == "nosniff"
