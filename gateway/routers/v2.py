"""The registry's own v2 API on the gateway's port (``LR_V2_MODE=pull|push``).

For SPAs written against ``/v2`` and for docker, skopeo and crane: the registry's paths,
statuses, headers and error format (``{"errors": [...]}``, see ``gateway.main``), over the
gateway's callers, tokens, realm policy and caches (gateway/services/v2_proxy.py). Not in
the OpenAPI document: it is the registry's API, described by the distribution spec.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.dependencies import CurrentCaller, RepoName, State
from gateway.errors import BlobUploadUnknown, Forbidden, ManifestTooLarge
from gateway.registry.names import check_name, check_oci_digest, check_oci_reference
from gateway.registry.protocol import CONTENT_HEADERS, Passed
from gateway.routers.routing import GatewayRouter, not_modified
from gateway.routers.warm_v2 import cache_headers
from gateway.services.content_caching import content_cache_control
from gateway.services.v2_proxy import MAX_MANIFEST_BYTES

router = GatewayRouter(head=False, include_in_schema=False)


async def _digest(digest: str) -> str:
    return check_oci_digest(digest)


async def _reference(reference: str) -> str:
    return check_oci_reference(reference)


# /v2 takes a digest of any algorithm the OCI grammar allows and hands it on: the
# registry judges the algorithm (/api stays sha256, what its caches verify).
Digest = Annotated[str, Depends(_digest)]
Reference = Annotated[str, Depends(_reference)]

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def _link(request: Request, path: str, last: str, n: int | None) -> str:
    """A relative ``Link`` to the next page, on the gateway (below its root path)."""
    root = request.scope.get("root_path", "")
    query = f"last={quote(last, safe='')}" + (f"&n={n}" if n is not None else "")
    return f'<{root}{path}?{query}>; rel="next"'


@router.api_route("/v2/", methods=["GET", "HEAD"])
async def v2_base(state: State, caller: CurrentCaller) -> JSONResponse:
    """200 when the registry lets this caller in; else 401 with a Basic challenge."""
    await state.v2.base(caller)
    return JSONResponse({})


@router.api_route("/v2/_catalog", methods=["GET", "HEAD"])
async def v2_catalog(
    request: Request,
    state: State,
    caller: CurrentCaller,
    n: str | None = None,
    last: str | None = None,
) -> JSONResponse:
    names, more, size = await state.v2.catalog(caller, n, last)
    headers = {}
    if more:
        headers["Link"] = _link(request, "/v2/_catalog", names[-1], size)
    return JSONResponse({"repositories": names}, headers=headers)


@router.api_route("/v2/{name:repository}/tags/list", methods=["GET", "HEAD"])
async def v2_tags(
    request: Request,
    state: State,
    caller: CurrentCaller,
    name: RepoName,
    n: str | None = None,
    last: str | None = None,
) -> JSONResponse:
    tags, more, size = await state.v2.tags(caller, name, n, last)
    headers = {}
    if more:
        headers["Link"] = _link(request, f"/v2/{name}/tags/list", tags[-1], size)
    return JSONResponse({"name": name, "tags": tags}, headers=headers)


@router.api_route("/v2/{name:repository}/manifests/{reference}", methods=["GET", "HEAD"])
async def v2_manifest(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> Response:
    head = request.method == "HEAD"
    # Go clients (docker, skopeo, crane) send one Accept header per media type.
    accept = ", ".join(request.headers.getlist("accept")) or None
    passed = await state.v2.manifest(caller, name, reference, accept, head=head)
    headers = dict(passed.headers)
    if passed.status == 200:
        headers.update(cache_headers(caller, reference))  # by digest: kept by the browser
    digest = headers.get("docker-content-digest", "")
    if not head and passed.status == 200 and digest:  # a client's pull: recorded once, as it
        state.activity.pulled(caller, name, reference, digest, headers.get("content-type"))
    if digest:
        headers["etag"] = f'"{digest}"'
        if not_modified(request, digest):
            headers.pop("content-length", None)
            return Response(status_code=304, headers=headers)
    media_type = headers.pop("content-type", None)
    if head:
        return Response(status_code=passed.status, headers=headers, media_type=media_type)
    headers.pop("content-length", None)  # set from the body
    return Response(passed.body, status_code=passed.status, headers=headers, media_type=media_type)


@router.api_route("/v2/{name:repository}/manifests/{reference}", methods=["PUT"])
async def v2_put_manifest(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> Response:
    """Push mode: a manifest (at most 4 MiB) passed to the registry; the repository's
    cached lists and tag pointers are dropped at once."""
    state.v2.check_push(caller)
    body = await _bounded_body(request, MAX_MANIFEST_BYTES)
    media_type = request.headers.get("content-type", "")
    passed = await state.v2.put_manifest(caller, name, reference, body, media_type)
    return _passed(request, passed)


@router.api_route("/v2/{name:repository}/manifests/{reference}", methods=["DELETE"])
async def v2_delete_manifest(
    state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> Response:
    await state.v2.delete_manifest(caller, name, reference)
    return Response(status_code=202)


@router.api_route("/v2/{name:repository}/blobs/uploads/", methods=["POST"])
async def v2_start_upload(
    request: Request, state: State, caller: CurrentCaller, name: RepoName
) -> Response:
    """Push mode: start an upload, push a blob in one ``POST ?digest=``, or mount one
    from another repository (``?mount=<digest>&from=<name>``)."""
    state.v2.check_push(caller)
    query: dict[str, str] = {}
    params = request.query_params
    if "digest" in params:
        query["digest"] = check_oci_digest(params["digest"])
    if "mount" in params:
        query["mount"] = check_oci_digest(params["mount"])
        if "from" in params:
            query["from"] = check_name(params["from"])
    path = f"/v2/{name}/blobs/uploads/" + (f"?{urlencode(query)}" if query else "")
    passed = await state.v2.upload(
        caller, name, "POST", path, _upload_headers(request), _body_of(request)
    )
    return _passed(request, passed)


@router.api_route("/v2/{name:repository}/blobs/uploads/{session}", methods=ALL_METHODS)
async def v2_upload(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, session: str
) -> Response:
    """Push mode: ``PATCH`` a chunk, ``PUT`` the last one (``?digest=``), ``GET`` the
    upload's progress, ``DELETE`` it; with the registry's own upload state (the query
    of the ``Location`` it answered) passed back to it as it was."""
    state.v2.check_push(caller)
    if request.method not in ("PATCH", "PUT", "GET", "DELETE") or not _UPLOAD_ID.fullmatch(session):
        raise BlobUploadUnknown("no such upload")
    if state.blobs.offload.upload_asked(request.method, request.headers):
        # nginx asks whether it may send this step's bytes to the registry itself
        granted = await state.blobs.offload.upload_grant(caller, name)
        if granted is None:
            raise Forbidden("this upload step is sent through the gateway")
        return Response(status_code=200, headers=granted)
    query = request.url.query
    path = f"/v2/{name}/blobs/uploads/{session}" + (f"?{query}" if query else "")
    body = _body_of(request) if request.method in ("PATCH", "PUT") else None
    passed = await state.v2.upload(
        caller, name, request.method, path, _upload_headers(request), body
    )
    return _passed(request, passed)


# An upload id as distribution makes them (a UUID); anything else is no upload of ours.
_UPLOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)

# Request headers an upload step needs on the registry.
_UPLOAD_REQUEST_HEADERS = ("content-type", "content-length", "content-range")


def _upload_headers(request: Request) -> dict[str, str]:
    return {k: request.headers[k] for k in _UPLOAD_REQUEST_HEADERS if k in request.headers}


def _body_of(request: Request) -> bytes | AsyncIterator[bytes]:
    """The request body as it arrives (never held whole); empty when it declares none."""
    if request.headers.get("content-length") == "0" or (
        "content-length" not in request.headers
        and "chunked" not in request.headers.get("transfer-encoding", "").lower()
    ):
        return b""
    return request.stream()


async def _bounded_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ManifestTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ManifestTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _passed(request: Request, passed: Passed) -> Response:
    """A registry answer to a write, its ``Location`` put on the gateway's origin."""
    headers = dict(passed.headers)
    location = headers.get("location")
    if location is not None:
        headers["location"] = request.scope.get("root_path", "") + location
    headers["content-length"] = "0"
    return Response(status_code=passed.status, headers=headers)


@router.api_route("/v2/{name:repository}/blobs/{digest}", methods=["GET", "HEAD"])
async def v2_blob(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, digest: Digest
) -> Response:
    """A blob streamed in constant memory (``Range`` passed on), redirects to storage
    followed by the gateway, so no storage URL reaches the client. Through the nginx
    that takes them (``LR_BLOB_OFFLOAD_SECRET``), an empty answer handing the pull to
    nginx once the registry confirmed it (gateway/services/blob_offload.py)."""
    if request.method == "HEAD":
        headers = await state.blobs.head(caller, name, digest)
        headers["docker-content-digest"] = digest
        headers["etag"] = f'"{digest}"'
        headers["cache-control"] = content_cache_control(caller)
        return Response(status_code=200, headers=headers)
    byte_range = request.headers.get("range")
    held = None if byte_range is not None else await state.blobs.held(caller, name, digest)
    if held is not None:  # a config: verified and kept by the view, as its manifest was
        headers = {
            "content-type": "application/octet-stream",
            "docker-content-digest": digest,
            "etag": f'"{digest}"',
            "accept-ranges": "bytes",
            "cache-control": content_cache_control(caller),
        }
        return Response(held, headers=headers)
    offload = state.blobs.offload
    if offload.asked(request.headers):  # through the trusted nginx: it moves the bytes
        handed = await offload.answer(caller, name, digest)
        if handed is not None:
            return Response(status_code=200, headers=handed)
    upstream = await state.blobs.open(caller, name, digest, byte_range)
    headers = {k: upstream.headers[k] for k in CONTENT_HEADERS if k in upstream.headers}
    headers["docker-content-digest"] = digest
    headers["etag"] = f'"{digest}"'
    headers.setdefault("content-type", "application/octet-stream")
    if upstream.status_code in (200, 206):
        headers["cache-control"] = content_cache_control(caller)  # the digest names it
    if upstream.status_code == 416:
        await upstream.aclose()
        headers.pop("content-length", None)
        return Response(status_code=416, headers=headers)
    return StreamingResponse(
        state.blobs.chunks(upstream),
        status_code=upstream.status_code,
        headers=headers,
    )


@router.api_route("/v2/{name:repository}/blobs/{digest}", methods=["DELETE"])
async def v2_delete_blob(
    state: State, caller: CurrentCaller, name: RepoName, digest: Digest
) -> Response:
    await state.v2.delete_blob(caller, name, digest)
    return Response(status_code=202)


@router.api_route("/v2/{name:repository}/referrers/{digest}", methods=["GET"])
async def v2_referrers(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, digest: Digest
) -> Response:
    artifact_type = request.query_params.get("artifactType")
    passed = await state.v2.referrers(caller, name, digest, artifact_type)
    headers = dict(passed.headers)
    media_type = headers.pop("content-type", "application/vnd.oci.image.index.v1+json")
    headers.pop("content-length", None)
    return Response(passed.body, status_code=passed.status, headers=headers, media_type=media_type)
