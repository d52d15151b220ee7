"""The engine the routes plug in: indexes, listings, files, previews and diffs.

Every method takes ``BlobSource``s the caller built for the request (the caller's own
credentials, access already confirmed by the registry view, upstream bytes counted
there) and a ``wait``: seconds the request may still spend on layer reads. A read not
done by then answers ``IndexingProgress`` (the route's 202 with ``Retry-After``) and
goes on in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from gateway.errors import FileUnknown
from gateway.layers import paths
from gateway.layers.diff import ConfigFields, ImageSide, diff_images
from gateway.layers.indexer import Limits, Progress
from gateway.layers.metrics import LayerCounters, families
from gateway.layers.reading import preview, read_file, regular_file
from gateway.layers.source import BlobSource, is_listable
from gateway.layers.store import IndexStore, LayerIndex
from gateway.layers.tarstream import TarEntry
from gateway.layers.views import MergedView, list_layer
from gateway.layers.work import Reads
from gateway.models.files import (
    FileListing,
    FilePreview,
    ImageDiff,
    IndexingProgress,
    LayerChanges,
)
from gateway.settings import Settings

MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class FileRead:
    """A file about to be streamed: its entry (size, sha256 for the ETag) and bytes."""

    entry: TarEntry
    chunks: AsyncIterator[bytes]


class LayerEngine:
    def __init__(self, store: IndexStore, limits: Limits, concurrency: int) -> None:
        self.store = store
        self.counters = LayerCounters()
        self.reads = Reads(store, limits, concurrency, self.counters)

    @classmethod
    async def open(cls, settings: Settings) -> LayerEngine:
        store = await asyncio.to_thread(
            IndexStore.open, settings.data_dir, settings.layer_index_bytes
        )
        limits = Limits(settings.layer_max_bytes, settings.layer_max_expanded_bytes)
        return cls(store, limits, settings.layer_index_concurrency)

    async def aclose(self) -> None:
        await self.reads.aclose()
        await self.store.close()

    def metric_families(self) -> Iterator[Metric]:
        yield from families(self.counters, self.store.disk_bytes(), self.reads.running)
        refused = CounterMetricFamily(
            "lr_layer_refusals_remembered_hits",
            "Asks answered by a remembered verdict (too large, no file system): no read",
        )
        refused.add_metric([], self.reads.refusals.hits)
        yield refused

    # -- indexes --------------------------------------------------------------------------

    async def layer(
        self, source: BlobSource, *, wait: float | None
    ) -> LayerIndex | IndexingProgress:
        found = await self.reads.index(source, wait=wait)
        return _progress([found]) if isinstance(found, Progress) else found

    async def image(
        self, manifest_digest: str, sources: Sequence[BlobSource], *, wait: float | None
    ) -> MergedView | IndexingProgress:
        """The merged view of a platform image (its layers bottom first); each layer is
        read at most once whatever the number of images and callers asking. Foreign
        layers (never fetched) and layers whose type says they are no file system (a
        Helm chart's provenance) are left out, and the view says it is not
        ``complete``."""
        readable = [s for s in sources if is_listable(s.media_type)]
        found = await asyncio.gather(*(self.reads.index(s, wait=wait) for s in readable))
        if any(isinstance(f, Progress) for f in found):
            return _progress(found)
        indexes = [f for f in found if isinstance(f, LayerIndex)]
        return MergedView(
            self.store,
            manifest_digest,
            indexes,
            sources=readable,
            complete=len(readable) == len(sources),
        )

    # -- listings -------------------------------------------------------------------------

    async def layer_files(
        self,
        source: BlobSource,
        *,
        path: str = "/",
        recursive: bool = False,
        last: str | None = None,
        n: int = 200,
        wait: float | None = None,
    ) -> FileListing | IndexingProgress:
        index = await self.layer(source, wait=wait)
        if isinstance(index, IndexingProgress):
            return index
        return await list_layer(self.store, index, path, recursive=recursive, last=last, n=_page(n))

    async def image_files(
        self,
        manifest_digest: str,
        sources: Sequence[BlobSource],
        *,
        path: str = "/",
        recursive: bool = False,
        include_deleted: bool = False,
        last: str | None = None,
        n: int = 200,
        wait: float | None = None,
    ) -> FileListing | IndexingProgress:
        view = await self.image(manifest_digest, sources, wait=wait)
        if isinstance(view, IndexingProgress):
            return view
        return await view.listing(
            path, recursive=recursive, include_deleted=include_deleted, last=last, n=_page(n)
        )

    # -- files ----------------------------------------------------------------------------

    async def layer_file(
        self, source: BlobSource, path: str, *, wait: float | None = None
    ) -> FileRead | IndexingProgress:
        found = await self._layer_entry(source, path, wait)
        if isinstance(found, IndexingProgress):
            return found
        index, entry = found
        return FileRead(entry, read_file(self.store, index, entry, source, self.counters))

    async def image_file(
        self,
        manifest_digest: str,
        sources: Sequence[BlobSource],
        path: str,
        *,
        wait: float | None = None,
    ) -> FileRead | IndexingProgress:
        found = await self._image_entry(manifest_digest, sources, path, wait)
        if isinstance(found, IndexingProgress):
            return found
        index, entry, source = found
        return FileRead(entry, read_file(self.store, index, entry, source, self.counters))

    async def layer_preview(
        self, source: BlobSource, path: str, *, wait: float | None = None
    ) -> FilePreview | IndexingProgress:
        found = await self._layer_entry(source, path, wait)
        if isinstance(found, IndexingProgress):
            return found
        index, entry = found
        return await preview(self.store, index, entry, source, self.counters)

    async def image_preview(
        self,
        manifest_digest: str,
        sources: Sequence[BlobSource],
        path: str,
        *,
        wait: float | None = None,
    ) -> FilePreview | IndexingProgress:
        found = await self._image_entry(manifest_digest, sources, path, wait)
        if isinstance(found, IndexingProgress):
            return found
        index, entry, source = found
        return await preview(self.store, index, entry, source, self.counters)

    async def _layer_entry(
        self, source: BlobSource, path: str, wait: float | None
    ) -> tuple[LayerIndex, TarEntry] | IndexingProgress:
        """The regular file at ``path`` of the layer, with the layer's index."""
        index = await self.layer(source, wait=wait)
        if isinstance(index, IndexingProgress):
            return index
        return index, regular_file(await self.store.entry(index.id, paths.normalise(path)), path)

    async def _image_entry(
        self, manifest_digest: str, sources: Sequence[BlobSource], path: str, wait: float | None
    ) -> tuple[LayerIndex, TarEntry, BlobSource] | IndexingProgress:
        """The regular file the image shows at ``path``, with the index and the source of
        the layer it comes from."""
        view = await self.image(manifest_digest, sources, wait=wait)
        if isinstance(view, IndexingProgress):
            return view
        shown = await view.lookup(path)
        entry = regular_file(None if shown is None else shown.entry, path)
        assert shown is not None
        return view.layers[shown.position], entry, view.sources[shown.position]

    # -- what one layer did ---------------------------------------------------------------

    async def layer_changes(
        self,
        manifest_digest: str,
        sources: Sequence[BlobSource],
        layer_digest: str,
        *,
        change: str | None = None,
        path: str | None = None,
        last: str | None = None,
        n: int = 200,
        wait: float | None = None,
    ) -> LayerChanges | IndexingProgress:
        """What layer ``layer_digest`` of the image did to the file system the layers
        below it make: the diff of the stack without it and with it (its highest use,
        when an image holds a layer twice)."""
        view = await self.image(manifest_digest, sources, wait=wait)
        if isinstance(view, IndexingProgress):
            return view
        at = [i for i, s in enumerate(view.sources) if s.digest == layer_digest]
        if not at:
            raise FileUnknown(
                "this layer is not one of the image's file system layers",
                detail={"digest": layer_digest},
            )
        k = at[-1]
        below = MergedView(self.store, manifest_digest, view.layers[:k], sources=view.sources[:k])
        upto = MergedView(
            self.store, manifest_digest, view.layers[: k + 1], sources=view.sources[: k + 1]
        )
        side = ImageSide("", "", manifest_digest, None, 0, ConfigFields())
        found = await diff_images(
            side, below, side, upto, change=change, path=path, last=last, n=_page(n)
        )
        position = [s.digest for s in sources].index(layer_digest)
        return LayerChanges(
            digest=layer_digest,
            position=position,
            size=view.layers[k].compressed_size,
            files=found.files,
        )

    # -- diffs ----------------------------------------------------------------------------

    async def diff(
        self,
        a: ImageSide,
        a_sources: Sequence[BlobSource],
        b: ImageSide,
        b_sources: Sequence[BlobSource],
        *,
        change: str | None = None,
        path: str | None = None,
        last: str | None = None,
        n: int = 200,
        wait: float | None = None,
    ) -> ImageDiff | IndexingProgress:
        a_view, b_view = await asyncio.gather(
            self.image(a.digest, a_sources, wait=wait), self.image(b.digest, b_sources, wait=wait)
        )
        if isinstance(a_view, IndexingProgress) or isinstance(b_view, IndexingProgress):
            return _merge_progress(a_view, b_view)
        return await diff_images(
            a, a_view, b, b_view, change=change, path=path, last=last, n=_page(n)
        )


def _page(n: int) -> int:
    return max(1, min(n, MAX_PAGE))


def _progress(found: Sequence[LayerIndex | Progress]) -> IndexingProgress:
    """One progress for several layers: bytes read of those still reading plus the sizes
    of those done; the total is unknown if any layer's size is."""
    read = total = 0
    known = True
    for f in found:
        if isinstance(f, Progress):
            read += f.bytes_read
            if f.bytes_total is None:
                known = False
            else:
                total += f.bytes_total
        else:
            read += f.compressed_size
            total += f.compressed_size
    return IndexingProgress(bytes_read=read, bytes_total=total if known else None)


def _merge_progress(*sides: MergedView | IndexingProgress) -> IndexingProgress:
    read = total = 0
    known = True
    for side in sides:
        if isinstance(side, IndexingProgress):
            read += side.bytes_read
            if side.bytes_total is None:
                known = False
            else:
                total += side.bytes_total
        else:
            size = sum(layer.compressed_size for layer in side.layers)
            read, total = read + size, total + size
    return IndexingProgress(bytes_read=read, bytes_total=total if known else None)
