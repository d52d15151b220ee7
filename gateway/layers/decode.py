"""Streaming decompression with every output bounded, whatever the input.

Each decoder takes compressed chunks and yields the decompressed bytes in pieces of at
most ``PIECE`` bytes (``max_length``), so a chunk of a gzip bomb never becomes a huge
buffer: the caller counts the pieces against ``LR_LAYER_MAX_EXPANDED_BYTES`` and stops.

- gzip: ``zlib`` with the gzip wrapper (its CRC-32 and length are checked at the end of
  each member); concatenated members are read on; zero padding after the last is
  allowed, anything else is a corrupt layer.
- zstd: the standard library's ``compression.zstd`` API (``backports.zstd`` before
  Python 3.14), frame after frame; each frame's start is recorded (``frames``): they
  are the only places a zstd layer can be read from later without its start.
- tar: passed through.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from gateway.errors import UpstreamInvalid

try:  # pragma: no cover - which one depends on the Python version
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

PIECE = 1024 * 1024


def corrupt(what: str, reason: str = "corrupt") -> UpstreamInvalid:
    return UpstreamInvalid(f"the layer is not valid {what}", detail={"reason": reason})


class PlainDecoder:
    def __init__(self) -> None:
        self.consumed = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.consumed += len(data)
        for start in range(0, len(data), PIECE):
            yield data[start : start + PIECE]

    def finish(self) -> None:
        return None


class GzipDecoder:
    """gzip members, one after another."""

    def __init__(self) -> None:
        self._inflater: Any = zlib.decompressobj(31)
        self._pending = b""  # bytes after a member's end, before the next header is whole
        self._started = False
        self._after_end = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        data = self._pending + data
        self._pending = b""
        while data:
            if self._after_end:
                if data.count(0) == len(data):
                    return  # zero padding after the last member
                if len(data) < 2:
                    self._pending = data
                    return
                if not data.startswith(b"\x1f\x8b"):
                    raise corrupt("gzip (data after the end of the stream)")
                self._inflater, self._after_end = zlib.decompressobj(31), False
            self._started = True
            try:
                out = self._inflater.decompress(data, PIECE)
            except zlib.error:
                raise corrupt("gzip") from None
            if out:
                yield out
            if self._inflater.eof:
                data, self._after_end = self._inflater.unused_data, True
            else:
                data = self._inflater.unconsumed_tail
        # All input consumed; drain what zlib still holds back (bounded pieces).
        while not self._after_end:
            try:
                out = self._inflater.decompress(b"", PIECE)
            except zlib.error:
                raise corrupt("gzip") from None
            if not out:
                break
            yield out

    def finish(self) -> None:
        if not self._after_end or self._pending:
            raise corrupt("gzip (the stream is truncated)", "truncated")


class ZstdDecoder:
    """zstd frames, one after another; ``frames`` lists (compressed, decompressed)
    offsets of each frame's start."""

    def __init__(self) -> None:
        self._inflater: Any = zstd.ZstdDecompressor()
        self._in_frame = False
        self.consumed = 0  # compressed bytes received
        self.produced = 0
        self.frames: list[tuple[int, int]] = []

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.consumed += len(data)
        pending = data  # received, not yet handed to a decompressor: the stream's tail
        while True:
            if not self._in_frame:
                if not pending:
                    return
                self._inflater = zstd.ZstdDecompressor()
                self._in_frame = True
                self.frames.append((self.consumed - len(pending), self.produced))
            try:
                out = self._inflater.decompress(pending, PIECE)
            except zstd.ZstdError:
                raise corrupt("zstd") from None
            pending = b""
            self.produced += len(out)
            if out:
                yield out
            if self._inflater.eof:
                pending, self._in_frame = self._inflater.unused_data, False
                continue
            if self._inflater.needs_input:
                return

    def finish(self) -> None:
        if self._in_frame or not self.frames:
            raise corrupt("zstd (the stream is truncated)", "truncated")
