"""Work control: one read per layer digest, at most ``LR_LAYER_INDEX_CONCURRENCY`` at a
time, each running to its end once started.

``Reads.index(source, wait=…)`` answers an index already on disk at once; otherwise it
starts the read (or joins the one running for that digest: single flight) and waits at
most ``wait`` seconds. If the read is not done by then it answers the read's
``Progress`` (the route's ``202`` with ``Retry-After``) and the read goes on in the
background, with the first asker's source (credentials); a later ask joins it or finds
the index. A caller that goes away never cancels a read others may be waiting on.

A read that fails keeps nothing (its rows are deleted) and its error goes to every
caller waiting on it; the next ask reads again, except after a verdict on the content
itself (too large, or no file system): that is remembered by digest (``Refusals``,
bounded, least recently asked dropped first) and answered again without a read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import OrderedDict
from dataclasses import dataclass

from gateway.errors import GatewayError, LayerTooLarge, NotAFilesystem
from gateway.layers.indexer import Limits, Progress, read_layer
from gateway.layers.metrics import LayerCounters
from gateway.layers.source import BlobSource, check_media_type
from gateway.layers.store import IndexStore, LayerIndex, entry_bytes
from gateway.layers.tarstream import TarEntry

log = logging.getLogger(__name__)
BATCH = 2000
REFUSALS = 10_000  # digests remembered as too large / no file system

#: Verdicts on a blob's content (immutable): the same digest gets the same answer.
LASTING = (LayerTooLarge, NotAFilesystem)


class Refusals:
    """Layers found too large or not a file system, by digest: a bounded LRU of the
    error each answered (the same bytes always answer the same)."""

    def __init__(self, limit: int = REFUSALS) -> None:
        self.limit = limit
        self._errors: OrderedDict[str, GatewayError] = OrderedDict()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._errors)

    def note(self, digest: str, exc: GatewayError) -> None:
        self._errors[digest] = exc
        self._errors.move_to_end(digest)
        while len(self._errors) > self.limit:
            self._errors.popitem(last=False)

    def check(self, digest: str) -> None:
        """Raise the error this digest answered before, if any."""
        found = self._errors.get(digest)
        if found is not None:
            self._errors.move_to_end(digest)
            self.hits += 1
            raise found.again()


@dataclass(slots=True)
class _Read:
    task: asyncio.Task[LayerIndex]
    progress: Progress


class Reads:
    def __init__(
        self, store: IndexStore, limits: Limits, concurrency: int, counters: LayerCounters
    ) -> None:
        self.store = store
        self.limits = limits
        self.counters = counters
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, _Read] = {}
        self.refusals = Refusals()

    @property
    def running(self) -> int:
        return len(self._running)

    def progress(self, digest: str) -> Progress | None:
        read = self._running.get(digest)
        return None if read is None else read.progress

    async def index(
        self, source: BlobSource, *, wait: float | None = None
    ) -> LayerIndex | Progress:
        """The index of ``source``'s layer, or its read's progress after ``wait``
        seconds (``None``: wait for the end)."""
        check_media_type(source.media_type)  # refused before any lookup or fetch
        self.refusals.check(source.digest)  # found too large / no file system before
        read = self._running.get(source.digest)
        if read is None:
            found = await self.store.get(source.digest)
            if found is not None:
                self.counters.index_hits += 1
                return found
            read = self._running.get(source.digest)  # started while the store answered
        if read is None:
            progress = Progress(bytes_total=source.size)
            task = asyncio.create_task(self._read(source, progress), name="layer-read")
            read = _Read(task, progress)
            self._running[source.digest] = read
            task.add_done_callback(functools.partial(self._done, source.digest, read))
        else:
            self.counters.index_joins += 1
        done, _ = await asyncio.wait({read.task}, timeout=wait)
        if not done:
            return read.progress
        return read.task.result()

    def _done(self, digest: str, read: _Read, task: asyncio.Task[LayerIndex]) -> None:
        if self._running.get(digest) is read:
            del self._running[digest]
        if not task.cancelled() and task.exception() is not None:
            self.counters.index_failures += 1  # each waiter re-raises it; marked retrieved
            exc = task.exception()
            if isinstance(exc, LASTING):
                self.refusals.note(digest, exc)

    async def _read(self, source: BlobSource, progress: Progress) -> LayerIndex:
        async with self._slots:
            layer_id = await self.store.begin(source.digest, source.media_type)
            size = 0
            batch: list[TarEntry] = []

            async def on_entries(entries: list[TarEntry]) -> None:
                nonlocal size
                batch.extend(entries)
                if len(batch) >= BATCH:
                    size += sum(entry_bytes(e) for e in batch)
                    await self.store.add(layer_id, batch)
                    batch.clear()

            before = progress.bytes_read
            try:
                read = await read_layer(source, self.limits, progress, on_entries)
                if batch:
                    size += sum(entry_bytes(e) for e in batch)
                    await self.store.add(layer_id, batch)
                evicted = self.store.evictions
                await self.store.complete(layer_id, read, size)
                self.counters.evictions += self.store.evictions - evicted
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.store.discard(layer_id))
                raise
            finally:
                self.counters.bytes_indexing += progress.bytes_read - before
            self.counters.index_builds += 1
            found = await self.store.get(source.digest)
            if found is None:  # dropped at once: the budget cannot hold even this one
                raise RuntimeError("the layer index was dropped as soon as it was written")
            return found

    async def aclose(self) -> None:
        """Stop every read (shutdown); what they wrote is deleted."""
        tasks = [read.task for read in self._running.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
