"""gateway.layers: one file read from a layer with only the bytes it needs, counted at
the source (what the registry view reports as X-Upstream-Bytes)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import FileUnknown
from gateway.layers.checkpoints import SPACING
from gateway.layers.engine import FileRead, LayerEngine
from gateway.layers.indexer import Limits
from gateway.layers.reading import PREVIEW_BYTES
from gateway.layers.store import IndexStore
from gateway.models.files import FileListing
from harness.layer_trees import (
    OCI_TAR,
    OCI_ZSTD,
    Item,
    MemorySource,
    file,
    gzip_bytes,
    known_tree,
    random_gzip_layer,
    read_layer_with_tarfile,
    tar_bytes,
    text_layer,
    zstd_bytes,
)


@pytest.fixture(scope="session")
def big_layer() -> tuple[bytes, str, bytes]:
    return random_gzip_layer()


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[LayerEngine]:
    made = LayerEngine(IndexStore.open(tmp_path, 1 << 30), Limits(1 << 31, 1 << 31), 2)
    yield made
    await made.aclose()


async def content(read: object) -> bytes:
    assert isinstance(read, FileRead)
    return b"".join([piece async for piece in read.chunks])


async def test_a_small_file_in_the_middle_of_60_mb_costs_one_span(
    engine: LayerEngine, big_layer: tuple[bytes, str, bytes]
) -> None:
    layer, path, small = big_layer
    source = MemorySource(layer)
    listing = await engine.layer_files(source, path="/data")
    assert isinstance(listing, FileListing)
    assert source.served == len(layer)  # the first listing reads the layer once
    assert engine.counters.bytes_indexing == len(layer)

    source.served = 0
    again = await engine.layer_files(source, path="/", recursive=True)
    assert isinstance(again, FileListing) and again.total == 4
    assert source.served == 0  # from the index

    got = await content(await engine.layer_file(source, path))
    assert got == small
    # One Range request: at most one checkpoint span (incompressible: about its size)
    # plus the file.
    assert len(source.requests) == 2
    assert source.served <= SPACING + len(small) + 64 * 1024, source.served
    assert source.served <= 5 * 1024 * 1024
    assert engine.counters.bytes_file_reads == source.served
    entry = next(e for e in listing.entries if e.path == path)
    assert entry.sha256 == hashlib.sha256(small).hexdigest()


async def test_every_file_of_a_compressible_gzip_layer_reads_back(tmp_path: Path) -> None:
    """Text compresses into blocks that start mid-byte: checkpoints then need the
    realignment, and files span several checkpoints (spaced 256 KiB here)."""
    limits = Limits(1 << 31, 1 << 31, spacing=256 * 1024)
    engine = LayerEngine(IndexStore.open(tmp_path, 1 << 30), limits, 2)
    tar = tar_bytes(text_layer(files=120))
    source = MemorySource(gzip_bytes(tar, level=6, members=2))
    index = await engine.layer(source, wait=None)
    assert not isinstance(index, FileListing)
    points = index.points  # type: ignore[union-attr]
    assert len(points) > 5
    expected = read_layer_with_tarfile(tar)
    full = len(source.data)
    assert any(p.bits for p in points)
    for want in list(expected.values())[::3]:
        if want.type != "file":
            continue
        source.served = 0
        assert await content(await engine.layer_file(source, want.path)) == want.content
        assert source.served < full / 4
    await engine.aclose()


async def test_plain_tar_reads_exactly_the_file(engine: LayerEngine) -> None:
    tar = tar_bytes(known_tree())
    source = MemorySource(tar, OCI_TAR)
    await engine.layer(source, wait=None)
    source.served = 0
    got = await content(await engine.layer_file(source, "/usr/bin/tool"))
    assert got == b"\x7fELF" + bytes(range(256)) * 8
    assert source.served == len(got)


async def test_zstd_reads_from_the_frame_holding_the_file(engine: LayerEngine) -> None:
    tar = tar_bytes(text_layer(files=60))
    source = MemorySource(zstd_bytes(tar, frames=4), OCI_ZSTD)
    await engine.layer(source, wait=None)
    expected = read_layer_with_tarfile(tar)
    last = [e for e in expected.values() if e.type == "file"][-1]
    source.served = 0
    assert await content(await engine.layer_file(source, last.path)) == last.content
    assert source.served < len(source.data) * 0.6  # not from the start: its frame


async def test_links_and_special_files(engine: LayerEngine) -> None:
    source = MemorySource(gzip_bytes(tar_bytes(known_tree())))
    tool = await content(await engine.layer_file(source, "/usr/bin/tool-again"))  # hard link
    assert tool == b"\x7fELF" + bytes(range(256)) * 8
    with pytest.raises(FileUnknown, match="symbolic link to /bin/busybox"):
        await engine.layer_file(source, "/usr/bin/sh")
    for path in ("/dev/null", "/etc", "/run/initctl", "/no/such/file"):
        with pytest.raises(FileUnknown):
            await engine.layer_file(source, path)
    assert await content(await engine.layer_file(source, "./a/../empty")) == b""


async def test_previews(engine: LayerEngine) -> None:
    long_text = ("é" * 40_000).encode()  # 80,000 bytes: cut inside a character
    items: list[Item] = [
        file("t/short.txt", "hello\nworld\n"),
        file("t/long.txt", long_text),
        file("t/binary", b"\x00\x01\x02 not text"),
        file("t/latin1", "caf\xe9".encode("latin-1")),
        file("t/empty", b""),
    ]
    source = MemorySource(gzip_bytes(tar_bytes(items)))
    short = await engine.layer_preview(source, "/t/short.txt")
    assert short.model_dump() == {  # type: ignore[union-attr]
        "path": "/t/short.txt",
        "size": 12,
        "sha256": hashlib.sha256(b"hello\nworld\n").hexdigest(),
        "binary": False,
        "text": "hello\nworld\n",
        "truncated": False,
    }
    long = await engine.layer_preview(source, "/t/long.txt")
    assert long.truncated and not long.binary  # type: ignore[union-attr]
    assert long.text == "é" * (PREVIEW_BYTES // 2)  # type: ignore[union-attr]
    for path in ("/t/binary", "/t/latin1"):
        shown = await engine.layer_preview(source, path)
        assert shown.binary and shown.text is None  # type: ignore[union-attr]
    empty = await engine.layer_preview(source, "/t/empty")
    assert empty.text == "" and not empty.truncated  # type: ignore[union-attr]


async def test_a_file_across_two_gzip_members(tmp_path: Path) -> None:
    """A member ends inside the file: its trailer is skipped, the next member's header
    read, and the checkpoint at the second member's start (no window) is used too."""
    body = " ".join(f"line {n}" for n in range(200_000)).encode()  # ~2.3 MB
    tar = tar_bytes([file("big.txt", body), file("after.txt", "after")])
    layer = gzip_bytes(tar, members=2)  # cut in the middle of big.txt
    limits = Limits(1 << 31, 1 << 31, spacing=256 * 1024)
    engine = LayerEngine(IndexStore.open(tmp_path, 1 << 30), limits, 2)
    source = MemorySource(layer)
    index = await engine.layer(source, wait=None)
    assert sum(1 for p in index.points if p.n and p.bits == 0) >= 1  # type: ignore[union-attr]
    assert await content(await engine.layer_file(source, "/big.txt")) == body
    assert await content(await engine.layer_file(source, "/after.txt")) == b"after"
    await engine.aclose()
