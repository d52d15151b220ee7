"""Image detail, config and history, raw manifests and blobs, and the content cache."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    PushedImage,
    PushedIndex,
    Pusher,
    dumps,
    sha256_digest,
)
from tests.support.assertions import assert_envelope
from tests.support.fixtures import FilledRegistry, UntaggedRegistry

MiB = 1024 * 1024
UNKNOWN_DIGEST = "sha256:" + "ab" * 32


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _when(value: str | None) -> datetime | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _image(registry: FilledRegistry, key: str) -> PushedImage:
    image = registry.content.images[key]
    assert isinstance(image, PushedImage)
    return image


def _index(registry: FilledRegistry, key: str) -> PushedIndex:
    index = registry.content.images[key]
    assert isinstance(index, PushedIndex)
    return index


def _detail(api: TestClient, repo: str, reference: str) -> dict[str, Any]:
    return _ok(api.get(f"/api/repositories/{repo}/images/{reference}"))


def _config(api: TestClient, repo: str, reference: str, platform: str | None = None) -> Any:
    params = {"platform": platform} if platform else None
    return api.get(f"/api/repositories/{repo}/images/{reference}/config", params=params)


def assert_platform_image(entry: dict[str, Any], image: PushedImage) -> None:
    """One ``platforms[]`` entry describes ``image`` exactly."""
    assert entry.get("error") is None, entry
    assert entry["platform"]["os"] == image.os
    assert entry["platform"]["architecture"] == image.architecture
    assert entry["platform"]["variant"] == image.variant
    assert entry["digest"] == image.digest
    assert entry["media_type"] == image.media_type
    assert entry["size"] == image.size
    assert entry["size"] == len(image.manifest) + image.config_size + sum(
        size for _, _, size in image.layers
    )
    assert entry["config_digest"] == image.config_digest
    assert _when(entry["created"]) == _when(image.created)
    assert [(x["digest"], x["media_type"], x["size"]) for x in entry["layers"]] == image.layers


def assert_index_detail(body: dict[str, Any], index: PushedIndex, reference: str) -> None:
    assert body["repository"] == index.repo
    assert body["reference"] == reference
    assert body["digest"] == index.digest
    assert body["media_type"] == index.media_type
    assert body["kind"] == "index"
    assert body["size"] == index.size
    assert body["annotations"] == index.annotations
    assert len(body["platforms"]) == len(index.children)
    for entry, child in zip(body["platforms"], index.children, strict=True):
        assert_platform_image(entry, child)
    assert len(body["attestations"]) == len(index.attestations)
    for entry, att in zip(body["attestations"], index.attestations, strict=True):
        assert entry["digest"] == att.digest
        assert entry["for_digest"] == att.subject_digest
        assert entry["media_type"] == att.media_type
        assert entry["size"] == att.size
        assert entry.get("error") is None


def assert_image_detail(body: dict[str, Any], image: PushedImage, reference: str) -> None:
    assert body["repository"] == image.repo
    assert body["reference"] == reference
    assert body["digest"] == image.digest
    assert body["media_type"] == image.media_type
    assert body["kind"] == "image"
    assert body["size"] == image.size
    assert body["annotations"] == {}
    assert body["attestations"] == []
    assert len(body["platforms"]) == 1
    assert_platform_image(body["platforms"][0], image)


# -- image detail ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["schema2/app:1.0", "oci/app:1.0", "team/app/api:v1.2.3", "versions/app:1.10.0-rc2"]
)
def test_detail_single_image_by_tag_and_digest(
    api: TestClient, registry: FilledRegistry, key: str
) -> None:
    image = _image(registry, key)
    tags = registry.content.tags_of(image.repo)
    on_digest = sorted(t for t in tags if registry.content.images[f"{image.repo}:{t}"] is image)
    for reference in (image.tag, image.digest):
        assert reference is not None
        body = _detail(api, image.repo, reference)
        assert_image_detail(body, image, reference)
        assert sorted(body["tags"]) == on_digest


def test_detail_schema2_and_oci_media_types(api: TestClient, registry: FilledRegistry) -> None:
    assert _detail(api, "schema2/app", "1.0")["media_type"] == DOCKER_MANIFEST
    assert _detail(api, "oci/app", "1.0")["media_type"] == OCI_MANIFEST


def test_detail_tags_on_the_same_digest(api: TestClient, registry: FilledRegistry) -> None:
    for repo, ref in (("oci/app", "1.0"), ("oci/app", "latest")):
        assert sorted(_detail(api, repo, ref)["tags"]) == ["1.0", "latest"]
    oci_app = _image(registry, "oci/app:1.0")
    assert sorted(_detail(api, "oci/app", oci_app.digest)["tags"]) == ["1.0", "latest"]
    index = _index(registry, "multi/oci-index:1.0.0")
    for ref in ("1.0.0", "latest", index.digest):
        assert sorted(_detail(api, "multi/oci-index", ref)["tags"]) == ["1.0.0", "latest"]
    assert sorted(_detail(api, "versions/app", "main")["tags"]) == ["main", "sha-1a2b3c4"]
    assert sorted(_detail(api, "versions/app", "v2.0.1")["tags"]) == ["latest", "v2.0.1"]
    assert _detail(api, "versions/app", "v2")["tags"] == ["v2"]
    # a child of an index has no tag of its own
    assert _detail(api, "multi/oci-index", index.children[0].digest)["tags"] == []


def test_detail_oci_index_three_platforms(api: TestClient, registry: FilledRegistry) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    assert index.media_type == OCI_INDEX
    assert [c.platform for c in index.children] == [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
    ]
    for reference in ("1.0.0", "latest", index.digest):
        body = _detail(api, "multi/oci-index", reference)
        assert_index_detail(body, index, reference)
        assert body["attestations"] == []
    body = _detail(api, "multi/oci-index", "1.0.0")
    by_platform = {
        (p["platform"]["os"], p["platform"]["architecture"], p["platform"]["variant"]): p
        for p in body["platforms"]
    }
    assert set(by_platform) == {
        ("linux", "amd64", None),
        ("linux", "arm64", "v8"),
        ("linux", "arm", "v7"),
    }
    assert by_platform[("linux", "arm64", "v8")]["created"] == "2024-05-01T10:30:00Z"
    assert by_platform[("linux", "arm", "v7")]["created"] == "2024-05-01T10:10:00Z"


def test_detail_child_of_an_index_by_digest(api: TestClient, registry: FilledRegistry) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    child = index.children[1]
    body = _detail(api, "multi/oci-index", child.digest)
    assert_image_detail(body, child, child.digest)


def test_detail_docker_manifest_list(api: TestClient, registry: FilledRegistry) -> None:
    index = _index(registry, "multi/docker-list:1.0")
    assert index.media_type == DOCKER_LIST
    for reference in ("1.0", index.digest):
        body = _detail(api, "multi/docker-list", reference)
        assert_index_detail(body, index, reference)
        assert all(p["media_type"] == DOCKER_MANIFEST for p in body["platforms"])
        assert body["tags"] == ["1.0"]


def test_detail_attested_index(api: TestClient, registry: FilledRegistry) -> None:
    index = _index(registry, "multi/attested:1.0")
    for reference in ("1.0", index.digest):
        body = _detail(api, "multi/attested", reference)
        assert_index_detail(body, index, reference)
        assert [p["platform"]["architecture"] for p in body["platforms"]] == ["amd64", "arm64"]
        assert {a["for_digest"] for a in body["attestations"]} == {c.digest for c in index.children}
        assert all(
            p["platform"]["os"] != "unknown" and p["platform"]["architecture"] != "unknown"
            for p in body["platforms"]
        )
        att_digests = {a.digest for a in index.attestations}
        assert not att_digests & {p["digest"] for p in body["platforms"]}


def test_detail_nested_repository_name(api: TestClient, registry: FilledRegistry) -> None:
    image = _image(registry, "team/app/api:v1.2.3")
    body = _detail(api, "team/app/api", "v1.2.3")
    assert body["repository"] == "team/app/api"
    assert body["tags"] == ["v1.2.3"]
    other = _image(registry, "team/app/web:1.0")
    assert _detail(api, "team/app/web", "1.0")["digest"] == other.digest
    # content of one repository is not served under another name
    assert_envelope(
        api.get(f"/api/repositories/team/app/web/images/{image.digest}"), 404, "MANIFEST_UNKNOWN"
    )
    config = _ok(_config(api, "team/app/api", "v1.2.3"))
    assert config["manifest_digest"] == image.digest
    r = api.get("/api/repositories/team/app/api/manifests/v1.2.3")
    assert r.status_code == 200 and r.content == image.manifest


def test_detail_broken_index(api: TestClient, registry: FilledRegistry) -> None:
    broken = registry.content.broken_index
    body = _detail(api, "broken/index", "1.0")
    assert body["digest"] == broken.digest
    assert body["kind"] == "index"
    assert len(body["platforms"]) == 2
    good, missing = body["platforms"]
    assert_platform_image(good, broken.children[0])
    assert missing["digest"] == registry.content.broken_child_digest == broken.children[1].digest
    assert missing["error"]["code"] == "MANIFEST_UNKNOWN"
    assert missing["platform"]["architecture"] == "arm64"
    assert missing["platform"]["variant"] == "v8"
    # the surviving platform's config is still there; the missing one is a 404
    config = _ok(_config(api, "broken/index", "1.0", "linux/amd64"))
    assert config["manifest_digest"] == broken.children[0].digest
    assert_envelope(_config(api, "broken/index", "1.0", "linux/arm64/v8"), 404, "MANIFEST_UNKNOWN")


def test_detail_helm_artifact(api: TestClient, registry: FilledRegistry) -> None:
    chart = _image(registry, "artifacts/helm-chart:15.0.2")
    body = _detail(api, "artifacts/helm-chart", "15.0.2")
    assert body["digest"] == chart.digest
    assert body["kind"] == "image"
    assert body["size"] == chart.size
    assert body["annotations"] == json.loads(chart.manifest)["annotations"]
    assert body["artifact_type"] == chart.config_media_type


def test_detail_unknown_tag_and_digest(api: TestClient) -> None:
    assert_envelope(
        api.get("/api/repositories/oci/app/images/no-such-tag"), 404, "MANIFEST_UNKNOWN"
    )
    assert_envelope(
        api.get(f"/api/repositories/oci/app/images/{UNKNOWN_DIGEST}"), 404, "MANIFEST_UNKNOWN"
    )
    assert_envelope(
        api.get(f"/api/repositories/oci/app/images/{UNKNOWN_DIGEST}/config"),
        404,
        "MANIFEST_UNKNOWN",
    )
    # an unknown repository: the registry names the missing manifest or the name
    r = api.get("/api/repositories/no/such/images/1.0")
    assert r.status_code == 404
    assert r.json()["error"]["code"] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


@pytest.mark.parametrize(
    "reference", ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:" + "0" * 63]
)
def test_detail_bad_digest(api: TestClient, reference: str) -> None:
    assert_envelope(api.get(f"/api/repositories/oci/app/images/{reference}"), 400, "DIGEST_INVALID")


def test_detail_bad_tag(api: TestClient) -> None:
    assert_envelope(api.get("/api/repositories/oci/app/images/.hidden"), 400, "TAG_INVALID")
    assert_envelope(api.get("/api/repositories/oci/app/images/" + "t" * 129), 400, "TAG_INVALID")


# -- config and history ---------------------------------------------------------------


def _runnable_images(registry: FilledRegistry) -> list[tuple[PushedImage, str | None]]:
    """Every image (by its tag) and every index child (by its index's tag + platform)."""
    out: list[tuple[PushedImage, str | None]] = []
    seen: set[tuple[str, str]] = set()
    for item in registry.content.images.values():
        if item.repo in ("artifacts/helm-chart", "broken/index"):
            continue
        if (item.repo, item.digest) in seen:
            continue
        seen.add((item.repo, item.digest))
        if isinstance(item, PushedIndex):
            out.extend((child, child.platform) for child in item.children)
        else:
            out.append((item, None))
    return out


def assert_config(body: dict[str, Any], image: PushedImage) -> None:
    pushed = json.loads(image.config)
    run = pushed["config"]
    assert body["digest"] == image.config_digest
    assert body["manifest_digest"] == image.digest
    assert body["media_type"] == image.config_media_type
    assert _when(body["created"]) == _when(pushed["created"])
    assert body["author"] == pushed["author"]
    assert body["os"] == pushed["os"] == image.os
    assert body["architecture"] == pushed["architecture"] == image.architecture
    assert body["variant"] == pushed.get("variant") == image.variant
    config = body["config"]
    assert config["env"] == run["Env"]
    assert config["labels"] == (run["Labels"] or {})
    assert config["cmd"] == run["Cmd"]
    assert config["entrypoint"] == run["Entrypoint"]
    assert config["working_dir"] == run["WorkingDir"]
    assert config["user"] == run["User"]
    assert sorted(config["exposed_ports"]) == sorted(run.get("ExposedPorts") or {})
    assert config["volumes"] == []
    assert body["diff_ids"] == pushed["rootfs"]["diff_ids"]
    # history, in order, each non-empty entry matched to the next layer
    history = body["history"]
    assert len(history) == len(pushed["history"])
    layers = iter(image.layers)
    for got, want in zip(history, pushed["history"], strict=True):
        assert got["created_by"] == want["created_by"]
        assert _when(got["created"]) == _when(want["created"])
        assert got["empty_layer"] == bool(want.get("empty_layer"))
        if got["empty_layer"]:
            assert got["layer"] is None
        else:
            digest, _, size = next(layers)
            assert got["layer"]["digest"] == digest
            assert got["layer"]["size"] == size
    assert next(layers, None) is None
    assert sum(1 for h in history if not h["empty_layer"]) == len(image.layers)


def test_config_every_image_and_platform(api: TestClient, registry: FilledRegistry) -> None:
    images = _runnable_images(registry)
    assert len(images) > 40
    for image, platform in images:
        if platform is None:
            assert image.tag is not None
            body = _ok(_config(api, image.repo, image.tag))
        else:
            index = next(
                i
                for i in registry.content.images.values()
                if isinstance(i, PushedIndex) and image in i.children
            )
            assert index.tag is not None
            body = _ok(_config(api, image.repo, index.tag, platform))
        assert_config(body, image)
        # by the image's own digest too, without a platform
        assert_config(_ok(_config(api, image.repo, image.digest)), image)


def test_config_schema2_app_fields(api: TestClient, registry: FilledRegistry) -> None:
    image = _image(registry, "schema2/app:1.0")
    body = _ok(_config(api, "schema2/app", "1.0"))
    assert body["config"]["env"] == ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_ENV=production"]
    assert body["config"]["labels"] == {
        "org.opencontainers.image.title": "app",
        "maintainer": "team@example.com",
    }
    assert body["config"]["cmd"] == ["/app/server", "--port", "8080"]
    assert body["config"]["exposed_ports"] == ["8080/tcp"]
    assert body["config"]["working_dir"] == "/app"
    # two layers and two empty steps, interleaved
    assert [h["empty_layer"] for h in body["history"]] == [False, True, False, True]
    assert [h["layer"] and h["layer"]["digest"] for h in body["history"]] == [
        image.layers[0][0],
        None,
        image.layers[1][0],
        None,
    ]
    assert [(x["digest"], x["size"]) for x in body["layers"]] == [
        (d, s) for d, _, s in image.layers
    ]


@pytest.mark.parametrize(
    ("platform", "child"),
    [("linux/arm64/v8", 1), ("linux/arm/v7", 2), ("linux/amd64", 0), ("LINUX/ARM64/V8", 1)],
)
def test_config_platform_selection(
    api: TestClient, registry: FilledRegistry, platform: str, child: int
) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    body = _ok(_config(api, "multi/oci-index", "1.0.0", platform))
    assert_config(body, index.children[child])


def test_config_platform_required_for_a_multi_platform_index(
    api: TestClient, registry: FilledRegistry
) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    error = assert_envelope(_config(api, "multi/oci-index", "1.0.0"), 400, "VALIDATION_ERROR")
    assert sorted(error["detail"]["platforms"]) == sorted(index.platforms)
    # attestations are never offered as platforms
    attested = _index(registry, "multi/attested:1.0")
    error = assert_envelope(_config(api, "multi/attested", "1.0"), 400, "VALIDATION_ERROR")
    assert sorted(error["detail"]["platforms"]) == sorted(attested.platforms)
    assert_config(
        _ok(_config(api, "multi/attested", "1.0", "linux/arm64/v8")), attested.children[1]
    )
    docker_list = _index(registry, "multi/docker-list:1.0")
    assert_config(
        _ok(_config(api, "multi/docker-list", "1.0", "linux/amd64")), docker_list.children[0]
    )


@pytest.mark.parametrize("platform", ["linux/s390x", "windows/amd64", "linux/arm/v6"])
def test_config_unknown_platform(api: TestClient, platform: str) -> None:
    error = assert_envelope(
        _config(api, "multi/oci-index", "1.0.0", platform), 404, "MANIFEST_UNKNOWN"
    )
    assert error["detail"]["platforms"]


def test_config_bad_platform_parameter(api: TestClient) -> None:
    assert_envelope(_config(api, "multi/oci-index", "1.0.0", "linux"), 400, "VALIDATION_ERROR")


# -- raw manifests --------------------------------------------------------------------


def _distinct(registry: FilledRegistry) -> list[tuple[str, PushedImage | PushedIndex]]:
    """(tag, item) once per pushed digest, plus every index child by digest."""
    out: list[tuple[str, PushedImage | PushedIndex]] = []
    seen: set[tuple[str, str]] = set()
    for key, item in registry.content.images.items():
        if (item.repo, item.digest) in seen:
            continue
        seen.add((item.repo, item.digest))
        out.append((key.split(":", 1)[1], item))
    return out


def test_raw_manifest_bytes_and_headers(api: TestClient, registry: FilledRegistry) -> None:
    items = _distinct(registry)
    assert len(items) > 40
    for tag, item in items:
        references: list[tuple[str, bytes, str, str]] = []
        for ref in (tag, item.digest):
            references.append((ref, item.manifest, item.media_type, item.digest))
        if isinstance(item, PushedIndex):
            for child in item.children + item.attestations:
                if child.digest == registry.content.broken_child_digest:
                    continue
                references.append((child.digest, child.manifest, child.media_type, child.digest))
        for ref, manifest, media_type, digest in references:
            r = api.get(f"/api/repositories/{item.repo}/manifests/{ref}")
            assert r.status_code == 200, (item.repo, ref, r.text)
            assert r.content == manifest
            assert sha256_digest(r.content) == digest
            assert r.headers["content-type"].split(";")[0].strip() == media_type
            assert r.headers["docker-content-digest"] == digest
            assert r.headers["etag"] == f'"{digest}"'


def test_raw_manifest_if_none_match(api: TestClient, registry: FilledRegistry) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    url = f"/api/repositories/multi/oci-index/manifests/{index.digest}"
    r = api.get(url, headers={"If-None-Match": f'"{index.digest}"'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == f'"{index.digest}"'
    r = api.get(url, headers={"If-None-Match": f'"{UNKNOWN_DIGEST}"'})
    assert r.status_code == 200
    assert r.content == index.manifest
    r = api.get(url, headers={"If-None-Match": f'"{UNKNOWN_DIGEST}", "{index.digest}"'})
    assert r.status_code == 304


def test_raw_manifest_errors(api: TestClient) -> None:
    assert_envelope(api.get("/api/repositories/oci/app/manifests/nope"), 404, "MANIFEST_UNKNOWN")
    assert_envelope(
        api.get(f"/api/repositories/oci/app/manifests/{UNKNOWN_DIGEST}"), 404, "MANIFEST_UNKNOWN"
    )
    assert_envelope(api.get("/api/repositories/oci/app/manifests/sha256:12"), 400, "DIGEST_INVALID")
    r = api.get("/api/repositories/no/such/manifests/1.0")
    assert r.status_code == 404
    assert r.json()["error"]["code"] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


# -- blobs ----------------------------------------------------------------------------


def test_blob_layers_and_config(api: TestClient, registry: FilledRegistry) -> None:
    for key in ("schema2/app:1.0", "oci/app:1.0", "team/app/api:v1.2.3"):
        image = _image(registry, key)
        blobs = list(zip([d for d, _, _ in image.layers], image.layer_data, strict=True))
        blobs.append((image.config_digest, image.config))
        for digest, data in blobs:
            r = api.get(f"/api/repositories/{image.repo}/blobs/{digest}")
            assert r.status_code == 200, r.text
            assert r.content == data
            assert r.headers["content-length"] == str(len(data))
            assert r.headers["docker-content-digest"] == digest
            assert r.headers["etag"] == f'"{digest}"'
            assert r.headers["content-disposition"].startswith("attachment")
    index = _index(registry, "multi/oci-index:1.0.0")
    child = index.children[2]
    r = api.get(f"/api/repositories/multi/oci-index/blobs/{child.layers[1][0]}")
    assert r.status_code == 200
    assert r.content == child.layer_data[1]


def test_blob_if_none_match(api: TestClient, registry: FilledRegistry) -> None:
    image = _image(registry, "oci/app:1.0")
    digest = image.layers[0][0]
    url = f"/api/repositories/oci/app/blobs/{digest}"
    r = api.get(url, headers={"If-None-Match": f'"{digest}"'})
    assert r.status_code == 304
    assert r.content == b""
    r = api.get(url, headers={"If-None-Match": f'"{image.layers[1][0]}"'})
    assert r.status_code == 200
    assert r.content == image.layer_data[0]


def test_blob_errors(api: TestClient, registry: FilledRegistry) -> None:
    assert_envelope(
        api.get(f"/api/repositories/oci/app/blobs/{UNKNOWN_DIGEST}"), 404, "BLOB_UNKNOWN"
    )
    assert_envelope(api.get("/api/repositories/oci/app/blobs/latest"), 400, "DIGEST_INVALID")
    assert_envelope(
        api.get(f"/api/repositories/no/such/blobs/{UNKNOWN_DIGEST}"), 404, "NAME_UNKNOWN"
    )
    # a blob of another repository is not served under this one
    other = _image(registry, "schema2/app:1.0")
    assert_envelope(
        api.get(f"/api/repositories/oci/app/blobs/{other.layers[0][0]}"), 404, "BLOB_UNKNOWN"
    )


def test_blob_of_a_repository_that_was_never_tagged(
    make_gateway: Any, untagged_registry: UntaggedRegistry
) -> None:
    url, image = untagged_registry.url, untagged_registry.image
    blob = f"/api/repositories/ci/untagged/blobs/{image.config_digest}"
    with make_gateway(url) as client:
        r = client.get(blob)
        assert r.status_code == 200, r.text
        assert r.content == image.config
    with make_gateway(url) as client:
        r = client.get(blob, headers={"If-None-Match": f'"{image.config_digest}"'})
        assert r.status_code == 304, r.text
    with make_gateway(url) as client:
        r = client.get(
            f"/api/repositories/ci/untagged/blobs/{UNKNOWN_DIGEST}",
            headers={"If-None-Match": f'"{UNKNOWN_DIGEST}"'},
        )
        assert r.status_code == 404, r.text


def test_detail_of_an_image_in_a_repository_that_was_never_tagged(
    make_gateway: Any, untagged_registry: UntaggedRegistry
) -> None:
    image = untagged_registry.image
    with make_gateway(untagged_registry.url) as client:
        detail = _detail(client, "ci/untagged", image.digest)
    assert detail["digest"] == image.digest
    assert detail["tags"] == []
    [platform] = detail["platforms"]
    assert_platform_image(platform, image)


def test_cached_documents_of_a_repository_that_was_never_tagged(
    make_gateway: Any, untagged_registry: UntaggedRegistry
) -> None:
    """Once the access confirmation expires (here at once), cached content is granted
    again by asking the registry about the document itself, not by a tag list."""
    image = untagged_registry.image
    repo = "/api/repositories/ci/untagged"
    with make_gateway(untagged_registry.url, access_ttl=0) as client:
        for _ in range(2):
            r = client.get(f"{repo}/manifests/{image.digest}")
            assert r.status_code == 200, r.text
            assert r.content == image.manifest
            config = _ok(client.get(f"{repo}/images/{image.digest}/config"))
            assert config["digest"] == image.config_digest
        assert_envelope(client.get(f"{repo}/manifests/{UNKNOWN_DIGEST}"), 404, "MANIFEST_UNKNOWN")


# -- caching --------------------------------------------------------------------------


def _upstream(response: Any) -> int:
    assert response.status_code == 200, response.text
    return int(response.headers["x-upstream-requests"])


def test_second_detail_is_served_from_cache(make_gateway: Any, registry: FilledRegistry) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    image = _image(registry, "schema2/app:1.0")
    with make_gateway(registry.url, cache_ttl=300) as client:
        for repo, ref in (
            ("multi/oci-index", "1.0.0"),
            ("multi/oci-index", index.digest),
            ("schema2/app", "1.0"),
            ("schema2/app", image.digest),
        ):
            url = f"/api/repositories/{repo}/images/{ref}"
            first = client.get(url)
            assert _upstream(first) >= 0
            second = client.get(url)
            assert _upstream(second) == 0, url
            assert second.json() == first.json()
        # the first call read the index, its 4 child manifests, configs and the tag list
        fresh = client.get("/api/repositories/multi/attested/images/1.0")
        assert _upstream(fresh) >= 1 + 4 + 1
        assert _upstream(client.get("/api/repositories/multi/attested/images/1.0")) == 0
        for path in (
            "/api/repositories/multi/oci-index/images/1.0.0/config?platform=linux/arm/v7",
            f"/api/repositories/multi/oci-index/manifests/{index.digest}",
            "/api/repositories/multi/oci-index/tags?details=true",
        ):
            assert _upstream(client.get(path)) == 0, path


def test_without_list_cache_content_by_digest_still_cached(
    make_gateway: Any, registry: FilledRegistry
) -> None:
    index = _index(registry, "multi/oci-index:1.0.0")
    child = index.children[1]
    with make_gateway(registry.url, cache_ttl=0) as client:
        totals = client.app.state.lr.client.totals
        config_url = f"/api/repositories/multi/oci-index/images/{child.digest}/config"
        manifest_url = f"/api/repositories/multi/oci-index/manifests/{child.digest}"
        detail_url = f"/api/repositories/multi/oci-index/images/{index.digest}"
        first = client.get(config_url)
        assert _upstream(first) >= 2  # manifest and config blob
        # manifests and configs are immutable: by digest they come from the cache
        for _ in range(2):
            r = client.get(config_url)
            assert _upstream(r) == 0
            assert r.json() == first.json()
            r = client.get(manifest_url)
            assert _upstream(r) == 0
            assert r.content == child.manifest
        _upstream(client.get(detail_url))
        before = dict(totals.by_kind)
        # only the tag list and its tag -> digest pointers are asked for again (TTL 0):
        # the index, its children and their configs come from the cache
        r = client.get(detail_url)
        assert 1 <= _upstream(r) <= 1 + 2  # tags/list, then 1.0.0 and latest resolved
        assert sorted(r.json()["tags"]) == ["1.0.0", "latest"]
        after = totals.by_kind
        assert after.get("tags", 0) == before.get("tags", 0) + 1
        assert after.get("manifest", 0) - before.get("manifest", 0) <= 2
        assert after.get("blob", 0) == before.get("blob", 0)
        # ... while a tag is resolved again every time
        assert _upstream(client.get("/api/repositories/multi/oci-index/manifests/1.0.0")) == 1


def test_without_content_cache_a_tag_is_fetched_once(
    make_gateway: Any, registry: FilledRegistry
) -> None:
    """Resolving a tag fetches its manifest: with nothing cached, that one GET is the
    answer, not a first GET by tag and a second by the digest it gave."""
    image = _image(registry, "oci/app:1.0")
    with make_gateway(registry.url, content_cache_bytes=0, disk_cache_bytes=0) as client:
        for _ in range(2):
            r = client.get("/api/repositories/oci/app/manifests/1.0")
            assert r.content == image.manifest
            assert _upstream(r) == 1


# -- streaming a large blob -----------------------------------------------------------


def test_large_blob_streams_in_bounded_memory(registry_factory: Any, make_gateway: Any) -> None:
    reg = registry_factory()
    repo = "big/blob"
    size = 64 * MiB
    hasher = hashlib.sha256()
    chunks = []
    for _ in range(size // (4 * MiB)):
        chunk = os.urandom(4 * MiB)
        hasher.update(chunk)
        chunks.append(chunk)
    data = b"".join(chunks)
    del chunks
    digest = "sha256:" + hasher.hexdigest()
    with Pusher(reg.url) as pusher:
        assert pusher.push_blob(repo, data) == digest
        del data
        config = dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
        pusher.push_blob(repo, config)
        manifest = dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": sha256_digest(config),
                    "size": len(config),
                },
                "layers": [{"mediaType": OCI_LAYER, "digest": digest, "size": size}],
            }
        )
        pusher.push_manifest(repo, "1.0", manifest, OCI_MANIFEST)

    with make_gateway(reg.url) as client:
        got = hashlib.sha256()
        received = 0
        tracemalloc.start()
        try:
            with client.stream("GET", f"/api/repositories/{repo}/blobs/{digest}") as r:
                assert r.status_code == 200
                assert r.headers["content-length"] == str(size)
                assert r.headers["docker-content-digest"] == digest
                for chunk in r.iter_bytes():
                    got.update(chunk)
                    received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert received == size
        assert "sha256:" + got.hexdigest() == digest
        assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB while streaming {size // MiB} MiB"
