"""/v2 behaviours a local distribution registry cannot show, through the one mock registry:
blobs on object storage (a 307 to a presigned URL), upload and manifest Locations the
registry answers on other hosts."""

from __future__ import annotations

import base64
import hashlib

import httpx

from tests.support.mock_registry import REGISTRY, FakeRegistry, blob_response, gateway

DATA = b"layer bytes on object storage" * 100
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()
PRESIGNED = "https://storage.test/blobs/abc?X-Amz-Signature=secret-signature"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"alice:pw-1").decode()}


def test_a_storage_redirect_is_followed_by_the_gateway_without_credentials() -> None:
    seen: list[httpx.Request] = []

    async def storage(request: httpx.Request) -> httpx.Response | None:
        seen.append(request)
        if request.url.host == "storage.test":
            if "range" in request.headers:
                part = blob_response(DATA[:10])
                part.status_code = 206
                part.headers["Content-Range"] = f"bytes 0-9/{len(DATA)}"
                return part
            return blob_response(DATA)  # streamed, as from a real transport
        if request.url.path == f"/v2/app/blobs/{DIGEST}":
            return httpx.Response(307, headers={"Location": PRESIGNED})
        return None

    with gateway(FakeRegistry(storage)) as client:
        r = client.get(f"/v2/app/blobs/{DIGEST}", headers=AUTH)
        assert r.status_code == 200
        assert r.content == DATA
        assert "location" not in r.headers and b"storage.test" not in r.content
        r = client.get(f"/v2/app/blobs/{DIGEST}", headers={**AUTH, "Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == DATA[:10]
        head = client.head(f"/v2/app/blobs/{DIGEST}", headers=AUTH)
        assert head.status_code == 200
        assert int(head.headers["content-length"]) == len(DATA)
    at_storage = [q for q in seen if q.url.host == "storage.test"]
    assert at_storage
    assert all("authorization" not in q.headers for q in at_storage)


def test_a_redirect_to_a_metadata_address_is_refused() -> None:
    async def hostile(request: httpx.Request) -> httpx.Response | None:
        if "/blobs/" in request.url.path:
            location = "http://169.254.169.254/latest/meta-data/"
            return httpx.Response(307, headers={"Location": location})
        return None

    with gateway(FakeRegistry(hostile)) as client:
        r = client.get(f"/v2/app/blobs/{DIGEST}")
        assert r.status_code == 502
        assert r.json()["errors"][0]["code"] == "UPSTREAM_INVALID"


def test_upload_locations_elsewhere_are_refused() -> None:
    async def elsewhere(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.endswith("/blobs/uploads/"):
            return httpx.Response(202, headers={"Location": "https://evil.test/upload?x=1"})
        return None

    with gateway(FakeRegistry(elsewhere), v2_mode="push") as client:
        r = client.post("/v2/app/blobs/uploads/", headers=AUTH)
        assert r.status_code == 502
        assert r.json()["errors"][0]["code"] == "UPSTREAM_INVALID"
        assert "evil.test" not in r.headers.get("location", "")


def test_upload_locations_on_the_registry_come_back_on_the_gateway() -> None:
    async def absolute(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and request.url.path.endswith("/blobs/uploads/"):
            location = f"{REGISTRY}/v2/app/blobs/uploads/1234-abcd?_state=opaque%3D"
            headers = {"Location": location, "Docker-Upload-UUID": "1234-abcd", "Range": "0-0"}
            return httpx.Response(202, headers=headers)
        return None

    with gateway(FakeRegistry(absolute), v2_mode="push") as client:
        r = client.post("/v2/app/blobs/uploads/", headers=AUTH)
        assert r.status_code == 202
        assert r.headers["location"] == "/v2/app/blobs/uploads/1234-abcd?_state=opaque%3D"
        assert r.headers["docker-upload-uuid"] == "1234-abcd"
        assert r.headers["range"] == "0-0"
