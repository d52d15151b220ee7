"""Registry behaviours no local registry shows: blob redirects to object storage, hostile
Locations and documents; and the exact request sequence of the placeholder tag delete.
Played with httpx.MockTransport. (3.x tag paging and native tag deletes are shown by the
real distribution 3.0: test_registry_versions.)"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import Callable

import httpx
import pytest

from gateway.activity.placeholder import placeholder_for
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller, Credentials
from gateway.view.tag_delete import delete_tag

REGISTRY = "https://registry.test"
USER = Caller(Credentials("alice", "s3cret-pass"), "basic")
D1 = "sha256:" + "1" * 64
Handler = Callable[[httpx.Request], httpx.Response]


def run(handler: Handler, fn: Callable[[RegistryClient], object]) -> object:
    async def go() -> object:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = RegistryClient(http, REGISTRY, page_size=2)
            return await fn(client)  # type: ignore[misc]

    return asyncio.run(go())


def test_tag_delete_on_2x_moves_the_tag_to_a_placeholder_then_deletes_it() -> None:
    calls: list[tuple[str, str]] = []
    pushed: dict[str, bytes] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        path = request.url.path
        if request.method == "DELETE" and path == "/v2/app/manifests/old":
            body = {"errors": [{"code": "DIGEST_INVALID", "message": "provided digest invalid"}]}
            return httpx.Response(400, json=body)
        if request.method == "POST" and path == "/v2/app/blobs/uploads/":
            return httpx.Response(202, headers={"Location": "/v2/app/blobs/uploads/u1?_state=x"})
        if request.method == "PUT" and path == "/v2/app/blobs/uploads/u1":
            digest = request.url.params["digest"]
            assert digest == "sha256:" + hashlib.sha256(request.content).hexdigest()
            return httpx.Response(201)
        if request.method == "PUT" and path == "/v2/app/manifests/old":
            pushed["old"] = request.content
            return httpx.Response(201)
        if request.method == "DELETE" and path.startswith("/v2/app/manifests/sha256:"):
            digest = "sha256:" + hashlib.sha256(pushed["old"]).hexdigest()
            assert path.endswith(digest)
            return httpx.Response(202)
        return httpx.Response(500)

    assert run(handler, lambda c: delete_tag(c, USER, "app", "old")) == "placeholder"
    assert [m for m, _ in calls] == ["DELETE", "POST", "PUT", "PUT", "DELETE"]
    placeholder = json.loads(pushed["old"])
    assert placeholder["layers"] == []


def test_a_concurrent_delete_of_the_same_tag_took_the_placeholder_already() -> None:
    """The placeholder is the same for the same tag (its notifications are recognised):
    when two deletes of one tag race, the second finds it gone (404) — the tag is gone,
    as asked, and is not put back."""
    calls: list[tuple[str, str]] = []
    expected = placeholder_for("app", "old")

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        path = request.url.path
        if request.method == "DELETE" and path == "/v2/app/manifests/old":
            return httpx.Response(400, json={"errors": [{"code": "DIGEST_INVALID"}]})
        if request.method == "POST" and path == "/v2/app/blobs/uploads/":
            return httpx.Response(202, headers={"Location": "/v2/app/blobs/uploads/u1?_state=x"})
        if request.method == "PUT" and path == "/v2/app/blobs/uploads/u1":
            assert request.content == expected.config
            return httpx.Response(201)
        if request.method == "PUT" and path == "/v2/app/manifests/old":
            assert request.content == expected.manifest
            return httpx.Response(201)
        if request.method == "DELETE" and path == f"/v2/app/manifests/{expected.digest}":
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        return httpx.Response(500)

    assert run(handler, lambda c: delete_tag(c, USER, "app", "old", D1)) == "placeholder"
    assert [m for m, _ in calls] == ["DELETE", "POST", "PUT", "PUT", "DELETE"]  # no put-back


def test_blob_redirect_to_storage_does_not_carry_registry_credentials() -> None:
    data = b"layer bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    storage_auth: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "registry.test":
            if "authorization" not in request.headers:
                return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
            url = "https://storage.test/blob?X-Amz-Signature=abc"
            return httpx.Response(307, headers={"Location": url})
        storage_auth.append(request.headers.get("authorization"))
        return httpx.Response(200, content=data)

    body = run(handler, lambda c: c.blob(USER, "app", digest, 1024))
    assert body == data
    assert storage_auth == [None]


def test_upload_location_on_another_host_is_refused() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.method == "DELETE" and request.url.path == "/v2/app/manifests/old":
            return httpx.Response(400, json={"errors": [{"code": "DIGEST_INVALID"}]})
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "https://evil.test/upload?x=1"})
        return httpx.Response(500)

    async def go(c: RegistryClient) -> str:
        try:
            return await delete_tag(c, USER, "app", "old")
        except Exception as exc:  # noqa: BLE001
            return type(exc).__name__ + ":" + getattr(exc, "code", "")

    assert run(handler, go) == "UpstreamInvalid:UPSTREAM_INVALID"
    assert set(hosts) == {"registry.test"}


def test_blob_redirects_to_metadata_or_downgrades_are_refused() -> None:
    digest = "sha256:" + "a" * 64
    for location in (
        "http://169.254.169.254/latest/meta-data/",
        "http://storage.test/blob",  # https registry → http storage
        "https://[fe80::1]/blob",
    ):
        reached: list[str] = []

        def handler(
            request: httpx.Request, location: str = location, reached: list[str] = reached
        ) -> httpx.Response:
            reached.append(request.url.host)
            if request.url.host == "registry.test":
                return httpx.Response(307, headers={"Location": location})
            return httpx.Response(200, content=b"x")

        async def go(c: RegistryClient) -> str:
            try:
                await c.blob(USER, "app", digest, 1024)
            except Exception as exc:  # noqa: BLE001
                return getattr(exc, "code", type(exc).__name__)
            return "followed"

        assert run(handler, go) == "UPSTREAM_INVALID", location
        assert reached == ["registry.test"], location


@pytest.mark.parametrize(
    "host",
    [
        "2852039166",  # 169.254.169.254 as one number: getaddrinfo resolves it so
        "0xa9fea9fe",  # ... and in hex
        "169.254.43518",  # ... and with the last two parts as one
        "169.254.169.254.",  # a trailing dot
    ],
)
def test_blob_redirects_to_metadata_in_another_spelling_are_refused(host: str) -> None:
    """The C resolver reads these spellings as 169.254.169.254 (checked below without
    connecting anywhere) and httpx passes them to it as host names; the policy must see
    through them too. (httpx itself refuses a Location in octal.)"""
    spelled = host.rstrip(".")
    try:
        resolved = {a[4][0] for a in socket.getaddrinfo(spelled, 80, proto=socket.IPPROTO_TCP)}
    except socket.gaierror:
        resolved = {"unresolvable here"}
    assert resolved in ({"169.254.169.254"}, {"unresolvable here"}), resolved
    reached: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        reached.append(request.url.host)
        if request.url.host == "registry.test":
            return httpx.Response(307, headers={"Location": f"https://{host}/latest/meta-data/"})
        return httpx.Response(200, content=b"metadata")

    async def go(c: RegistryClient) -> str:
        try:
            response = await c.open_blob(USER, "app", "sha256:" + "a" * 64)
        except Exception as exc:  # noqa: BLE001
            return getattr(exc, "code", type(exc).__name__)
        await response.aclose()
        return "followed"

    assert run(handler, go) == "UPSTREAM_INVALID"
    assert reached == ["registry.test"]


def test_blob_redirect_loops_end() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "https://storage.test/again"})

    async def go(c: RegistryClient) -> str:
        try:
            await c.blob(USER, "app", "sha256:" + "b" * 64, 1024)
        except Exception as exc:  # noqa: BLE001
            return getattr(exc, "code", type(exc).__name__)
        return "followed"

    assert run(handler, go) == "UPSTREAM_INVALID"


def test_a_document_of_another_media_type_is_not_passed_on() -> None:
    """The raw endpoint serves a manifest with its media type as Content-Type: a
    registry answering HTML (or anything else) must not get it onto our origin."""
    for media_type in ("text/html", "application/javascript", "image/svg+xml"):
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": media_type, "config": {}, "layers": []}
        ).encode()

        def handler(
            request: httpx.Request, body: bytes = body, mt: str = media_type
        ) -> httpx.Response:
            return httpx.Response(200, content=body, headers={"Content-Type": mt})

        async def go(c: RegistryClient) -> str:
            try:
                await c.manifest(USER, "app", "latest")
            except Exception as exc:  # noqa: BLE001
                return getattr(exc, "code", type(exc).__name__)
            return "served"

        assert run(handler, go) == "UPSTREAM_INVALID", media_type
