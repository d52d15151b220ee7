"""Reading one file of a layer: only the bytes it needs, streamed, bounded.

- plain tar: one ``Range`` request for exactly the file's bytes;
- gzip: one ``Range`` from the checkpoint at or before the file to the first checkpoint
  at or after its end, inflated from the checkpoint (``checkpoints.inflated``): at
  most about one span (4 MiB of output, compressed) more than the file itself;
- zstd: from the start of the frame holding the file (a layer written as one frame, the
  usual case, is read from its start: zstd has no other place to begin).

The file's size comes from the index, so a read never yields more than that, whatever
the blob holds now; a blob that ends early is ``UpstreamInvalid``.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from gateway.errors import FileUnknown, UpstreamInvalid, clip
from gateway.layers.checkpoints import inflated
from gateway.layers.decode import ZstdDecoder
from gateway.layers.metrics import LayerCounters
from gateway.layers.source import BlobSource
from gateway.layers.store import IndexStore, LayerIndex, Point
from gateway.layers.tarstream import TarEntry
from gateway.models.files import FilePreview

PREVIEW_BYTES = 64 * 1024


def regular_file(entry: TarEntry | None, path: str) -> TarEntry:
    """``entry`` if its bytes can be read; ``FileUnknown`` otherwise (a symlink is named,
    not followed)."""
    shown = clip(path)
    if entry is None or entry.type in ("whiteout", "opaque"):
        raise FileUnknown(f"no file {shown}")
    if entry.type == "symlink":
        raise FileUnknown(
            f"{shown} is a symbolic link to {clip(entry.link_target or '')} (not followed)",
            detail={"type": "symlink", "link_target": entry.link_target},
        )
    if entry.type not in ("file", "hardlink"):
        raise FileUnknown(
            f"{shown} is a {entry.type}, not a regular file", detail={"type": entry.type}
        )
    if entry.offset is None:
        raise FileUnknown(f"{shown} is a hard link to a file this layer does not hold")
    return entry


def span(points: tuple[Point, ...], start: int, end: int) -> tuple[Point | None, Point | None]:
    """The last checkpoint at or before ``start`` and the first at or after ``end``."""
    starts = [p.expanded for p in points]
    i = bisect.bisect_right(starts, start) - 1
    j = bisect.bisect_left(starts, end)
    return (points[i] if i >= 0 else None), (points[j] if j < len(points) else None)


async def read_file(
    store: IndexStore,
    index: LayerIndex,
    entry: TarEntry,
    source: BlobSource,
    counters: LayerCounters,
    limit: int | None = None,
) -> AsyncIterator[bytes]:
    """The content of ``entry`` (a regular file of ``index``'s layer), at most ``limit``
    bytes of it."""
    length = entry.size if limit is None else min(entry.size, limit)
    offset = entry.offset
    if length <= 0 or offset is None:
        return
    if index.format == "tar":
        async with aclosing(_counted(source, offset, offset + length, counters)) as fetched:
            async for piece in _exactly(fetched, length):
                yield piece
        return
    first, after = span(index.points, offset, offset + length)
    if first is None:  # pragma: no cover - every gzip/zstd index has a point at 0
        raise UpstreamInvalid("the layer index has no checkpoint before this file")
    if index.format == "gzip":
        point = await store.checkpoint(index.id, first)
        end = None if after is None else min(after.compressed + 1, index.compressed_size)
        async with aclosing(_counted(source, point.fetch_from, end, counters)) as fetched:
            skip = offset - first.expanded
            async for piece in _exactly(inflated(point, fetched), length, skip=skip):
                yield piece
        return
    end = None if after is None else after.compressed
    async with aclosing(_counted(source, first.compressed, end, counters)) as fetched:
        async for piece in _exactly(_zstd(fetched), length, skip=offset - first.expanded):
            yield piece


async def preview(
    store: IndexStore,
    index: LayerIndex,
    entry: TarEntry,
    source: BlobSource,
    counters: LayerCounters,
) -> FilePreview:
    """The first 64 KiB as text, or ``binary`` (a NUL byte, or not UTF-8)."""
    pieces = [p async for p in read_file(store, index, entry, source, counters, PREVIEW_BYTES)]
    data = b"".join(pieces)
    truncated = entry.size > len(data)
    text = None if b"\0" in data else _utf8(data, truncated)
    return FilePreview(
        path=entry.path,
        size=entry.size,
        sha256=entry.sha256,
        binary=text is None,
        text=text,
        truncated=truncated,
    )


def _utf8(data: bytes, cut: bool) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut by the 64 KiB limit is not a sign of binary content.
        if cut and exc.reason == "unexpected end of data" and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        return None


async def _counted(
    source: BlobSource, start: int, end: int | None, counters: LayerCounters
) -> AsyncGenerator[bytes, None]:
    async with source.open(start, end) as chunks:
        async for chunk in chunks:
            counters.bytes_file_reads += len(chunk)
            yield chunk


async def _zstd(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    decoder = ZstdDecoder()
    async for chunk in chunks:
        for piece in decoder.feed(chunk):
            yield piece


async def _exactly(
    pieces: AsyncIterator[bytes], length: int, skip: int = 0
) -> AsyncIterator[bytes]:
    wanted = length
    async for piece in pieces:
        if skip:
            cut = min(skip, len(piece))
            skip -= cut
            piece = piece[cut:]
        if piece:
            piece = piece[:wanted]
            wanted -= len(piece)
            yield piece
        if not wanted:
            return
    if wanted:
        raise UpstreamInvalid(
            "the layer ended before the file did (it changed since it was indexed?)",
            detail={"reason": "truncated"},
        )
