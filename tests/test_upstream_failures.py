"""Upstream failures the real registry cannot be made to produce, through MockTransport.

Every test builds a gateway whose state uses an ``httpx.AsyncClient`` over a
``MockTransport`` that plays a registry at ``http://registry.test`` (nothing leaves the
process), then asserts the status and envelope code the SPA gets: bad JSON, digest
mismatches, oversized documents, confused media types, 5xx, timeouts, refused
connections, rate limits, auth challenges, hostile ``Link`` headers. A bad answer must
never be cached, and nothing may ever become a 500.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gateway.registry.client import MAX_MANIFEST_BYTES, RegistryClient
from gateway.registry.credentials import ANONYMOUS
from tests.support.assertions import assert_envelope, error_of
from tests.support.mock_registry import (
    CONFIG,
    CONFIG_DIGEST,
    DIGEST,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    HOST,
    LAYER_DIGEST,
    MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    OTHER_DIGEST,
    REGISTRY,
    FakeRegistry,
    MiB,
    Responder,
    answering,
    blob_response,
    config_doc,
    dumps,
    gateway,
    manifest_doc,
    manifest_response,
    registry_error,
    sha256,
)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    return assert_envelope(response, status, code)


ENDPOINTS = {
    "catalog": "/api/repositories",
    "tags": "/api/repositories/app/tags",
    "tags_details": "/api/repositories/app/tags?details=true",
    "tags_created": "/api/repositories/app/tags?sort=-created",
    "image": "/api/repositories/app/images/1.0",
    "image_digest": f"/api/repositories/app/images/{DIGEST}",
    "config": "/api/repositories/app/images/1.0/config",
    "manifest": "/api/repositories/app/manifests/1.0",
    "manifest_digest": f"/api/repositories/app/manifests/{DIGEST}",
    "blob": f"/api/repositories/app/blobs/{CONFIG_DIGEST}",
}


# -- the fake itself works: the happy path through every endpoint ------------------------


def test_fake_registry_serves_every_endpoint() -> None:
    fake = FakeRegistry()
    with gateway(fake) as client:
        for name, url in ENDPOINTS.items():
            response = client.get(url)
            assert response.status_code == 200, (name, response.text)
        assert client.get("/api/repositories").json()["repositories"] == [
            {"name": "app", "tag_count": 1, "error": None}
        ]
        manifest = client.get(ENDPOINTS["manifest"])
        assert manifest.content == MANIFEST
        assert manifest.headers["docker-content-digest"] == DIGEST
        blob = client.get(ENDPOINTS["blob"])
        assert blob.content == CONFIG
        assert blob.headers["content-length"] == str(len(CONFIG))
        image = client.get(ENDPOINTS["image"]).json()
        assert image["digest"] == DIGEST
        assert image["platforms"][0]["created"] == "2024-05-01T10:00:00Z"
    assert {r.url.host for r in fake.requests} == {HOST}


# -- every upstream request fails the same way: same answer from every endpoint --------


def _raise(exc_type: type[httpx.TransportError]) -> Responder:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        raise exc_type("simulated", request=request)

    return responder


def _status(status: int, headers: dict[str, str] | None = None) -> Responder:
    code = {429: "TOOMANYREQUESTS", 401: "UNAUTHORIZED"}.get(status, "UNKNOWN")
    return answering(lambda _r: registry_error(status, code, headers))


def _garbage(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, content=b"<html>not json</html>", headers={"Content-Type": "text/html"}
    )


FAILURES: dict[str, tuple[Responder, int, str]] = {
    "500": (_status(500), 502, "UPSTREAM_UNAVAILABLE"),
    "502": (_status(502), 502, "UPSTREAM_UNAVAILABLE"),
    "503": (_status(503), 502, "UPSTREAM_UNAVAILABLE"),
    "500_html": (
        answering(lambda _r: httpx.Response(500, content=b"<h1>oops</h1>")),
        502,
        "UPSTREAM_UNAVAILABLE",
    ),
    "read_timeout": (_raise(httpx.ReadTimeout), 504, "UPSTREAM_TIMEOUT"),
    "connect_timeout": (_raise(httpx.ConnectTimeout), 504, "UPSTREAM_TIMEOUT"),
    "pool_timeout": (_raise(httpx.PoolTimeout), 504, "UPSTREAM_TIMEOUT"),
    "connection_refused": (_raise(httpx.ConnectError), 503, "UPSTREAM_UNAVAILABLE"),
    "connection_reset": (_raise(httpx.ReadError), 502, "UPSTREAM_UNAVAILABLE"),
    "protocol_error": (_raise(httpx.RemoteProtocolError), 502, "UPSTREAM_UNAVAILABLE"),
    "garbage_200": (answering(_garbage), 502, "UPSTREAM_INVALID"),
    "teapot": (answering(lambda _r: httpx.Response(418)), 502, "UPSTREAM_INVALID"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_upstream_failure_maps_to_envelope(failure: str) -> None:
    """Every endpoint, one after the other, against the same failing registry."""
    responder, status, code = FAILURES[failure]
    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        for endpoint, url in ENDPOINTS.items():
            before = len(fake.requests)
            response = client.get(url)
            assert response.status_code == status, (endpoint, response.text)
            assert error_of(response)["code"] == code, endpoint
            assert len(fake.requests) > before, f"{endpoint}: the registry was never asked"


def test_upstream_failure_details_do_not_leak_urls() -> None:
    fake = FakeRegistry(_raise(httpx.ConnectError))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["manifest"])
    assert_error(response, 503, "UPSTREAM_UNAVAILABLE")
    assert "registry.test" not in response.text


def test_5xx_detail_names_the_upstream_status() -> None:
    fake = FakeRegistry(_status(503))
    with gateway(fake) as client:
        error = assert_error(client.get(ENDPOINTS["tags"]), 502, "UPSTREAM_UNAVAILABLE")
    assert error["detail"] == {"upstream_status": 503}


# -- rate limiting and auth --------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["7", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_429_passes_retry_after_through(retry_after: str) -> None:
    fake = FakeRegistry(_status(429, {"Retry-After": retry_after}))
    with gateway(fake) as client:
        for endpoint, url in ENDPOINTS.items():
            response = client.get(url)
            assert response.status_code == 429, (endpoint, response.text)
            assert error_of(response)["code"] == "TOOMANYREQUESTS"
            assert response.headers["retry-after"] == retry_after, endpoint


def test_429_on_rows_and_children_is_passed_through() -> None:
    """The list answers but the per-row (or per-child) requests are rate limited: the
    page is a 429 with Retry-After, not a 200 of error rows (nor a created order that
    takes every rate-limited row for undated)."""
    index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": DIGEST,
                    "size": len(MANIFEST),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    )

    async def limited(request: httpx.Request) -> httpx.Response | None:
        path = request.url.path
        if path in (f"/v2/app/manifests/{DIGEST}", "/v2/app/manifests/1.0", "/v2/other/tags/list"):
            return registry_error(429, "TOOMANYREQUESTS", {"Retry-After": "7"})
        return None

    fake = FakeRegistry(limited)
    fake.tags = {"app": ["1.0", "multi"], "other": ["1.0"]}
    fake.manifests["multi"] = (index, OCI_INDEX)
    with gateway(fake) as client:
        for url in (
            "/api/repositories/app/tags?details=true",
            "/api/repositories/app/tags?sort=-created",
            "/api/repositories/app/images/multi",
            "/api/repositories",
        ):
            response = client.get(url)
            assert_error(response, 429, "TOOMANYREQUESTS")
            assert response.headers["retry-after"] == "7", url


def test_429_without_retry_after_has_none() -> None:
    fake = FakeRegistry(_status(429))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert_error(response, 429, "TOOMANYREQUESTS")
    assert "retry-after" not in response.headers


def test_429_with_hostile_retry_after_is_dropped() -> None:
    fake = FakeRegistry(_status(429, {"Retry-After": "1" * 200}))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert_error(response, 429, "TOOMANYREQUESTS")
    assert "retry-after" not in response.headers


def _basic_challenge(_request: httpx.Request) -> httpx.Response:
    return registry_error(401, "UNAUTHORIZED", {"WWW-Authenticate": 'Basic realm="registry"'})


def test_401_without_credentials_is_401_without_www_authenticate() -> None:
    fake = FakeRegistry(answering(_basic_challenge))
    with gateway(fake) as client:
        for endpoint, url in ENDPOINTS.items():
            response = client.get(url)
            assert response.status_code == 401, (endpoint, response.text)
            assert error_of(response)["code"] == "UNAUTHORIZED"
            assert "www-authenticate" not in response.headers, endpoint
    assert all("authorization" not in r.headers for r in fake.requests)


def test_401_with_rejected_basic_credentials_has_no_www_authenticate() -> None:
    fake = FakeRegistry(answering(_basic_challenge))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"], auth=("alice", "wrong"))
    assert_error(response, 401, "UNAUTHORIZED")
    assert "www-authenticate" not in response.headers
    # Tried once with the credentials, then gave up (no loop).
    assert sum(1 for r in fake.requests if "authorization" in r.headers) == 1


def test_401_bearer_challenge_with_refusing_token_server() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/token":
            return httpx.Response(401, json={"details": "no"})
        if "authorization" not in request.headers:
            challenge = (
                f'Bearer realm="{REGISTRY}/token",service="registry.test",'
                'scope="repository:app:pull"'
            )
            return registry_error(401, "UNAUTHORIZED", {"WWW-Authenticate": challenge})
        return None

    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert_error(response, 401, "UNAUTHORIZED")
    assert "www-authenticate" not in response.headers
    token_requests = [r for r in fake.requests if r.url.path == "/token"]
    assert len(token_requests) == 1
    assert token_requests[0].url.params.get_list("scope") == ["repository:app:pull"]


@pytest.mark.parametrize(
    ("token_answer", "status", "code"),
    [
        (httpx.Response(200, content=b"{nope"), 502, "UPSTREAM_INVALID"),
        (httpx.Response(200, json={"token": ""}), 502, "UPSTREAM_INVALID"),
        (httpx.Response(200, json=["token"]), 502, "UPSTREAM_INVALID"),
        (httpx.Response(200, content=b"[" * 30_000 + b"]" * 30_000), 502, "UPSTREAM_INVALID"),
        (httpx.Response(500), 502, "UPSTREAM_UNAVAILABLE"),
    ],
    ids=["not-json", "empty-token", "list", "deeply-nested", "500"],
)
def test_bearer_token_server_answering_garbage(
    token_answer: httpx.Response, status: int, code: str
) -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/token":
            return httpx.Response(
                token_answer.status_code, content=token_answer.content, headers={}
            )
        if "authorization" not in request.headers:
            challenge = f'Bearer realm="{REGISTRY}/token",service="registry.test"'
            return registry_error(401, "UNAUTHORIZED", {"WWW-Authenticate": challenge})
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_error(client.get(ENDPOINTS["tags"]), status, code)


def test_403_is_denied() -> None:
    fake = FakeRegistry(answering(lambda _r: registry_error(403, "DENIED")))
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["tags"]), 403, "DENIED")


# -- 404s keep the registry's codes --------------------------------------------------------


def test_404_name_unknown() -> None:
    with gateway(FakeRegistry()) as client:
        assert_error(client.get("/api/repositories/nope/tags"), 404, "NAME_UNKNOWN")
        assert_error(client.get("/api/repositories/nope/images/1.0"), 404, "NAME_UNKNOWN")
        assert_error(
            client.get(f"/api/repositories/nope/blobs/{CONFIG_DIGEST}"), 404, "NAME_UNKNOWN"
        )


def test_404_manifest_unknown() -> None:
    with gateway(FakeRegistry()) as client:
        assert_error(client.get("/api/repositories/app/images/2.0"), 404, "MANIFEST_UNKNOWN")
        assert_error(client.get("/api/repositories/app/manifests/2.0"), 404, "MANIFEST_UNKNOWN")
        assert_error(
            client.get(f"/api/repositories/app/manifests/{OTHER_DIGEST}"), 404, "MANIFEST_UNKNOWN"
        )
        assert_error(client.get("/api/repositories/app/images/2.0/config"), 404, "MANIFEST_UNKNOWN")


def test_404_blob_unknown() -> None:
    with gateway(FakeRegistry()) as client:
        assert_error(client.get(f"/api/repositories/app/blobs/{OTHER_DIGEST}"), 404, "BLOB_UNKNOWN")


def test_404_config_blob_unknown_in_image_config() -> None:
    fake = FakeRegistry()
    del fake.blobs[CONFIG_DIGEST]
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["config"]), 404, "BLOB_UNKNOWN")


def test_404_without_error_body_uses_the_subject_default() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return httpx.Response(404, content=b"")
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(404, content=b"not found")
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_error(client.get("/api/repositories/app/manifests/1.0"), 404, "MANIFEST_UNKNOWN")
        assert_error(client.get("/api/repositories/app/tags"), 404, "NAME_UNKNOWN")


# -- malformed documents -----------------------------------------------------------------


def _manifest_body(body: bytes, content_type: str = OCI_MANIFEST) -> Responder:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return manifest_response(body, content_type)
        return None

    return responder


BAD_MANIFESTS: dict[str, tuple[bytes, str]] = {
    "not_json": (b"{this is not json", OCI_MANIFEST),
    "not_utf8": (b"\xff\xfe\x00garbage", OCI_MANIFEST),
    "json_list": (b"[1, 2, 3]", OCI_MANIFEST),
    "json_string": (b'"manifest"', OCI_MANIFEST),
    "empty": (b"", OCI_MANIFEST),
    "media_type_not_string": (
        dumps({"schemaVersion": 2, "mediaType": 5, "layers": []}),
        OCI_MANIFEST,
    ),
    "index_body_manifest_header": (
        dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        OCI_MANIFEST,
    ),
    "manifest_body_index_header": (manifest_doc(CONFIG), OCI_INDEX),
    "docker_body_oci_header": (manifest_doc(CONFIG, DOCKER_MANIFEST), OCI_MANIFEST),
    "list_body_docker_header": (
        dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []}),
        DOCKER_MANIFEST,
    ),
    "both_manifests_and_layers": (
        dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [],
                "layers": [{"mediaType": OCI_LAYER, "digest": LAYER_DIGEST, "size": 1}],
            }
        ),
        OCI_INDEX,
    ),
    "both_manifests_and_config_no_media_type": (
        dumps(
            {
                "schemaVersion": 2,
                "manifests": [],
                "config": {"mediaType": OCI_CONFIG, "digest": CONFIG_DIGEST, "size": 1},
            }
        ),
        "application/json",
    ),
    "index_media_type_with_layers_only": (
        dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "layers": []}),
        "application/octet-stream",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_malformed_manifest_is_upstream_invalid(case: str) -> None:
    body, content_type = BAD_MANIFESTS[case]
    with gateway(FakeRegistry(_manifest_body(body, content_type))) as client:
        for endpoint in ("manifest", "image", "config"):
            response = client.get(ENDPOINTS[endpoint])
            assert response.status_code == 502, (endpoint, response.text)
            assert error_of(response)["code"] == "UPSTREAM_INVALID", endpoint
        # A tag row that cannot be resolved carries the error; the page still renders.
        response = client.get(ENDPOINTS["tags_details"])
        assert response.status_code == 200, response.text
        (row,) = response.json()["tags"]
        assert row["error"]["code"] == "UPSTREAM_INVALID"


def test_media_type_contradiction_detail_names_both() -> None:
    body, content_type = BAD_MANIFESTS["index_body_manifest_header"]
    with gateway(FakeRegistry(_manifest_body(body, content_type))) as client:
        error = assert_error(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
    assert error["detail"] == {"media_type": OCI_INDEX, "content_type": OCI_MANIFEST}


def test_content_type_parameters_are_ignored() -> None:
    responder = _manifest_body(MANIFEST, OCI_MANIFEST + "; charset=utf-8")
    with gateway(FakeRegistry(responder)) as client:
        response = client.get(ENDPOINTS["manifest"])
    assert response.status_code == 200, response.text
    assert response.content == MANIFEST


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"{nope", "catalog"),
        (b"[]", "catalog"),
        (b'{"repositories": "app"}', "catalog"),
        (b'{"repositories": [1, 2]}', "catalog"),
        (b'{"repositories": {"app": 1}}', "catalog"),
        (b"{nope", "tags"),
        (b"null", "tags"),
        (b'{"name": "app", "tags": "1.0"}', "tags"),
        (b'{"name": "app", "tags": [1.0]}', "tags"),
        (b'{"name": "app", "tags": [null]}', "tags"),
    ],
)
def test_malformed_lists_are_upstream_invalid(body: bytes, what: str) -> None:
    path = "/v2/_catalog" if what == "catalog" else "/v2/app/tags/list"

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == path:
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        return None

    with gateway(FakeRegistry(responder)) as client:
        url = ENDPOINTS["catalog"] if what == "catalog" else ENDPOINTS["tags"]
        assert_error(client.get(url), 502, "UPSTREAM_INVALID")


def test_invalid_names_and_tags_from_upstream_are_dropped() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": ["app", "Bad", "../x", "a//b"]})
        if request.url.path == "/v2/app/tags/list":
            return httpx.Response(200, json={"name": "app", "tags": ["1.0", "bad tag", "-x"]})
        return None

    with gateway(FakeRegistry(responder)) as client:
        catalog = client.get(ENDPOINTS["catalog"]).json()
        tags = client.get(ENDPOINTS["tags"]).json()
    assert [r["name"] for r in catalog["repositories"]] == ["app"]
    assert [t["name"] for t in tags["tags"]] == ["1.0"]


def test_null_tags_is_zero_tags() -> None:
    fake = FakeRegistry()
    fake.tags["emptied"] = None
    with gateway(fake) as client:
        tags = client.get("/api/repositories/emptied/tags")
        assert tags.status_code == 200, tags.text
        assert tags.json()["total"] == 0
        assert tags.json()["tags"] == []
        assert tags.json()["next"] is None
        catalog = client.get("/api/repositories").json()
    counts = {r["name"]: r["tag_count"] for r in catalog["repositories"]}
    assert counts == {"app": 1, "emptied": 0}


def test_null_and_missing_repositories_is_an_empty_catalog() -> None:
    for body in ({"repositories": None}, {}):

        async def responder(request: httpx.Request, body: Any = body) -> httpx.Response | None:
            if request.url.path == "/v2/_catalog":
                return httpx.Response(200, json=body)
            return None

        with gateway(FakeRegistry(responder)) as client:
            response = client.get("/api/repositories")
        assert response.status_code == 200, response.text
        assert response.json() == {"repositories": [], "total": 0, "next": None}


# -- digests are verified ----------------------------------------------------------------

TAMPERED = MANIFEST.replace(b'"size":1234', b'"size":1235')


def test_manifest_by_digest_that_does_not_match_is_upstream_invalid() -> None:
    fake = FakeRegistry()
    fake.manifests[DIGEST] = (TAMPERED, OCI_MANIFEST)
    with gateway(fake) as client:
        for url in (ENDPOINTS["manifest_digest"], ENDPOINTS["image_digest"]):
            error = assert_error(client.get(url), 502, "UPSTREAM_INVALID")
            assert error["detail"] == {"expected": DIGEST, "actual": sha256(TAMPERED)}


def test_manifest_by_digest_is_checked_even_when_the_header_agrees() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(f"/manifests/{DIGEST}"):
            return manifest_response(TAMPERED, digest=DIGEST)
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_error(client.get(ENDPOINTS["manifest_digest"]), 502, "UPSTREAM_INVALID")


def test_manifest_by_tag_that_contradicts_docker_content_digest_is_upstream_invalid() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/manifests/1.0"):
            return manifest_response(MANIFEST, digest=OTHER_DIGEST)
        return None

    with gateway(FakeRegistry(responder)) as client:
        for endpoint in ("manifest", "image", "config"):
            error = assert_error(client.get(ENDPOINTS[endpoint]), 502, "UPSTREAM_INVALID")
            assert error["detail"] == {"header": OTHER_DIGEST, "actual": DIGEST}


def test_config_blob_that_does_not_match_is_upstream_invalid() -> None:
    fake = FakeRegistry()
    fake.blobs[CONFIG_DIGEST] = config_doc(created="1999-01-01T00:00:00Z")
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["config"]), 502, "UPSTREAM_INVALID")
        assert_error(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")


# -- oversized documents -------------------------------------------------------------------

FIVE_MIB = 5 * 1024 * 1024


def _padded_manifest(size: int) -> bytes:
    head = b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","annotations":{"p":"'
    tail = b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_5mib_manifest_with_content_length_is_upstream_invalid() -> None:
    body = _padded_manifest(FIVE_MIB)
    fake = FakeRegistry()
    fake.manifests["1.0"] = (body, OCI_MANIFEST)
    with gateway(fake) as client:
        error = assert_error(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
    assert error["detail"] == {"limit": MAX_MANIFEST_BYTES}


def test_5mib_manifest_by_digest_is_upstream_invalid() -> None:
    body = _padded_manifest(FIVE_MIB)
    digest = sha256(body)
    fake = FakeRegistry()
    fake.manifests[digest] = (body, OCI_MANIFEST)
    with gateway(fake) as client:
        response = client.get(f"/api/repositories/app/manifests/{digest}")
    assert_error(response, 502, "UPSTREAM_INVALID")


def test_manifest_of_exactly_the_limit_is_accepted() -> None:
    body = _padded_manifest(MAX_MANIFEST_BYTES)
    fake = FakeRegistry()
    fake.manifests["big"] = (body, OCI_MANIFEST)
    fake.tags["app"] = ["1.0", "big"]
    with gateway(fake) as client:
        response = client.get("/api/repositories/app/manifests/big")
    assert response.status_code == 200
    assert len(response.content) == MAX_MANIFEST_BYTES


def test_endless_manifest_without_content_length_is_cut_off() -> None:
    """No Content-Length, chunks forever: the gateway stops reading past 4 MiB."""
    chunk = b"x" * (1024 * 1024)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"schemaVersion":2,"annotations":{"p":"'
        while sent < 64:  # a guard: a gateway that reads everything fails, not hangs
            sent += 1
            yield chunk

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            response = httpx.Response(
                200, content=endless(), headers={"Content-Type": OCI_MANIFEST}
            )
            assert "content-length" not in response.headers
            return response
        return None

    with gateway(FakeRegistry(responder)) as client:
        response = client.get(ENDPOINTS["manifest"])
    assert_error(response, 502, "UPSTREAM_INVALID")
    assert sent <= 5


def test_5mib_manifest_without_content_length_is_upstream_invalid() -> None:
    body = _padded_manifest(FIVE_MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return httpx.Response(200, content=chunks(), headers={"Content-Type": OCI_MANIFEST})
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_error(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
        assert_error(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")


def test_oversized_config_blob_is_upstream_invalid() -> None:
    big = config_doc().replace(b'"Cmd"', b'"Pad":"' + b"x" * 4096 + b'","Cmd"')
    fake = FakeRegistry()
    fake.blobs = {sha256(big): big}
    manifest = manifest_doc(big)
    fake.manifests["1.0"] = (manifest, OCI_MANIFEST)
    with gateway(fake, max_config_bytes=1024) as client:
        assert_error(client.get(ENDPOINTS["config"]), 502, "UPSTREAM_INVALID")


# -- never a poisoned cache ----------------------------------------------------------------


class Script:
    """Answers the matching requests from a script, then falls through to the fake."""

    def __init__(self, pattern: str, *answers: Callable[[httpx.Request], httpx.Response]):
        self.pattern = pattern
        self.answers = list(answers)

    async def __call__(self, request: httpx.Request) -> httpx.Response | None:
        if re.search(self.pattern, request.url.path) and self.answers:
            return self.answers.pop(0)(request)
        return None


def test_digest_mismatch_by_tag_is_not_cached() -> None:
    script = Script(r"/manifests/1\.0$", lambda _r: manifest_response(TAMPERED, digest=DIGEST))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
        good = client.get(ENDPOINTS["manifest"])
        assert good.status_code == 200, good.text
        assert good.content == MANIFEST
        assert good.headers["docker-content-digest"] == DIGEST
        # The tampered bytes were not filed under their own digest either.
        response = client.get(f"/api/repositories/app/manifests/{sha256(TAMPERED)}")
        assert_error(response, 404, "MANIFEST_UNKNOWN")
        assert client.get(ENDPOINTS["image"]).json()["digest"] == DIGEST


def test_digest_mismatch_by_digest_is_not_cached() -> None:
    script = Script(rf"/manifests/{DIGEST}$", lambda _r: manifest_response(TAMPERED))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["manifest_digest"]), 502, "UPSTREAM_INVALID")
        good = client.get(ENDPOINTS["manifest_digest"])
        assert good.status_code == 200, good.text
        assert good.content == MANIFEST
        detail = client.get(ENDPOINTS["image_digest"])
        assert detail.status_code == 200, detail.text


def test_garbage_manifest_is_not_cached() -> None:
    script = Script(r"/manifests/", _garbage, lambda _r: httpx.Response(500))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")
        assert_error(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_UNAVAILABLE")
        good = client.get(ENDPOINTS["image"])
        assert good.status_code == 200, good.text
        assert good.json()["digest"] == DIGEST


def test_garbage_catalog_and_tag_list_are_not_cached() -> None:
    script_catalog = Script(r"^/v2/_catalog$", _garbage)
    script_tags = Script(r"/tags/list$", _garbage)

    async def responder(request: httpx.Request) -> httpx.Response | None:
        return await script_catalog(request) or await script_tags(request)

    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["catalog"]), 502, "UPSTREAM_INVALID")
        catalog = client.get(ENDPOINTS["catalog"])  # its tag count eats the bad tag list
        assert catalog.status_code == 200, catalog.text
        assert catalog.json()["repositories"][0]["error"]["code"] == "UPSTREAM_INVALID"
        again = client.get(ENDPOINTS["catalog"]).json()
        assert again["repositories"] == [{"name": "app", "tag_count": 1, "error": None}]
        assert client.get(ENDPOINTS["tags"]).json()["total"] == 1


def test_tampered_config_blob_is_not_cached() -> None:
    tampered = config_doc(created="1999-01-01T00:00:00Z")
    script = Script(rf"/blobs/{CONFIG_DIGEST}$", lambda _r: blob_response(tampered))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        assert_error(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")
        good = client.get(ENDPOINTS["image"])
        assert good.status_code == 200, good.text
        assert good.json()["platforms"][0]["created"] == "2024-05-01T10:00:00Z"
        config = client.get(ENDPOINTS["config"]).json()
        assert config["created"] == "2024-05-01T10:00:00Z"


def test_failures_are_not_cached_for_a_tag_row() -> None:
    script = Script(r"/manifests/", lambda _r: httpx.Response(503))
    fake = FakeRegistry(script)
    with gateway(fake) as client:
        first = client.get(ENDPOINTS["tags_details"]).json()
        assert first["tags"][0]["error"]["code"] == "UPSTREAM_UNAVAILABLE"
        second = client.get(ENDPOINTS["tags_details"]).json()
        assert second["tags"][0]["error"] is None
        assert second["tags"][0]["digest"] == DIGEST


# -- Link headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        '<http://evil.test/v2/_catalog?last=b&n=2&token=secret>; rel="next"',
        '<https://evil.test:8443/v2/_catalog?n=2&last=b>; rel="next"',
        '<http://registry.test/other/path?last=b&n=2>; rel="next"',
        '<//evil.test/v2/_catalog?last=b>; rel="next"',
        '</v2/_catalog?last=b&n=2&x=1>; rel="next"',
        "<http://169.254.169.254/latest/meta-data?last=b>; rel=next",
    ],
)
def test_catalog_link_is_rebuilt_against_the_configured_registry(link: str) -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/_catalog":
            return None
        if request.url.host != HOST:
            return httpx.Response(200, json={"repositories": ["evil"]})
        if "last" not in request.url.params:
            return httpx.Response(200, json={"repositories": ["a", "b"]}, headers={"Link": link})
        return httpx.Response(200, json={"repositories": ["c"]})

    fake = FakeRegistry(responder)
    with gateway(fake, catalog_page_size=2) as client:
        response = client.get("/api/repositories")
    assert response.status_code == 200, response.text
    assert [r["name"] for r in response.json()["repositories"]] == ["a", "b", "c"]
    catalog = [r for r in fake.requests if r.url.path == "/v2/_catalog"]
    assert len(catalog) == 2
    assert {r.url.host for r in fake.requests} == {HOST}
    assert {r.url.scheme for r in fake.requests} == {"http"}
    assert {r.url.port for r in fake.requests} == {None}
    assert dict(catalog[0].url.params) == {"n": "2"}
    assert dict(catalog[1].url.params) == {"n": "2", "last": "b"}


def test_catalog_link_with_encoded_slash() -> None:
    link = '</v2/_catalog?last=team%2Fsvc-0290&n=2>; rel="next"'

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/_catalog":
            return None
        if "last" not in request.url.params:
            names = ["team/svc-0289", "team/svc-0290"]
            return httpx.Response(200, json={"repositories": names}, headers={"Link": link})
        return httpx.Response(200, json={"repositories": ["team/svc-0291"]})

    fake = FakeRegistry(responder)
    with gateway(fake, catalog_page_size=2) as client:
        response = client.get("/api/repositories")
    assert response.json()["total"] == 3
    second = [r for r in fake.requests if r.url.path == "/v2/_catalog"][1]
    assert second.url.params["last"] == "team/svc-0290"


@pytest.mark.parametrize(
    "links",
    [
        ["b", "b", "b"],  # the same page again and again
        ["b", "a", "b"],  # ping-pong
        ["b", "", "b"],  # a Link without last
    ],
)
def test_catalog_link_loop_does_not_hang(links: list[str]) -> None:
    calls = 0

    async def responder(request: httpx.Request) -> httpx.Response | None:
        nonlocal calls
        if request.url.path != "/v2/_catalog":
            return None
        calls += 1
        if calls > 50:  # a guard: a looping gateway fails here instead of hanging
            return httpx.Response(500)
        last = links[(calls - 1) % len(links)]
        link = f'</v2/_catalog?last={last}&n=2>; rel="next"'
        return httpx.Response(200, json={"repositories": ["a", "b"]}, headers={"Link": link})

    fake = FakeRegistry(responder)
    started = time.monotonic()
    with gateway(fake, catalog_page_size=2) as client:
        response = client.get("/api/repositories")
    assert time.monotonic() - started < 5
    assert response.status_code == 200, response.text
    assert [r["name"] for r in response.json()["repositories"]] == ["a", "b"]
    assert calls <= 3


def test_tag_list_link_loop_does_not_hang_and_keeps_the_host() -> None:
    calls = 0

    async def responder(request: httpx.Request) -> httpx.Response | None:
        nonlocal calls
        if not request.url.path.endswith("/tags/list"):
            return None
        calls += 1
        if calls > 50:
            return httpx.Response(500)
        link = '<http://evil.test/v2/app/tags/list?last=1.0&n=1000>; rel="next"'
        return httpx.Response(200, json={"name": "app", "tags": ["1.0"]}, headers={"Link": link})

    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1
    assert calls <= 2
    assert {r.url.host for r in fake.requests} == {HOST}


def test_tag_list_follows_link_pages() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if not request.url.path.endswith("/tags/list"):
            return None
        if request.url.params.get("last") is None:
            link = '</v2/app/tags/list?last=1.0&n=1>; rel="next"'
            return httpx.Response(
                200, json={"name": "app", "tags": ["1.0"]}, headers={"Link": link}
            )
        return httpx.Response(200, json={"name": "app", "tags": ["2.0"]})

    with gateway(FakeRegistry(responder)) as client:
        response = client.get(ENDPOINTS["tags"])
    assert [t["name"] for t in response.json()["tags"]] == ["1.0", "2.0"]


# -- slow upstreams --------------------------------------------------------------------------


def test_upstream_slower_than_the_read_timeout_is_504_quickly() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            await asyncio.sleep(20)
        return None

    with gateway(FakeRegistry(responder), read_timeout=0.2) as client:
        started = time.monotonic()
        response = client.get(ENDPOINTS["manifest"])
        elapsed = time.monotonic() - started
    assert_error(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 3


def test_upstream_body_that_trickles_forever_is_504_quickly() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b" "
            await asyncio.sleep(0.1)

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(200, content=trickle())
        return None

    with gateway(FakeRegistry(responder), read_timeout=0.2) as client:
        started = time.monotonic()
        response = client.get(ENDPOINTS["tags"])
        elapsed = time.monotonic() - started
    assert_error(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 3


def test_slow_ping_is_unhealthy_quickly() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v2/":
            await asyncio.sleep(20)
        return None

    with gateway(FakeRegistry(responder), read_timeout=0.2) as client:
        started = time.monotonic()
        response = client.get("/api/health")
        elapsed = time.monotonic() - started
    error = assert_error(response, 503, "UPSTREAM_UNAVAILABLE")
    assert error["detail"]["registry"]["reachable"] is False
    assert elapsed < 3


class SilentServer:
    """A loopback TCP server that accepts connections and then says ``prefix`` slowly
    (one byte per ``interval``) or nothing at all: real sockets, real httpx timeouts."""

    def __init__(self, prefix: bytes = b"", interval: float = 0.05) -> None:
        self.prefix = prefix
        self.interval = interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.conns: list[socket.socket] = []

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        try:
            for i in range(len(self.prefix)):
                if self.stopping.wait(self.interval):
                    return
                conn.sendall(self.prefix[i : i + 1])
            self.stopping.wait(30)
        except OSError:
            return

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(5)
        for conn in self.conns:
            conn.close()
        self.sock.close()


def test_real_socket_that_never_answers_is_504(make_gateway: Any) -> None:
    with SilentServer() as server:
        url = f"http://127.0.0.1:{server.port}"
        with make_gateway(url, read_timeout=0.3) as client:
            started = time.monotonic()
            response = client.get(ENDPOINTS["tags"])
            elapsed = time.monotonic() - started
    assert_error(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 3


def test_real_socket_that_trickles_headers_is_504(make_gateway: Any) -> None:
    """Each byte arrives within the read timeout; the whole answer never does."""
    prefix = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400
    with SilentServer(prefix, interval=0.05) as server:
        url = f"http://127.0.0.1:{server.port}"
        with make_gateway(url, read_timeout=0.3) as client:
            started = time.monotonic()
            response = client.get(ENDPOINTS["tags"])
            elapsed = time.monotonic() - started
    assert_error(response, 504, "UPSTREAM_TIMEOUT")
    assert elapsed < 5


def test_login_against_a_socket_that_trickles_headers_is_504(make_gateway: Any) -> None:
    """The login check is bound by the same overall deadline as every other request."""
    prefix = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 400
    login = {"username": "alice", "password": "pw"}
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode()}
    with SilentServer(prefix, interval=0.05) as server:
        url = f"http://127.0.0.1:{server.port}"
        with make_gateway(url, read_timeout=0.3) as client:
            for send in (
                lambda: client.post("/api/session", json=login, headers=xhr),
                lambda: client.get("/api/session", headers=basic),
            ):
                started = time.monotonic()
                response = send()
                elapsed = time.monotonic() - started
                assert_error(response, 504, "UPSTREAM_TIMEOUT")
                assert elapsed < 5


def test_login_does_not_read_a_huge_answer() -> None:
    sent: list[int] = []

    async def endless(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v2/":
            return None

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(64):
                sent.append(1)
                yield b"x" * MiB

        return httpx.Response(200, content=chunks())

    with gateway(FakeRegistry(endless)) as client:
        response = client.post(
            "/api/session",
            json={"username": "alice", "password": "pw"},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )
    assert_error(response, 401, "UNAUTHORIZED")  # an open registry checks nothing
    assert len(sent) <= 2, f"{len(sent)} MiB read"


def test_closed_port_is_503(make_gateway: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # bound, never listened: connections are refused
    with make_gateway(f"http://127.0.0.1:{port}") as client:
        for url in (ENDPOINTS["catalog"], ENDPOINTS["tags"], ENDPOINTS["manifest"]):
            assert_error(client.get(url), 503, "UPSTREAM_UNAVAILABLE")
        assert_error(client.get("/api/health"), 503, "UPSTREAM_UNAVAILABLE")


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
                assert_error(response, 502, "UPSTREAM_INVALID")


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


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ALICE_BASIC = basic_header("alice", "alice-pw")
MALLORY_BASIC = basic_header("mallory", "mallory-pw")


def test_index_children_are_not_taken_as_members_of_the_index_repository() -> None:
    """Distribution 3.x can accept sparse indexes (``validation.manifests.indexes``): an
    index in ``public`` may name a child that lives only in the private ``app``. Pushing
    such an index must not let a ``public``-only user read ``app``'s manifest through the
    shared content cache once someone allowed on ``app`` has loaded it."""
    index = dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": DIGEST,
                    "size": len(MANIFEST),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    )
    rights = {ALICE_BASIC: {"app", "public"}, MALLORY_BASIC: {"public"}}

    async def access(request: httpx.Request) -> httpx.Response | None:
        path = request.url.path
        if path == "/v2/":
            return None
        granted = rights.get(request.headers.get("authorization", ""))
        if granted is None:
            return httpx.Response(
                401,
                headers={"WWW-Authenticate": 'Basic realm="test"'},
                json={"errors": [{"code": "UNAUTHORIZED", "message": "login"}]},
            )
        if path.split("/")[2] not in granted:
            return registry_error(403, "DENIED")
        if path.startswith("/v2/public/manifests/"):
            if path.rsplit("/", 1)[1] in ("sparse", sha256(index)):
                return manifest_response(index, OCI_INDEX)
            return registry_error(404, "MANIFEST_UNKNOWN")  # the child is not in public
        return None

    fake = FakeRegistry(access)
    fake.tags = {"app": ["1.0"], "public": ["sparse"]}
    mallory = {"Authorization": MALLORY_BASIC}
    with gateway(fake) as client:
        # Alice loads the private image; its manifest is now in the shared cache.
        alice = client.get(
            f"/api/repositories/app/manifests/{DIGEST}", headers={"Authorization": ALICE_BASIC}
        )
        assert alice.status_code == 200
        assert_error(
            client.get(f"/api/repositories/app/manifests/{DIGEST}", headers=mallory), 403, "DENIED"
        )
        # Mallory views the sparse index in public, then asks public for its child.
        detail = client.get("/api/repositories/public/images/sparse", headers=mallory)
        assert detail.status_code == 200, detail.text
        [child] = detail.json()["platforms"]
        assert child["error"]["code"] == "MANIFEST_UNKNOWN", child
        leaked = client.get(f"/api/repositories/public/manifests/{DIGEST}", headers=mallory)
        assert_error(leaked, 404, "MANIFEST_UNKNOWN")
        assert MANIFEST not in leaked.content
