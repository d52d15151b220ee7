"""The answers of the files routes that are not a model: the 202 while a layer is read,
and a file's bytes (an attachment, ``ETag`` its sha256, a small file read before its
answer starts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.layers import paths
from gateway.layers.engine import FileRead
from gateway.models.files import IndexingProgress
from gateway.routers.routing import not_modified
from gateway.services.layer_files import store_errors

RETRY_AFTER = "1"  # seconds: a layer read moves on quickly; the SPA polls
PRIMED = 1024 * 1024  # a file up to this size is read whole before the answer starts


def indexing(progress: IndexingProgress) -> JSONResponse:
    return JSONResponse(
        progress.model_dump(), status_code=202, headers={"Retry-After": RETRY_AFTER}
    )


def answer(found: Any) -> Any:
    return indexing(found) if isinstance(found, IndexingProgress) else found


async def file_answer(request: Request, found: FileRead | IndexingProgress) -> Response:
    """The bytes of a regular file: an attachment (``nosniff``: on every /api answer),
    ``ETag`` its sha256. A
    small file is read before the answer starts (its upstream bytes are then in
    ``X-Upstream-Bytes``, and a failure is an error answer); a large one is streamed."""
    if isinstance(found, IndexingProgress):
        return indexing(found)
    entry = found.entry
    name = paths.basename(entry.path) or "file"
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    headers = {
        "Content-Disposition": disposition,
        "Cache-Control": "private, no-cache",
        "Content-Length": str(entry.size),
    }
    if entry.sha256:
        headers["ETag"] = f'"{entry.sha256}"'
        if not_modified(request, entry.sha256):
            del headers["Content-Length"]
            await _close(found.chunks)
            return Response(status_code=304, headers=headers)
    head: list[bytes] = []
    size = 0
    chunks = found.chunks
    with store_errors():  # the first piece reads the checkpoint from the index
        async for piece in chunks:
            head.append(piece)
            size += len(piece)
            if size >= PRIMED:
                break
        else:
            return Response(b"".join(head), media_type="application/octet-stream", headers=headers)

    async def rest() -> AsyncIterator[bytes]:
        try:
            for piece in head:
                yield piece
            async for piece in chunks:
                yield piece
        finally:
            await _close(chunks)

    return StreamingResponse(rest(), media_type="application/octet-stream", headers=headers)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
