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
  1 KiB is otherwise gzipped on the fly (and kept, by content hash).
- No way out of the folder: ``..``, encoded slashes and backslashes, NUL, dotfiles and
  symlinks that resolve outside are 404s; directories are never listed.

The class is an ASGI app used as the router's fallback (``app.router.default``), so it
sees only requests no route matched; the gateway's own paths still answer 404/405 with
the error envelope, raised as ``HTTPException`` for the app's handler.
"""

from __future__ import annotations

import gzip
import hashlib
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

from gateway.web.negotiation import accepted_encodings, etag_matches

# Paths the gateway answers itself: never the SPA, never index.html.
GATEWAY_PREFIXES = ("/api", "/v2", "/docs", "/redoc", "/openapi.json", "/metrics")

IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
SHORT = "public, max-age=300"

COMPRESS_MIN_BYTES = 1024
MEMORY_MAX_BYTES = 8 * 1024 * 1024  # larger files are streamed from disk, uncompressed

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

# A content hash in a file name: Vite's `index-DiwrgTda.js`, webpack's
# `main.1a2b3c4d.js`. Eight or more of [A-Za-z0-9_-] holding a digit or an upper-case
# letter, so `main-component.js` does not count.
_HASHED = re.compile(r"[.-](?=[A-Za-z0-9_-]*[0-9A-Z])[A-Za-z0-9_-]{8,}\.[A-Za-z0-9]+$")
_BAD_RAW = re.compile(rb"%(2f|5c|00)", re.IGNORECASE)


def is_gateway_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in GATEWAY_PREFIXES)


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class _Variant:
    """One representation of a file: as stored, or a compressed sibling."""

    path: Path
    encoding: str | None  # Content-Encoding, None for identity
    size: int
    mtime: float


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope.get("path", "/")
        if is_gateway_path(path):
            raise HTTPException(404)
        if scope.get("method") not in ("GET", "HEAD"):
            raise HTTPException(405, headers={"Allow": "GET, HEAD"})
        response = await self.respond(scope)
        await response(scope, receive, send)

    # -- resolving a path ---------------------------------------------------------------

    def _segments(self, scope: Scope) -> list[str] | None:
        """The path's segments, or None when the path may not name a file here."""
        if _BAD_RAW.search(scope.get("raw_path") or b""):
            return None  # an encoded slash, backslash or NUL smuggled into a segment
        segments = [s for s in scope.get("path", "/").split("/") if s]
        for segment in segments:
            if segment.startswith(".") or "\\" in segment or "\x00" in segment:
                return None
        return segments

    def _file(self, segments: list[str]) -> Path | None:
        """The regular file these segments name inside the root, if any.

        Raises 404 for a path that exists but leads out of the root (a symlink): such a
        path is refused outright, never answered with index.html.
        """
        candidate = self.root.joinpath(*segments) if segments else self.index
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.root):
            raise HTTPException(404, detail="no such file")
        return real if real.is_file() else None

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
        found = self._file(segments) if segments is not None else None
        if found is None:
            if not self._falls_back(scope, segments):
                raise HTTPException(404, detail="no such file")
            found = self.index
        return await self._serve(found, Headers(scope=scope))

    def _cache_control(self, path: Path) -> str:
        if path == self.index or path.suffix == ".html":
            return NO_CACHE
        if not self.immutable_assets:
            return NO_CACHE
        relative = path.relative_to(self.root)
        if relative.parts[0] == "assets" or _HASHED.search(path.name):
            return IMMUTABLE
        return SHORT

    def _variants(self, path: Path, accepted: set[str]) -> tuple[_Variant, _Variant | None]:
        """The file as stored, and the precompressed sibling to send instead, if any."""
        stat = path.stat()
        plain = _Variant(path, None, stat.st_size, stat.st_mtime)
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            if encoding not in accepted:
                continue
            sibling = path.with_name(path.name + suffix)
            try:
                real = sibling.resolve(strict=True)
            except OSError:
                continue
            if real.is_relative_to(self.root) and real.is_file():
                s = real.stat()
                return plain, _Variant(real, encoding, s.st_size, s.st_mtime)
        return plain, None

    async def _digest(self, variant: _Variant) -> str:
        stat = variant.path.stat()
        key = (str(variant.path), stat.st_mtime_ns, stat.st_size)
        digest = self._digests.get(key)
        if digest is None:
            data = await anyio.Path(variant.path).read_bytes()
            digest = hashlib.sha256(data).hexdigest()[:32]
            self._digests[key] = digest
        return digest

    async def _serve(self, path: Path, request: Headers) -> Response:
        kind = content_type(path)
        compressible = COMPRESSIBLE.match(kind) is not None
        accepted = accepted_encodings(request.get("accept-encoding"))
        plain, sibling = self._variants(path, accepted)
        chosen = sibling or plain
        headers = {
            "Cache-Control": self._cache_control(path),
            "Last-Modified": formatdate(plain.mtime, usegmt=True),
            "X-Content-Type-Options": "nosniff",
        }
        if compressible or sibling is not None:
            headers["Vary"] = "Accept-Encoding"
        if plain.size > MEMORY_MAX_BYTES and sibling is None:
            # Large (a .wasm, a map): streamed, with Starlette's stat-based ETag.
            return FileResponse(path, media_type=kind, headers=headers)

        digest = await self._digest(chosen)
        gzip_now = (
            sibling is None
            and compressible
            and plain.size >= COMPRESS_MIN_BYTES
            and "gzip" in accepted
        )
        encoding = "gzip" if gzip_now else chosen.encoding
        etag = f'"{digest}-{encoding}"' if encoding else f'"{digest}"'
        headers["ETag"] = etag
        if encoding:
            headers["Content-Encoding"] = encoding
        if self._not_modified(request, etag, plain.mtime):
            headers.pop("X-Content-Type-Options")
            return Response(status_code=304, headers=headers)

        if gzip_now:
            body = self._gzipped.get(digest)
            if body is None:
                data = await anyio.Path(plain.path).read_bytes()
                body = gzip.compress(data, compresslevel=6, mtime=0)
                self._gzipped[digest] = body
        else:
            body = await anyio.Path(chosen.path).read_bytes()
        return Response(body, media_type=kind, headers=headers)

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
