"""Serving a built SPA (``LR_SPA_DIR``, or the reference UI) from one folder.

What a Vite/React/Vue build needs from the server in front of it, as nginx's
``try_files $uri /index.html`` set-ups give it, plus the safety such set-ups often miss:

- A path that names a file serves it. A missing path gets ``index.html`` (history-mode
  routing) when the request is a navigation (``Accept`` names ``text/html``) or its
  last segment has no extension; a missing asset is a 404, so a broken deploy shows.
  Nothing under ``/assets/`` and no path with a segment starting with ``.`` falls back.
- Caching: ``index.html`` is ``no-cache`` (revalidated, ``ETag``/``Last-Modified``,
  304); fingerprinted assets (under ``assets/``, or names carrying a content hash) are
  ``immutable`` for a year; other files get a short max-age.
- A precompressed ``.br``/``.gz`` sibling is sent to clients that accept it; text over
  1 KiB is otherwise gzipped on the fly, off the event loop (and kept, by content hash).
- Memory stays flat: small files are read whole, larger ones streamed from disk.
- No way out of the folder: ``..``, encoded backslashes, NUL, dotfiles (also through a
  symlink) and symlinks that resolve outside are 404s; no directory listings. A path
  holding an encoded slash (``/tag-list/team%2Fapp``: the SPA's address of a repository
  whose name has a ``/``) never names a file, but may still fall back to
  ``index.html`` like any other route: nothing decoded is ever used as a file path.

The folder is resolved once at start-up: a deploy that swaps a symlink to a new release
needs a restart (or point ``LR_SPA_DIR`` at a folder whose contents are replaced).

The class is an ASGI app used as the router's fallback (``app.router.default``), so it
sees only requests no route matched; the gateway's own paths still answer 404/405 with
the error envelope, raised as ``HTTPException`` for the app's handler.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import os
import re
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import anyio
from cachetools import LRUCache
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketClose

from gateway.paths import is_gateway_path, route_path
from gateway.web.negotiation import accepted_encodings, etag_matches

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
SHORT = "public, max-age=300"

COMPRESS_MIN_BYTES = 1024
GZIP_MAX_BYTES = 8 * 1024 * 1024  # larger files are sent as stored (or as their sibling)
READ_MAX_BYTES = 256 * 1024  # larger files are streamed from disk, not read whole
HASH_MAX_BYTES = 8 * 1024 * 1024  # larger files get an ETag from their size and mtime

# Types a registry UI's build emits; Python's mimetypes table varies by platform.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".eot": "application/vnd.ms-fontobject",
    ".pdf": "application/pdf",
}
COMPRESSIBLE = re.compile(r"^(text/|application/(json|manifest\+json|xml|wasm)|image/svg)")

# A content hash in a file name, as bundlers write them: Rollup/Vite's eight characters
# of base64url (`index-DiwrgTda.js`), webpack's hex (`main.1a2b3c4d.chunk.js`). It must
# hold a digit or an upper-case letter (`main-component.js` has no hash), and image
# sizes such as `og-image-1200x630.png` do not count. Applied in subfolders only: files
# at the root (`service-worker.js`, icons) are a build's `public/` copied as they are.
_HASHED = re.compile(r"[.-](?P<hash>[0-9a-f]{8,20}|[A-Za-z0-9_-]{8})(\.chunk)?\.[A-Za-z0-9]+$")
_HAS_DIGIT_OR_UPPER = re.compile(r"[0-9A-Z]")
_DIMENSIONS = re.compile(r"^[0-9]+x[0-9]+$")
_BAD_RAW = re.compile(rb"%(5c|00)", re.IGNORECASE)
_ENCODED_SLASH = re.compile(rb"%2f", re.IGNORECASE)


def is_fingerprinted(relative: Path) -> bool:
    """Whether a file (relative to the root) carries a content hash in its name."""
    if len(relative.parts) < 2:
        return False
    m = _HASHED.search(relative.name)
    if m is None:
        return False
    digest = m.group("hash")
    return _HAS_DIGIT_OR_UPPER.search(digest) is not None and not _DIMENSIONS.match(digest)


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class _Variant:
    """One representation of a file: as stored, or a precompressed sibling."""

    path: Path
    encoding: str | None  # Content-Encoding, None for identity
    stat: os.stat_result


def _not_found(fallback_possible: bool = False) -> HTTPException:
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if fallback_possible:
        headers["Vary"] = "Accept"  # with Accept: text/html it would have been index.html
    return HTTPException(404, detail="no such file", headers=headers)


class StaticSite:
    """The SPA folder as an ASGI app. ``immutable_assets`` is False for a build with no
    fingerprints (the reference UI): then every file is ``no-cache`` and revalidated."""

    def __init__(self, root: Path, *, immutable_assets: bool = True) -> None:
        self.root = root.resolve()
        self.immutable_assets = immutable_assets
        self.index = self.root / "index.html"
        if not self.index.is_file():
            raise ValueError(f"{root} has no index.html")
        # (path, mtime_ns, size) -> content hash; content hash -> gzipped body
        self._digests: LRUCache[tuple[str, int, int], str] = LRUCache(maxsize=4096)
        self._gzipped: LRUCache[str, bytes] = LRUCache(maxsize=32 * 1024 * 1024, getsizeof=len)
        self._gzip_lock = asyncio.Lock()  # one compression at a time, each done once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await WebSocketClose()(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if is_gateway_path(route_path(scope)):
            raise HTTPException(404)
        if scope.get("method") not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        response = await self.respond(scope)
        await response(scope, receive, send)

    # -- resolving a path ---------------------------------------------------------------

    def _segments(self, scope: Scope) -> list[str] | None:
        """The path's segments, or None when the path may not name a file here nor
        fall back to index.html."""
        if _BAD_RAW.search(scope.get("raw_path") or b""):
            return None  # an encoded backslash or NUL smuggled into a segment
        segments = [s for s in route_path(scope).split("/") if s]
        for segment in segments:
            if segment.startswith(".") or "\\" in segment or "\x00" in segment:
                return None
        return segments

    @staticmethod
    def _names_no_file(scope: Scope) -> bool:
        """An encoded slash: the decoded path is not the one the client sent, so it is
        never looked up on disk (it can still be a route of the SPA)."""
        return _ENCODED_SLASH.search(scope.get("raw_path") or b"") is not None

    def _inside(self, candidate: Path) -> Path | None:
        """Where ``candidate`` really is, if it exists. A path that leads out of the root
        or to a dotfile (through a symlink) is refused outright with a 404: it is never
        answered with index.html."""
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.root):
            raise _not_found()
        if any(part.startswith(".") for part in real.relative_to(self.root).parts):
            raise _not_found()
        return real

    def _falls_back(self, scope: Scope, segments: list[str] | None) -> bool:
        if segments is None or (segments and segments[0] == "assets"):
            return False
        accept = Headers(scope=scope).get("accept", "")
        if "text/html" in accept.lower():
            return True
        return not segments or "." not in segments[-1]

    # -- answering ----------------------------------------------------------------------

    async def respond(self, scope: Scope) -> Response:
        segments = self._segments(scope)
        found = None
        if segments is not None and not self._names_no_file(scope):
            real = self._inside(self.root.joinpath(*segments) if segments else self.index)
            found = real if real is not None and real.is_file() else None
        fallback = found is None
        if found is None:
            if not self._falls_back(scope, segments):
                raise _not_found(fallback_possible=segments is not None)
            found = self.index
        return await self._serve(found, Headers(scope=scope), fallback=fallback)

    def _cache_control(self, path: Path) -> str:
        if path.suffix == ".html" or not self.immutable_assets:
            return NO_CACHE
        relative = path.relative_to(self.root)
        if relative.parts[0] == "assets" or is_fingerprinted(relative):
            return IMMUTABLE
        return SHORT

    def _variants(self, path: Path) -> tuple[_Variant, dict[str, _Variant]]:
        """The file as stored, and its precompressed siblings by Content-Encoding."""
        plain = _Variant(path, None, path.stat())
        siblings: dict[str, _Variant] = {}
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            try:
                real = self._inside(path.with_name(path.name + suffix))
            except HTTPException:
                continue  # a sibling that leads outside is no sibling
            if real is not None and real.is_file():
                siblings[encoding] = _Variant(real, encoding, real.stat())
        return plain, siblings

    async def _tag(self, variant: _Variant) -> str:
        """A strong validator: the content's hash (cached by path, mtime and size), or
        for a large file a hash of its size and mtime (not worth reading whole)."""
        st = variant.stat
        if st.st_size > HASH_MAX_BYTES:
            return hashlib.sha256(f"{st.st_size}-{st.st_mtime_ns}".encode()).hexdigest()[:32]
        key = (str(variant.path), st.st_mtime_ns, st.st_size)
        digest = self._digests.get(key)
        if digest is None:
            data = await anyio.Path(variant.path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()[:32]
            self._digests[key] = digest
        return digest

    async def _gzip(self, path: Path, tag: str) -> bytes:
        body = self._gzipped.get(tag)
        if body is not None:
            return body
        async with self._gzip_lock:
            body = self._gzipped.get(tag)
            if body is None:
                data = await anyio.Path(path).read_bytes()
                compress = functools.partial(gzip.compress, data, compresslevel=6, mtime=0)
                body = await anyio.to_thread.run_sync(compress)
                self._gzipped[tag] = body
        return body

    async def _serve(self, path: Path, request: Headers, *, fallback: bool) -> Response:
        kind = content_type(path)
        compressible = COMPRESSIBLE.match(kind) is not None
        accepted = accepted_encodings(request.get("accept-encoding"))
        plain, siblings = self._variants(path)
        chosen = next(
            (siblings[e] for e in ("br", "gzip") if e in siblings and e in accepted), plain
        )
        headers = {
            "Cache-Control": self._cache_control(path),
            "Last-Modified": formatdate(plain.stat.st_mtime, usegmt=True),
            "X-Content-Type-Options": "nosniff",
        }
        vary = ["Accept-Encoding"] if compressible or siblings else []
        if fallback:
            vary.append("Accept")  # index.html for a navigation, a 404 for a fetch
        if vary:
            headers["Vary"] = ", ".join(vary)

        size = plain.stat.st_size
        gzip_now = (
            chosen is plain
            and compressible
            and COMPRESS_MIN_BYTES <= size <= GZIP_MAX_BYTES
            and "gzip" in accepted
        )
        encoding = "gzip" if gzip_now else chosen.encoding
        tag = await self._tag(chosen)
        headers["ETag"] = f'"{tag}-{encoding}"' if encoding else f'"{tag}"'
        if encoding:
            headers["Content-Encoding"] = encoding
        if self._not_modified(request, headers["ETag"], plain.stat.st_mtime):
            return Response(status_code=304, headers=headers)

        if gzip_now:
            return Response(await self._gzip(plain.path, tag), media_type=kind, headers=headers)
        if chosen.stat.st_size <= READ_MAX_BYTES:
            body = await anyio.Path(chosen.path).read_bytes()
            return Response(body, media_type=kind, headers=headers)
        return FileResponse(chosen.path, media_type=kind, headers=headers, stat_result=chosen.stat)

    @staticmethod
    def _not_modified(request: Headers, etag: str, mtime: float) -> bool:
        if_none_match = request.get("if-none-match")
        if if_none_match is not None:
            return etag_matches(if_none_match, etag)
        since = request.get("if-modified-since")
        if since:
            try:
                return int(mtime) <= parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
        return False
