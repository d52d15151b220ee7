"""A tar archive parsed as it streams by: entries, their content's sha256 and offset.

``TarStream.feed(chunk)`` takes the decompressed bytes in any slicing and returns the
entries completed so far; nothing but the current header and at most one bounded
metadata record (a PAX header, a GNU long name) is ever held. ``tarfile`` could not be
used: it reads a PAX header of any declared size into memory, needs a file object (so
a thread per read), and does not hash contents as they pass.

What is recognised: ustar, GNU and PAX headers (``path``, ``linkpath``, ``size``,
``uid``, ``gid``, ``mtime`` records; global ``g`` records too), base-256 numbers, GNU
``L``/``K`` long names, every entry type (file, dir, symlink, hardlink, char, block,
fifo; an unknown type is a file, as ``tarfile`` does), and the overlay markers
``.wh.<name>`` (``whiteout``, path = the deleted path) and ``.wh..wh..opq``
(``opaque``). The archive ends at the first zero block, as ``tarfile`` reads it.

Failures: a first block that is not a tar header → ``NotAFilesystem``; a bad header
later, a metadata record over ``MAX_META_BYTES``, a name over ``MAX_PATH_BYTES`` or a
stream that ends inside an entry → ``UpstreamInvalid``; more than ``max_entries``
entries → ``LayerTooLarge``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import LayerTooLarge, NotAFilesystem, UpstreamInvalid
from gateway.layers import paths

BLOCK = 512
#: Largest PAX header or GNU long name record read.
MAX_META_BYTES = 1024 * 1024
#: Entries of one layer at most (a layer of millions of files is refused, not indexed).
MAX_ENTRIES = 1_000_000

_TYPES = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "char",
    b"4": "block",
    b"5": "dir",
    b"6": "fifo",
}
_META = {b"L", b"K", b"x", b"g"}


@dataclass(slots=True)
class TarEntry:
    """One entry as the index keeps it. ``offset`` is where a regular file's content
    starts in the decompressed stream; a hard link carries its target's content fields
    (``size``, ``sha256``, ``offset``) when the target came earlier in the layer."""

    path: str
    type: str
    size: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0
    mtime: int | None = None
    link_target: str | None = None
    sha256: str | None = None
    offset: int | None = None
    implicit: bool = False  # a directory implied by a deeper path, with no entry of its own


@dataclass(slots=True)
class _Meta:
    kind: bytes
    remaining: int
    padding: int
    data: bytearray = field(default_factory=bytearray)


class TarStream:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.position = 0  # bytes of the decompressed stream consumed
        self.count = 0
        self.ended = False
        self._header = bytearray()
        self._data_left = 0  # content bytes of the current entry still to come
        self._pad_left = 0
        self._current: TarEntry | None = None
        self._hash: Any = None
        self._meta: _Meta | None = None
        self._long_name: str | None = None
        self._long_link: str | None = None
        self._pax: dict[str, str] = {}
        self._pax_global: dict[str, str] = {}
        self._files: dict[str, TarEntry] = {}  # regular files by path, for hard links

    # -- feeding ------------------------------------------------------------------------

    def feed(self, data: bytes | memoryview) -> list[TarEntry]:
        done: list[TarEntry] = []
        view = memoryview(data)
        while view and not self.ended:
            if self._data_left:
                take = min(self._data_left, len(view))
                if self._meta is not None:
                    self._meta.data += view[:take]
                elif self._hash is not None:
                    self._hash.update(view[:take])
                self._data_left -= take
                view = view[take:]
                self.position += take
                if not self._data_left:
                    self._content_done(done)
                continue
            if self._pad_left:
                take = min(self._pad_left, len(view))
                self._pad_left -= take
                view = view[take:]
                self.position += take
                continue
            take = min(BLOCK - len(self._header), len(view))
            self._header += view[:take]
            view = view[take:]
            self.position += take
            if len(self._header) == BLOCK:
                header, self._header = bytes(self._header), bytearray()
                self._on_header(header, done)
        return done

    def finish(self) -> None:
        """The stream ended: an entry cut short is a broken layer; an archive without
        its end blocks but cut between entries is accepted (``tarfile`` accepts it)."""
        if self.ended:
            return
        if self.position < BLOCK:
            raise NotAFilesystem("the blob is shorter than one tar header: not a tar archive")
        if self._header or self._data_left or self._pad_left or self._meta is not None:
            raise UpstreamInvalid(
                "the layer ends inside a tar entry (truncated)", detail={"reason": "truncated"}
            )
        self.ended = True

    # -- headers --------------------------------------------------------------------------

    def _on_header(self, block: bytes, done: list[TarEntry]) -> None:
        first = self.count == 0 and self.position == BLOCK
        if block.count(0) == BLOCK:
            if first:
                raise NotAFilesystem("the blob starts with a zero block, not a tar header")
            self.ended = True
            return
        if not _checksum_ok(block):
            if first:
                raise NotAFilesystem("the blob is not a tar archive (no valid tar header)")
            raise UpstreamInvalid(
                f"the layer has a damaged tar header at offset {self.position - BLOCK}",
                detail={"reason": "bad_header"},
            )
        kind = block[156:157]
        size = _number(block[124:136])
        if size < 0:
            raise UpstreamInvalid("a tar header declares a negative size")
        if kind in _META:
            if size > MAX_META_BYTES:
                raise UpstreamInvalid(
                    f"a tar metadata record of {size} bytes (at most {MAX_META_BYTES} read)",
                    detail={"reason": "metadata_too_large"},
                )
            self._meta = _Meta(kind, size, _padding(size))
            self._data_left, self._pad_left = size, 0
            if size == 0:
                self._content_done(done)
            return
        self._entry(block, kind, size, done)

    def _entry(self, block: bytes, kind: bytes, size: int, done: list[TarEntry]) -> None:
        pax, self._pax = {**self._pax_global, **self._pax}, {}
        name = pax.get("path") or self._long_name or _name(block)
        link = pax.get("linkpath") or self._long_link or paths.decode(_cstr(block[157:257]))
        self._long_name = self._long_link = None
        if "size" in pax:
            size = _pax_int(pax["size"], "size")
        etype = _TYPES.get(kind, "file")
        if kind in (b"0", b"\0") and name.endswith("/"):
            etype = "dir"  # an old (v7) archive marks directories by the slash
        has_data = etype == "file"
        entry = TarEntry(
            path=paths.normalise(name),
            type=etype,
            size=size if has_data else 0,
            mode=_number(block[100:108]) & 0o7777,
            uid=_pax_int(pax["uid"], "uid") if "uid" in pax else _number(block[108:116]),
            gid=_pax_int(pax["gid"], "gid") if "gid" in pax else _number(block[116:124]),
            mtime=int(float(pax["mtime"])) if "mtime" in pax else _number(block[136:148]),
        )
        if etype in ("symlink", "hardlink"):
            entry.link_target = paths.normalise(link) if etype == "hardlink" else link
        self._count()
        _mark_overlay(entry)
        if etype == "hardlink" and entry.link_target is not None:
            target = self._files.get(entry.link_target)
            if target is not None:
                entry.size, entry.sha256, entry.offset = target.size, target.sha256, target.offset
        if has_data:
            entry.offset = self.position
            self._current = entry
            self._hash = hashlib.sha256()
            self._data_left, self._pad_left = size, _padding(size)
            if size == 0:
                self._content_done(done)
            return
        if entry.path != "/":
            done.append(entry)

    def _content_done(self, done: list[TarEntry]) -> None:
        meta, self._meta = self._meta, None
        if meta is not None:
            self._pad_left = meta.padding
            self._on_meta(meta.kind, bytes(meta.data))
            return
        entry, self._current = self._current, None
        if entry is None:
            return
        entry.sha256 = self._hash.hexdigest()
        self._hash = None
        if entry.type == "file":
            self._files[entry.path] = entry
        if entry.path != "/":
            done.append(entry)

    def _on_meta(self, kind: bytes, data: bytes) -> None:
        if kind == b"L":
            self._long_name = paths.decode(_cstr(data))
        elif kind == b"K":
            self._long_link = paths.decode(_cstr(data))
        elif kind == b"x":
            self._pax.update(_pax_records(data))
        else:
            self._pax_global.update(_pax_records(data))

    def _count(self) -> None:
        self.count += 1
        if self.count > self.max_entries:
            raise LayerTooLarge(
                f"the layer has more than {self.max_entries} entries",
                detail={"reason": "too_many_entries", "max_entries": self.max_entries},
            )


def _mark_overlay(entry: TarEntry) -> None:
    """``.wh.<name>`` → a whiteout of ``<name>``; ``.wh..wh..opq`` → opaque (its path is
    the marker's own, below the directory it makes opaque)."""
    name = paths.basename(entry.path)
    if name == paths.OPAQUE_NAME:
        entry.type, entry.size, entry.link_target = "opaque", 0, None
    elif name.startswith(paths.WHITEOUT_PREFIX) and len(name) > len(paths.WHITEOUT_PREFIX):
        entry.type, entry.size, entry.link_target = "whiteout", 0, None
        entry.path = paths.child(paths.parent(entry.path), name[len(paths.WHITEOUT_PREFIX) :])


def _padding(size: int) -> int:
    return -size % BLOCK


def _cstr(raw: bytes) -> bytes:
    end = raw.find(b"\0")
    return raw if end < 0 else raw[:end]


def _name(block: bytes) -> str:
    name = _cstr(block[0:100])
    if block[257:263] == b"ustar\0":  # POSIX ustar: a prefix field (GNU has none)
        prefix = _cstr(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    return paths.decode(name)


def _number(field_bytes: bytes) -> int:
    """An octal field, or GNU's base-256 form (first byte 0x80 or 0xff)."""
    if field_bytes and field_bytes[0] in (0x80, 0xFF):
        value = int.from_bytes(field_bytes[1:], "big")
        if field_bytes[0] == 0xFF:
            value -= 1 << (8 * (len(field_bytes) - 1))
        return value
    text = _cstr(field_bytes).strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise UpstreamInvalid("a tar header has a malformed number") from None


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = int(_cstr(block[148:156]).strip(b" \0") or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:])  # the field counted as spaces
    signed = unsigned - 2 * sum(b for b in block[:148] + block[156:] if b > 127)
    return stored in (unsigned, signed)


def _pax_int(value: str, key: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UpstreamInvalid(f"a PAX header has a malformed {key}") from None


def _pax_records(data: bytes) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records; the length counts the whole record."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise UpstreamInvalid("a PAX header is malformed")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise UpstreamInvalid("a PAX header is malformed") from None
        end = pos + length
        if length <= space - pos or end > len(data) or data[end - 1 : end] != b"\n":
            raise UpstreamInvalid("a PAX header is malformed")
        key, sep, value = data[space + 1 : end - 1].partition(b"=")
        if not sep:
            raise UpstreamInvalid("a PAX header is malformed")
        out[key.decode("utf-8", "replace")] = paths.decode(value)
        pos = end
    return out
