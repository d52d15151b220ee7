"""LR_SPA_DIR: a built SPA served by the gateway, as a Vite build expects its server.

The fixture SPA is made here: ``index.html``, fingerprinted assets under ``assets/``
(one with ``.br``/``.gz`` siblings), a hashed file at the root, unhashed files, fonts,
a dotfile, and symlinks that point out of the folder at a secret beside it.
"""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from pathlib import Path

import brotli
import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.main import create_app
from gateway.settings import DEFAULT_CSP, Settings
from harness.registry import free_port
from tests.conftest import gateway_for
from tests.support.callers import XHR_JSON
from tests.support.gateway_server import GatewayServer
from tests.test_startup import assert_one_line_error, clean_env, run_gateway

SECRET = "top-secret-outside-the-spa"
APP_JS = "// the SPA\n" + "document.title = 'SPA ' + location.pathname;\n" * 60
INDEX = (
    "<!doctype html><html><head><meta charset='utf-8'><title>fixture</title>"
    "<link rel='stylesheet' href='/assets/index-B3c9x2Qa.css'>"
    "<script type='module' src='/assets/index-DiwrgTda.js'></script></head>"
    "<body><h1 id='where'>loading</h1></body></html>\n"
)
# The module shows where the browser is: history routing served it for that path.
MODULE = (
    "document.getElementById('where').textContent = 'route ' + location.pathname;\n"
    + "// padding so the module is worth compressing\n" * 40
)


@pytest.fixture(scope="module")
def spa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("spa")
    (base / "secret.txt").write_text(SECRET)
    (base / "outside").mkdir()
    (base / "outside" / "x.js").write_text(SECRET)
    root = base / "dist"
    assets = root / "assets"
    assets.mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (assets / "index-DiwrgTda.js").write_text(MODULE)
    (assets / "index-DiwrgTda.js.gz").write_bytes(gzip.compress(MODULE.encode(), mtime=0))
    (assets / "index-DiwrgTda.js.br").write_bytes(brotli.compress(MODULE.encode()))
    (assets / "index-B3c9x2Qa.css").write_text("h1 { color: rgb(1, 2, 3); }\n")
    (assets / "font-a1b2c3d4.woff2").write_bytes(b"wOF2" + bytes(2000))
    (assets / "logo-Abcdef12.png").write_bytes(b"\x89PNG" + bytes(3000))
    (assets / ".hidden.js").write_text(SECRET)
    (root / "main.1a2b3c4d.js").write_text(APP_JS)  # at the root: public/, not hashed
    (root / "static" / "js").mkdir(parents=True)
    (root / "static" / "js" / "main.1a2b3c4d.chunk.js").write_text(APP_JS)
    (root / "static" / "og-image-1200x630.png").write_bytes(b"\x89PNG" + bytes(100))
    (root / "pic.png").write_bytes(b"\x89PNG" + bytes(3000))
    (root / "pic.png.gz").write_bytes(gzip.compress(b"\x89PNG" + bytes(3000), mtime=0))
    (root / "logo.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>"
    )
    (root / "medium.bin").write_bytes(bytes(range(256)) * 2048)  # 512 KiB: streamed
    (root / "huge.wasm").write_bytes(b"\x00asm" + bytes(9 * 1024 * 1024))  # over 8 MiB
    (root / "envlink").symlink_to(root / ".env")
    (root / "worker.mjs").write_text("export {};\n")
    (root / "app.wasm").write_bytes(b"\x00asm" + bytes(10))
    (root / "site.webmanifest").write_text('{"name": "x"}')
    (root / "main.js.map").write_text('{"version": 3}')
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "robots.txt").write_text("User-agent: *\n")
    (root / "big.txt").write_text("a line of text that compresses well\n" * 200)
    (root / ".env").write_text(SECRET)
    (root / "sub").mkdir()
    (root / "sub" / "page.txt").write_text("inside")
    (root / "link.txt").symlink_to(base / "secret.txt")
    (root / "out").symlink_to(base / "outside", target_is_directory=True)
    (root / "inner.txt").symlink_to(root / "robots.txt")
    return root


@pytest.fixture(scope="module")
def site(spa: Path, registry: object) -> Iterator[TestClient]:
    url = registry.url  # type: ignore[attr-defined]
    with gateway_for(url, spa_dir=str(spa)) as client:
        yield client


@pytest.fixture(scope="module")
def server(spa: Path, registry: object) -> Iterator[GatewayServer]:
    url = registry.url  # type: ignore[attr-defined]
    srv = GatewayServer(url, free_port(), spa_dir=str(spa)).start()
    yield srv
    srv.stop()


HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
XHR = XHR_JSON


def assert_index(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.text == INDEX
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"


def assert_not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "NOT_FOUND"
    assert SECRET not in r.text and "<html" not in r.text


# -- index.html, history routing ------------------------------------------------------------


def test_root_is_index_with_revalidation_and_page_headers(site: TestClient) -> None:
    r = site.get("/")
    assert_index(r)
    assert r.headers["etag"].startswith('"')
    assert r.headers["last-modified"].endswith("GMT")
    assert r.headers["content-security-policy"] == DEFAULT_CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert "no-store" not in r.headers["cache-control"]

    etag = r.headers["etag"]
    for conditional in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": r.headers["last-modified"]},
    ):
        again = site.get("/", headers=conditional)
        assert again.status_code == 304, conditional
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == "no-cache"
    assert site.get("/", headers={"If-None-Match": '"stale"'}).status_code == 200
    assert site.get("/index.html").text == INDEX


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/tag-list/foo", {}),
        ("/repo/app/tags/2.1.0", HTML),
        ("/repo/library/nginx/tags", {}),
        ("/sub", HTML),
        ("/sub/", {}),
        ("/assetsx/page", {}),
    ],
)
def test_history_routes_get_index(site: TestClient, path: str, headers: dict[str, str]) -> None:
    assert_index(site.get(path, headers=headers))


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/assets/app-1a2b3c.js", {}),
        ("/assets/app-1a2b3c.js", HTML),  # under /assets/ nothing ever falls back
        ("/assets/page", HTML),
        ("/assets/", HTML),
        ("/missing.js", {}),
        ("/repo/app/tags/2.1.0", {"Accept": "*/*"}),  # a fetch: the last segment has a dot
        ("/.well-known/thing", HTML),  # a dot segment never falls back
        ("/a/.git/config", HTML),
    ],
)
def test_missing_files_are_404(site: TestClient, path: str, headers: dict[str, str]) -> None:
    assert_not_found(site.get(path, headers=headers))


@pytest.mark.parametrize(
    "path",
    ["/api/nope", "/api", "/v2/x/nope", "/docs/nope", "/redoc/x", "/metrics/x", "/openapi.json/x"],
)
def test_gateway_paths_never_serve_the_spa(site: TestClient, path: str) -> None:
    r = site.get(path, headers=HTML)
    assert r.status_code == 404
    body = r.json()
    # /v2 answers in the registry's own error format
    error = body["errors"][0] if path.startswith("/v2") else body["error"]
    assert error["code"] == "NOT_FOUND"


def test_api_keeps_its_headers_and_no_csp(site: TestClient) -> None:
    r = site.get("/api/config")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "content-security-policy" not in r.headers
    assert site.get("/openapi.json").json()["info"]["title"] == "Light Registry gateway"


def test_other_methods_are_405_head_has_no_body(site: TestClient) -> None:
    r = site.post("/", headers={"X-Requested-With": "XMLHttpRequest"})
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert site.post("/api/nope").status_code == 404
    head = site.head("/repo/x")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(INDEX))


# -- files, types, caching -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "cache"),
    [
        ("/assets/index-DiwrgTda.js", "text/javascript; charset=utf-8", "immutable"),
        ("/assets/index-B3c9x2Qa.css", "text/css; charset=utf-8", "immutable"),
        ("/assets/font-a1b2c3d4.woff2", "font/woff2", "immutable"),
        ("/assets/logo-Abcdef12.png", "image/png", "immutable"),
        ("/static/js/main.1a2b3c4d.chunk.js", "text/javascript; charset=utf-8", "immutable"),
        ("/main.1a2b3c4d.js", "text/javascript; charset=utf-8", "short"),
        ("/static/og-image-1200x630.png", "image/png", "short"),
        ("/worker.mjs", "text/javascript; charset=utf-8", "short"),
        ("/app.wasm", "application/wasm", "short"),
        ("/site.webmanifest", "application/manifest+json", "short"),
        ("/main.js.map", "application/json", "short"),
        ("/favicon.svg", "image/svg+xml", "short"),
        ("/robots.txt", "text/plain; charset=utf-8", "short"),
        ("/sub/page.txt", "text/plain; charset=utf-8", "short"),
        ("/inner.txt", "text/plain; charset=utf-8", "short"),  # a symlink that stays inside
    ],
)
def test_files_have_types_and_cache_policy(
    site: TestClient, path: str, content_type: str, cache: str
) -> None:
    r = site.get(path, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == content_type
    assert r.headers["x-content-type-options"] == "nosniff"
    expected = {
        "immutable": "public, max-age=31536000, immutable",
        "short": "public, max-age=300",
    }[cache]
    assert r.headers["cache-control"] == expected
    document = content_type.startswith("image/svg")  # SVG runs script when opened
    assert ("content-security-policy" in r.headers) is document
    assert "content-encoding" not in r.headers


def test_precompressed_siblings_follow_accept_encoding(site: TestClient, spa: Path) -> None:
    path = "/assets/index-DiwrgTda.js"
    br = site.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.headers["content-encoding"] == "br"
    assert br.headers["vary"] == "Accept-Encoding"
    assert br.headers["content-type"] == "text/javascript; charset=utf-8"
    assert br.headers["cache-control"] == "public, max-age=31536000, immutable"

    raw = site.stream("GET", path, headers={"Accept-Encoding": "br"})
    with raw as response:
        assert brotli.decompress(b"".join(response.iter_raw())).decode() == MODULE

    gz = site.get(path, headers={"Accept-Encoding": "br;q=0, gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.text == MODULE  # httpx decoded the .gz sibling
    assert gz.headers["etag"] != br.headers["etag"]

    plain = site.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.text == MODULE
    assert plain.headers["vary"] == "Accept-Encoding"
    assert len({plain.headers["etag"], gz.headers["etag"], br.headers["etag"]}) == 3

    again = site.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["etag"]})
    assert again.status_code == 304


def test_text_over_1kib_is_gzipped_on_the_fly(site: TestClient) -> None:
    big = site.get("/big.txt", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip"
    assert big.text.startswith("a line of text")
    assert int(big.headers["content-length"]) < 1024
    assert big.headers["etag"].endswith('-gzip"')
    small = site.get("/robots.txt", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    image = site.get("/assets/logo-Abcdef12.png", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in image.headers
    index = site.get("/repo/x", headers={"Accept-Encoding": "gzip, br"})
    assert index.text == INDEX


def test_siblings_and_fallbacks_say_what_they_vary_on(site: TestClient) -> None:
    png = site.get("/pic.png", headers={"Accept-Encoding": "identity"})
    assert png.headers["vary"] == "Accept-Encoding"  # a .gz sibling exists
    assert "content-encoding" not in png.headers
    assert (
        site.get("/pic.png", headers={"Accept-Encoding": "gzip"}).headers["content-encoding"]
        == "gzip"
    )
    fallback = site.get("/nope.txt", headers=HTML)
    assert fallback.text == INDEX
    assert "Accept" in fallback.headers["vary"]
    missing = site.get("/nope.txt")
    assert missing.status_code == 404
    assert missing.headers["vary"] == "Accept"
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert missing.headers["cache-control"] == "no-cache"
    assert "vary" not in site.get("/robots.txt").headers or "Accept," not in site.get(
        "/robots.txt"
    ).headers.get("vary", "")


def test_svg_files_get_the_policy_too(site: TestClient) -> None:
    r = site.get("/logo.svg")
    assert r.headers["content-type"] == "image/svg+xml"
    assert r.headers["content-security-policy"] == DEFAULT_CSP


def test_large_files_stream_and_revalidate(site: TestClient, spa: Path) -> None:
    for path, size in (("/medium.bin", 512 * 1024), ("/huge.wasm", 4 + 9 * 1024 * 1024)):
        r = site.get(path)
        assert r.status_code == 200
        assert len(r.content) == size
        assert r.content == (spa / path[1:]).read_bytes()
        etag = r.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        again = site.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        head = site.head(path)
        assert head.headers["content-length"] == str(size)
        assert head.headers["etag"] == etag


async def test_large_files_are_sent_in_constant_memory(spa: Path) -> None:
    """A 9 MiB file is streamed from disk: the app never holds it whole."""
    import asyncio
    import tracemalloc

    from gateway.web.static_site import StaticSite

    app = StaticSite(spa)
    sent = 0
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/huge.wasm",
        "raw_path": b"/huge.wasm",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"accept-encoding", b"gzip, br")],
    }

    async def receive() -> dict[str, object]:
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, object]) -> None:
        nonlocal sent
        sent += len(message.get("body", b""))  # type: ignore[arg-type]

    await app(scope, receive, send)  # warm: the ETag of a large file is not a read
    sent = 0
    tracemalloc.start()
    try:
        await app(scope, receive, send)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == 4 + 9 * 1024 * 1024
    assert peak < 2 * 1024 * 1024, peak


def test_fingerprints_are_recognised_as_bundlers_write_them() -> None:
    from gateway.web.static_site import is_fingerprinted

    hashed = [
        "assets/index-DiwrgTda.js",
        "js/chunk-vendors.1a2b3c4d.js",
        "static/js/main.1a2b3c4d.chunk.js",
        "static/css/main.0123456789abcdef0123.css",
        "img/logo.8f3a2b1c.png",
    ]
    plain = [
        "main.1a2b3c4d.js",  # at the root: copied from public/ as it is
        "img/main-component.js",
        "img/android-chrome-512x512.png",
        "img/og-image-1200x630.png",
        "js/service-worker-v2.js",
        "js/config.production1.js",
        "docs/release-notes-2024.txt",
        "img/apple-touch-icon-180x180.png",
    ]
    assert [p for p in hashed if not is_fingerprinted(Path(p))] == []
    assert [p for p in plain if is_fingerprinted(Path(p))] == []


def test_root_path_behind_a_proxy(spa: Path, registry: object) -> None:
    app = create_app(
        Settings(_env_file=None, registry_url=registry.url, spa_dir=str(spa))  # type: ignore[attr-defined,call-arg]
    )
    with TestClient(app, root_path="/lr") as client:
        assert client.get("/lr/robots.txt").text == "User-agent: *\n"
        assert client.get("/lr/r/x", headers=HTML).text == INDEX
        nope = client.get("/lr/api/nope", headers=HTML)
        assert nope.status_code == 404
        assert nope.json()["error"]["code"] == "NOT_FOUND"
        # the API's own checks see the route too: CSRF, no-store, the body limit
        login = client.post("/lr/api/session", json={"username": "a", "password": "b"})
        assert login.status_code == 403
        assert login.json()["error"]["code"] == "CSRF_FAILED"
        assert client.get("/lr/api/config").headers["cache-control"] == "no-store"
        big = client.post("/lr/api/session", content=b"x" * 100_000, headers=XHR)
        assert big.status_code == 413


def test_websocket_upgrades_are_refused_cleanly(site: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    for path in ("/", "/api/nope", "/assets/x.js"):
        with pytest.raises(WebSocketDisconnect), site.websocket_connect(path):
            pass


def test_no_slash_redirects_and_docs_answer_head(site: TestClient) -> None:
    for path in ("/docs/", "/api/config/", "/api/repositories/"):
        r = site.get(path, follow_redirects=False)
        assert r.status_code == 404, path
        assert "location" not in r.headers
    for path in ("/docs", "/redoc"):
        head = site.head(path)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"].startswith("text/html")


def test_csp_is_replaceable(spa: Path, registry: object) -> None:
    csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"
    with gateway_for(registry.url, spa_dir=str(spa), csp=csp) as client:  # type: ignore[attr-defined]
        assert client.get("/").headers["content-security-policy"] == csp


# -- no way out ----------------------------------------------------------------------------


def raw_get(server: GatewayServer, target: str, accept: str = "text/html") -> tuple[int, bytes]:
    """Send the request line exactly as written: no client normalises it first."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/assets%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/.%2e/secret.txt",
        "/link.txt",
        "/out/x.js",
        "/.env",
        "/assets/.hidden.js",
        "/sub%00/page.txt",
        "/envlink",
    ],
)
def test_no_way_out_of_the_folder(server: GatewayServer, target: str) -> None:
    status, data = raw_get(server, target)
    assert SECRET.encode() not in data
    assert status in (400, 404), data[:300]


@pytest.mark.parametrize(
    "target",
    ["/tag-list/team%2Fapp", "/tag-list/team%2fapp/v1.2", "/repo/team%2Fapp%2Fapi/tags"],
)
def test_an_encoded_slash_in_a_route_is_the_spa(server: GatewayServer, target: str) -> None:
    """The SPA addresses ``team/app`` as ``/tag-list/team%2Fapp``: a reload or a shared
    link of it opens the page (as behind nginx's try_files), on a navigation only."""
    status, data = raw_get(server, target)
    assert status == 200, data[:300]
    assert data.endswith(INDEX.encode())
    status, data = raw_get(server, target, accept="application/json")
    assert status in (200, 404)  # no extension: index.html, as for any route
    assert SECRET.encode() not in data


@pytest.mark.parametrize("target", ["/sub%2Fpage.txt", "/static%2Fjs%2Fmain.1a2b3c4d.chunk.js"])
def test_an_encoded_slash_never_names_a_file(server: GatewayServer, target: str) -> None:
    """Decoded, these name files that exist; as sent they do not: never served."""
    status, data = raw_get(server, target, accept="*/*")
    assert status == 404, data[:300]
    assert b"inside" not in data and b"the SPA" not in data


def test_directories_are_never_listed(server: GatewayServer) -> None:
    status, data = raw_get(server, "/assets/")
    assert status == 404
    status, data = raw_get(server, "/sub/")  # a history route that is also a folder
    assert status == 200
    assert data.endswith(INDEX.encode())
    status, data = raw_get(server, "/out/")  # a folder outside, through a symlink
    assert status == 404
    assert b"x.js" not in data


def test_reference_ui_is_the_default(api: TestClient) -> None:
    """Without LR_SPA_DIR the package's own UI is served: its files are revalidated
    (no fingerprints), and a deep link gets its index.html."""
    from gateway.main import REFERENCE_UI

    index = (REFERENCE_UI / "index.html").read_bytes()
    r = api.get("/r/versions/app", headers=HTML)
    assert r.status_code == 200
    assert r.content == index
    assert r.headers["content-security-policy"] == DEFAULT_CSP
    for asset in sorted(REFERENCE_UI.glob("assets/*"))[:3]:
        got = api.get(f"/assets/{asset.name}")
        assert got.status_code == 200
        assert got.headers["cache-control"] == "no-cache"
        assert got.headers["etag"]


# -- start-up ------------------------------------------------------------------------------


def test_missing_or_empty_spa_dir_stops_start_up(tmp_path: Path) -> None:
    missing = run_gateway(tmp_path, env=clean_env(LR_SPA_DIR=str(tmp_path / "nope")))
    line = assert_one_line_error(missing, "LR_SPA_DIR", "is not a folder")
    (tmp_path / "dist").mkdir()
    empty = run_gateway(tmp_path, env=clean_env(LR_SPA_DIR=str(tmp_path / "dist")))
    assert_one_line_error(empty, "LR_SPA_DIR", "has no index.html")
    assert "Traceback" not in line


def test_settings_refuse_bad_csp_and_pull_host() -> None:
    from gateway.settings import SettingsError, get_settings

    with pytest.raises(SettingsError, match="LR_CSP"):
        get_settings(_env_file=None, csp="default-src 'self'\r\nX-Evil: 1")
    with pytest.raises(SettingsError, match="LR_CSP"):
        get_settings(_env_file=None, csp="img-src \u2019self\u2019")  # curly quotes
    with pytest.raises(SettingsError, match="LR_PULL_HOST"):
        get_settings(_env_file=None, pull_host="https://registry.example.com")
    ok = Settings(_env_file=None, pull_host="registry.example.com:5000")  # type: ignore[call-arg]
    assert ok.registry_pull_host == "registry.example.com:5000"


# -- in a real browser ---------------------------------------------------------------------


def test_spa_in_chromium_deep_link_reload_and_compressed_module(
    server: GatewayServer, page: object
) -> None:
    from playwright.sync_api import expect

    p = page.page  # type: ignore[attr-defined]
    responses: dict[str, dict[str, str]] = {}
    p.on("response", lambda r: responses.__setitem__(r.url.split("127.0.0.1", 1)[1], r.headers))
    p.goto(server.url + "/repo/app/tags/2.1.0")
    expect(p.locator("#where")).to_have_text("route /repo/app/tags/2.1.0")
    expect(p.locator("h1")).to_have_css("color", "rgb(1, 2, 3)")
    module = responses[f":{server.url.rsplit(':', 1)[1]}/assets/index-DiwrgTda.js"]
    assert module["content-encoding"] in ("br", "gzip")
    p.reload()
    expect(p.locator("#where")).to_have_text("route /repo/app/tags/2.1.0")
    assert page.external == []  # type: ignore[attr-defined]
    assert page.page_errors == []  # type: ignore[attr-defined]
