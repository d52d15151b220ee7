"""Listings: one layer's entries, and the merged file system of a platform image.

A layer listing is the index as stored, paged in SQL. The merged view is computed from
the ordered layer indexes (bottom first) for the directory asked:

- The entry shown at a path is the one of the highest layer that has it, unless a
  higher layer removed it: a whiteout at that path, or a *cut* above it — a whiteout of
  an ancestor, an opaque marker in an ancestor (it hides what lower layers had below
  that directory), or an ancestor that a layer made something other than a directory.
  A cut in layer ``j`` hides what layers below ``j`` have under it.
- A directory a layer only implies (no entry of its own) does not replace the one a
  lower layer really has.
- ``include_deleted`` adds, at each removed path, the entry that was removed (the highest
  one) with ``deleted_by``: the lowest layer above it that removed it.

Only the rows under the directory asked are read (its ancestors' cuts by exact path).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.errors import FileUnknown, clip
from gateway.layers import paths
from gateway.layers.source import BlobSource
from gateway.layers.store import IndexStore, LayerIndex, Row
from gateway.layers.tarstream import TarEntry
from gateway.models.files import FileEntry, FileListing

_MARKERS = ("whiteout", "opaque")


@dataclass(frozen=True, slots=True)
class Shown:
    """An entry as a view shows it: from layer ``position`` (bottom = 0), removed by
    layer ``deleted_by`` when it is shown only because deleted entries were asked for."""

    entry: TarEntry
    position: int
    deleted_by: int | None = None


def rfc3339(mtime: int | None) -> str | None:
    if mtime is None:
        return None
    try:
        return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return None


def to_model(shown: Shown, digests: Sequence[str]) -> FileEntry:
    e = shown.entry
    return FileEntry(
        path=e.path,
        name=paths.basename(e.path),
        type=e.type,
        size=e.size,
        mode=f"{e.mode & 0o7777:04o}",
        uid=e.uid,
        gid=e.gid,
        mtime=rfc3339(e.mtime),
        link_target=e.link_target,
        sha256=e.sha256,
        layer=digests[shown.position],
        deleted_by=None if shown.deleted_by is None else digests[shown.deleted_by],
    )


def page(items: Sequence[Shown], last: str | None, n: int) -> tuple[list[Shown], str | None]:
    start = 0
    if last is not None:
        start = next((i for i, s in enumerate(items) if s.entry.path > last), len(items))
    chunk = list(items[start : start + n])
    more = start + n < len(items)
    return chunk, (chunk[-1].entry.path if more and chunk else None)


async def list_layer(
    store: IndexStore, index: LayerIndex, path: str, *, recursive: bool, last: str | None, n: int
) -> FileListing:
    """One layer's entries in ``path`` (whiteouts and opaque markers included)."""
    directory = paths.normalise(path)
    rows = await store.below([index.id], directory, recursive=recursive, after=last, limit=n + 1)
    total = await store.count_below(index.id, directory, recursive=recursive)
    if total == 0 and directory != "/":
        entry = await store.entry(index.id, directory)
        if entry is None or entry.type != "dir":
            raise FileUnknown(f"no directory {clip(directory)} in this layer")
    shown = [Shown(r.entry, 0) for r in rows[:n]]
    return FileListing(
        digest=index.digest,
        path=directory,
        complete=True,
        total=total,
        next=shown[-1].entry.path if len(rows) > n and shown else None,
        entries=[to_model(s, [index.digest]) for s in shown],
    )


class MergedView:
    """The file system of one platform image: its layer indexes, bottom first."""

    def __init__(
        self,
        store: IndexStore,
        digest: str,
        layers: Sequence[LayerIndex],
        *,
        sources: Sequence[BlobSource] = (),
        complete: bool = True,
    ) -> None:
        self.store = store
        self.digest = digest
        self.layers = list(layers)
        self.sources = list(sources)  # where each layer's bytes are read, same order
        self.complete = complete  # False: some layers (foreign) could not be read
        self.ids = [layer.id for layer in self.layers]
        self.digests = [layer.digest for layer in self.layers]
        # One layer may appear twice in an image: its rows belong to its highest use.
        self._position = {layer.id: i for i, layer in enumerate(self.layers)}

    async def listing(
        self,
        path: str,
        *,
        recursive: bool,
        include_deleted: bool = False,
        last: str | None = None,
        n: int = 200,
    ) -> FileListing:
        directory = paths.normalise(path)
        shown = await self.entries(directory, recursive=recursive, include_deleted=include_deleted)
        if not shown and directory != "/":
            found = await self.lookup(directory)
            if found is None or found.entry.type != "dir":
                raise FileUnknown(f"no directory {clip(directory)} in this image")
        chunk, cursor = page(shown, last, n)
        return FileListing(
            digest=self.digest,
            path=directory,
            complete=self.complete,
            total=len(shown),
            next=cursor,
            entries=[to_model(s, self.digests) for s in chunk],
        )

    async def entries(
        self, directory: str, *, recursive: bool, include_deleted: bool = False
    ) -> list[Shown]:
        """What the image shows in (or, ``recursive``, below) ``directory``, by path."""
        rows = await self.store.below(self.ids, directory, recursive=recursive)
        cuts = await self._cuts_above(directory)
        if recursive:
            for row in rows:
                self._add_cut(cuts, row)
        below = _Below(cuts)
        out: list[Shown] = []
        for path, group in itertools.groupby(rows, key=lambda r: r.entry.path):
            shown = self._resolve(list(group), below.of(paths.parent(path)), include_deleted)
            if shown is not None:
                out.append(shown)
        return out

    async def lookup(self, path: str, *, include_deleted: bool = False) -> Shown | None:
        """The entry the image shows at ``path`` (None: no such path, or removed)."""
        path = paths.normalise(path)
        if path == "/":
            return Shown(TarEntry(path="/", type="dir", mode=0o755, implicit=True), 0)
        rows = await self.store.at(self.ids, [path])
        cuts = await self._cuts_above(paths.parent(path))
        return self._resolve(rows, _Below(cuts).of(paths.parent(path)), include_deleted)

    async def _cuts_above(self, directory: str) -> dict[str, list[int]]:
        """Cuts at ``directory`` and at each of its ancestors."""
        dirs = [*paths.ancestors(directory), directory] if directory != "/" else ["/"]
        wanted = [d for d in dirs if d != "/"] + [paths.child(d, paths.OPAQUE_NAME) for d in dirs]
        cuts: dict[str, list[int]] = defaultdict(list)
        for row in await self.store.at(self.ids, wanted):
            self._add_cut(cuts, row)
        return cuts

    def _add_cut(self, cuts: dict[str, list[int]], row: Row) -> None:
        e, position = row.entry, self._position[row.layer_id]
        if e.type == "opaque":
            cuts[paths.parent(e.path)].append(position)
        elif e.type != "dir":  # a whiteout, or anything that cannot hold entries
            cuts[e.path].append(position)

    def _resolve(self, rows: list[Row], cuts: list[int], include_deleted: bool) -> Shown | None:
        floor = cuts[-1] if cuts else -1
        entries = sorted(
            ((self._position[r.layer_id], r.entry) for r in rows if r.entry.type not in _MARKERS),
            key=lambda pair: pair[0],
        )
        whiteouts = [self._position[r.layer_id] for r in rows if r.entry.type == "whiteout"]
        barrier = max([floor, *whiteouts])  # nothing at or below survives (its own layer may)
        alive = [(p, e) for p, e in entries if p >= barrier and p not in whiteouts]
        if alive:
            position, entry = alive[-1]
            if entry.implicit:
                real = [(p, e) for p, e in alive if e.type == "dir" and not e.implicit]
                if real:
                    position, entry = real[-1]
            return Shown(entry, position)
        if not include_deleted or not entries:
            return None
        position, entry = entries[-1]
        removers = [c for c in [*cuts, *whiteouts] if c > position]
        return Shown(entry, position, min(removers) if removers else None)


class _Below:
    """The cut layers that apply strictly below each directory (its own and its
    ancestors'), sorted; computed once per directory."""

    def __init__(self, cuts: dict[str, list[int]]) -> None:
        self._cuts = cuts
        self._memo: dict[str, list[int]] = {}

    def of(self, directory: str) -> list[int]:
        found = self._memo.get(directory)
        if found is not None:
            return found
        inherited = [] if directory == "/" else self.of(paths.parent(directory))
        own = self._cuts.get(directory)
        result = sorted(inherited + own) if own else inherited
        self._memo[directory] = result
        return result
