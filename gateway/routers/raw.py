"""Raw documents: manifests exactly as stored, and blobs streamed in constant memory."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from gateway.dependencies import CurrentCaller, Digest, Reference, RepoName, State
from gateway.routers import UPSTREAM, errors
from gateway.routers.routing import GatewayRouter, not_modified

router = GatewayRouter(tags=["raw"], head=False)


@router.get(
    "/api/repositories/{name:repository}/manifests/{reference}",
    response_class=Response,
    responses={
        200: {
            "description": "The manifest bytes, Content-Type = its media type",
            "content": {
                "application/vnd.oci.image.index.v1+json": {},
                "application/vnd.oci.image.manifest.v1+json": {},
                "application/vnd.docker.distribution.manifest.list.v2+json": {},
                "application/vnd.docker.distribution.manifest.v2+json": {},
            },
        },
        304: {"description": "Not modified (If-None-Match matched the digest)"},
        **errors(
            {
                400: ("NAME_INVALID", "TAG_INVALID", "DIGEST_INVALID"),
                404: ("NAME_UNKNOWN", ("MANIFEST_UNKNOWN", "no such tag or digest here")),
            },
            UPSTREAM,
        ),
    },
    summary="A manifest, bytes as stored",
)
async def get_manifest(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> Response:
    """The manifest exactly as the registry stores it (bytes unchanged), with
    ``Content-Type`` = its media type, ``Docker-Content-Digest`` and ``ETag``."""
    manifest = await state.registry.manifest(caller, name, reference)
    headers = {"Docker-Content-Digest": manifest.digest, "ETag": f'"{manifest.digest}"'}
    if reference == manifest.digest:
        headers["Cache-Control"] = "private, max-age=31536000, immutable"
    else:
        headers["Cache-Control"] = "private, no-cache"
    if not_modified(request, manifest.digest):
        return Response(status_code=304, headers=headers)
    return Response(content=manifest.body, media_type=manifest.media_type, headers=headers)


@router.head("/api/repositories/{name:repository}/manifests/{reference}", include_in_schema=False)
async def head_manifest(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, reference: Reference
) -> Response:
    """The GET's headers (``Docker-Content-Digest``, ``Content-Type``, ``Content-Length``,
    ``ETag``), no body: what an SPA asks to learn a tag's digest."""
    answer = await get_manifest(request, state, caller, name, reference)
    headers = dict(answer.headers)
    return Response(status_code=answer.status_code, headers=headers)


def _blob_headers(digest: str) -> dict[str, str]:
    return {
        "Docker-Content-Digest": digest,
        "ETag": f'"{digest}"',
        "Cache-Control": "private, max-age=31536000, immutable",
    }


@router.get(
    "/api/repositories/{name:repository}/blobs/{digest}",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The blob, streamed", "content": {"application/octet-stream": {}}},
        304: {"description": "Not modified (If-None-Match matched the digest)"},
        **errors(
            {
                400: ("NAME_INVALID", "DIGEST_INVALID"),
                404: ("NAME_UNKNOWN", "BLOB_UNKNOWN"),
            },
            UPSTREAM,
        ),
    },
    summary="Download a blob",
)
async def get_blob(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, digest: Digest
) -> Response:
    """A blob (layer or config) streamed from the registry, any size, constant memory, as
    an attachment (``Content-Disposition``) with ``Docker-Content-Digest`` and ``ETag``."""
    await state.blobs.ensure_readable(caller, name, digest)
    headers = _blob_headers(digest)
    if not_modified(request, digest):
        return Response(status_code=304, headers=headers)
    upstream = await state.blobs.open(caller, name, digest)
    length = upstream.headers.get("content-length")
    if length and length.isdigit():
        headers["Content-Length"] = length
    filename = digest.replace(":", "_")
    headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return StreamingResponse(
        state.blobs.chunks(upstream),
        media_type="application/octet-stream",
        headers=headers,
    )


@router.head("/api/repositories/{name:repository}/blobs/{digest}", include_in_schema=False)
async def head_blob(
    request: Request, state: State, caller: CurrentCaller, name: RepoName, digest: Digest
) -> Response:
    """The download's headers (size, digest), no body, and no download started."""
    await state.blobs.ensure_readable(caller, name, digest)
    headers = _blob_headers(digest)
    if not_modified(request, digest):
        return Response(status_code=304, headers=headers)
    upstream = await state.blobs.head(caller, name, digest)
    length = upstream.get("content-length", "")
    if length.isdigit():
        headers["Content-Length"] = length
    headers["Content-Type"] = "application/octet-stream"
    headers["Content-Disposition"] = f'attachment; filename="{digest.replace(":", "_")}"'
    return Response(status_code=200, headers=headers)
