"""Layers built for the tests and the benchmarks (files inside images): known trees as
tar, gzip (one or several members), zstd; a big incompressible gzip layer with a small
file in its middle; a gzip bomb; an in-memory ``BlobSource`` that counts the bytes it
serves; and an independent reading of what a layer holds and of the file system an
ordered stack of layers makes, with ``tarfile`` (to check the engine against).

The integration tests against a real registry push these same layers.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import posixpath
import random
import tarfile
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_PROVENANCE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
MTIME = 1714557600  # 2024-05-01T10:00:00Z

_TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


@dataclass
class Item:
    """One tar entry to write: ``name`` exactly as it goes into the archive."""

    name: str
    type: str = "file"
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    link: str = ""


def file(name: str, data: bytes | str = b"", mode: int = 0o644, **kw: object) -> Item:
    return Item(name, "file", data.encode() if isinstance(data, str) else data, mode, **kw)  # type: ignore[arg-type]


def directory(name: str, mode: int = 0o755, **kw: object) -> Item:
    return Item(name, "dir", mode=mode, **kw)  # type: ignore[arg-type]


def whiteout(deleted: str) -> Item:
    """The marker deleting ``deleted`` (a path like ``etc/motd``)."""
    head, _, name = deleted.rpartition("/")
    return Item(f"{head}/.wh.{name}" if head else f".wh.{name}", "file", mode=0o644)


def opaque(dirname: str) -> Item:
    return Item(f"{dirname}/.wh..wh..opq", "file", mode=0o644)


def tar_bytes(items: Iterable[Item], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for item in items:
            info = tarfile.TarInfo(item.name)
            info.type = _TAR_TYPES[item.type]
            info.mode = (
                item.mode if item.mode is not None else (0o755 if item.type == "dir" else 0o644)
            )
            info.uid, info.gid, info.mtime = item.uid, item.gid, item.mtime
            info.linkname = item.link
            if item.type in ("char", "block"):
                info.devmajor, info.devminor = 1, 3
            if item.type == "file":
                info.size = len(item.data)
                tar.addfile(info, io.BytesIO(item.data))
            else:
                tar.addfile(info)
    return out.getvalue()


def gzip_bytes(data: bytes, level: int = 6, members: int = 1) -> bytes:
    """gzip of ``data``; ``members`` > 1 cuts it into that many concatenated members."""
    if members == 1:
        return gzip.compress(data, level, mtime=0)
    step = -(-len(data) // members)
    return b"".join(
        gzip.compress(data[i : i + step], level, mtime=0) for i in range(0, len(data), step)
    )


def zstd_bytes(data: bytes, frames: int = 1) -> bytes:
    step = -(-len(data) // frames) if data else 1
    return b"".join(zstd.compress(data[i : i + step]) for i in range(0, max(len(data), 1), step))


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def known_tree() -> list[Item]:
    """Every entry type, special modes, odd names (unicode, spaces, ``..``, absolute,
    longer than the 100 bytes of a ustar name), an implied parent directory."""
    long_dir = "usr/share/" + "a-rather-long-directory-name-" * 4
    return [
        directory("./"),
        directory("./etc"),
        file("./etc/os-release", 'NAME="Test"\nID=test\n'),
        file("./etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", mode=0o644),
        directory("./usr"),
        directory("./usr/bin"),
        file("./usr/bin/tool", b"\x7fELF" + bytes(range(256)) * 8, mode=0o755),
        file("./usr/bin/su", b"\x7fELF-su", mode=0o4755),
        file("./usr/bin/wall", b"\x7fELF-wall", mode=0o2755, gid=5),
        directory("./tmp", mode=0o1777),
        Item("./usr/bin/sh", "symlink", link="/bin/busybox", mode=0o777),
        Item("./usr/bin/tool-again", "hardlink", link="./usr/bin/tool", mode=0o755),
        Item("./dev/null", "char", mode=0o666),
        Item("./dev/sda", "block", mode=0o660),
        Item("./run/initctl", "fifo", mode=0o600),
        file(
            "./home/user/My Documents/notes ü 日本.txt", "unicode and spaces\n", uid=1000, gid=1000
        ),
        file("../../escape/outside.txt", "kept inside the root\n"),
        file("/absolute/path.txt", "absolute\n"),
        file("./a/./b/../c.txt", "dotted\n"),
        file(f"{long_dir}/file-with-a-long-name.txt", "long\n"),
        file("./implied/parent/only.txt", "no directory entries above me\n"),
        file("./empty", b""),
    ]


def base_layer() -> list[Item]:
    """A lower layer for the merged-view tests."""
    return [
        directory("etc"),
        file("etc/motd", "welcome\n"),
        file("etc/hosts", "127.0.0.1 localhost\n"),
        directory("var"),
        directory("var/cache"),
        file("var/cache/a", "a" * 100),
        file("var/cache/b", "b" * 200),
        directory("opt"),
        directory("opt/app"),
        file("opt/app/old.bin", b"\x00old" * 50),
        file("opt/app/keep.txt", "from the base\n"),
        directory("srv"),
        file("srv/data", "a file that becomes a directory\n"),
        directory("lib"),
        file("lib/libc.so", b"libc" * 100),
    ]


def upper_layer() -> list[Item]:
    """Deletes, replaces, makes ``/opt/app`` opaque."""
    return [
        directory("etc"),
        whiteout("etc/motd"),
        file("etc/hosts", "127.0.0.1 localhost\n::1 localhost\n", mtime=MTIME + 60),
        directory("var"),
        whiteout("var/cache"),
        directory("opt"),
        directory("opt/app"),
        opaque("opt/app"),
        file("opt/app/new.bin", b"\x01new" * 40),
        directory("srv"),
        whiteout("srv/data"),
        directory("srv/data"),
        file("srv/data/inside", "now a directory\n"),
        file("lib/libc.so", b"libc" * 100, mtime=MTIME + 3600),  # touched only
    ]


def top_layer() -> list[Item]:
    return [
        directory("etc"),
        file("etc/motd", "welcome back\n", mode=0o600),
        directory("usr"),
        file("usr/added.txt", "added on top\n"),
        file("lib/libc.so", b"libc" * 100, mode=0o755),  # mode changed
    ]


def random_gzip_layer(total: int = 60 * 1024 * 1024, seed: int = 21) -> tuple[bytes, str, bytes]:
    """A gzip layer of incompressible files around one 1 KiB file in its middle:
    ``(layer, path of that file, its content)``."""
    rng = random.Random(seed)  # noqa: S311 - test content, not secrets
    half = total // 2
    small = rng.randbytes(1024)
    items = [
        directory("data"),
        file("data/before.bin", rng.randbytes(half)),
        file("data/middle.txt", small),
        file("data/after.bin", rng.randbytes(total - half)),
    ]
    # Level 0: the stored blocks any level ends up writing for such data, made fast.
    return gzip_bytes(tar_bytes(items), level=0), "/data/middle.txt", small


def text_layer(files: int = 400, seed: int = 7) -> list[Item]:
    """Compressible files (checkpoints fall mid-byte in such streams)."""
    rng = random.Random(seed)  # noqa: S311 - test content, not secrets
    words = [f"word{n}" for n in range(2000)]
    out = [directory("text")]
    for n in range(files):
        body = " ".join(rng.choices(words, k=rng.randint(2000, 12000)))
        out.append(file(f"text/file-{n:04d}.txt", body))
    return out


def gzip_bomb(expanded: int = 1 << 30) -> bytes:
    """A gzip layer of about ``expanded / 1000`` bytes: a tar holding one file of
    ``expanded`` zero bytes. Its deflate data repeats one fully flushed block, so it is
    made in milliseconds; its trailer is not valid (a read stops at the bound first)."""
    mib = 1 << 20
    info = tarfile.TarInfo("zeros")
    info.size, info.mode, info.mtime = expanded, 0o644, MTIME
    header = info.tobuf(tarfile.PAX_FORMAT)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(header + bytes(mib - len(header))) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(mib)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(mib)) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again
    count = expanded // mib
    tail = c.compress(bytes(1024)) + c.flush()
    head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return head + first + block * (count - 1) + tail + b"\x00" * 8


class MemorySource:
    """A ``BlobSource`` over bytes in memory, in chunks of ``chunk`` bytes, counting
    what it serves (as the registry view counts ``X-Upstream-Bytes``)."""

    def __init__(
        self,
        data: bytes,
        media_type: str = OCI_GZIP,
        *,
        digest: str | None = None,
        size: int | None = -1,
        chunk: int = 64 * 1024,
    ) -> None:
        self.data = data
        self.media_type = media_type
        self.digest = digest or digest_of(data)
        self.size = len(data) if size == -1 else size
        self.chunk = chunk
        self.served = 0
        self.requests: list[tuple[int, int | None]] = []
        self.gate: object | None = None  # an asyncio.Event the stream waits on
        self.hold_at = 0  # ...once it has served this many bytes

    @asynccontextmanager
    async def open(
        self, start: int = 0, end: int | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        self.requests.append((start, end))
        stop = len(self.data) if end is None else min(end, len(self.data))

        async def chunks() -> AsyncIterator[bytes]:
            for offset in range(start, stop, self.chunk):
                if self.gate is not None and self.served >= self.hold_at:
                    await self.gate.wait()  # type: ignore[attr-defined]
                piece = self.data[offset : min(offset + self.chunk, stop)]
                self.served += len(piece)
                yield piece

        yield chunks()


# -- the independent reading, with tarfile ------------------------------------------------

_TYPE_NAMES = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}


@dataclass
class Expected:
    path: str
    type: str
    size: int = 0
    mode: str = "0755"
    uid: int = 0
    gid: int = 0
    sha256: str | None = None
    link_target: str | None = None
    layer: int = 0
    content: bytes | None = field(default=None, repr=False)
    implicit: bool = False  # a directory the tar implies without an entry of its own


def _norm(name: str) -> str:
    # normpath keeps a leading "//" (POSIX allows it a meaning): one slash first.
    return posixpath.normpath("/" + name.lstrip("/")) if name.strip("/.") else "/"


def read_layer_with_tarfile(tar: bytes, layer: int = 0) -> dict[str, Expected]:
    """What a layer holds, read by ``tarfile``: path → entry (whiteouts and opaque
    markers as such; directories implied by deeper paths added)."""
    out: dict[str, Expected] = {}
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
        for info in archive:
            path = _norm(info.name)
            if path == "/":
                continue
            base = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if base == ".wh..wh..opq":
                entry = Expected(path, "opaque", mode=f"{info.mode & 0o7777:04o}", layer=layer)
            elif base.startswith(".wh."):
                deleted = posixpath.join(parent, base[4:])
                entry = Expected(deleted, "whiteout", mode=f"{info.mode & 0o7777:04o}", layer=layer)
            else:
                kind = _TYPE_NAMES[info.type]
                entry = Expected(
                    path,
                    kind,
                    mode=f"{info.mode & 0o7777:04o}",
                    uid=info.uid,
                    gid=info.gid,
                    layer=layer,
                )
                if kind == "file":
                    content = archive.extractfile(info).read()  # type: ignore[union-attr]
                    entry.size, entry.content = len(content), content
                    entry.sha256 = hashlib.sha256(content).hexdigest()
                elif kind == "symlink":
                    entry.link_target = info.linkname
                elif kind == "hardlink":
                    entry.link_target = _norm(info.linkname)
                    target = out.get(entry.link_target)
                    if target is not None:
                        entry.size, entry.sha256 = target.size, target.sha256
                        entry.content = target.content
            out[entry.path] = entry
            for parent_dir in _parents(entry.path):
                out.setdefault(parent_dir, Expected(parent_dir, "dir", layer=layer, implicit=True))
    return out


def _parents(path: str) -> list[str]:
    out = []
    current = posixpath.dirname(path)
    while current not in ("/", ""):
        out.append(current)
        current = posixpath.dirname(current)
    return out


def merge_with_tarfile(
    tars: Sequence[bytes],
) -> tuple[dict[str, Expected], dict[str, tuple[Expected, int]]]:
    """The file system of layers stacked bottom to top: ``(visible, deleted)`` where
    ``deleted`` maps a path to the entry a later layer removed and that layer's index.
    Each layer first removes (whiteouts, opaque directories, paths it replaces by
    something that is not a directory), then adds its entries."""
    visible: dict[str, Expected] = {}
    deleted: dict[str, tuple[Expected, int]] = {}

    def remove_below(directory: str, by: int, itself: bool) -> None:
        for path in list(visible):
            if (itself and path == directory) or path.startswith(directory.rstrip("/") + "/"):
                deleted[path] = (visible.pop(path), by)

    for index, tar in enumerate(tars):
        entries = read_layer_with_tarfile(tar, index)
        for entry in entries.values():
            if entry.type == "whiteout":
                remove_below(entry.path, index, itself=True)
            elif entry.type == "opaque":
                remove_below(posixpath.dirname(entry.path), index, itself=False)
            elif entry.type != "dir":
                remove_below(entry.path, index, itself=False)
        for entry in entries.values():
            if entry.type in ("whiteout", "opaque"):
                continue
            below = visible.get(entry.path)
            if entry.implicit and below is not None and below.type == "dir":
                continue  # a directory only implied keeps the one below
            visible[entry.path] = entry
            deleted.pop(entry.path, None)
    return visible, deleted
