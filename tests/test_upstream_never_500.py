"""Upstream failures the real registry cannot be made to produce (MockTransport), part 3:
never a 500 whatever the registry answers, the RegistryClient on its own; and, with a
real distribution 3.0 that accepts sparse indexes, isolation between repositories."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import ANONYMOUS
from harness.images import Pusher, push_image
from tests.support.assertions import assert_envelope, error_of
from tests.support.callers import Users
from tests.support.mock_registry import (
    CONFIG,
    CONFIG_DIGEST,
    DIGEST,
    ENDPOINTS,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    OTHER_DIGEST,
    REGISTRY,
    FakeRegistry,
    config_doc,
    dumps,
    gateway,
    manifest_doc,
    sha256,
)

# -- never a 500 -------------------------------------------------------------------------------

WEIRD_CONFIGS: dict[str, bytes] = {
    "zero_time_with_offset": config_doc(created="0001-01-01T00:00:00+01:00"),
    "max_time_with_offset": config_doc(created="9999-12-31T23:59:59-01:00"),
    "time_not_a_string": dumps({"architecture": "amd64", "os": "linux", "created": 5}),
    "not_json": b"\x1f\x8b\x08 gzip?",
    "json_list": b"[]",
    "null_everything": dumps(
        {"architecture": None, "os": None, "config": None, "history": None, "rootfs": None}
    ),
    "history_garbage": dumps({"os": "linux", "history": [1, "x", None]}),
    "labels_not_strings": dumps({"os": "linux", "config": {"Labels": {"a": 1, "b": None}}}),
    "cmd_number": dumps({"os": "linux", "config": {"Cmd": 5}}),
}


@pytest.mark.parametrize("case", sorted(WEIRD_CONFIGS))
def test_weird_config_is_never_a_500(case: str) -> None:
    config = WEIRD_CONFIGS[case]
    fake = FakeRegistry()
    manifest = manifest_doc(config)
    fake.blobs = {sha256(config): config}
    fake.manifests = {"1.0": (manifest, OCI_MANIFEST), sha256(manifest): (manifest, OCI_MANIFEST)}
    with gateway(fake) as client:
        for name in ("image", "config", "tags_details", "tags_created"):
            response = client.get(ENDPOINTS[name])
            assert response.status_code != 500, (name, response.text)
            if response.status_code != 200:
                assert_envelope(response, 502, "UPSTREAM_INVALID")


WEIRD_MANIFESTS: dict[str, bytes] = {
    "no_config": dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}),
    "negative_size": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": CONFIG_DIGEST, "size": -1},
        }
    ),
    "layers_null": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": CONFIG_DIGEST, "size": len(CONFIG)},
            "layers": None,
            "annotations": None,
        }
    ),
    "layers_garbage": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": CONFIG_DIGEST, "size": len(CONFIG)},
            "layers": [1, "x"],
        }
    ),
    "config_digest_invalid": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": "../../etc/passwd", "size": 1},
        }
    ),
    "index_children_garbage": dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"digest": 5}]}
    ),
    "index_child_invalid_digest": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": "sha256:../../x",
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ),
    "index_child_missing": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": OTHER_DIGEST,
                    "size": 1,
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ),
    "index_points_at_itself_by_tag": dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": None}
    ),
    "schema1": dumps({"schemaVersion": 1, "name": "app", "tag": "1.0", "fsLayers": []}),
    "unknown_media_type": dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.example+json", "blobs": []}
    ),
    "huge_numbers": dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": CONFIG_DIGEST, "size": 10**30},
            "layers": [],
        }
    ),
    "deeply_nested": b'{"schemaVersion":2,"annotations":' + b"[" * 5000 + b"]" * 5000 + b"}",
}


@pytest.mark.parametrize("case", sorted(WEIRD_MANIFESTS))
def test_weird_manifest_is_never_a_500(case: str) -> None:
    body = WEIRD_MANIFESTS[case]
    content_type = OCI_INDEX if b"manifests" in body else OCI_MANIFEST
    if b"vnd.example" in body:
        content_type = "application/vnd.example+json"
    fake = FakeRegistry()
    fake.manifests = {"1.0": (body, content_type), sha256(body): (body, content_type)}
    with gateway(fake) as client:
        for name in sorted(ENDPOINTS):
            response = client.get(ENDPOINTS[name].replace(DIGEST, sha256(body)))
            assert response.status_code != 500, (name, response.text)
            if response.status_code >= 400:
                error_of(response)


# -- RegistryClient directly ---------------------------------------------------------------------


async def test_client_catalog_link_to_other_host_directly() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if "last" not in request.url.params:
            link = '<https://evil.test/v2/_catalog?last=a&n=1&evil=1>; rel="next"'
            return httpx.Response(200, json={"repositories": ["a"]}, headers={"Link": link})
        return httpx.Response(200, json={"repositories": ["b"]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = RegistryClient(http, REGISTRY, page_size=1)
        assert await client.catalog(ANONYMOUS) == ["a", "b"]
    assert [str(u) for u in seen] == [
        f"{REGISTRY}/v2/_catalog?n=1",
        f"{REGISTRY}/v2/_catalog?n=1&last=a",
    ]


async def test_client_tags_null_directly() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"name": "app", "tags": None})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = RegistryClient(http, REGISTRY)
        assert await client.tags(ANONYMOUS, "app") == []


async def test_client_overall_deadline_on_a_slow_answer() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(20)
        return httpx.Response(200, json={"name": "app", "tags": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = RegistryClient(http, REGISTRY, overall_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            await client.tags(ANONYMOUS, "app")
        assert time.monotonic() - started < 2
    assert getattr(info.value, "code", None) == "UPSTREAM_TIMEOUT"
    assert getattr(info.value, "status", None) == 504


# -- isolation when the registry accepts sparse indexes ------------------------------------


SPARSE_USERS = Users({"alice": "alice-Pw-5e1d", "mallory": "mallory-Pw-0c7b"})


def _sparse_grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    allowed = {"alice": {"app", "public"}, "mallory": {"public"}}.get(user or "", set())
    return list(actions) if rtype == "repository" and name in allowed else []


def test_index_children_are_not_taken_as_members_of_the_index_repository(
    registry_factory: Any, token_server_factory: Any, make_gateway: Any
) -> None:
    """distribution 3.x accepts sparse indexes when told so
    (``validation.manifests.indexes.platforms: none``): an index in ``public`` may name
    a child that lives only in the private ``app``. Pushing such an index must not let
    a ``public``-only user read ``app``'s manifest through the shared content cache once
    someone allowed on ``app`` has loaded it."""
    tokens = token_server_factory(SPARSE_USERS, _sparse_grant)
    registry = registry_factory(
        auth="token",
        token=tokens,
        extra_config={"validation": {"manifests": {"indexes": {"platforms": "none"}}}},
    )
    with Pusher(registry.url, "alice", SPARSE_USERS["alice"]) as p:
        child = push_image(p, "app", "1.0", n_layers=1)
        index = dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": child.media_type,
                        "digest": child.digest,
                        "size": len(child.manifest),
                        "platform": {"os": "linux", "architecture": "amd64"},
                    }
                ],
            }
        )
        p.push_manifest("public", "sparse", index, OCI_INDEX)  # accepted: sparse
    alice = SPARSE_USERS.basic("alice")
    mallory = SPARSE_USERS.basic("mallory")
    with make_gateway(registry.url) as client:
        # Alice loads the private image; its manifest is now in the shared cache.
        r = client.get(f"/api/repositories/app/manifests/{child.digest}", headers=alice)
        assert r.status_code == 200
        assert_envelope(
            client.get(f"/api/repositories/app/manifests/{child.digest}", headers=mallory),
            403,
            "DENIED",
        )
        # Mallory views the sparse index in public, then asks public for its child.
        detail = client.get("/api/repositories/public/images/sparse", headers=mallory)
        assert detail.status_code == 200, detail.text
        [platform] = detail.json()["platforms"]
        assert platform["error"]["code"] == "MANIFEST_UNKNOWN", platform
        leaked = client.get(f"/api/repositories/public/manifests/{child.digest}", headers=mallory)
        assert_envelope(leaked, 404, "MANIFEST_UNKNOWN")
        assert child.manifest not in leaked.content
