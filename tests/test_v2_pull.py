"""The registry's v2 API through the gateway, pull mode, against a real registry.

Every answer is compared with the registry's own answer to the same request: bytes,
statuses and the headers v2 clients read. skopeo (a real v2 client) inspects, copies out
and deletes through the gateway's port.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.images import PushedImage, PushedIndex, Pusher, push_image, push_index
from harness.registry import RegistryProcess, free_port
from tests.support.callers import basic
from tests.support.gateway_server import GatewayServer

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo not installed")

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
FOUR = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
DOCKER_ONLY = DOCKER_MANIFEST


@dataclass
class Site:
    registry: RegistryProcess
    gateway: GatewayServer  # deletes off
    deleting: GatewayServer  # deletes on
    oci: PushedImage
    docker: PushedImage
    index: PushedIndex
    docker_list: PushedIndex
    repos: list[str]

    def gw(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, trust_env=False, timeout=30)

    def reg(self) -> httpx.Client:
        return httpx.Client(base_url=self.registry.url, trust_env=False, timeout=30)


@pytest.fixture(scope="module")
def site(registry_factory: Any) -> Iterator[Site]:
    registry = registry_factory()
    with Pusher(registry.url) as p:
        oci = push_image(p, "v2/oci", "1.0", n_layers=3)
        docker = push_image(p, "v2/docker", "1.0", oci=False)
        amd = push_image(p, "v2/multi", None, architecture="amd64")
        arm = push_image(p, "v2/multi", None, architecture="arm64", variant="v8")
        index = push_index(p, "v2/multi", "1.0", [amd, arm])
        damd = push_image(p, "v2/list", None, architecture="amd64", oci=False)
        darm = push_image(p, "v2/list", None, architecture="arm64", oci=False)
        docker_list = push_index(p, "v2/list", "1.0", [damd, darm], oci=False)
        for i in range(5):
            push_image(p, f"v2/many-{i}", "latest")
        for tag in ("b", "a", "c", "2.0"):
            push_image(p, "v2/tags", tag)
        doomed = push_image(p, "v2/doomed", "1.0")
        push_image(p, "v2/doomed", "keep")
        del doomed
    gateway = GatewayServer(registry.url, free_port(), cache_ttl=300).start()
    deleting = GatewayServer(registry.url, free_port(), cache_ttl=300, delete_enabled=True).start()
    repos = sorted(httpx.get(registry.url + "/v2/_catalog", trust_env=False).json()["repositories"])
    try:
        yield Site(registry, gateway, deleting, oci, docker, index, docker_list, repos)
    finally:
        gateway.stop()
        deleting.stop()


def error(response: httpx.Response) -> dict[str, Any]:
    """The registry-format error of a /v2 answer (v2 clients parse this, not the envelope)."""
    body = response.json()
    assert set(body) == {"errors"}, body
    assert len(body["errors"]) == 1
    err: dict[str, Any] = body["errors"][0]
    assert {"code", "message"} <= set(err)
    return err


# -- base, lists ------------------------------------------------------------------------


def test_base_answers_like_the_registry(site: Site) -> None:
    with site.gw() as gw:
        for method in ("GET", "HEAD"):
            r = gw.request(method, "/v2/")
            assert r.status_code == 200
            assert r.headers["docker-distribution-api-version"] == "registry/2.0"
        assert gw.get("/v2/").json() == {}


def test_catalog_pages_follow_links_on_the_gateway(site: Site) -> None:
    with site.gw() as gw:
        assert gw.get("/v2/_catalog").json() == {"repositories": site.repos}
        seen: list[str] = []
        url = "/v2/_catalog?n=3"
        pages = 0
        while url:
            r = gw.get(url)
            assert r.status_code == 200
            seen += r.json()["repositories"]
            link = r.headers.get("link")
            pages += 1
            if link is None:
                break
            assert link.endswith('>; rel="next"') and link.startswith("</v2/_catalog?last=")
            url = link[1 : link.index(">")]
        assert seen == site.repos
        assert pages == -(-len(site.repos) // 3)
        # The registry's rules for n: 0 is an empty page; over 1000 or not a number, 400.
        r = gw.get("/v2/_catalog?n=0")
        assert r.json() == {"repositories": []} and "link" not in r.headers
        for bad in ("1001", "-1", "x"):
            r = gw.get(f"/v2/_catalog?n={bad}")
            assert r.status_code == 400
            assert error(r)["code"] == "PAGINATION_NUMBER_INVALID"
        with site.reg() as reg:
            assert reg.get("/v2/_catalog?n=1001").status_code == 400


def test_tag_lists_are_sorted_and_paged_with_links(site: Site) -> None:
    with site.gw() as gw:
        r = gw.get("/v2/v2/tags/tags/list")
        assert r.json() == {"name": "v2/tags", "tags": ["2.0", "a", "b", "c"]}
        r = gw.get("/v2/v2/tags/tags/list?n=2")
        assert r.json()["tags"] == ["2.0", "a"]
        assert r.headers["link"] == '</v2/v2/tags/tags/list?last=a&n=2>; rel="next"'
        r = gw.get("/v2/v2/tags/tags/list?n=2&last=a")
        assert r.json()["tags"] == ["b", "c"] and "link" not in r.headers
        r = gw.get("/v2/v2/nothing/tags/list")
        assert r.status_code == 404 and error(r)["code"] == "NAME_UNKNOWN"
        r = gw.get("/v2/Bad..Name/tags/list")
        assert r.status_code == 400 and error(r)["code"] == "NAME_INVALID"


# -- manifests ------------------------------------------------------------------------


MANIFEST_HEADERS = ("content-type", "content-length", "docker-content-digest", "etag")


@pytest.mark.parametrize("which", ["oci", "docker", "index", "docker_list"])
@pytest.mark.parametrize("by", ["tag", "digest"])
def test_manifests_are_the_registrys_bytes_and_headers(site: Site, which: str, by: str) -> None:
    item = getattr(site, which)
    ref = item.tag if by == "tag" else item.digest
    path = f"/v2/{item.repo}/manifests/{ref}"
    with site.gw() as gw, site.reg() as reg:
        want = reg.get(path, headers={"Accept": FOUR})
        got = gw.get(path, headers={"Accept": FOUR})
        assert got.status_code == 200
        assert got.content == want.content == item.manifest
        for header in MANIFEST_HEADERS:
            assert got.headers[header] == want.headers[header], header
        # Warm: from the verified cache, no upstream request.
        again = gw.get(path, headers={"Accept": FOUR})
        assert again.content == item.manifest
        assert again.headers["x-upstream-requests"] == "0"
        head = gw.head(path, headers={"Accept": FOUR})
        assert head.status_code == 200 and head.content == b""
        for header in MANIFEST_HEADERS:
            assert head.headers[header] == want.headers[header], header
        # If-None-Match with the digest: 304, as the registry answers.
        r = gw.get(path, headers={"Accept": FOUR, "If-None-Match": f'"{item.digest}"'})
        assert r.status_code == 304 and r.content == b""


@pytest.mark.parametrize(
    ("which", "accept"),
    [
        ("oci", DOCKER_ONLY),  # OCI content, a Docker-only client: the registry's 404
        ("docker_list", DOCKER_ONLY),  # a manifest list, no list type: its amd64 child
        ("index", DOCKER_LIST),  # an OCI index for a client of Docker lists only
        ("docker", ""),  # no Accept at all: what the registry does with that
    ],
)
def test_narrow_accepts_get_the_registrys_own_negotiation(
    site: Site, which: str, accept: str
) -> None:
    item = getattr(site, which)
    path = f"/v2/{item.repo}/manifests/{item.tag}"
    headers = {"Accept": accept}
    with site.gw() as gw, site.reg() as reg:
        gw.get(path, headers={"Accept": FOUR})  # the cache holds the stored type
        want = reg.get(path, headers=headers)
        got = gw.get(path, headers=headers)
        assert got.status_code == want.status_code
        if want.headers.get("content-type", "").endswith("prettyjws"):
            # No Accept: signed schema1, converted on the fly (signed anew each time).
            assert got.headers["content-type"] == want.headers["content-type"]
        elif want.status_code == 200:
            assert got.content == want.content
            assert got.headers["content-type"] == want.headers["content-type"]
            assert got.headers["docker-content-digest"] == want.headers["docker-content-digest"]
        else:
            assert error(got)["code"] == want.json()["errors"][0]["code"]
        # The conversion was not cached: the full Accept still gets the stored document.
        assert gw.get(path, headers={"Accept": FOUR}).content == item.manifest


def test_unknown_manifests_are_404_manifest_unknown(site: Site) -> None:
    with site.gw() as gw:
        r = gw.get("/v2/v2/oci/manifests/nope", headers={"Accept": FOUR})
        assert r.status_code == 404 and error(r)["code"] == "MANIFEST_UNKNOWN"
        r = gw.get("/v2/v2/oci/manifests/sha256:" + "0" * 64, headers={"Accept": FOUR})
        assert r.status_code == 404 and error(r)["code"] == "MANIFEST_UNKNOWN"
        r = gw.get("/v2/v2/oci/manifests/sha256:xyz", headers={"Accept": FOUR})
        assert r.status_code == 400 and error(r)["code"] == "DIGEST_INVALID"


# -- blobs ----------------------------------------------------------------------------


def test_blobs_stream_with_ranges_and_heads(site: Site) -> None:
    digest, _, size = site.oci.layers[0]
    path = f"/v2/v2/oci/blobs/{digest}"
    with site.gw() as gw, site.reg() as reg:
        r = gw.get(path)
        assert r.status_code == 200
        assert "sha256:" + hashlib.sha256(r.content).hexdigest() == digest
        assert r.headers["docker-content-digest"] == digest
        assert int(r.headers["content-length"]) == size
        head = gw.head(path)
        assert head.status_code == 200 and int(head.headers["content-length"]) == size
        assert head.content == b""
        want = reg.get(path, headers={"Range": "bytes=5-14"})
        got = gw.get(path, headers={"Range": "bytes=5-14"})
        assert got.status_code == want.status_code == 206
        assert got.content == want.content == r.content[5:15]
        assert got.headers["content-range"] == want.headers["content-range"]
        # Past the end: 416, as the registry answers (whose own 416 declares a body
        # longer than it sends, so only its status is read here).
        beyond = {"Range": f"bytes={size + 10}-{size + 20}"}
        with reg.stream("GET", path, headers=beyond) as direct:
            assert direct.status_code == 416
        r = gw.get(path, headers=beyond)
        assert r.status_code == 416 and r.content == b""
        r = gw.get("/v2/v2/oci/blobs/sha256:" + "0" * 64)
        assert r.status_code == 404 and error(r)["code"] == "BLOB_UNKNOWN"


def test_referrers_are_answered_where_the_registry_has_no_api(site: Site) -> None:
    path = f"/v2/v2/oci/referrers/{site.oci.digest}"
    with site.gw() as gw, site.reg() as reg:
        assert reg.get(path).status_code == 404  # distribution has no referrers API
        got = gw.get(path, params={"artifactType": "application/example"})
        # the gateway answers from the referrers tag schema (none here): an empty index
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
        assert got.headers["oci-filters-applied"] == "artifactType"
        assert got.json() == {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        }


# -- what pull mode refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/v2/oci/blobs/uploads/"),
        ("PATCH", "/v2/v2/oci/blobs/uploads/some-uuid"),
        ("PUT", "/v2/v2/oci/blobs/uploads/some-uuid?digest=sha256:" + "1" * 64),
        ("GET", "/v2/v2/oci/blobs/uploads/some-uuid"),
        ("DELETE", "/v2/v2/oci/blobs/uploads/some-uuid"),
        ("PUT", "/v2/v2/oci/manifests/2.0"),
    ],
)
def test_pull_mode_refuses_writes_and_sends_nothing_upstream(
    site: Site, method: str, path: str
) -> None:
    with site.gw() as gw:
        r = gw.request(method, path, content=b"{}")
        assert r.status_code == 405
        assert error(r)["code"] == "UNSUPPORTED"
        assert r.headers["x-upstream-requests"] == "0"


def test_deletes_off_are_405_and_nothing_is_sent(site: Site) -> None:
    path = f"/v2/v2/oci/manifests/{site.oci.digest}"
    with site.gw() as gw, site.reg() as reg:
        r = gw.delete(path)
        assert r.status_code == 405 and error(r)["code"] == "UNSUPPORTED"
        assert r.headers["x-upstream-requests"] == "0"
        assert reg.head(path, headers={"Accept": FOUR}).status_code == 200


def test_a_foreign_origin_may_not_delete_whatever_it_carries(site: Site) -> None:
    with httpx.Client(base_url=site.deleting.url, trust_env=False) as gw:
        r = gw.delete(
            "/v2/v2/doomed/manifests/sha256:" + "0" * 64,
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403 and error(r)["code"] == "DENIED"
        assert r.headers["x-upstream-requests"] == "0"


def test_delete_by_digest_with_deletes_on_drops_the_cached_lists(site: Site) -> None:
    with httpx.Client(base_url=site.deleting.url, trust_env=False) as gw:
        tags = gw.get("/v2/v2/doomed/tags/list").json()["tags"]
        assert tags == ["1.0", "keep"]
        digest = gw.head("/v2/v2/doomed/manifests/1.0", headers={"Accept": FOUR}).headers[
            "docker-content-digest"
        ]
        r = gw.delete(f"/v2/v2/doomed/manifests/{digest}")
        assert r.status_code == 202, r.text
        # At once, with no notification: the tag list is asked for again.
        assert gw.get("/v2/v2/doomed/tags/list").json()["tags"] == ["keep"]
        r = gw.get(f"/v2/v2/doomed/manifests/{digest}", headers={"Accept": FOUR})
        assert r.status_code == 404
        # By tag, as distribution 3.x does it: that tag only (2.8's DIGEST_INVALID is
        # passed on as well: test_registry_versions).
        r = gw.delete("/v2/v2/doomed/manifests/keep")
        assert r.status_code == 202, r.text
        assert gw.get("/v2/v2/doomed/tags/list").json()["tags"] == []
        with httpx.Client(base_url=site.registry.url, trust_env=False) as reg:
            again = reg.delete("/v2/v2/doomed/manifests/keep")
        assert again.status_code == 404
        r = gw.delete("/v2/v2/doomed/manifests/keep")
        assert r.status_code == 404 and error(r)["code"] == "MANIFEST_UNKNOWN"


def test_v2_off_is_not_served(registry_factory: Any, site: Site) -> None:
    server = GatewayServer(site.registry.url, free_port(), v2_mode="off").start()
    try:
        r = httpx.get(server.url + "/v2/", trust_env=False)
        assert r.status_code == 404
        assert (
            httpx.get(server.url + "/api/config", trust_env=False).json()["features"]["v2"] == "off"
        )
    finally:
        server.stop()


# -- skopeo, a real v2 client -----------------------------------------------------------


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    out = subprocess.run(  # noqa: S603 - fixed binary
        [SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=60, env=env
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def host(server: GatewayServer) -> str:
    return server.url.removeprefix("http://")


@needs_skopeo
@pytest.mark.parametrize("which", ["oci", "docker", "index", "docker_list"])
def test_skopeo_inspects_through_the_gateway(site: Site, which: str) -> None:
    item = getattr(site, which)
    for ref in (f":{item.tag}", f"@{item.digest}"):
        image = f"docker://{host(site.gateway)}/{item.repo}{ref}"
        raw = skopeo("inspect", "--tls-verify=false", "--raw", image).stdout
        assert raw.encode() == item.manifest
    image = f"docker://{host(site.gateway)}/{item.repo}:{item.tag}"
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", image).stdout)
    child = item if isinstance(item, PushedImage) else item.children[0]
    assert inspected["Architecture"] == child.architecture
    config = skopeo("inspect", "--tls-verify=false", "--config", "--raw", image).stdout
    assert config.encode() == child.config


@needs_skopeo
def test_skopeo_copies_out_of_the_gateway(site: Site, tmp_path: Path) -> None:
    target = tmp_path / "out"
    image = f"docker://{host(site.gateway)}/v2/oci:1.0"
    skopeo("copy", "--src-tls-verify=false", image, f"dir:{target}")
    for digest, _, size in site.oci.layers:
        blob = (target / digest.removeprefix("sha256:")).read_bytes()
        assert len(blob) == size
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == digest
    assert (target / "manifest.json").read_bytes() == site.oci.manifest


@needs_skopeo
def test_skopeo_delete_through_the_gateway(site: Site) -> None:
    with Pusher(site.registry.url) as p:
        image = push_image(p, "v2/skopeo-delete", "1.0")
    off = skopeo(
        "delete",
        "--tls-verify=false",
        f"docker://{host(site.gateway)}/v2/skopeo-delete:1.0",
        check=False,
    )
    assert off.returncode != 0
    r = httpx.head(
        f"{site.registry.url}/v2/v2/skopeo-delete/manifests/{image.digest}",
        headers={"Accept": FOUR},
        trust_env=False,
    )
    assert r.status_code == 200
    skopeo("delete", "--tls-verify=false", f"docker://{host(site.deleting)}/v2/skopeo-delete:1.0")
    r = httpx.head(
        f"{site.registry.url}/v2/v2/skopeo-delete/manifests/{image.digest}",
        headers={"Accept": FOUR},
        trust_env=False,
    )
    assert r.status_code == 404


# -- auth: the Basic challenge docker login and skopeo --creds need ---------------------


@pytest.fixture(scope="module")
def locked(registry_factory: Any) -> Iterator[tuple[RegistryProcess, GatewayServer]]:
    users = {"alice": "alice-Pw-1", "bob": "bob-Pw-2"}
    registry = registry_factory(auth="htpasswd", htpasswd_users=users)
    with Pusher(registry.url, "alice", users["alice"]) as p:
        push_image(p, "team/app", "1.0")
    gateway = GatewayServer(registry.url, free_port()).start()
    try:
        yield registry, gateway
    finally:
        gateway.stop()


def test_a_refused_caller_gets_the_basic_challenge_on_v2_only(
    locked: tuple[RegistryProcess, GatewayServer],
) -> None:
    _, gateway = locked
    with httpx.Client(base_url=gateway.url, trust_env=False) as gw:
        r = gw.get("/v2/")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Basic realm=")
        assert error(r)["code"] == "UNAUTHORIZED"
        r = gw.get("/v2/team/app/tags/list", headers=basic("alice", "wrong"))
        assert r.status_code == 401 and "www-authenticate" in r.headers
        assert gw.get("/v2/", headers=basic("alice", "alice-Pw-1")).status_code == 200
        r = gw.get("/v2/team/app/tags/list", headers=basic("bob", "bob-Pw-2"))
        assert r.json()["tags"] == ["1.0"]
        # /api keeps never sending a challenge (a browser would pop up its dialog).
        r = gw.get("/api/repositories/team/app/tags")
        assert r.status_code == 401 and "www-authenticate" not in r.headers


@needs_skopeo
def test_skopeo_creds_through_the_challenge(
    locked: tuple[RegistryProcess, GatewayServer],
) -> None:
    _, gateway = locked
    image = f"docker://{host(gateway)}/team/app:1.0"
    refused = skopeo("inspect", "--tls-verify=false", image, check=False)
    assert refused.returncode != 0
    ok = skopeo("inspect", "--tls-verify=false", "--creds", "alice:alice-Pw-1", image)
    assert json.loads(ok.stdout)["Name"].endswith("team/app")


# -- HEAD on the /api raw endpoints ---------------------------------------------------


def test_api_raw_manifest_and_blob_answer_head(site: Site) -> None:
    digest, _, size = site.oci.layers[0]
    with site.gw() as gw:
        path = "/api/repositories/v2/oci/manifests/1.0"
        got, head = gw.get(path), gw.head(path)
        assert head.status_code == 200 and head.content == b""
        for header in ("content-type", "content-length", "docker-content-digest", "etag"):
            assert head.headers[header] == got.headers[header], header
        path = f"/api/repositories/v2/oci/blobs/{digest}"
        head = gw.head(path)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == size
        assert head.headers["docker-content-digest"] == digest
        # No download was opened for it: one HEAD upstream at most.
        assert int(head.headers["x-upstream-requests"]) <= 1
        r = gw.head("/api/repositories/v2/oci/blobs/sha256:" + "0" * 64)
        assert r.status_code == 404
