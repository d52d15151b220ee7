"""The warm lane of ``/v2``: a manifest or a config the view holds, verified, sent to a
caller the gate lets see it without routing (``routers.warm.WarmLane`` hands these
requests here).

An SPA that talks ``/v2`` asks for a tag list, then a manifest and a config blob per
tag. Once those are cached, routing and solving the route's dependencies were most of
what each answer cost (3–4× nginx's CPU per answer, issue 19), so a request the view
can answer from what it holds in process — the same rule as the routes' (``peek_digest``:
the tag's digest, the caller's access, the digest's membership, the verified bytes) —
is answered here with the bytes and headers the route would send. Anything else (a
miss, another ``Accept``, a ``Range``, a digest of another algorithm) goes the long way.

Content named by its digest never changes: its answers carry ``Cache-Control`` letting
the browser keep it for a year (``content_cache_control``), ``private`` unless the
caller is anonymous, so no shared cache keeps one user's content for another.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.types import Scope, Send

from gateway.cache import Blob
from gateway.registry.credentials import Caller
from gateway.registry.names import is_digest, is_name, is_sha256
from gateway.scope_headers import joined_header
from gateway.services.content_caching import content_cache_control
from gateway.services.v2_proxy import accepted_types
from gateway.state import AppState

_MANIFESTS = "/manifests/"
_BLOBS = "/blobs/"


def cache_headers(caller: Caller, reference: str) -> dict[str, str]:
    """The ``Cache-Control`` a manifest answer gets: only by digest (a tag moves)."""
    return {"cache-control": content_cache_control(caller)} if is_digest(reference) else {}


def target(path: str) -> tuple[str, str, str] | None:
    """``("manifests" | "blobs", name, reference)`` of a ``/v2`` read, else None."""
    if not path.startswith("/v2/"):
        return None
    rest = path[4:]
    for marker in (_MANIFESTS, _BLOBS):
        name, sep, reference = rest.rpartition(marker)
        if sep and name and reference and "/" not in reference:
            return marker.strip("/"), name, reference
    return None


def _matches(if_none_match: str | None, digest: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")}
    return digest in tags or "*" in tags


def held(
    state: AppState, caller: Caller, scope: Scope, found: tuple[str, str, str]
) -> tuple[Blob, str] | None:
    """(the bytes, their content type) of what this request names (``found``:
    ``target``), when the view holds them for this caller; None: the long way."""
    kind, name, reference = found
    registry = state.registry
    if kind == "manifests":
        if ":" in reference and not is_sha256(reference):
            return None
        digest = registry.peek_digest(caller, name, reference)
        blob = None if digest is None else registry.content.get(digest)
        if blob is None or blob.media_type not in accepted_types(joined_header(scope, b"accept")):
            return None
        return blob, blob.media_type
    if not is_sha256(reference) or joined_header(scope, b"range") is not None:
        return None
    blob = registry.peek_config(caller, name, reference)
    return None if blob is None else (blob, "application/octet-stream")


async def handed_at_once(
    state: AppState, caller: Caller, scope: Scope, found: tuple[str, str, str]
) -> dict[str, str] | None:
    """The headers of the empty answer that hands this blob pull to the nginx in front
    (``services.blob_offload``), when it came through that nginx and nothing needs
    asking first; None: the long way (the route: a config it holds, a HEAD first, or
    streamed). A manifest or config known to the repository goes the long way too."""
    kind, name, digest = found
    offload = state.blobs.offload
    if kind != "blobs" or scope["method"] != "GET" or not is_sha256(digest):
        return None
    if not is_name(name) or not offload.asked(Headers(scope=scope)):
        return None
    if state.registry.gate.membership.peek((name, digest)):
        return None  # a config the route may hold: served from memory there
    return await offload.at_once(caller, name, digest)


async def send_handed(send: Send, headers: dict[str, str]) -> None:
    """The empty answer that hands a pull to nginx (X-Accel-Redirect)."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": 200, "headers": raw})
    await send({"type": "http.response.body", "body": b""})


async def send_held(
    scope: Scope, send: Send, caller: Caller, reference: str, blob: Blob, content_type: str
) -> None:
    """The answer the route would send for ``blob``: 200 (no body for HEAD), or 304."""
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", content_type.encode("latin-1")),
        (b"docker-content-digest", blob.digest.encode()),
        (b"etag", f'"{blob.digest}"'.encode()),
    ]
    if is_digest(reference):
        headers.append((b"cache-control", content_cache_control(caller).encode()))
    if content_type == "application/octet-stream":
        headers.append((b"accept-ranges", b"bytes"))
    status = 200
    body = blob.body
    if _matches(joined_header(scope, b"if-none-match"), blob.digest):
        status, body = 304, b""
    else:
        headers.append((b"content-length", str(len(blob.body)).encode()))
    if scope["method"] == "HEAD":
        body = b""
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
