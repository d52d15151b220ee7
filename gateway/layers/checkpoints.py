"""Decompression checkpoints of gzip layers: read one file without the layer's start.

A checkpoint is a deflate block boundary every ``SPACING`` bytes of output: its offset
in the compressed blob, its offset in the decompressed stream, how many bits of the
previous byte the block starts before (``bits``), and the 32 KiB of output before it
(``window``: what back-references may reach). From one, a file is read by fetching
``[checkpoint, next checkpoint past the file's end)`` and inflating from there.

What was weighed (a 60 MB layer, 2 cores; ``bench/bench_layers.py`` has the figures):

- **indexed_gzip** (chosen, to *find* checkpoints): zlib's own ``zran`` in C; it finds
  block boundaries with ``inflate(Z_BLOCK)``, which Python's ``zlib`` does not expose,
  and builds its index from a stream that cannot seek (what a blob download is), at
  zlib's speed, in a thread of its own with the GIL released. Its index export (the
  ``GZIDX`` format, read by ``parse_gzidx``) gives every point with its window.
- **zran** (PyPI): the same C code, but it builds from the *whole compressed blob in
  memory* (``create_index(bytes)``): unbounded memory for a 2 GB layer. Refused.
- **Python's zlib alone**: cannot find block boundaries (no ``Z_BLOCK``), so it cannot
  make checkpoints at all; and it cannot start at a bit that is not the first of its
  byte (no ``inflatePrime``). The second gap is closed by ``realign`` (empty blocks in
  front), so *reading* from a checkpoint uses Python's zlib: it streams naturally from
  an async download in bounded pieces, with no thread and no file object.

So one layer read inflates the stream twice at once (zlib for the tar entries, zran for
the checkpoints, on the two cores): about zlib's cost again, paid once per layer.
"""

from __future__ import annotations

import io
import queue
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.layers.decode import PIECE, corrupt
from gateway.layers.realign import realigned_head

SPACING = 4 * 1024 * 1024
WINDOW = 32 * 1024
_GZIDX_HEAD = struct.Struct("<5sBBQQIII")
_GZIDX_POINT = struct.Struct("<QQBB")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where inflating may start: ``compressed`` (first whole byte of the block),
    ``expanded`` (its output offset), ``bits`` (the block starts that many bits into the
    byte before), ``window`` (the 32 KiB before; ``None`` at the start of a gzip member,
    where the compressed offset is just after the member's header)."""

    compressed: int
    expanded: int
    bits: int
    window: bytes | None

    @property
    def fetch_from(self) -> int:
        return self.compressed - (1 if self.bits else 0)


def parse_gzidx(raw: bytes) -> list[Checkpoint]:
    """indexed_gzip's export (``GZIDX`` version 1): a header, every point's offsets,
    then the windows of the points that have one."""
    try:
        magic, version, _flags, _csize, _usize, _spacing, window, count = _GZIDX_HEAD.unpack_from(
            raw, 0
        )
    except struct.error:
        raise ValueError("not a GZIDX index") from None
    if magic != b"GZIDX" or version != 1:
        raise ValueError(f"not a GZIDX v1 index ({magic!r} v{version})")
    offset = _GZIDX_HEAD.size
    heads = []
    for _ in range(count):
        heads.append(_GZIDX_POINT.unpack_from(raw, offset))
        offset += _GZIDX_POINT.size
    points = []
    for compressed, expanded, bits, has_window in heads:
        data = None
        if has_window:
            data = raw[offset : offset + window]
            offset += window
        points.append(Checkpoint(compressed, expanded, bits, data))
    if offset != len(raw):
        raise ValueError("a GZIDX index of the wrong length")
    return points


class _Feed(io.RawIOBase):
    """The compressed stream as the file object indexed_gzip reads, in its thread: it
    cannot seek, and blocks until the next chunk is handed over."""

    def __init__(self) -> None:
        self.chunks: queue.Queue[bytes | None | BaseException] = queue.Queue(maxsize=4)
        self._buffer = memoryview(b"")
        self.stopped = False  # set by abort(): the next read fails at once

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if self.stopped:
            raise OSError("the layer read was stopped")
        while not self._buffer:
            item = self.chunks.get()
            if item is None:
                self.chunks.put(None)  # stays at the end for any further read
                return b""
            if isinstance(item, BaseException):
                raise OSError("the layer read was stopped")
            self._buffer = memoryview(item)
        size = len(self._buffer) if size is None or size < 0 else size
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(out)

    def readinto(self, buffer: Any) -> int:  # pragma: no cover - indexed_gzip calls read
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class CheckpointBuilder:
    """Feeds a gzip layer, as it streams, to indexed_gzip in a thread of its own; at the
    end, its checkpoints. ``feed`` blocks while that thread is four chunks behind, so
    with the caller's slices of 64 KiB it never gets far past the expanded bound the
    caller checks (a bomb costs it at most a few hundred MiB of inflating, and windows of
    32 KiB per 4 MiB of that, before ``abort``)."""

    def __init__(self, spacing: int = SPACING) -> None:
        self._feed = _Feed()
        self._result: list[Checkpoint] | None = None
        self._error: BaseException | None = None
        self._spacing = spacing
        self._thread = threading.Thread(target=self._run, name="layer-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            import indexed_gzip

            with indexed_gzip._IndexedGzipFile(
                fileobj=self._feed,
                spacing=self._spacing,
                window_size=WINDOW,
                readbuf_size=64 * 1024,  # read ahead: kept small so abort() is quick
                skip_crc_check=True,  # the zlib side checks every member's CRC
            ) as indexed:
                indexed.build_full_index()
                out = io.BytesIO()
                indexed.export_index(fileobj=out)
            self._result = parse_gzidx(out.getvalue())
        except BaseException as exc:  # reported to the caller by finish()
            self._error = exc
            # Unblock a feeder waiting on a full queue.
            while True:
                try:
                    self._feed.chunks.get_nowait()
                except queue.Empty:
                    break

    def feed(self, data: bytes) -> None:
        if self._error is not None or not self._thread.is_alive():
            return  # finish() reports it
        while self._thread.is_alive():
            try:
                self._feed.chunks.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def finish(self) -> list[Checkpoint]:
        self._put_final(None)
        self._thread.join()
        if self._result is None:
            raise corrupt("gzip (its checkpoints could not be built)") from self._error
        return self._result

    def abort(self) -> None:
        self._feed.stopped = True
        self._put_final(OSError("stopped"))
        self._thread.join(timeout=30)

    def _put_final(self, item: None | BaseException) -> None:
        while self._thread.is_alive():
            try:
                self._feed.chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def start_inflating(point: Checkpoint, first: bytes) -> tuple[Any, bytes]:
    """A raw inflater positioned at ``point``, and what to feed it before the rest:
    ``first`` is the blob from ``point.fetch_from`` on (at least one byte)."""
    if point.window is None:
        return zlib.decompressobj(-15), first
    inflater = zlib.decompressobj(-15, zdict=point.window)
    if point.bits:
        return inflater, realigned_head(point.bits, first[0]) + first[1:]
    return inflater, first


class Inflater:
    """Inflates from a checkpoint on: the raw deflate of the member it is in, then any
    gzip member after it (the raw member's 8-byte trailer skipped)."""

    def __init__(self, point: Checkpoint) -> None:
        self._point = point
        self._z: Any = None
        self._raw = True  # inflating the member the checkpoint is in (no gzip wrapper)
        self._trailer = 0  # trailer bytes of a raw member still to skip

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            if not data:
                return
            self._z, data = start_inflating(self._point, data)
        while True:
            if self._trailer:
                cut = min(self._trailer, len(data))
                data, self._trailer = data[cut:], self._trailer - cut
                if self._trailer or not data:
                    return
            try:
                out = self._z.decompress(data, PIECE)
            except zlib.error:
                raise corrupt("gzip") from None
            if out:
                yield out
            if self._z.eof:
                data = self._z.unused_data
                if self._raw:
                    self._trailer, self._raw = 8, False
                self._z = zlib.decompressobj(31)
                continue
            data = self._z.unconsumed_tail
            if not data and len(out) < PIECE:
                return


async def inflated(point: Checkpoint, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The decompressed bytes after ``point``, from the compressed ``chunks`` fetched
    from ``point.fetch_from``."""
    inflater = Inflater(point)
    async for chunk in chunks:
        for piece in inflater.feed(chunk):
            yield piece
