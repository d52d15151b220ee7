"""gateway.layers: paths, the bit realignment, and a layer read entry by entry against
an independent reading with tarfile (harness/layer_trees.py)."""

from __future__ import annotations

import asyncio
import tarfile
import zlib
from pathlib import Path

import pytest

from gateway.errors import ForeignLayer, LayerTooLarge, NotAFilesystem, UpstreamInvalid
from gateway.layers import paths
from gateway.layers.indexer import Limits, Progress, read_layer
from gateway.layers.realign import pack, prefix_bits, realigned_head
from gateway.layers.store import IndexStore
from gateway.layers.tarstream import TarEntry, TarStream
from gateway.layers.views import list_layer
from harness.layer_trees import (
    DOCKER_FOREIGN,
    HELM_CHART,
    HELM_CONFIG,
    HELM_PROVENANCE,
    OCI_GZIP,
    OCI_TAR,
    OCI_ZSTD,
    Item,
    MemorySource,
    file,
    gzip_bytes,
    known_tree,
    read_layer_with_tarfile,
    tar_bytes,
    zstd_bytes,
)

LIMITS = Limits(max_bytes=1 << 30, max_expanded_bytes=1 << 30)


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("./usr/bin/x", "/usr/bin/x"),
        ("usr//bin/./x/", "/usr/bin/x"),
        ("/abs/path", "/abs/path"),
        ("../../etc/passwd", "/etc/passwd"),
        ("a/b/../../../c", "/c"),
        ("./", "/"),
        ("..", "/"),
        ("dir with space/ü 日本", "/dir with space/ü 日本"),
        ("back\\slash", "/back\\slash"),
    ],
)
def test_paths_are_normalised_inside_the_root(name: str, normalised: str) -> None:
    assert paths.normalise(name) == normalised


def test_path_helpers() -> None:
    assert paths.ancestors("/a/b/c") == ["/", "/a", "/a/b"]
    assert paths.parent("/a") == "/" and paths.parent("/a/b") == "/a"
    low, high = paths.subtree_bounds("/etc")
    assert low <= "/etc/x" < high and not (low <= "/etc0" < high) and not (low <= "/etc" < high)
    assert not (low <= "/etc-x" < high)
    with pytest.raises(UpstreamInvalid):
        paths.normalise("a/" * 3000)


@pytest.mark.parametrize("remainder", range(8))
def test_every_prefix_is_an_empty_block_of_its_length(remainder: int) -> None:
    bits = list(prefix_bits(remainder))
    assert len(bits) % 8 == remainder
    final_empty = [1, 1, 0] + [0] * 7  # BFINAL, fixed Huffman, end of block
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(pack(bits + final_empty)) == b"" and inflater.eof


@pytest.mark.parametrize("bits", range(1, 8))
def test_realigned_head_starts_a_block_mid_byte(bits: int) -> None:
    # A stream whose second block starts `bits` bits before a byte boundary: an empty
    # fixed block (10 bits) + padding bits... built by shifting a real stream.
    payload = b"hello, checkpoints " * 50
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = raw.compress(payload) + raw.flush()
    value = int.from_bytes(stream, "little") << (8 - bits)  # block now starts at bit 8-bits
    shifted = value.to_bytes(len(stream) + 1, "little")
    head = realigned_head(bits, shifted[0])
    assert zlib.decompressobj(-15).decompress(head + shifted[1:]) == payload


FORMATS = [
    ("tar", OCI_TAR, lambda t: t),
    ("gzip", OCI_GZIP, lambda t: gzip_bytes(t)),
    ("gzip, three members", OCI_GZIP, lambda t: gzip_bytes(t, members=3)),
    ("zstd", OCI_ZSTD, lambda t: zstd_bytes(t)),
    ("zstd, two frames", OCI_ZSTD, lambda t: zstd_bytes(t, frames=2)),
]


async def index_of(store: IndexStore, source: MemorySource, limits: Limits = LIMITS) -> int:
    layer_id = await store.begin(source.digest, source.media_type)

    async def add(entries: list[TarEntry]) -> None:
        await store.add(layer_id, entries)

    read = await read_layer(source, limits, Progress(), add)
    await store.complete(layer_id, read, 0)
    return layer_id


@pytest.mark.parametrize(("label", "media_type", "wrap"), FORMATS, ids=[f[0] for f in FORMATS])
@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT], ids=["pax", "gnu"])
async def test_a_layer_lists_what_tarfile_reads(
    tmp_path: Path, label: str, media_type: str, wrap: object, fmt: int
) -> None:
    tar = tar_bytes(known_tree(), fmt)
    source = MemorySource(wrap(tar), media_type, chunk=777)  # type: ignore[operator]
    store = IndexStore.open(tmp_path, 1 << 30)
    await index_of(store, source)
    index = await store.get(source.digest)
    assert index is not None
    listing = await list_layer(store, index, "/", recursive=True, last=None, n=1000)
    expected = read_layer_with_tarfile(tar)
    got = {e.path: e for e in listing.entries}
    assert set(got) == set(expected)
    assert listing.total == len(expected)
    for path, want in expected.items():
        entry = got[path]
        assert (entry.type, entry.size, entry.mode, entry.uid, entry.gid) == (
            want.type,
            want.size,
            want.mode,
            want.uid,
            want.gid,
        ), path
        assert entry.sha256 == want.sha256, path
        assert entry.link_target == want.link_target, path
        assert entry.layer == source.digest
        assert entry.mtime == (None if want.implicit else "2024-05-01T10:00:00Z"), path
    assert got["/usr/bin/su"].mode == "4755"
    assert got["/usr/bin/wall"].mode == "2755"
    assert got["/tmp"].mode == "1777"
    assert "/escape/outside.txt" in got and "/absolute/path.txt" in got and "/a/c.txt" in got
    assert got["/home/user/My Documents/notes ü 日本.txt"].uid == 1000
    await store.close()


async def test_listing_pages_and_directories(tmp_path: Path) -> None:
    items = [file(f"d/f{n:03d}", str(n)) for n in range(25)] + [file("d/sub/x", "x")]
    source = MemorySource(tar_bytes(items), OCI_TAR)
    store = IndexStore.open(tmp_path, 1 << 30)
    await index_of(store, source)
    index = await store.get(source.digest)
    assert index is not None
    seen: list[str] = []
    last = None
    while True:
        page = await list_layer(store, index, "/d", recursive=False, last=last, n=10)
        assert page.total == 26
        seen += [e.path for e in page.entries]
        last = page.next
        if last is None:
            break
    assert seen == sorted(seen) and len(seen) == 26 and "/d/sub" in seen and "/d/sub/x" not in seen
    deep = await list_layer(store, index, "/d", recursive=True, last=None, n=1000)
    assert deep.total == 27
    from gateway.errors import FileUnknown

    with pytest.raises(FileUnknown):
        await list_layer(store, index, "/nope", recursive=False, last=None, n=10)
    with pytest.raises(FileUnknown):
        await list_layer(store, index, "/d/f001", recursive=False, last=None, n=10)
    await store.close()


async def test_whiteouts_and_opaque_markers_in_a_layer_listing(tmp_path: Path) -> None:
    items = [
        Item("etc", "dir"),
        file("etc/.wh.motd"),
        Item("opt/app", "dir"),
        file("opt/app/.wh..wh..opq"),
        file("opt/app/new"),
    ]
    source = MemorySource(gzip_bytes(tar_bytes(items)))
    store = IndexStore.open(tmp_path, 1 << 30)
    await index_of(store, source)
    index = await store.get(source.digest)
    assert index is not None
    listing = await list_layer(store, index, "/", recursive=True, last=None, n=100)
    kinds = {e.path: (e.type, e.name) for e in listing.entries}
    assert kinds["/etc/motd"] == ("whiteout", "motd")
    assert kinds["/opt/app/.wh..wh..opq"] == ("opaque", ".wh..wh..opq")
    assert kinds["/opt/app/new"][0] == "file"
    await store.close()


def test_chunking_does_not_matter() -> None:
    tar = tar_bytes(known_tree())
    whole = [(e.path, e.sha256, e.offset) for e in TarStream().feed(tar)]
    stream = TarStream()
    byte_by_byte = []
    for i in range(len(tar)):
        byte_by_byte += [(e.path, e.sha256, e.offset) for e in stream.feed(tar[i : i + 1])]
    assert byte_by_byte == whole


async def read(
    data: bytes, media_type: str = OCI_GZIP, limits: Limits = LIMITS, **kw: object
) -> None:
    async def ignore(entries: list[TarEntry]) -> None:
        return None

    await read_layer(MemorySource(data, media_type, **kw), limits, Progress(), ignore)  # type: ignore[arg-type]


async def test_what_is_not_a_filesystem() -> None:
    with pytest.raises(NotAFilesystem):
        await read(b'{"name": "chart", "version": "1.0.0"}', "application/octet-stream")
    with pytest.raises(NotAFilesystem):
        await read(gzip_bytes(b"just some text, not a tar archive" * 40))
    with pytest.raises(NotAFilesystem):
        await read(b"", OCI_TAR)
    with pytest.raises(NotAFilesystem):
        await read(bytes(2048), OCI_TAR)


async def test_refused_before_any_byte_is_fetched() -> None:
    for media_type, error in (
        (DOCKER_FOREIGN, ForeignLayer),
        ("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", ForeignLayer),
        (HELM_CONFIG, NotAFilesystem),
        (HELM_PROVENANCE, NotAFilesystem),
    ):
        source = MemorySource(gzip_bytes(tar_bytes(known_tree())), media_type)
        with pytest.raises(error):
            await read_layer(source, LIMITS, Progress(), lambda e: asyncio.sleep(0))
        assert source.requests == [] and source.served == 0
    chart = MemorySource(
        gzip_bytes(tar_bytes([file("mychart/Chart.yaml", "name: c\n")])), HELM_CHART
    )
    await read_layer(chart, LIMITS, Progress(), lambda e: asyncio.sleep(0))  # listed like any


async def test_broken_layers_are_upstream_invalid() -> None:
    layer = gzip_bytes(tar_bytes(known_tree()))
    with pytest.raises(UpstreamInvalid):
        await read(layer[: len(layer) // 2])  # truncated gzip (descriptor size matches)
    corrupt = bytearray(layer)
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(UpstreamInvalid):
        await read(bytes(corrupt))
    tar = bytearray(tar_bytes(known_tree()))
    tar[1024 + 3] ^= 0x55  # the second header's name: its checksum no longer matches
    with pytest.raises(UpstreamInvalid):
        await read(bytes(tar), OCI_TAR)
    with pytest.raises(UpstreamInvalid):
        await read(tar_bytes(known_tree())[:3000], OCI_TAR)  # ends inside an entry
    with pytest.raises(UpstreamInvalid, match="digest"):
        await read(layer, digest="sha256:" + "0" * 64)
    with pytest.raises(UpstreamInvalid):
        await read(layer, size=len(layer) + 10)  # shorter than its descriptor says
    with pytest.raises(UpstreamInvalid):
        await read(zstd_bytes(tar_bytes(known_tree()))[:-20], OCI_ZSTD)


async def test_hostile_metadata_is_bounded() -> None:
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "y" * (2 << 20)}  # a 2 MiB PAX record
    hostile = info.tobuf(tarfile.PAX_FORMAT) + bytes(1024)
    with pytest.raises(UpstreamInvalid, match="metadata"):
        await read(hostile, OCI_TAR)
    many = tar_bytes([file(f"f{n}") for n in range(50)])
    with pytest.raises(LayerTooLarge, match="entries"):
        await read(many, OCI_TAR, Limits(1 << 30, 1 << 30, max_entries=20))
    with pytest.raises(LayerTooLarge):
        await read(many, OCI_TAR, Limits(max_bytes=1000, max_expanded_bytes=1 << 30))
