"""Files inside images and the diff of two images, through the routes, against a real
registry (distribution 3.0) filled once with the test layers of harness/layer_trees.py.

Checked against an independent reading with ``tarfile`` (``read_layer_with_tarfile``,
``merge_with_tarfile``); upstream cost by ``X-Upstream-Bytes``.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher
from harness.layer_images import Layer, PushedLayers, image_config, push_layers, push_platforms
from harness.layer_trees import (
    DOCKER_FOREIGN,
    HELM_CHART,
    HELM_CONFIG,
    HELM_PROVENANCE,
    OCI_GZIP,
    OCI_TAR,
    OCI_ZSTD,
    base_layer,
    file,
    gzip_bomb,
    gzip_bytes,
    known_tree,
    merge_with_tarfile,
    random_gzip_layer,
    read_layer_with_tarfile,
    tar_bytes,
    top_layer,
    upper_layer,
    zstd_bytes,
)
from harness.registry import RegistryProcess
from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope

REPO = "files/app"
OTHER = "files/other"
MiB = 1024 * 1024
BOMB_BOUND = 256 * MiB


@dataclass
class Filled:
    registry: RegistryProcess
    tars: dict[str, bytes]
    blobs: dict[str, Layer]
    images: dict[str, PushedLayers]
    middle: tuple[str, bytes]
    index: str


@pytest.fixture(scope="module")
def filled(registry_factory: Any) -> Filled:
    reg: RegistryProcess = registry_factory(access_log=True)
    tars = {
        "known": tar_bytes(known_tree()),
        "base": tar_bytes(base_layer()),
        "upper": tar_bytes(upper_layer()),
        "top": tar_bytes(top_layer()),
    }
    big, middle_path, middle = random_gzip_layer()
    blobs = {
        "known": Layer(gzip_bytes(tars["known"]), OCI_GZIP),
        "base": Layer(gzip_bytes(tars["base"]), OCI_GZIP),
        "upper": Layer(zstd_bytes(tars["upper"]), OCI_ZSTD),
        "top": Layer(tars["top"], OCI_TAR),
        "big": Layer(big, OCI_GZIP),
        "bomb": Layer(gzip_bomb(1 << 30), OCI_GZIP),
        "chart": Layer(
            gzip_bytes(tar_bytes([file("mychart/Chart.yaml", "name: mychart\n")])), HELM_CHART
        ),
        "prov": Layer(
            b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nname: mychart\n", HELM_PROVENANCE
        ),
        "foreign": Layer(
            gzip_bytes(tar_bytes([file("windows/system.dll", "x")])),
            DOCKER_FOREIGN,
            urls=("https://example.invalid/layer",),
        ),
        "other": Layer(gzip_bytes(tar_bytes([file("other/secret.txt", "not yours\n")])), OCI_GZIP),
    }
    images: dict[str, PushedLayers] = {}
    with Pusher(reg.url) as p:
        b = blobs
        images["known"] = push_layers(p, REPO, "known", [b["known"]])
        images["1.0"] = push_layers(
            p,
            REPO,
            "1.0",
            [b["base"], b["upper"]],
            config=image_config(env=["PATH=/usr/bin", "MODE=old"], labels={"v": "1"}, layers=2),
        )
        images["2.0"] = push_layers(
            p,
            REPO,
            "2.0",
            [b["base"], b["upper"], b["top"]],
            config=image_config(env=["PATH=/usr/local/bin:/usr/bin"], labels={"v": "2"}, layers=3),
        )
        images["big"] = push_layers(p, REPO, "big", [b["big"]])
        images["bomb"] = push_layers(p, REPO, "bomb", [b["bomb"]])
        images["chart"] = push_layers(
            p,
            REPO,
            "chart",
            [b["chart"], b["prov"]],
            config=json.dumps({"name": "mychart", "version": "0.1.0"}).encode(),
            config_media_type=HELM_CONFIG,
        )
        images["foreign"] = push_layers(p, REPO, "foreign", [b["foreign"], b["base"]])
        images["other"] = push_layers(p, OTHER, "1.0", [b["other"]])
        amd = push_layers(p, REPO, None, [b["base"]])
        arm = push_layers(
            p,
            REPO,
            None,
            [b["base"], b["top"]],
            config=image_config(architecture="arm64", layers=2),
        )
        index = push_platforms(p, REPO, "multi", [("linux/amd64", amd), ("linux/arm64", arm)])
    return Filled(reg, tars, blobs, images, (middle_path, middle), index)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("files-data")


@pytest.fixture(scope="module")
def api(filled: Filled, data_dir: Path) -> Iterator[TestClient]:
    with gateway_for(
        filled.registry.url, data_dir=data_dir, layer_max_expanded_bytes=BOMB_BOUND
    ) as client:
        yield client


def upstream_bytes(r: Any) -> int:
    return int(r.headers["x-upstream-bytes"])


def layer_url(digest: str, what: str = "files") -> str:
    return f"/api/repositories/{REPO}/layers/{digest}/{what}"


def image_url(reference: str, what: str = "files") -> str:
    return f"/api/repositories/{REPO}/images/{reference}/{what}"


def walk(api: TestClient, url: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a recursive listing, page by page."""
    out: list[dict[str, Any]] = []
    last = None
    while True:
        query = {"recursive": "true", "n": 7, **params}
        if last is not None:
            query["last"] = last
        r = api.get(url, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["entries"])
        last = body["next"]
        if last is None:
            assert len(out) == body["total"]
            return out


# -- listings --------------------------------------------------------------------------


def test_layer_listing_matches_tarfile_and_costs_the_layer_once(
    api: TestClient, filled: Filled
) -> None:
    layer = filled.blobs["known"]
    r = api.get(layer_url(layer.digest), params={"recursive": "true", "n": 1000})
    assert r.status_code == 200, r.text
    # the whole blob, once (and the tag list that confirmed the caller's access)
    assert len(layer.data) <= upstream_bytes(r) <= len(layer.data) + 4096
    body = r.json()
    assert body["digest"] == layer.digest and body["complete"] is True
    expected = read_layer_with_tarfile(filled.tars["known"])
    got = {e["path"]: e for e in body["entries"]}
    assert set(got) == set(expected)
    for path, want in expected.items():
        e = got[path]
        assert e["type"] == want.type, path
        assert e["layer"] == layer.digest
        if not want.implicit:
            assert (e["mode"], e["uid"], e["gid"]) == (want.mode, want.uid, want.gid), path
        if want.type in ("file", "hardlink"):
            assert (e["size"], e["sha256"]) == (want.size, want.sha256), path
        if want.type in ("symlink", "hardlink"):
            assert e["link_target"] == want.link_target, path
    assert got["/usr/bin/su"]["mode"] == "4755"
    assert got["/tmp"]["mode"] == "1777"
    assert "/home/user/My Documents/notes ü 日本.txt" in got
    assert "/escape/outside.txt" in got  # ../.. kept inside the root
    again = api.get(layer_url(layer.digest), params={"path": "/usr/bin"})
    assert again.status_code == 200
    assert upstream_bytes(again) == 0
    assert [e["name"] for e in again.json()["entries"]] == sorted(
        e["name"] for e in again.json()["entries"]
    )


def test_image_listing_is_the_merged_file_system(api: TestClient, filled: Filled) -> None:
    visible, deleted = merge_with_tarfile(
        [filled.tars["base"], filled.tars["upper"], filled.tars["top"]]
    )
    layers = filled.images["2.0"].layers
    entries = walk(api, image_url("2.0"))
    got = {e["path"]: e for e in entries}
    assert set(got) == set(visible)
    for path, want in visible.items():
        assert got[path]["type"] == want.type, path
        assert got[path]["layer"] == layers[want.layer], path
        if want.type == "file":
            assert got[path]["sha256"] == want.sha256
    assert "/etc/motd" in got and got["/etc/motd"]["mode"] == "0600"
    assert "/opt/app/keep.txt" not in got  # hidden by the opaque directory
    with_deleted = {e["path"]: e for e in walk(api, image_url("2.0"), include_deleted="true")}
    for path, (_entry, by) in deleted.items():
        assert with_deleted[path]["deleted_by"] == layers[by], path


def test_platform_is_required_for_an_index_and_picks_the_child(
    api: TestClient, filled: Filled
) -> None:
    r = api.get(image_url("multi"))
    assert_envelope(r, 400, "VALIDATION_ERROR")
    r = api.get(image_url("multi"), params={"platform": "linux/arm64", "path": "/usr"})
    assert r.status_code == 200, r.text
    assert [e["path"] for e in r.json()["entries"]] == ["/usr/added.txt"]
    r = api.get(image_url("multi"), params={"platform": "linux/amd64", "path": "/usr"})
    assert_envelope(r, 404, "FILE_UNKNOWN")


# -- files -------------------------------------------------------------------------------


def test_file_bytes_are_an_attachment_with_the_sha256_as_etag(api: TestClient) -> None:
    r = api.get(image_url("2.0", "file"), params={"path": "/etc/hosts"})
    assert r.status_code == 200, r.text
    assert r.content == b"127.0.0.1 localhost\n::1 localhost\n"
    sha = hashlib.sha256(r.content).hexdigest()
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith('attachment; filename="hosts"')
    assert r.headers["etag"] == f'"{sha}"'
    again = api.get(
        image_url("2.0", "file"),
        params={"path": "/etc/hosts"},
        headers={"If-None-Match": f'"{sha}"'},
    )
    assert again.status_code == 304 and upstream_bytes(again) == 0
    link = api.get(layer_url(filled_digest(api, "known"), "file"), params={"path": "/usr/bin/sh"})
    assert_envelope(link, 404, "FILE_UNKNOWN")
    assert link.json()["error"]["detail"]["link_target"] == "/bin/busybox"
    assert_envelope(api.get(image_url("2.0", "file"), params={"path": "/etc"}), 404, "FILE_UNKNOWN")
    assert_envelope(
        api.get(image_url("2.0", "file"), params={"path": "/opt/app/keep.txt"}), 404, "FILE_UNKNOWN"
    )


def filled_digest(api: TestClient, tag: str) -> str:
    r = api.get(f"/api/repositories/{REPO}/images/{tag}")
    return str(r.json()["platforms"][0]["layers"][0]["digest"])


def test_previews_text_and_binary(api: TestClient, filled: Filled) -> None:
    digest = filled.blobs["known"].digest
    r = api.get(layer_url(digest, "file/preview"), params={"path": "/etc/os-release"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "path": "/etc/os-release",
        "size": 20,
        "binary": False,
        "truncated": False,
        "text": 'NAME="Test"\nID=test\n',
        "sha256": hashlib.sha256(b'NAME="Test"\nID=test\n').hexdigest(),
    }
    r = api.get(layer_url(digest, "file/preview"), params={"path": "/usr/bin/tool"})
    assert r.json()["binary"] is True and r.json()["text"] is None
    r = api.get(image_url("2.0", "file/preview"), params={"path": "/usr/added.txt"})
    assert r.json()["text"] == "added on top\n"  # a plain tar layer: read by Range


def test_a_small_file_of_a_big_gzip_layer_costs_about_one_span(
    api: TestClient, filled: Filled
) -> None:
    big = filled.blobs["big"]
    path, content = filled.middle
    r = api.get(image_url("big"))
    assert r.status_code == 200, r.text
    assert upstream_bytes(r) >= len(big.data)  # first listing: the layer, once
    r = api.get(image_url("big"), params={"path": "/data"})
    assert upstream_bytes(r) == 0
    r = api.get(image_url("big", "file"), params={"path": path})
    assert r.status_code == 200 and r.content == content
    assert 0 < upstream_bytes(r) <= 5 * MiB
    r = api.get(image_url("big", "file/preview"), params={"path": path})
    assert r.json()["binary"] is True
    assert 0 < upstream_bytes(r) <= 5 * MiB


# -- diff --------------------------------------------------------------------------------


def test_diff_of_two_tags(api: TestClient, filled: Filled) -> None:
    r = api.get(f"/api/repositories/{REPO}/diff", params={"from": "1.0", "to": "2.0"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"]["digest"] == filled.images["1.0"].digest
    assert body["to"]["reference"] == "2.0" and body["to"]["platform"] == "linux/amd64"
    assert body["layers"] == {"shared": 2, "only_from": 0, "only_to": 1}
    config = {(c["field"], c.get("key")): (c["from"], c["to"]) for c in body["config"]}
    assert config[("env", "PATH")] == ("/usr/bin", "/usr/local/bin:/usr/bin")
    assert config[("env", "MODE")] == ("old", None)
    assert config[("labels", "v")] == ("1", "2")
    files = body["files"]
    changes = {e["path"]: e["change"] for e in files["entries"]}
    assert changes["/usr/added.txt"] == "added"
    assert changes["/etc/motd"] == "added"  # deleted in 1.0, back in 2.0
    assert changes["/lib/libc.so"] == "changed"  # mode
    assert files["added_bytes"] >= len("added on top\n")
    only = api.get(
        f"/api/repositories/{REPO}/diff", params={"from": "1.0", "to": "2.0", "change": "changed"}
    ).json()["files"]
    assert {e["change"] for e in only["entries"]} == {"changed"}
    assert only["added"] == files["added"]  # counts are over the whole diff
    across = api.get(
        f"/api/repositories/{REPO}/diff",
        params={"from": "9.9", "to": "2.0", "from_repository": OTHER},
    )
    assert_envelope(across, 404, "MANIFEST_UNKNOWN")
    across = api.get(
        f"/api/repositories/{REPO}/diff",
        params={"from": "1.0", "to": "1.0", "from_repository": OTHER},
    )
    assert across.status_code == 200, across.text
    assert across.json()["from"]["repository"] == OTHER
    assert across.json()["layers"]["shared"] == 0


# -- refusals ----------------------------------------------------------------------------


def test_a_gzip_bomb_is_413_with_memory_bounded_and_remembered(
    api: TestClient, filled: Filled
) -> None:
    tracemalloc.start()
    try:
        r = api.get(image_url("bomb"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_envelope(r, 413, "LAYER_TOO_LARGE")
    assert peak < 64 * MiB
    again = api.get(layer_url(filled.blobs["bomb"].digest))
    assert_envelope(again, 413, "LAYER_TOO_LARGE")
    assert upstream_bytes(again) == 0  # remembered by digest: no read


def test_a_helm_charts_config_and_provenance_are_no_file_system(
    api: TestClient, filled: Filled
) -> None:
    chart = filled.images["chart"]
    r = api.get(layer_url(chart.config_digest), params={"image": "chart"})
    assert_envelope(r, 422, "NOT_A_FILESYSTEM")
    r = api.get(layer_url(filled.blobs["prov"].digest), params={"image": "chart"})
    assert_envelope(r, 422, "NOT_A_FILESYSTEM")
    r = api.get(layer_url(filled.blobs["prov"].digest))  # no type known: its bytes tell
    assert_envelope(r, 422, "NOT_A_FILESYSTEM")
    r = api.get(layer_url(filled.blobs["chart"].digest), params={"recursive": "true"})
    assert r.status_code == 200, r.text
    assert "/mychart/Chart.yaml" in [e["path"] for e in r.json()["entries"]]


def test_a_foreign_layer_is_never_fetched(api: TestClient, filled: Filled) -> None:
    foreign = filled.blobs["foreign"]
    r = api.get(layer_url(foreign.digest), params={"image": "foreign"})
    assert_envelope(r, 422, "FOREIGN_LAYER")
    r = api.get(image_url("foreign"), params={"recursive": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["complete"] is False
    assert "/windows/system.dll" not in [e["path"] for e in r.json()["entries"]]
    fetched = [
        line
        for line in filled.registry.log_text().splitlines()
        if foreign.digest in line and '"GET ' in line
    ]
    assert fetched == []


def test_a_layer_not_of_the_image_or_not_of_the_repository_is_404(
    api: TestClient, filled: Filled
) -> None:
    other = filled.blobs["other"]
    assert api.get(f"/api/repositories/{OTHER}/layers/{other.digest}/files").status_code == 200
    # indexed now; still not readable under a repository that does not hold it
    r = api.get(layer_url(other.digest))
    assert_envelope(r, 404, "BLOB_UNKNOWN")
    r = api.get(layer_url(filled.blobs["top"].digest), params={"image": "1.0"})
    assert_envelope(r, 404, "BLOB_UNKNOWN")


# -- the index's life --------------------------------------------------------------------


def test_a_restart_keeps_the_index(api: TestClient, filled: Filled, data_dir: Path) -> None:
    assert api.get(image_url("1.0")).status_code == 200
    with gateway_for(filled.registry.url, data_dir=data_dir) as restarted:
        r = restarted.get(image_url("1.0"), params={"recursive": "true"})
        assert r.status_code == 200, r.text
        # the tag, manifest and config are read again (access is confirmed anew); no layer
        layers = sum(len(filled.blobs[k].data) for k in ("base", "upper"))
        assert upstream_bytes(r) < layers
        metrics = restarted.get("/metrics").text
        assert 'lr_layer_bytes_read_total{purpose="index"} 0.0' in metrics
        assert "lr_layer_index_hits_total 2.0" in metrics


def test_a_read_longer_than_the_wait_answers_202_then_200(filled: Filled) -> None:
    with gateway_for(filled.registry.url) as fresh:
        r = fresh.get(image_url("big"), params={"wait": 0})
        assert r.status_code == 202, r.text
        assert r.headers["retry-after"].isdigit()
        body = r.json()
        assert body["status"] == "indexing" and body["bytes_total"] == len(filled.blobs["big"].data)
        r = fresh.get(image_url("big"))  # waits for the same read
        assert r.status_code == 200, r.text
        metrics = fresh.get("/metrics").text
        assert 'lr_layer_index_builds_total{outcome="ok"} 1.0' in metrics
        assert "lr_layer_index_joins_total 1.0" in metrics


def test_what_one_layer_changed(api: TestClient, filled: Filled) -> None:
    upper = filled.images["2.0"].layers[1]
    r = api.get(image_url("2.0", f"layers/{upper}/changes"), params={"n": 1000})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["position"] == 1 and body["digest"] == upper
    changes = {e["path"]: e["change"] for e in body["files"]["entries"]}
    assert changes["/etc/motd"] == "removed"
    assert changes["/var/cache/a"] == "removed"
    assert changes["/opt/app/keep.txt"] == "removed"  # the opaque directory
    assert changes["/opt/app/new.bin"] == "added"
    assert changes["/etc/hosts"] == "changed"
    assert "/lib/libc.so" not in changes  # touched only (mtime)
    assert changes["/srv/data"] == "changed"  # a file made a directory
    other = filled.blobs["known"].digest
    r = api.get(image_url("2.0", f"layers/{other}/changes"))
    assert_envelope(r, 404, "FILE_UNKNOWN")


def test_a_failing_index_store_is_503_and_shown_in_health(filled: Filled) -> None:
    with gateway_for(filled.registry.url) as fresh:
        health = fresh.get("/api/health").json()
        assert health["layer_index"]["available"] is True
        store = fresh.app.state.lr.files.engine.store  # type: ignore[attr-defined]
        store.db.close()  # as a file that cannot be read any more
        r = fresh.get(image_url("1.0"))
        assert_envelope(r, 503, "LAYER_INDEX_UNAVAILABLE")
        health = fresh.get("/api/health")
        assert health.status_code == 200  # the registry answers: still ready
        assert health.json()["layer_index"]["available"] is False


def test_on_distribution_2_8(registry_factory: Any) -> None:
    """Debian's 2.8 serves the same ranges: a listing, a gzip file and a plain tar file."""
    reg: RegistryProcess = registry_factory(version="2.8")
    known = Layer(gzip_bytes(tar_bytes(known_tree())), OCI_GZIP)
    top = Layer(tar_bytes(top_layer()), OCI_TAR)
    with Pusher(reg.url) as p:
        push_layers(p, REPO, "1", [known, top])
    with gateway_for(reg.url) as client:
        r = client.get(image_url("1"), params={"path": "/usr"})
        assert r.status_code == 200, r.text
        assert "/usr/added.txt" in [e["path"] for e in r.json()["entries"]]
        r = client.get(image_url("1", "file"), params={"path": "/etc/os-release"})
        assert r.content == b'NAME="Test"\nID=test\n'
        r = client.get(image_url("1", "file"), params={"path": "/usr/added.txt"})
        assert r.content == b"added on top\n"
