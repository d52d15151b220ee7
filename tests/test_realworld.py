"""Real-world documents: pushed into a registry and read through the gateway, and parsed
directly with ``gateway.models.oci``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.errors import UpstreamInvalid
from gateway.models import media_types as mt
from gateway.models import oci
from tests.conftest import gateway_for
from tests.support.fixtures import RealWorldRegistry

Doc = dict[str, Any]


def _shared_dir() -> Path:
    env = os.environ.get("LR_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


REALWORLD = _shared_dir() / "fixtures" / "realworld"
FILES = sorted(REALWORLD.glob("*.json")) if REALWORLD.is_dir() else []


@pytest.fixture(scope="module")
def rw_api(realworld_registry: RealWorldRegistry) -> Iterator[TestClient]:
    with gateway_for(realworld_registry.url) as client:
        yield client


def _pushed(realworld_registry: RealWorldRegistry) -> list[tuple[str, str, str]]:
    out = []
    for key, outcome in sorted(realworld_registry.pushed.items()):
        if outcome.startswith("skipped:"):
            continue
        repo, tag = key.split(":", 1)
        out.append((repo, tag, outcome))
    assert out, realworld_registry.pushed
    return out


def _ok(response: Any) -> Doc:
    assert response.status_code == 200, response.text
    body: Doc = response.json()
    return body


def _rfc3339_utc(value: str | None) -> datetime | None:
    if value is None:
        return None
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() is not None
    return parsed


def _when(value: str | None) -> datetime | None:
    """A Go timestamp (nanoseconds, any offset) as a datetime, None for zero or absent."""
    normalized = oci.normalize_time(value)
    return None if normalized is None else _rfc3339_utc(normalized)


def _raw(client: TestClient, repo: str, reference: str) -> tuple[bytes, str]:
    r = client.get(f"/api/repositories/{repo}/manifests/{reference}")
    assert r.status_code == 200, r.text
    digest = "sha256:" + hashlib.sha256(r.content).hexdigest()
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["etag"] == f'"{digest}"'
    return r.content, mt.base(r.headers["content-type"])


# -- through the gateway --------------------------------------------------------------


def test_something_was_pushed_and_the_foreign_layers_refused(
    realworld_registry: RealWorldRegistry,
) -> None:
    pushed = realworld_registry.pushed
    assert len(_pushed(realworld_registry)) >= 15
    # a default registry refuses foreign-layer URLs: that is the only expected refusal
    skipped = [k for k, v in pushed.items() if v.startswith("skipped:")]
    assert skipped in ([], ["realworld/windows:ltsc2022"])


def test_raw_manifests_exact_bytes(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    for repo, tag, digest in _pushed(realworld_registry):
        body, content_type = _raw(rw_api, repo, tag)
        assert "sha256:" + hashlib.sha256(body).hexdigest() == digest, (repo, tag)
        assert content_type in mt.MANIFEST_TYPES
        by_digest, _ = _raw(rw_api, repo, digest)
        assert by_digest == body
        doc = json.loads(body)
        for child in doc.get("manifests") or []:
            child_body, child_type = _raw(rw_api, repo, child["digest"])
            assert len(child_body) == child["size"]
            assert child_type == child["mediaType"]


def test_cosign_signature_keeps_its_original_digest(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    original = (REALWORLD / "artifact-cosign-signature-2024.json").read_bytes()
    digest = "sha256:" + hashlib.sha256(original).hexdigest()
    tags = [k for k, v in realworld_registry.pushed.items() if v == digest]
    assert tags, realworld_registry.pushed
    repo, tag = tags[0].split(":", 1)
    body, content_type = _raw(rw_api, repo, tag)
    assert body == original
    assert content_type == mt.OCI_MANIFEST


def _check_platform(entry: Doc, descriptor: Doc | None, manifest: Doc) -> None:
    assert entry.get("error") is None, entry
    assert entry["config_digest"] == manifest["config"]["digest"]
    assert [x["digest"] for x in entry["layers"]] == [x["digest"] for x in manifest["layers"]]
    assert [x["size"] for x in entry["layers"]] == [x["size"] for x in manifest["layers"]]
    _rfc3339_utc(entry["created"])
    if descriptor is not None and descriptor.get("platform"):
        platform = descriptor["platform"]
        assert entry["platform"]["os"] == platform["os"]
        assert entry["platform"]["architecture"] == platform["architecture"]
        assert entry["platform"]["variant"] == platform.get("variant")
        assert entry["platform"].get("os_version") == platform.get("os.version")


def test_image_detail_for_every_document(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    for repo, tag, digest in _pushed(realworld_registry):
        body = _ok(rw_api.get(f"/api/repositories/{repo}/images/{tag}"))
        raw, media_type = _raw(rw_api, repo, tag)
        doc = json.loads(raw)
        assert body["repository"] == repo
        assert body["reference"] == tag
        assert body["digest"] == digest
        assert body["media_type"] == media_type
        assert tag in body["tags"]
        assert body["annotations"] == (doc.get("annotations") or {})
        if media_type in mt.INDEX_TYPES:
            assert body["kind"] == "index"
            entries = doc["manifests"]
            attested = [
                e
                for e in entries
                if (e.get("annotations") or {}).get("vnd.docker.reference.type")
                == "attestation-manifest"
            ]
            runnable = [e for e in entries if e not in attested]
            assert len(body["platforms"]) == len(runnable)
            assert len(body["attestations"]) == len(attested)
            total = len(raw)
            for entry, descriptor in zip(body["platforms"], runnable, strict=True):
                assert entry["digest"] == descriptor["digest"]
                child_raw, _ = _raw(rw_api, repo, descriptor["digest"])
                child = json.loads(child_raw)
                _check_platform(entry, descriptor, child)
                size = len(child_raw) + child["config"]["size"]
                size += sum(x["size"] for x in child["layers"])
                assert entry["size"] == size
                total += size
            for att, descriptor in zip(body["attestations"], attested, strict=True):
                assert att["digest"] == descriptor["digest"]
                assert att["for_digest"] == descriptor["annotations"]["vnd.docker.reference.digest"]
                assert att["for_digest"] in {p["digest"] for p in body["platforms"]}
                assert att.get("error") is None
                total += att["size"]
            assert body["size"] == total
        else:
            assert media_type in mt.IMAGE_MANIFEST_TYPES
            assert body["kind"] == "image"
            assert len(body["platforms"]) == 1
            entry = body["platforms"][0]
            _check_platform(entry, None, doc)
            size = len(raw) + doc["config"]["size"] + sum(x["size"] for x in doc["layers"])
            assert entry["size"] == body["size"] == size
            config_type = doc["config"]["mediaType"]
            assert entry["config_media_type"] == config_type
            if config_type not in mt.IMAGE_CONFIG_TYPES:
                # Helm and other artifacts: shown as artifacts, no platform made up
                assert body["artifact_type"]
                assert entry["platform"]["os"] == ""


def test_dates_of_special_documents(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    for repo, tag, _ in _pushed(realworld_registry):
        body = _ok(rw_api.get(f"/api/repositories/{repo}/images/{tag}"))
        created = [p["created"] for p in body["platforms"]]
        if repo.endswith("/cosign"):
            assert created == [None]  # 0001-01-01: no date rather than year 1
        if tag == "bazel-rules_docker-epoch":
            assert created == ["1970-01-01T00:00:00Z"]


def _image_manifests(
    client: TestClient, realworld: RealWorldRegistry
) -> list[tuple[str, str, Doc]]:
    """(repo, manifest digest, manifest) of every image manifest with an image config,
    top-level or a child of an index."""
    out = []
    for repo, tag, digest in _pushed(realworld):
        raw, media_type = _raw(client, repo, tag)
        doc = json.loads(raw)
        if media_type in mt.INDEX_TYPES:
            children = [
                (m["digest"], json.loads(_raw(client, repo, m["digest"])[0]))
                for m in doc["manifests"]
            ]
        else:
            children = [(digest, doc)]
        for child_digest, child in children:
            if child["config"]["mediaType"] in mt.IMAGE_CONFIG_TYPES:
                out.append((repo, child_digest, child))
    return out


def test_config_for_every_image_manifest(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    images = _image_manifests(rw_api, realworld_registry)
    assert len(images) >= 25
    for repo, digest, manifest in images:
        body = _ok(rw_api.get(f"/api/repositories/{repo}/images/{digest}/config"))
        config_digest = manifest["config"]["digest"]
        blob = rw_api.get(f"/api/repositories/{repo}/blobs/{config_digest}")
        assert blob.status_code == 200
        assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == config_digest
        raw = json.loads(blob.content)
        run = raw.get("config") or {}
        assert body["digest"] == config_digest
        assert body["manifest_digest"] == digest
        assert body["os"] == raw.get("os", "")
        assert body["architecture"] == raw.get("architecture", "")
        assert body["variant"] == (raw.get("variant") or None)
        assert _when(body["created"]) == _when(raw.get("created"))
        assert body["config"]["env"] == (run.get("Env") or [])
        assert body["config"]["labels"] == (run.get("Labels") or {})
        assert body["config"]["cmd"] == run.get("Cmd")
        assert body["config"]["user"] == run.get("User")
        assert body["config"]["exposed_ports"] == sorted(run.get("ExposedPorts") or {})
        assert body["config"]["volumes"] == sorted(run.get("Volumes") or {})
        assert body["diff_ids"] == (raw.get("rootfs") or {}).get("diff_ids", [])
        history = raw.get("history") or []
        assert len(body["history"]) == len(history)
        for got, want in zip(body["history"], history, strict=True):
            assert got["created_by"] == want.get("created_by")
            assert got["empty_layer"] == bool(want.get("empty_layer"))
        # non-empty entries take the layers in order
        with_layer = [h["layer"]["digest"] for h in body["history"] if h["layer"]]
        non_empty = sum(1 for h in history if not h.get("empty_layer"))
        layers = [x["digest"] for x in manifest["layers"]]
        assert with_layer == layers[: min(non_empty, len(layers))]
        assert all(h["layer"] is None for h in body["history"] if h["empty_layer"])


def test_config_of_real_configs_by_tag(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    """The real configs are pushed unchanged: spot-check fields a page shows."""
    checked = 0
    for repo, tag, _ in _pushed(realworld_registry):
        if not repo.endswith("/configs"):
            continue
        source = json.loads((REALWORLD / f"config-{tag}.json").read_bytes())
        body = _ok(rw_api.get(f"/api/repositories/{repo}/images/{tag}/config"))
        run = source.get("config") or {}
        assert body["config"]["entrypoint"] == run.get("Entrypoint")
        assert body["config"]["working_dir"] == run.get("WorkingDir")
        if "os.version" in source:
            assert body["os_version"] == source["os.version"]
        if run.get("Healthcheck"):
            assert body["config"]["healthcheck"] == run["Healthcheck"]
        non_empty = [h for h in source.get("history") or [] if not h.get("empty_layer")]
        assert len(non_empty) == len(source["rootfs"]["diff_ids"])
        assert sum(1 for h in body["history"] if h["layer"]) == len(non_empty)
        checked += 1
    assert checked >= 8


def test_index_config_needs_a_platform(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    for repo, tag, _ in _pushed(realworld_registry):
        if not repo.endswith(("/hello-world", "/python")):
            continue
        r = rw_api.get(f"/api/repositories/{repo}/images/{tag}/config")
        assert r.status_code == 400
        assert "linux/arm64/v8" in r.json()["error"]["detail"]["platforms"]
        body = _ok(rw_api.get(f"/api/repositories/{repo}/images/{tag}/config?platform=linux/s390x"))
        assert body["architecture"] == "s390x"
    nginx = [p for p in _pushed(realworld_registry) if p[0] == "realworld/nginx"]
    assert nginx
    for repo, tag, _ in nginx:
        # one runnable platform plus an attestation: no platform needed
        body = _ok(rw_api.get(f"/api/repositories/{repo}/images/{tag}/config"))
        assert (body["os"], body["architecture"]) == ("linux", "amd64")


# -- parsing the files directly -------------------------------------------------------


def _kind(path: Path) -> str:
    name = path.name
    if name.startswith("event-"):
        return "event"
    doc = json.loads(path.read_bytes())
    if "schemaVersion" in doc:
        return "manifest"
    if name.startswith("config-") or "-config-" in name:
        return "config"
    return "blob"


def _files(kind: str) -> list[Any]:
    if not FILES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{REALWORLD} not found"))]
    return [pytest.param(p, id=p.name) for p in FILES if _kind(p) == kind]


def test_fixture_folder_holds_every_kind() -> None:
    if not FILES:
        pytest.skip(f"{REALWORLD} not found")
    kinds = [_kind(p) for p in FILES]
    assert kinds.count("manifest") >= 8
    assert kinds.count("config") >= 10
    assert kinds.count("event") == 2


@pytest.mark.parametrize("path", _files("manifest"))
def test_parse_real_manifest(path: Path) -> None:
    body = path.read_bytes()
    doc = json.loads(body)
    kind = oci.manifest_media_type(body, None)
    declared = doc.get("mediaType")
    if declared:
        assert kind == declared
        assert oci.manifest_media_type(body, declared + "; charset=utf-8") == declared
        other = mt.OCI_INDEX if declared not in mt.INDEX_TYPES else mt.OCI_MANIFEST
        with pytest.raises(UpstreamInvalid):
            oci.manifest_media_type(body, other)
    else:
        # Helm: no mediaType; the Content-Type names it, else the shape does
        assert kind == mt.OCI_MANIFEST
        assert oci.manifest_media_type(body, mt.OCI_MANIFEST) == mt.OCI_MANIFEST
    if kind in mt.INDEX_TYPES:
        index = oci.parse_index(body)
        assert [d.digest for d in index.manifests] == [m["digest"] for m in doc["manifests"]]
        assert [d.size for d in index.manifests] == [m["size"] for m in doc["manifests"]]
        for descriptor, entry in zip(index.manifests, doc["manifests"], strict=True):
            platform = entry.get("platform") or {}
            assert descriptor.platform is not None
            assert descriptor.platform.os == platform["os"]
            assert descriptor.platform.architecture == platform["architecture"]
            assert descriptor.platform.variant == platform.get("variant")
            assert descriptor.platform.os_version == platform.get("os.version")
            annotations = entry.get("annotations") or {}
            assert descriptor.is_attestation == (
                annotations.get("vnd.docker.reference.type") == "attestation-manifest"
            )
        assert index.annotations == (doc.get("annotations") or {})
    else:
        assert kind in mt.IMAGE_MANIFEST_TYPES
        image = oci.parse_image_manifest(body)
        assert image.config.digest == doc["config"]["digest"]
        assert image.config.media_type == doc["config"]["mediaType"]
        assert [(x.digest, x.size) for x in image.layers] == [
            (x["digest"], x["size"]) for x in doc["layers"]
        ]
        assert [x.urls for x in image.layers] == [x.get("urls") for x in doc["layers"]]
        assert image.annotations == (doc.get("annotations") or {})


@pytest.mark.parametrize("path", _files("config"))
def test_parse_real_config(path: Path) -> None:
    body = path.read_bytes()
    doc = json.loads(body)
    config = oci.parse_config(body)
    is_image = path.name.startswith("config-")
    assert config.os == doc.get("os", "")
    assert config.architecture == doc.get("architecture", "")
    run = doc.get("config") or {}
    if not is_image and "rootfs" not in doc:
        # a Helm chart config: nothing of an image, and nothing made up
        assert config.os == config.architecture == ""
        assert config.history == []
        assert config.config.env == []
        return
    assert config.config.env == (run.get("Env") or [])
    assert config.config.labels == (run.get("Labels") or {})
    assert sorted(config.config.exposed_ports) == sorted(run.get("ExposedPorts") or {})
    assert config.rootfs.diff_ids == doc["rootfs"]["diff_ids"]
    assert len(config.history) == len(doc.get("history") or [])
    non_empty = [h for h in config.history if not h.empty_layer]
    assert len(non_empty) == len(config.rootfs.diff_ids)
    if is_image:
        assert config.os in ("linux", "windows")
        assert config.architecture == "amd64"
        assert oci.normalize_time(config.created) is not None
    else:
        # a cosign signature's config: year 1 means no date
        assert oci.normalize_time(config.created) is None


@pytest.mark.parametrize("path", _files("blob"))
def test_real_payloads_are_not_manifests(path: Path) -> None:
    body = path.read_bytes()
    doc = json.loads(body)
    assert "critical" in doc  # a cosign SimpleSigning payload (a layer, not a manifest)
    config = oci.parse_config(body)  # shown leniently if someone points at it
    assert config.os == ""


def test_windows_children_are_told_apart_by_os_version(
    rw_api: TestClient, realworld_registry: RealWorldRegistry
) -> None:
    """Two windows/amd64 images differing only in os.version: os_version picks one."""
    python = [p for p in _pushed(realworld_registry) if p[0] == "realworld/python"]
    if not python:
        pytest.skip("the python list was not pushed")
    repo, tag, _ = python[0]
    index = json.loads(rw_api.get(f"/api/repositories/{repo}/manifests/{tag}").content)
    windows = {
        m["platform"]["os.version"]: m["digest"]
        for m in index["manifests"]
        if m["platform"]["os"] == "windows"
    }
    assert len(windows) == 2
    url = f"/api/repositories/{repo}/images/{tag}/config"
    r = rw_api.get(url, params={"platform": "windows/amd64"})
    assert r.status_code == 400
    choices = r.json()["error"]["detail"]["choices"]
    assert {c["os_version"]: c["digest"] for c in choices} == windows
    for os_version, digest in windows.items():
        params = {"platform": "windows/amd64", "os_version": os_version}
        body = _ok(rw_api.get(url, params=params))
        assert body["manifest_digest"] == digest
    r = rw_api.get(url, params={"platform": "windows/amd64", "os_version": "1.2.3"})
    assert r.status_code == 404
