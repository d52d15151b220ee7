"""A hand-written SPA that speaks the registry's v2 API, served by the gateway, in chromium.

What a registry browser written against ``/v2`` (deployed until now behind an nginx that
proxies ``/v2`` to the registry) does with ``fetch``: the catalog, each repository's tag
list, each tag's manifest with the four-type ``Accept``, an index's first child, the
config blob, ``HEAD`` for ``Docker-Content-Digest``, and ``DELETE`` by digest. Here the
page is served from LR_SPA_DIR by the gateway that also serves ``/v2``: one origin, no
CORS settings, no preflight. The page checks the digests it is given against the bytes
(Web Crypto), and the test compares what it renders with what the registry holds.

A second case puts an htpasswd registry behind the gateway (no service account): the
page logs in with the gateway's session (``POST /api/session``, from its ``/login``
route) and its ``/v2`` fetches then go out with the HttpOnly session cookie. Before
login the page's ``/v2`` fetch should be a 401 it shows; but a /v2 401 carries
``WWW-Authenticate: Basic``, and chromium holds a same-origin fetch that gets one for
its login dialog (headless: for ever), so that case is an expected failure until the
gateway leaves the challenge off for browser scripts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.images import (
    ACCEPT_ALL,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Pusher,
    push_image,
    push_index,
)
from harness.registry import RegistryProcess, free_port
from tests.support.browser import BrowserPage
from tests.support.gateway_server import GatewayServer

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>v2 browser</title>
<link rel="icon" href="data:,">
<script type="module" src="/app.js"></script>
</head>
<body data-state="starting">
<h1>Registry</h1>
<p id="status">loading</p>
<p id="challenge"></p>
<form id="login" hidden>
  <label>User <input id="username" autocomplete="username"></label>
  <label>Password <input id="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Log in</button>
</form>
<p id="login-status"></p>
<h2>Repositories</h2>
<ul id="repos"></ul>
<div id="images"></div>
</body>
</html>
"""

# No build step, no library: what such an SPA's API module and views boil down to.
APP_JS = r"""
const TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const ACCEPT = TYPES.join(', ');
const INDEXES = new Set([TYPES[0], TYPES[2]]);

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = '') {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

class HttpError extends Error {
  constructor(response, body) {
    super(`HTTP ${response.status}`);
    this.status = response.status;
    this.code = body?.errors?.[0]?.code ?? '';
    this.challenge = response.headers.get('www-authenticate') ?? '';
  }
}

async function v2(path, init = {}) {
  const response = await fetch('/v2/' + path, { credentials: 'same-origin', ...init });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { /* HEAD, or not JSON */ }
    throw new HttpError(response, body);
  }
  return response;
}

async function sha256(buffer) {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return 'sha256:' + Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function manifest(name, reference) {
  const response = await v2(`${name}/manifests/${reference}`, { headers: { Accept: ACCEPT } });
  const bytes = await response.arrayBuffer();
  return {
    digest: response.headers.get('docker-content-digest'),
    mediaType: response.headers.get('content-type'),
    computed: await sha256(bytes),
    doc: JSON.parse(new TextDecoder().decode(bytes)),
  };
}

async function blobJson(name, digest) {
  const bytes = await (await v2(`${name}/blobs/${digest}`)).arrayBuffer();
  return { computed: await sha256(bytes), doc: JSON.parse(new TextDecoder().decode(bytes)) };
}

const platform = (p) => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

async function showTag(name, tag, list) {
  const row = el('li', { 'data-repo': name, 'data-tag': tag });
  list.append(row);
  const field = (key, value) => row.append(el('span', { 'data-field': key }, String(value)), ' ');
  field('tag', tag);
  const top = await manifest(name, tag);
  field('digest', top.digest);
  field('computed-digest', top.computed);
  field('media-type', top.mediaType);
  let image = top;
  if (INDEXES.has(top.mediaType)) {
    field('platforms', top.doc.manifests.map((m) => platform(m.platform)).join(', '));
    image = await manifest(name, top.doc.manifests[0].digest);
    field('child-digest', image.digest);
    field('child-media-type', image.mediaType);
  }
  const config = await blobJson(name, image.doc.config.digest);
  field('config-digest', image.doc.config.digest);
  field('config-computed', config.computed);
  field('architecture', config.doc.architecture);
  field('os', config.doc.os);
  const head = await v2(`${name}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: ACCEPT },
  });
  const digest = head.headers.get('docker-content-digest');
  field('head-digest', digest);
  const button = el('button', { type: 'button' }, `Delete ${name}:${tag}`);
  button.addEventListener('click', () => remove(name, digest));
  row.append(button);
}

async function showRepo(name) {
  let section = document.querySelector(`section[data-repo="${name}"]`);
  if (!section) {
    section = el('section', { 'data-repo': name });
    $('images').append(section);
  }
  section.dataset.state = 'loading';
  const { tags } = await (await v2(`${name}/tags/list`)).json();
  const list = el('ul');
  const shown = el('p', { 'data-field': 'tags' }, tags.join(', '));
  section.replaceChildren(el('h3', {}, name), shown, list);
  for (const tag of tags) await showTag(name, tag, list);
  section.dataset.state = 'ready';
}

async function remove(name, digest) {
  const response = await v2(`${name}/manifests/${digest}`, { method: 'DELETE' });
  $('status').textContent = `deleted ${name}@${digest}: ${response.status}`;
  await showRepo(name);
}

async function browse() {
  document.body.dataset.state = 'loading';
  $('repos').replaceChildren();
  $('images').replaceChildren();
  try {
    const { repositories } = await (await v2('_catalog')).json();
    for (const name of repositories) $('repos').append(el('li', {}, name));
    for (const name of repositories) await showRepo(name);
    $('status').textContent = `${repositories.length} repositories`;
    $('login').hidden = true;
    document.body.dataset.state = 'ready';
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    $('status').textContent = `${error.status} ${error.code}`;
    $('challenge').textContent = error.challenge;
    if (error.status === 401) $('login').hidden = false;
    document.body.dataset.state = 'refused';
  }
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/api/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest' },
    body: JSON.stringify({ username: $('username').value, password: $('password').value }),
  });
  if (!response.ok) {
    $('login-status').textContent = `login refused: ${response.status}`;
    return;
  }
  $('login-status').textContent = `logged in as ${(await response.json()).username}`;
  history.pushState({}, '', '/');
  await browse();
});

// History routing: /login opens the login form first (the gateway serves index.html).
if (location.pathname === '/login') {
  $('login').hidden = false;
  document.body.dataset.state = 'login';
} else {
  browse();
}
"""

USERS = {"carol": "carol-Spa-93b1"}
UNAUTHORIZED_LOG = "the server responded with a status of 401"


def write_spa(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text(INDEX_HTML, encoding="utf-8")
    (root / "app.js").write_text(APP_JS, encoding="utf-8")
    return root


@dataclass
class Requests:
    """What the page sent: (method, url, accept) of each request."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, request: Any) -> None:
        self.seen.append((request.method, request.url, request.headers.get("accept", "")))

    def paths(self, base: str, method: str | None = None) -> list[str]:
        return [u.removeprefix(base) for m, u, _ in self.seen if method in (None, m)]


def watch(page: BrowserPage) -> Requests:
    requests = Requests()
    page.page.on("request", requests.record)
    return requests


def wait_state(page: BrowserPage, *states: str, timeout_ms: float = 15_000) -> str:
    """Wait until the page's ``body[data-state]`` is one of ``states``; return it."""
    selector = ", ".join(f"body[data-state={s}]" for s in states)
    page.page.wait_for_selector(selector, state="attached", timeout=timeout_ms)
    return str(page.page.get_attribute("body", "data-state"))


def settle(page: BrowserPage, *states: str, timeout_ms: float) -> str | None:
    """``wait_state``, or None when the page is still busy after ``timeout_ms``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return wait_state(page, *states, timeout_ms=timeout_ms)
    except PlaywrightTimeout:
        return None


def text(page: BrowserPage, repo: str, tag: str, name: str) -> str:
    selector = f'li[data-repo="{repo}"][data-tag="{tag}"] [data-field="{name}"]'
    return str(page.page.locator(selector).text_content())


def assert_clean(page: BrowserPage, *, allowed: tuple[str, ...] = ()) -> None:
    assert page.external == [], page.external
    assert page.page_errors == [], page.page_errors
    unexpected = [e for e in page.console_errors if not any(a in e for a in allowed)]
    assert unexpected == [], unexpected


def registry_has(registry: RegistryProcess, repo: str, digest: str) -> int:
    """The registry's own answer (read directly) to a HEAD of that manifest."""
    with httpx.Client(base_url=registry.url, trust_env=False, timeout=10) as reg:
        r = reg.head(f"/v2/{repo}/manifests/{digest}", headers={"Accept": ACCEPT_ALL})
        return r.status_code


# -- an open registry, deletes on ---------------------------------------------------------


@dataclass
class Site:
    registry: RegistryProcess
    gateway: GatewayServer
    oci: PushedImage
    docker: PushedImage
    docker_kept: PushedImage
    index: PushedIndex


@pytest.fixture(scope="module")
def site(registry_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    registry = registry_factory()
    with Pusher(registry.url) as p:
        oci = push_image(p, "spa/oci", "1.0", architecture="amd64")
        docker = push_image(p, "spa/docker", "1.0", oci=False, architecture="arm64", variant="v8")
        kept = push_image(p, "spa/docker", "1.1", oci=False, created="2024-08-01T10:00:00Z")
        amd = push_image(p, "spa/multi", None, architecture="amd64")
        arm = push_image(p, "spa/multi", None, architecture="arm64", variant="v8")
        index = push_index(p, "spa/multi", "1.0", [amd, arm])
    spa = write_spa(tmp_path_factory.mktemp("v2-spa") / "dist")
    # No CORS settings: the page and /v2 share the gateway's origin.
    gateway = GatewayServer(
        registry.url, free_port(), spa_dir=str(spa), delete_enabled=True, v2_mode="pull"
    ).start()
    try:
        yield Site(registry, gateway, oci, docker, kept, index)
    finally:
        gateway.stop()


def test_the_spa_browses_and_deletes_over_v2_on_one_origin(site: Site, page: BrowserPage) -> None:
    base = site.gateway.url
    requests = watch(page)
    page.page.goto(base + "/")
    assert wait_state(page, "ready", "refused") == "ready", page.page.text_content("#status")

    with httpx.Client(base_url=site.registry.url, trust_env=False, timeout=10) as reg:
        catalog = reg.get("/v2/_catalog").json()["repositories"]
    assert page.page.locator("#repos li").all_text_contents() == catalog
    assert catalog == ["spa/docker", "spa/multi", "spa/oci"]
    section = 'section[data-repo="{}"] [data-field="tags"]'
    assert page.page.text_content(section.format("spa/docker")) == "1.0, 1.1"

    for image in (site.oci, site.docker, site.docker_kept):
        assert image.tag is not None
        shown = {
            name: text(page, image.repo, image.tag, name)
            for name in (
                "digest",
                "computed-digest",
                "head-digest",
                "media-type",
                "config-digest",
                "config-computed",
                "architecture",
                "os",
            )
        }
        assert shown == {
            "digest": image.digest,
            "computed-digest": image.digest,
            "head-digest": image.digest,
            "media-type": image.media_type,
            "config-digest": image.config_digest,
            "config-computed": image.config_digest,
            "architecture": image.architecture,
            "os": image.os,
        }, image.reference
    assert text(page, "spa/oci", "1.0", "media-type") == OCI_MANIFEST
    assert text(page, "spa/docker", "1.0", "media-type") == DOCKER_MANIFEST

    index, first = site.index, site.index.children[0]
    assert text(page, "spa/multi", "1.0", "media-type") == OCI_INDEX == index.media_type
    for name in ("digest", "computed-digest", "head-digest"):
        assert text(page, "spa/multi", "1.0", name) == index.digest, name
    assert text(page, "spa/multi", "1.0", "platforms") == "linux/amd64, linux/arm64/v8"
    assert text(page, "spa/multi", "1.0", "child-digest") == first.digest
    assert text(page, "spa/multi", "1.0", "child-media-type") == first.media_type
    assert text(page, "spa/multi", "1.0", "config-computed") == first.config_digest
    assert text(page, "spa/multi", "1.0", "architecture") == first.architecture == "amd64"

    # Every manifest request carried the four types; nothing needed a preflight.
    manifest_accepts = {a for m, u, a in requests.seen if "/manifests/" in u}
    assert manifest_accepts == {ACCEPT_ALL}
    assert all(u.startswith(base + "/") for _, u, _ in requests.seen), requests.seen
    assert "OPTIONS" not in {m for m, _, _ in requests.seen}
    assert requests.paths(base, "HEAD") == [
        f"/v2/spa/docker/manifests/{t}" for t in ("1.0", "1.1")
    ] + ["/v2/spa/multi/manifests/1.0", "/v2/spa/oci/manifests/1.0"]
    assert f"/v2/spa/oci/blobs/{site.oci.config_digest}" in requests.paths(base, "GET")

    # Delete spa/docker:1.0 by the digest its HEAD gave.
    digest = site.docker.digest
    assert registry_has(site.registry, "spa/docker", digest) == 200
    requests.seen.clear()
    page.page.get_by_role("button", name="Delete spa/docker:1.0").click()
    page.page.wait_for_selector(f'#status:has-text("deleted spa/docker@{digest}: 202")')
    page.page.wait_for_selector('section[data-repo="spa/docker"][data-state="ready"]')
    assert requests.paths(base, "DELETE") == [f"/v2/spa/docker/manifests/{digest}"]
    assert registry_has(site.registry, "spa/docker", digest) == 404
    assert page.page.text_content(section.format("spa/docker")) == "1.1"
    assert page.page.locator('li[data-repo="spa/docker"]').count() == 1
    assert text(page, "spa/docker", "1.1", "head-digest") == site.docker_kept.digest
    # The other repositories were not touched.
    assert registry_has(site.registry, "spa/oci", site.oci.digest) == 200
    assert_clean(page)


# -- an htpasswd registry: log in with the gateway's session ------------------------------


@dataclass
class LockedSite:
    registry: RegistryProcess
    gateway: GatewayServer
    image: PushedImage


@pytest.fixture(scope="module")
def locked(registry_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LockedSite]:
    registry = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(registry.url, "carol", USERS["carol"]) as p:
        image = push_image(p, "team/web", "3.1", oci=False)
    spa = write_spa(tmp_path_factory.mktemp("v2-spa-auth") / "dist")
    # No service account: every /v2 call needs the user's own credentials.
    gateway = GatewayServer(registry.url, free_port(), spa_dir=str(spa)).start()
    try:
        yield LockedSite(registry, gateway, image)
    finally:
        gateway.stop()


def log_in(page: BrowserPage, password: str) -> None:
    page.page.fill("#username", "carol")
    page.page.fill("#password", password)
    page.page.get_by_role("button", name="Log in").click()


def test_before_login_v2_is_a_401_the_page_shows(locked: LockedSite, page: BrowserPage) -> None:
    answered: list[str] = []
    page.page.on("response", lambda r: answered.append(r.url))
    page.page.goto(locked.gateway.url + "/")
    state = settle(page, "refused", timeout_ms=4_000)
    # The page's own fetch got the 401 (no Basic challenge for a script: given one,
    # chromium would hold the fetch for its login dialog and the page would never know).
    assert state == "refused", answered
    assert page.page.text_content("#status") == "401 UNAUTHORIZED"
    assert not page.page.text_content("#challenge")
    # docker, skopeo and crane (no Sec-Fetch-Mode) still get the challenge.
    direct = httpx.get(locked.gateway.url + "/v2/_catalog", trust_env=False)
    assert direct.status_code == 401
    assert direct.headers["www-authenticate"].startswith("Basic realm=")
    assert page.page.is_visible("#login")
    assert page.page.locator("#repos li").count() == 0
    assert_clean(page, allowed=(UNAUTHORIZED_LOG,))


def test_after_login_the_spas_v2_fetches_use_the_session(
    locked: LockedSite, page: BrowserPage
) -> None:
    base = locked.gateway.url
    requests = watch(page)
    page.page.goto(base + "/login")
    assert wait_state(page, "login") == "login"

    log_in(page, "not-the-password")
    page.page.wait_for_selector('#login-status:has-text("login refused: 401")')
    assert page.page.context.cookies() == []

    log_in(page, USERS["carol"])
    page.page.wait_for_selector('#login-status:has-text("logged in as carol")')
    cookie = {c["name"]: c for c in page.page.context.cookies()}["lr_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert page.page.evaluate("document.cookie") == ""  # the page never sees the session id
    # The browser sends it to /v2 too (its path covers the gateway's whole mount point).
    assert [c["name"] for c in page.page.context.cookies([base + "/v2/_catalog"])] == ["lr_session"]
    assert wait_state(page, "ready", "refused") == "ready", page.page.text_content("#status")
    assert page.page.url == base + "/"

    assert page.page.locator("#repos li").all_text_contents() == ["team/web"]
    image = locked.image
    assert text(page, "team/web", "3.1", "digest") == image.digest
    assert text(page, "team/web", "3.1", "computed-digest") == image.digest
    assert text(page, "team/web", "3.1", "head-digest") == image.digest
    assert text(page, "team/web", "3.1", "media-type") == DOCKER_MANIFEST == image.media_type
    assert text(page, "team/web", "3.1", "config-computed") == image.config_digest
    assert text(page, "team/web", "3.1", "architecture") == image.architecture
    assert text(page, "team/web", "3.1", "os") == image.os
    v2_calls = [(m, u) for m, u, _ in requests.seen if "/v2/" in u]
    assert len(v2_calls) == 5, v2_calls  # catalog, tags, manifest, config, HEAD
    assert "OPTIONS" not in {m for m, _, _ in requests.seen}
    # The one logged error is the refused login's 401.
    assert_clean(page, allowed=(UNAUTHORIZED_LOG,))
    assert len(page.console_errors) == 1, page.console_errors
