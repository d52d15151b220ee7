"""The registry's v2 API through the gateway, push mode, against a real registry.

skopeo pushes a multi-platform OCI layout through the gateway's port and the registry,
read directly, holds the same digests. The upload steps (monolithic, chunked, mount,
status, cancel) are driven by hand to check what v2 clients read: statuses, ``Location``
on the gateway, ``Range``, ``Docker-Upload-UUID``. A 200 MB blob goes up and down
through a gateway process whose memory is watched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.images import PushedIndex, Pusher, push_image, push_index
from harness.registry import RegistryProcess, free_port
from harness.waiting import eventually
from tests.support.gateway_server import GatewayServer
from tests.support.served import clean_env

SKOPEO = shutil.which("skopeo")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_MANIFEST_TYPE = {"Content-Type": OCI_MANIFEST}
FOUR = ", ".join(
    (
        OCI_INDEX,
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


@dataclass
class PushSite:
    registry: RegistryProcess
    gateway: GatewayServer
    index: PushedIndex

    def gw(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, trust_env=False, timeout=60)

    def reg(self) -> httpx.Client:
        return httpx.Client(base_url=self.registry.url, trust_env=False, timeout=60)


SPA_INDEX = b"<!doctype html><title>an SPA written against /v2</title>"


@pytest.fixture(scope="module")
def push_site(
    registry_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PushSite]:
    registry = registry_factory()
    with Pusher(registry.url) as p:
        amd = push_image(p, "src/app", None, architecture="amd64", n_layers=2)
        arm = push_image(p, "src/app", None, architecture="arm64", variant="v8", n_layers=2)
        index = push_index(p, "src/app", "1.0", [amd, arm])
    # One port for all of it: an SPA (LR_SPA_DIR), /api, and /v2 in push mode.
    spa = tmp_path_factory.mktemp("spa")
    (spa / "index.html").write_bytes(SPA_INDEX)
    gateway = GatewayServer(
        registry.url, free_port(), v2_mode="push", cache_ttl=300, spa_dir=str(spa)
    ).start()
    try:
        yield PushSite(registry, gateway, index)
    finally:
        gateway.stop()


def test_one_port_serves_the_spa_the_api_and_v2_push(push_site: PushSite) -> None:
    with push_site.gw() as gw:
        assert gw.get("/", headers={"Accept": "text/html"}).content == SPA_INDEX
        assert gw.get("/repo/src/app", headers={"Accept": "text/html"}).content == SPA_INDEX
        assert gw.get("/api/config").json()["features"]["v2"] == "push"
        assert gw.get("/v2/").status_code == 200
        assert gw.post("/v2/one/port/blobs/uploads/").status_code == 202


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def assert_on_gateway(location: str, prefix: str) -> None:
    """A Location v2 clients follow: a path on the gateway, never the registry's host."""
    assert location.startswith(prefix), location
    assert "://" not in location


def test_monolithic_upload_then_manifest_put(push_site: PushSite) -> None:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    with push_site.gw() as gw, push_site.reg() as reg:
        started = gw.post("/v2/dst/mono/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert_on_gateway(location, "/v2/dst/mono/blobs/uploads/")
        assert started.headers["docker-upload-uuid"]
        sep = "&" if "?" in location else "?"
        done = gw.put(
            f"{location}{sep}digest={digest_of(config)}",
            content=config,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        assert done.headers["docker-content-digest"] == digest_of(config)
        assert_on_gateway(done.headers["location"], "/v2/dst/mono/blobs/")
        assert reg.get(f"/v2/dst/mono/blobs/{digest_of(config)}").content == config

        # One POST with ?digest= and the body: the single-request monolithic upload.
        other = b'{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
        one = gw.post(
            f"/v2/dst/mono/blobs/uploads/?digest={digest_of(other)}",
            content=other,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert one.status_code in (201, 202), one.text

        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        gw.get("/v2/dst/mono/tags/list")  # nothing there yet: a 404, not cached
        put = gw.put(
            "/v2/dst/mono/manifests/1.0", content=manifest, headers={"Content-Type": OCI_MANIFEST}
        )
        assert put.status_code == 201, put.text
        assert put.headers["docker-content-digest"] == digest_of(manifest)
        assert_on_gateway(put.headers["location"], "/v2/dst/mono/manifests/")
        assert reg.get("/v2/dst/mono/manifests/1.0", headers={"Accept": FOUR}).content == manifest
        assert gw.get("/v2/dst/mono/tags/list").json()["tags"] == ["1.0"]


def test_a_manifest_put_drops_the_cached_lists_at_once(push_site: PushSite) -> None:
    index = push_site.index
    with push_site.gw() as gw:
        assert gw.get("/v2/src/app/tags/list").json()["tags"] == ["1.0"]
        before = gw.get("/v2/src/app/manifests/1.0", headers={"Accept": FOUR})
        assert before.headers["docker-content-digest"] == index.digest
        child = index.children[0]
        r = gw.put(
            "/v2/src/app/manifests/1.0",
            content=child.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201, r.text
        r = gw.put(
            "/v2/src/app/manifests/2.0",
            content=child.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        assert r.status_code == 201
        # No notification configured, TTL of 300 s: the gateway dropped them itself.
        assert gw.get("/v2/src/app/tags/list").json()["tags"] == ["1.0", "2.0"]
        after = gw.get("/v2/src/app/manifests/1.0", headers={"Accept": FOUR})
        assert after.headers["docker-content-digest"] == child.digest
        assert gw.get("/api/repositories/src/app/images/1.0").json()["digest"] == child.digest
        # Put it back for the other tests.
        r = gw.put(
            "/v2/src/app/manifests/1.0", content=index.manifest, headers={"Content-Type": OCI_INDEX}
        )
        assert r.status_code == 201


def test_chunked_upload_with_status_and_cancel(push_site: PushSite) -> None:
    data = os.urandom(300_000)
    with push_site.gw() as gw, push_site.reg() as reg:
        location = gw.post("/v2/dst/chunked/blobs/uploads/").headers["location"]
        first = gw.patch(
            location,
            content=data[:100_000],
            headers={"Content-Type": "application/octet-stream", "Content-Range": "0-99999"},
        )
        assert first.status_code == 202, first.text
        assert first.headers["range"] == "0-99999"
        location = first.headers["location"]
        assert_on_gateway(location, "/v2/dst/chunked/blobs/uploads/")
        status = gw.get(location)
        assert status.status_code == 204
        assert status.headers["range"] == "0-99999"
        second = gw.patch(
            location,
            content=data[100_000:],
            headers={"Content-Type": "application/octet-stream", "Content-Range": "100000-299999"},
        )
        assert second.status_code == 202
        location = second.headers["location"]
        sep = "&" if "?" in location else "?"
        done = gw.put(f"{location}{sep}digest={digest_of(data)}", content=b"")
        assert done.status_code == 201, done.text
        assert reg.get(f"/v2/dst/chunked/blobs/{digest_of(data)}").content == data

        # Cancelled: the registry forgets the upload.
        location = gw.post("/v2/dst/chunked/blobs/uploads/").headers["location"]
        assert gw.delete(location).status_code == 204
        r = gw.get(location)
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
        # Not an upload id at all: no upload, nothing sent.
        r = gw.patch("/v2/dst/chunked/blobs/uploads/..%2f..%2fx", content=b"x")
        assert r.status_code in (400, 404)


def test_cross_repository_mount(push_site: PushSite) -> None:
    digest, _, size = push_site.index.children[0].layers[0]
    with push_site.gw() as gw, push_site.reg() as reg:
        r = gw.post(f"/v2/dst/mounted/blobs/uploads/?mount={digest}&from=src/app")
        assert r.status_code == 201, r.text
        assert r.headers["docker-content-digest"] == digest
        assert_on_gateway(r.headers["location"], "/v2/dst/mounted/blobs/")
        head = reg.head(f"/v2/dst/mounted/blobs/{digest}")
        assert head.status_code == 200 and int(head.headers["content-length"]) == size
        r = gw.post(f"/v2/dst/mounted/blobs/uploads/?mount={digest}&from=Bad..Name")
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "NAME_INVALID"


@pytest.mark.skipif(SKOPEO is None, reason="skopeo not installed")
def test_skopeo_copies_a_multi_platform_layout_into_the_gateway(
    push_site: PushSite, tmp_path: Path
) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    layout = tmp_path / "layout"
    registry_host = push_site.registry.url.removeprefix("http://")
    gateway_host = push_site.gateway.url.removeprefix("http://")

    def skopeo(*args: str) -> None:
        assert SKOPEO is not None
        out = subprocess.run(  # noqa: S603 - fixed binary
            [SKOPEO, "--insecure-policy", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr

    skopeo(
        "copy", "--all", "--src-tls-verify=false",
        f"docker://{registry_host}/src/app:1.0", f"oci:{layout}:1.0",
    )  # fmt: skip
    skopeo(
        "copy", "--all", "--dest-tls-verify=false",
        f"oci:{layout}:1.0", f"docker://{gateway_host}/copied/app:1.0",
    )  # fmt: skip
    with push_site.reg() as reg:
        r = reg.get("/v2/copied/app/manifests/1.0", headers={"Accept": FOUR})
        assert r.headers["docker-content-digest"] == push_site.index.digest
        for child in push_site.index.children:
            r = reg.head(f"/v2/copied/app/manifests/{child.digest}", headers={"Accept": FOUR})
            assert r.status_code == 200
            for digest, _, size in child.layers:
                r = reg.head(f"/v2/copied/app/blobs/{digest}")
                assert int(r.headers["content-length"]) == size


def test_the_service_account_never_pushes_for_anonymous_callers(
    registry_factory: Any,
) -> None:
    users = {"svc": "svc-Pw-31"}
    registry = registry_factory(auth="htpasswd", htpasswd_users=users)
    gateway = GatewayServer(
        registry.url,
        free_port(),
        v2_mode="push",
        registry_username="svc",
        registry_password=users["svc"],
    ).start()
    try:
        with httpx.Client(base_url=gateway.url, trust_env=False) as gw:
            # the base endpoint challenges a caller without credentials of their own (so
            # that docker and skopeo send theirs); reads go on as the service account
            base = gw.get("/v2/")
            assert base.status_code == 401
            assert base.headers["www-authenticate"].startswith("Basic ")
            assert gw.get("/v2/_catalog").status_code == 200
            r = gw.post("/v2/team/app/blobs/uploads/")
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Basic ")
            assert r.headers["x-upstream-requests"] == "0"
            r = gw.post("/v2/team/app/blobs/uploads/", auth=("svc", users["svc"]))
            assert r.status_code == 202
    finally:
        gateway.stop()


# -- 200 MB through a gateway process, in constant memory --------------------------------

BIG = 200 * 1024 * 1024
CHUNK = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def chunks() -> Iterator[bytes]:
    block = hashlib.sha256(b"seed").digest() * (CHUNK // 32)
    for i in range(BIG // CHUNK):
        yield block[:-4] + i.to_bytes(4, "big")


def test_200_mb_up_and_down_in_constant_memory(registry_factory: Any, tmp_path: Path) -> None:
    registry = registry_factory()
    port = free_port()
    env = clean_env(LR_REGISTRY_URL=registry.url, LR_PORT=str(port), LR_V2_MODE="push")
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "gateway"],
            env=env,
            cwd=tmp_path,  # its data/ there, never in the working folder
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"

        def live() -> bool:
            return httpx.get(url + "/api/health/live", trust_env=False).status_code == 200

        try:
            eventually(live, within=15, retry=(httpx.TransportError,))
        except AssertionError:
            raise AssertionError(log.read_text()) from None
        with httpx.Client(base_url=url, trust_env=False, timeout=120) as gw:
            small = b"warm-up"
            gw.post(
                f"/v2/big/blob/blobs/uploads/?digest={digest_of(small)}",
                content=small,
                headers={"Content-Type": "application/octet-stream"},
            )
            before = rss_kib(proc.pid)
            hasher = hashlib.sha256()
            for chunk in chunks():
                hasher.update(chunk)
            digest = "sha256:" + hasher.hexdigest()
            location = gw.post("/v2/big/blob/blobs/uploads/").headers["location"]
            r = gw.patch(
                location, content=chunks(), headers={"Content-Type": "application/octet-stream"}
            )
            assert r.status_code == 202, r.text
            location = r.headers["location"]
            sep = "&" if "?" in location else "?"
            r = gw.put(f"{location}{sep}digest={digest}", content=b"")
            assert r.status_code == 201, r.text
            after_push = rss_kib(proc.pid)
            pulled = hashlib.sha256()
            size = 0
            with gw.stream("GET", f"/v2/big/blob/blobs/{digest}") as r:
                assert r.status_code == 200
                for part in r.iter_bytes():
                    pulled.update(part)
                    size += len(part)
            after_pull = rss_kib(proc.pid)
        assert size == BIG and "sha256:" + pulled.hexdigest() == digest
        grown_mib = (max(after_push, after_pull) - before) / 1024
        print(f"gateway RSS KiB: {before} before, {after_push} pushed, {after_pull} pulled")
        assert grown_mib < 20, (before, after_push, after_pull)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_an_interrupted_upload_leaves_the_gateway_clean(push_site: PushSite) -> None:
    class Broken(Exception):
        pass

    def breaking() -> Iterator[bytes]:
        yield b"x" * 100_000
        raise Broken

    with push_site.gw() as gw:
        location = gw.post("/v2/dst/broken/blobs/uploads/").headers["location"]
        with pytest.raises(Broken):
            gw.patch(location, content=breaking())
        # The gateway goes on serving, and the next upload to the same repository works.
        assert gw.get("/v2/").status_code == 200
        data = b"after the break"
        r = gw.post(
            f"/v2/dst/broken/blobs/uploads/?digest={digest_of(data)}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code in (201, 202)
        r = gw.head(f"/v2/dst/broken/blobs/{digest_of(b'x' * 100_000)}")
        assert r.status_code == 404
