"""Deleting images with referrers, and referrers themselves, on a real distribution 3.0
registry (no referrers API): ``with_referrers``, what is left behind, and the fallback
index ``sha256-<hex>`` kept right whether the delete comes through /api or /v2. Also the
notifications that drop cached referrers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from harness.images import Pusher, push_image
from harness.registry import RegistryProcess
from tests.support.referrers import (
    NOTATION,
    SPDX,
    fallback_tag,
    push_artifact_for,
    push_cosign_signature,
    push_fallback_index,
    spdx_sbom,
)

TOKEN = "referrers-events-token"


@pytest.fixture(scope="module")
def open_registry(registry_factory: Any) -> Iterator[tuple[RegistryProcess, Pusher]]:
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        yield reg, p


def sbom_and_signature(p: Pusher, repo: str) -> tuple[Any, Any, Any]:
    image = push_image(p, repo, "app")
    sbom = push_artifact_for(p, repo, image, SPDX, spdx_sbom(repo))
    sig = push_artifact_for(p, repo, image, NOTATION, b'{"signature":"c2ln"}')
    push_fallback_index(p, repo, image.digest, [sbom, sig])
    return image, sbom, sig


def fallback_entries(p: Pusher, repo: str, subject: str) -> list[str] | None:
    r = p.get_manifest(repo, fallback_tag(subject))
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return [m["digest"] for m in r.json()["manifests"]]


def exists(p: Pusher, repo: str, ref: str) -> bool:
    status = p.get_manifest(repo, ref).status_code
    assert status in (200, 404)
    return status == 200


def test_delete_without_the_flag_lists_what_is_left(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "refdel/left"
    image, sbom, sig = sbom_and_signature(p, repo)
    with make_gateway(reg.url, delete_enabled=True) as client:
        r = client.delete(f"/api/repositories/{repo}/images/{image.digest}")
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["untagged"] == ["app"]
        assert body["referrers_left"] == [sbom.digest, sig.digest]
        assert body["referrers_deleted"] == []
    assert not exists(p, repo, image.digest)
    assert exists(p, repo, sbom.digest) and exists(p, repo, sig.digest)
    assert fallback_entries(p, repo, image.digest) == [sbom.digest, sig.digest]


def test_delete_with_referrers_removes_them_and_the_fallback_index(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "refdel/with"
    image, sbom, sig = sbom_and_signature(p, repo)
    cosign = push_cosign_signature(p, repo, image)
    if cosign is None:  # the real cosign signature comes from ../shared
        pytest.skip("real-world fixtures not found (set LR_SHARED_DIR)")
    with make_gateway(reg.url, delete_enabled=True) as client:
        before = client.get(f"/api/repositories/{repo}/images/app").json()
        assert before["referrers"] == {"signature": 2, "sbom": 1}
        r = client.delete(
            f"/api/repositories/{repo}/images/{image.digest}", params={"with_referrers": "true"}
        )
        assert r.status_code == 202, r.text
        body = r.json()
        fallback = p.request("HEAD", f"/v2/{repo}/manifests/{fallback_tag(image.digest)}")
        assert fallback.status_code == 404  # gone with them
        assert sorted(body["referrers_deleted"][:3]) == sorted([sbom.digest, sig.digest, cosign])
        assert len(body["referrers_deleted"]) == 4  # and the fallback index
        assert body["referrers_left"] == []
        tags = client.get(f"/api/repositories/{repo}/tags", params={"include_artifacts": "true"})
        assert tags.status_code == 404 or tags.json()["tags"] == []
    for digest in (image.digest, sbom.digest, sig.digest, cosign):
        assert not exists(p, repo, digest)
    assert p.tags(repo) in (None, [])


def test_deleting_a_referrer_updates_its_subjects_fallback_index(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "refdel/referrer"
    image, sbom, sig = sbom_and_signature(p, repo)
    with make_gateway(reg.url, delete_enabled=True) as client:
        listed = client.get(f"/api/repositories/{repo}/images/app/referrers").json()
        assert [r["digest"] for r in listed["referrers"]] == [sbom.digest, sig.digest]
        # Through /api: the index is pushed again without it.
        r = client.delete(f"/api/repositories/{repo}/images/{sbom.digest}")
        assert r.status_code == 202, r.text
        assert fallback_entries(p, repo, image.digest) == [sig.digest]
        listed = client.get(f"/api/repositories/{repo}/images/app/referrers").json()
        assert [r["digest"] for r in listed["referrers"]] == [sig.digest]
        # Through /v2 (the registry's semantics otherwise): the last one empties the
        # index, so its tag is deleted too.
        r = client.delete(f"/v2/{repo}/manifests/{sig.digest}")
        assert r.status_code == 202, r.text
        assert fallback_entries(p, repo, image.digest) is None
        listed = client.get(f"/api/repositories/{repo}/images/app/referrers").json()
        assert listed["source"] == "none" and listed["referrers"] == []
        assert client.get(f"/api/repositories/{repo}/images/app").json()["referrers"] == {}
        tags = client.get(f"/api/repositories/{repo}/tags", params={"include_artifacts": "true"})
        assert [t["name"] for t in tags.json()["tags"]] == ["app"]
    assert exists(p, repo, image.digest)


def test_a_v2_delete_of_an_image_keeps_its_referrers(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "refdel/v2-subject"
    image, sbom, sig = sbom_and_signature(p, repo)
    with make_gateway(reg.url, delete_enabled=True) as client:
        r = client.delete(f"/v2/{repo}/manifests/{image.digest}")
        assert r.status_code == 202, r.text
    assert fallback_entries(p, repo, image.digest) == [sbom.digest, sig.digest]


def test_a_notification_drops_the_cached_referrers(
    open_registry: tuple[RegistryProcess, Pusher], make_gateway: Any
) -> None:
    reg, p = open_registry
    repo = "refdel/notified"
    image = push_image(p, repo, "app")
    path = f"/api/repositories/{repo}/images/app/referrers"
    with make_gateway(reg.url, events_token=TOKEN, cache_ttl=300) as client:
        assert client.get(path).json()["source"] == "none"
        sbom = push_artifact_for(p, repo, image, SPDX, spdx_sbom(repo))
        push_fallback_index(p, repo, image.digest, [sbom])
        assert client.get(path).json()["source"] == "none"  # cached: no event yet
        event = {
            "events": [
                {
                    "action": "push",
                    "target": {
                        "repository": repo,
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "tag": fallback_tag(image.digest),
                    },
                }
            ]
        }
        r = client.post(
            "/api/events",
            content=json.dumps(event).encode(),
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Content-Type": "application/vnd.docker.distribution.events.v1+json",
            },
        )
        assert r.status_code in (200, 202), r.text
        found = client.get(path).json()
        assert found["source"] == "tag"
        assert [x["digest"] for x in found["referrers"]] == [sbom.digest]
