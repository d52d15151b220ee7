"""The registry's referrers API (``GET /v2/<name>/referrers/<digest>``), which
distribution lacks. A real one first: go-containerregistry's registry (a Go peer,
harness/referrers_registry.py), which lists referrers but applies no filter and names
a referrer's config media type as its artifact type. Then what no real registry here
can be made to do, played by FakeRegistry: ``Link`` paging, ``OCI-Filters-Applied``
present, garbage answers (a 502 envelope, nothing cached), and the verdict "no
referrers API" learnt once for the whole registry."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.images import Pusher, push_image
from harness.referrers import push_artifact_for
from harness.referrers_registry import ReferrersRegistry
from tests.support.assertions import assert_envelope
from tests.support.mock_registry import (
    DIGEST,
    OCI_INDEX,
    OCI_MANIFEST,
    FakeRegistry,
    answering,
    dumps,
    gateway,
    registry_error,
    sha256,
)

SPDX = "application/spdx+json"
NOTATION = "application/vnd.cncf.notary.signature"
EMPTY = b"{}"
CREATED_AT = "2024-05-01T10:00:00Z"
REFERRERS_PATH = f"/v2/app/referrers/{DIGEST}"


def artifact(artifact_type: str, layer: bytes) -> bytes:
    return dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": sha256(EMPTY),
                "size": 2,
            },
            "layers": [{"mediaType": artifact_type, "digest": sha256(layer), "size": len(layer)}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": DIGEST, "size": 1},
            "annotations": {"org.opencontainers.image.created": "2024-05-01T10:00:00Z"},
        }
    )


SBOM = artifact(SPDX, b'{"spdxVersion":"SPDX-2.3"}')
SIGNATURE = artifact(NOTATION, b'{"signature":"c2ln"}')


def descriptor(body: bytes, artifact_type: str) -> dict[str, object]:
    return {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(body),
        "size": len(body),
        "artifactType": artifact_type,
    }


def index(*entries: dict[str, object]) -> bytes:
    return dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(entries)})


def with_artifacts(fake: FakeRegistry) -> FakeRegistry:
    for body in (SBOM, SIGNATURE):
        fake.manifests[sha256(body)] = (body, OCI_MANIFEST)
    return fake


def referrer_requests(fake: FakeRegistry) -> list[httpx.Request]:
    return [r for r in fake.requests if "/referrers/" in r.url.path]


@pytest.fixture(scope="module")
def api_registry(referrers_api_registry: ReferrersRegistry) -> ReferrersRegistry:
    return referrers_api_registry


def test_a_real_referrers_api_is_read_and_filtered(
    api_registry: ReferrersRegistry, make_gateway: Any
) -> None:
    with Pusher(api_registry.url) as p:
        image = push_image(p, "real/app", "1.0", n_layers=1)
        sbom = push_artifact_for(
            p, "real/app", image, SPDX, b'{"spdxVersion":"SPDX-2.3"}', created=CREATED_AT
        )
        signature = push_artifact_for(
            p,
            "real/app",
            image,
            NOTATION,
            b'{"sig":"c2ln"}',
            layer_media_type="application/jose+json",
        )
        push_image(p, "real/app", "plain", n_layers=1, seed="plain")
    path = "/api/repositories/real/app/images/1.0/referrers"
    with make_gateway(api_registry.url) as client:
        body = client.get(path).json()
        assert body["source"] == "api"
        by_digest = {r["digest"]: r for r in body["referrers"]}
        assert set(by_digest) == {sbom.digest, signature.digest}
        assert by_digest[sbom.digest]["kind"] == "sbom"
        assert by_digest[sbom.digest]["artifact_type"] == SPDX  # the manifest's own
        assert by_digest[sbom.digest]["created"] == CREATED_AT
        assert by_digest[sbom.digest]["size"] == sbom.size
        assert by_digest[signature.digest]["kind"] == "signature"
        # the registry applies no filter (no OCI-Filters-Applied): the gateway does
        r = client.get(path, params={"artifact_type": NOTATION})
        assert [x["digest"] for x in r.json()["referrers"]] == [signature.digest]
        detail = client.get("/api/repositories/real/app/images/1.0").json()
        assert detail["referrers"] == {"sbom": 1, "signature": 1}
        plain = client.get("/api/repositories/real/app/images/plain/referrers").json()
        assert plain == {"subject": plain["subject"], "source": "none", "referrers": []}


def test_link_pages_are_followed() -> None:
    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != REFERRERS_PATH:
            return None
        if request.url.params.get("last") == "p1":
            return httpx.Response(
                200,
                content=index(descriptor(SIGNATURE, NOTATION)),
                headers={"Content-Type": OCI_INDEX},
            )
        # A Link naming another host: only its path and query are kept, on this registry.
        link = f'<https://elsewhere.test{REFERRERS_PATH}?n=1&last=p1>; rel="next"'
        return httpx.Response(
            200,
            content=index(descriptor(SBOM, SPDX)),
            headers={"Content-Type": OCI_INDEX, "Link": link},
        )

    fake = with_artifacts(FakeRegistry(answering(answer)))
    with gateway(fake) as client:
        r = client.get("/api/repositories/app/images/1.0/referrers")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["source"] == "api" and body["subject"] == DIGEST
        assert [(x["digest"], x["kind"]) for x in body["referrers"]] == [
            (sha256(SBOM), "sbom"),
            (sha256(SIGNATURE), "signature"),
        ]
        assert body["referrers"][0]["size"] == len(SBOM) + 2 + len(b'{"spdxVersion":"SPDX-2.3"}')
        assert body["referrers"][0]["created"] == "2024-05-01T10:00:00Z"
        pages = referrer_requests(fake)
        assert [p.url.host for p in pages] == ["registry.test", "registry.test"]
        assert pages[1].url.params["last"] == "p1"
        # The image detail counts them from the same cached lookup.
        detail = client.get("/api/repositories/app/images/1.0").json()
        assert detail["referrers"] == {"signature": 1, "sbom": 1}
        assert len(referrer_requests(fake)) == 2


def test_a_filter_the_registry_applied_is_taken_as_answered() -> None:
    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != REFERRERS_PATH:
            return None
        wanted = request.url.params.get("artifactType")
        entries = [descriptor(SBOM, SPDX), descriptor(SIGNATURE, NOTATION)]
        entries = [e for e in entries if wanted in (None, e["artifactType"])]
        headers = {"Content-Type": OCI_INDEX}
        if wanted:
            headers["OCI-Filters-Applied"] = "artifactType"
        return httpx.Response(200, content=index(*entries), headers=headers)

    fake = with_artifacts(FakeRegistry(answering(answer)))
    with gateway(fake) as client:
        r = client.get("/api/repositories/app/images/1.0/referrers", params={"artifact_type": SPDX})
        assert r.status_code == 200, r.text
        assert [x["digest"] for x in r.json()["referrers"]] == [sha256(SBOM)]
        [sent] = referrer_requests(fake)
        assert sent.url.params["artifactType"] == SPDX


def test_garbage_is_a_502_envelope_and_nothing_is_cached() -> None:
    state = {"garbage": True}

    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != REFERRERS_PATH:
            return None
        if state["garbage"]:
            return httpx.Response(
                200, content=b"<html>no</html>", headers={"Content-Type": "text/html"}
            )
        return httpx.Response(
            200, content=index(descriptor(SBOM, SPDX)), headers={"Content-Type": OCI_INDEX}
        )

    fake = with_artifacts(FakeRegistry(answering(answer)))
    with gateway(fake) as client:
        path = "/api/repositories/app/images/1.0/referrers"
        assert_envelope(client.get(path), 502, "UPSTREAM_INVALID")
        assert_envelope(client.get("/api/repositories/app/images/1.0"), 502, "UPSTREAM_INVALID")
        state["garbage"] = False
        r = client.get(path)
        assert r.status_code == 200, r.text
        assert r.json()["source"] == "api" and len(r.json()["referrers"]) == 1


def test_malformed_index_and_foreign_link_are_502() -> None:
    answers = iter(
        [
            httpx.Response(200, json={"manifests": [{"digest": 5}]}),
            httpx.Response(200, json={"manifests": "nope"}),
            httpx.Response(
                200,
                content=index(),
                headers={"Link": '</v2/other/referrers/sha256:abc?last=x>; rel="next"'},
            ),
        ]
    )

    def answer(request: httpx.Request) -> httpx.Response | None:
        return next(answers) if request.url.path == REFERRERS_PATH else None

    with gateway(FakeRegistry(answering(answer))) as client:
        for _ in range(3):
            r = client.get("/api/repositories/app/images/1.0/referrers")
            assert_envelope(r, 502, "UPSTREAM_INVALID")


def test_a_registry_without_the_api_is_asked_once() -> None:
    fake = FakeRegistry()  # its referrers path is a 404, as on distribution
    fake.tags["app"] = ["1.0", "1.1", "1.2"]
    fake.manifests["1.1"] = fake.manifests["1.2"] = fake.manifests["1.0"]
    with gateway(fake) as client:
        r = client.get("/api/repositories/app/tags", params={"details": "true"})
        assert r.status_code == 200, r.text
        assert [t["referrers"] for t in r.json()["tags"]] == [{}, {}, {}]
        assert client.get("/api/repositories/app/images/1.1/referrers").json()["source"] == "none"
        assert len(referrer_requests(fake)) == 1


# -- the fallback index kept right on deletes (a registry without the API) ----------------


def with_fallback_index(fake: FakeRegistry) -> str:
    """app holds 1.0, its fallback index (the SBOM and the signature) and both artifacts.
    Returns the fallback tag."""
    with_artifacts(fake)
    tag = DIGEST.replace(":", "-")
    fallback = index(descriptor(SBOM, SPDX), descriptor(SIGNATURE, NOTATION))
    fake.manifests[tag] = (fallback, OCI_INDEX)
    fake.manifests[sha256(fallback)] = (fallback, OCI_INDEX)
    fake.tags["app"] = ["1.0", tag]
    return tag


def stored_index(fake: FakeRegistry, tag: str, request: httpx.Request) -> httpx.Response:
    """A pushed index stored under ``tag``, as a registry would: the gateway reads the
    index again to see that no other writer replaced it meanwhile."""
    fake.manifests[tag] = (request.content, OCI_INDEX)
    fake.manifests[sha256(request.content)] = (request.content, OCI_INDEX)
    return httpx.Response(201, headers={"Docker-Content-Digest": sha256(request.content)})


def deleting_the_sbom(
    on_put: Callable[[httpx.Request, FakeRegistry, str], httpx.Response],
) -> tuple[FakeRegistry, str]:
    """The SBOM deleted through the gateway (202), the fallback index's write answered
    by ``on_put`` (given the request, the registry and the fallback tag); the registry
    and the tag."""

    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.method == "DELETE":
            return httpx.Response(202)
        if request.method == "PUT":
            return on_put(request, fake, tag)
        return None

    fake = FakeRegistry(answering(answer))
    tag = with_fallback_index(fake)
    with gateway(fake, delete_enabled=True) as client:
        r = client.delete(f"/api/repositories/app/images/{sha256(SBOM)}")
        assert r.status_code == 202, r.text
    return fake, tag


def test_deleting_a_referrer_pushes_the_fallback_index_without_it() -> None:
    pushed: list[tuple[str, bytes]] = []

    def on_put(request: httpx.Request, fake: FakeRegistry, tag: str) -> httpx.Response:
        pushed.append((request.url.path, request.content))
        return stored_index(fake, tag, request)

    fake, tag = deleting_the_sbom(on_put)
    [(path, body)] = pushed
    assert path == f"/v2/app/manifests/{tag}"
    assert [m["digest"] for m in json.loads(body)["manifests"]] == [sha256(SIGNATURE)]
    [put] = [r for r in fake.requests if r.method == "PUT"]
    assert put.headers["content-type"] == OCI_INDEX


def test_a_fallback_index_that_cannot_be_updated_does_not_fail_the_delete(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response | None:
        if request.method == "DELETE":
            return httpx.Response(202)
        if request.method == "PUT":  # may delete, may not push
            return registry_error(403, "DENIED")
        return None

    fake = FakeRegistry(answering(answer))
    with_fallback_index(fake)
    with (
        caplog.at_level(logging.WARNING, logger="gateway.services.referrers"),
        gateway(fake, delete_enabled=True) as client,
    ):
        r = client.delete(f"/api/repositories/app/images/{sha256(SBOM)}")
        assert r.status_code == 202, r.text
        assert r.json()["deleted"] == sha256(SBOM)
    warned = [
        rec.getMessage() for rec in caplog.records if rec.name == "gateway.services.referrers"
    ]
    assert len(warned) == 1 and "fallback index was not updated" in warned[0], warned
    assert "DENIED" in warned[0]


def test_an_index_write_refused_as_digest_invalid_is_made_again() -> None:
    """distribution 3.0.0 writes link files in place: an index PUT by tag, checked while
    a child's link is being written again, reads it empty and answers ``DIGEST_INVALID``
    (seen with six referrers pushed at once, each pushed twice). Every index update (a
    push's, a delete's: the same read-modify-write) writes it again; here the index
    without the deleted referrer is stored at the second try."""
    pushed: list[bytes] = []

    def on_put(request: httpx.Request, fake: FakeRegistry, tag: str) -> httpx.Response:
        pushed.append(request.content)
        if len(pushed) == 1:
            return registry_error(400, "DIGEST_INVALID")
        return stored_index(fake, tag, request)

    fake, tag = deleting_the_sbom(on_put)
    assert len(pushed) == 2 and pushed[0] == pushed[1]  # the same index, written again
    stored, _ = fake.manifests[tag]
    assert [m["digest"] for m in json.loads(stored)["manifests"]] == [sha256(SIGNATURE)]
