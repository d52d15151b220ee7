"""One layer read: streamed once, decompressed, its tar entries and checkpoints taken.

``read_layer`` refuses what it can before fetching (a foreign layer, a type that is no
file system, a declared size over ``LR_LAYER_MAX_BYTES``), then streams the blob once.
The bytes are gathered into pieces of ``FEED`` bytes and each piece is worked on in a
worker thread (``asyncio.to_thread``): sha256 of the blob, decompression (every output
counted against ``LR_LAYER_MAX_EXPANDED_BYTES``), tar parsing, and for gzip the
checkpoint builder's own thread. Memory is bounded by the piece, the decoder's pieces,
one tar metadata record and the checkpoints' windows (32 KiB per 4 MiB of output);
entries leave in batches through ``on_entries`` (the store writes them as they come).

The blob's sha256 is checked against its digest: an index is shared by every caller
that may pull the layer, so it must describe exactly the content the digest names.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import LayerTooLarge, UpstreamInvalid
from gateway.layers import paths
from gateway.layers.checkpoints import SPACING, Checkpoint, CheckpointBuilder
from gateway.layers.decode import GzipDecoder, PlainDecoder, ZstdDecoder
from gateway.layers.source import BlobSource, Format, check_media_type, sniff
from gateway.layers.tarstream import MAX_ENTRIES, TarEntry, TarStream

FEED = 1024 * 1024
SLICE = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_expanded_bytes: int
    max_entries: int = MAX_ENTRIES
    spacing: int = SPACING


@dataclass(slots=True)
class Progress:
    """What a route shows while the read runs (``202``): bytes of the blob read so far,
    and its size when known."""

    bytes_read: int = 0
    bytes_total: int | None = None


@dataclass(slots=True)
class LayerRead:
    format: Format
    compressed_size: int
    expanded_size: int
    checkpoints: list[Checkpoint] = field(default_factory=list)


class _Pipeline:
    """The synchronous part, fed one piece at a time from a worker thread."""

    def __init__(self, fmt: Format, limits: Limits, digest: str) -> None:
        self.format = fmt
        self.limits = limits
        self.expanded = 0
        self.digest = digest
        self.hash: Any = hashlib.sha256() if digest.startswith("sha256:") else None
        self.decoder: PlainDecoder | GzipDecoder | ZstdDecoder = (
            GzipDecoder() if fmt == "gzip" else ZstdDecoder() if fmt == "zstd" else PlainDecoder()
        )
        self.builder = CheckpointBuilder(limits.spacing) if fmt == "gzip" else None
        self.tar = TarStream(limits.max_entries)
        self.dirs: set[str] = {"/"}

    def feed(self, data: bytes) -> list[TarEntry]:
        if self.hash is not None:
            self.hash.update(data)
        out: list[TarEntry] = []
        # In slices, so that the checkpoint builder never runs far ahead of the bound
        # checked here (a bomb's slice of 64 KiB expands to at most ~64 MiB).
        for start in range(0, len(data), SLICE):
            self._feed_slice(data[start : start + SLICE], out)
        return out

    def _feed_slice(self, data: bytes, out: list[TarEntry]) -> None:
        if self.builder is not None:
            self.builder.feed(data)
        for piece in self.decoder.feed(data):
            self.expanded += len(piece)
            if self.expanded > self.limits.max_expanded_bytes:
                raise LayerTooLarge(
                    f"the layer expands beyond {self.limits.max_expanded_bytes} bytes",
                    detail={"reason": "expanded", "max": self.limits.max_expanded_bytes},
                )
            if not self.tar.ended:
                for entry in self.tar.feed(piece):
                    self._with_parents(entry, out)

    def _with_parents(self, entry: TarEntry, out: list[TarEntry]) -> None:
        """Directories a tar implies (``a/b/c`` without ``a/b``) become entries of their
        own, so that every listed path can be browsed to."""
        for directory in paths.ancestors(entry.path):
            if directory not in self.dirs:
                self.dirs.add(directory)
                out.append(TarEntry(path=directory, type="dir", mode=0o755, implicit=True))
        if entry.type == "dir":
            self.dirs.add(entry.path)
        out.append(entry)

    def finish(self) -> list[Checkpoint]:
        self.decoder.finish()
        self.tar.finish()
        if self.hash is not None and "sha256:" + self.hash.hexdigest() != self.digest:
            raise UpstreamInvalid(
                "the layer's content does not match its digest",
                detail={"reason": "digest_mismatch"},
            )
        if self.builder is not None:
            return self.builder.finish()
        if isinstance(self.decoder, ZstdDecoder):
            return [Checkpoint(c, e, 0, None) for c, e in self.decoder.frames]
        return []

    def abort(self) -> None:
        if self.builder is not None:
            self.builder.abort()


async def read_layer(
    source: BlobSource,
    limits: Limits,
    progress: Progress,
    on_entries: Callable[[list[TarEntry]], Awaitable[None]],
) -> LayerRead:
    """Stream ``source`` once; ``on_entries`` gets the entries in order, in batches."""
    check_media_type(source.media_type)
    if source.size is not None and source.size > limits.max_bytes:
        raise LayerTooLarge(
            f"the layer is {source.size} bytes (at most {limits.max_bytes} are read)",
            detail={"reason": "size", "size": source.size, "max": limits.max_bytes},
        )
    progress.bytes_total = source.size
    pipeline: _Pipeline | None = None
    buffer = bytearray()

    async def feed() -> None:
        nonlocal pipeline
        if pipeline is None:
            pipeline = _Pipeline(sniff(bytes(buffer[:4])), limits, source.digest)
        data = bytes(buffer)
        buffer.clear()
        entries = await asyncio.to_thread(pipeline.feed, data)
        if entries:
            await on_entries(entries)

    try:
        async with source.open() as chunks:
            async for chunk in chunks:
                progress.bytes_read += len(chunk)
                if progress.bytes_read > limits.max_bytes:
                    raise LayerTooLarge(
                        f"the layer is larger than {limits.max_bytes} bytes",
                        detail={"reason": "size", "max": limits.max_bytes},
                    )
                buffer += chunk
                if len(buffer) >= FEED:
                    await feed()
        if buffer or pipeline is None:
            await feed()
        assert pipeline is not None
        if source.size is not None and progress.bytes_read != source.size:
            raise UpstreamInvalid(
                f"the layer is {progress.bytes_read} bytes, its descriptor says {source.size}",
                detail={"reason": "truncated"},
            )
        checkpoints = await asyncio.to_thread(pipeline.finish)
    except BaseException:
        if pipeline is not None:
            await asyncio.shield(asyncio.to_thread(pipeline.abort))
        raise
    return LayerRead(pipeline.format, progress.bytes_read, pipeline.expanded, checkpoints)
