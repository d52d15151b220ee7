"""One mock registry for what a real one cannot be made to do: ``FakeRegistry`` (an
``httpx.MockTransport`` handler holding ``app:1.0``, one OCI image, with an ``override``
that may answer any request first) and ``gateway(fake)``, a TestClient of an app whose
upstream transport is that handler. Nothing leaves the process."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient

from gateway.main import create_app
from gateway.settings import Settings

REGISTRY = "http://registry.test"
MiB = 1024 * 1024
HOST = "registry.test"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def config_doc(created: str = "2024-05-01T10:00:00Z") -> bytes:
    return dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {"Env": ["PATH=/bin"], "Cmd": ["app"]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created": created, "created_by": "RUN x", "empty_layer": True}],
        }
    )


def manifest_doc(config: bytes, media_type: str = OCI_MANIFEST) -> bytes:
    return dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": "sha256:" + "1" * 64, "size": 1234},
            ],
        }
    )


CONFIG = config_doc()
CONFIG_DIGEST = sha256(CONFIG)
MANIFEST = manifest_doc(CONFIG)
DIGEST = sha256(MANIFEST)
OTHER_DIGEST = "sha256:" + "f" * 64
LAYER_DIGEST = "sha256:" + "1" * 64

Responder = Callable[[httpx.Request], Awaitable[httpx.Response | None]]


def registry_error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"errors": [{"code": code, "message": code.lower().replace("_", " "), "detail": None}]}
    return httpx.Response(status, json=body, headers=headers)


def manifest_response(
    body: bytes, content_type: str = OCI_MANIFEST, digest: str | None = None
) -> httpx.Response:
    headers = {
        "Content-Type": content_type,
        "Docker-Content-Digest": digest or sha256(body),
        "Docker-Distribution-Api-Version": "registry/2.0",
    }
    return httpx.Response(200, content=body, headers=headers)


class FakeRegistry:
    """A well-behaved registry holding ``app:1.0`` (one image), unless ``override`` says
    otherwise: an override sees every request first and may answer it (or return None)."""

    def __init__(self, override: Responder | None = None) -> None:
        self.override = override
        self.requests: list[httpx.Request] = []
        self.manifests: dict[str, tuple[bytes, str]] = {
            "1.0": (MANIFEST, OCI_MANIFEST),
            DIGEST: (MANIFEST, OCI_MANIFEST),
        }
        self.blobs: dict[str, bytes] = {CONFIG_DIGEST: CONFIG, LAYER_DIGEST: b"x" * 1234}
        self.tags: dict[str, list[str] | None] = {"app": ["1.0"]}

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        # A snapshot: an auth flow mutates and resends the same Request object.
        self.requests.append(
            httpx.Request(request.method, request.url, headers=request.headers.copy())
        )
        if self.override is not None:
            answer = await self.override(request)
            if answer is not None:
                return answer
        return self.default(request)

    def default(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200, json={}, headers={"Docker-Distribution-Api-Version": "x"})
        if path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": sorted(self.tags)})
        m = re.fullmatch(r"/v2/(.+)/(tags/list|manifests/[^/]+|blobs/[^/]+)", path)
        if m is None:
            return registry_error(404, "NOT_FOUND")
        name, what = m.groups()
        if name not in self.tags:
            return registry_error(404, "NAME_UNKNOWN")
        if what == "tags/list":
            return httpx.Response(200, json={"name": name, "tags": self.tags[name]})
        kind, ref = what.split("/", 1)
        if kind == "manifests":
            if ref not in self.manifests:
                return registry_error(404, "MANIFEST_UNKNOWN")
            body, content_type = self.manifests[ref]
            response = manifest_response(body, content_type)
            if request.method == "HEAD":
                return httpx.Response(200, headers=response.headers)
            return response
        if ref not in self.blobs:
            return registry_error(404, "BLOB_UNKNOWN")
        return blob_response(self.blobs[ref])


def blob_response(body: bytes) -> httpx.Response:
    """A streamed answer, as from a real transport (bytes content would arrive pre-read)."""

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    headers = {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
    return httpx.Response(200, content=chunks(), headers=headers)


@contextmanager
def gateway(fake: FakeRegistry, **settings: Any) -> Iterator[TestClient]:
    """A gateway in front of ``fake`` (its upstream transport)."""
    values: dict[str, Any] = {
        "registry_url": REGISTRY,
        "catalog_page_size": 10,
        "data_dir": tempfile.mkdtemp(prefix="lr-data-"),  # never the working folder's data/
    }
    values.update(settings)
    config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    app = create_app(config, transport=httpx.MockTransport(fake))
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield client


def answering(
    fn: Callable[[httpx.Request], httpx.Response | None],
) -> Responder:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        return fn(request)

    return responder


# Every read endpoint of the gateway, over what FakeRegistry holds.
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


def raising(exc_type: type[httpx.TransportError]) -> Responder:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        raise exc_type("simulated", request=request)

    return responder


def answering_status(status: int, headers: dict[str, str] | None = None) -> Responder:
    code = {429: "TOOMANYREQUESTS", 401: "UNAUTHORIZED"}.get(status, "UNKNOWN")
    return answering(lambda _r: registry_error(status, code, headers))


def garbage(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, content=b"<html>not json</html>", headers={"Content-Type": "text/html"}
    )


# A manifest whose bytes no longer match its digest.
TAMPERED = MANIFEST.replace(b'"size":1234', b'"size":1235')


# An OCI index whose one child (linux/amd64) is MANIFEST.
ONE_CHILD_INDEX = dumps(
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
