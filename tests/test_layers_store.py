"""gateway.layers: indexes on disk (restart, budget, wholeness) and the work control
(single flight, progress, concurrency, bounds, nothing kept on failure)."""

from __future__ import annotations

import asyncio
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import LayerTooLarge, UpstreamInvalid
from gateway.layers.engine import LayerEngine
from gateway.layers.indexer import Limits, Progress
from gateway.layers.store import FILE_NAME, IndexStore
from gateway.models.files import FileListing, IndexingProgress
from gateway.settings import Settings
from harness.layer_trees import MemorySource, file, gzip_bomb, gzip_bytes, known_tree, tar_bytes

LIMITS = Limits(1 << 31, 1 << 31)


def engine_at(
    path: Path, budget: int = 1 << 30, concurrency: int = 2, limits: Limits = LIMITS
) -> LayerEngine:
    return LayerEngine(IndexStore.open(path, budget), limits, concurrency)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[LayerEngine]:
    made = engine_at(tmp_path)
    yield made
    await made.aclose()


def layers_in(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path / FILE_NAME) as c:
        return list(c.execute("SELECT digest, state FROM layers ORDER BY id"))


def rows_in(path: Path) -> int:
    with sqlite3.connect(path / FILE_NAME) as c:
        return int(c.execute("SELECT COUNT(*) FROM entries").fetchone()[0])


async def test_an_index_survives_a_restart(tmp_path: Path) -> None:
    source = MemorySource(gzip_bytes(tar_bytes(known_tree())))
    first = engine_at(tmp_path)
    listing = await first.layer_files(source, recursive=True)
    await first.aclose()
    assert source.served == len(source.data)

    source.served = 0
    second = await LayerEngine.open(
        Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    )
    again = await second.layer_files(source, recursive=True)
    assert again == listing and source.served == 0
    assert second.counters.index_hits == 1 and second.counters.index_builds == 0
    assert await content_of(second, source, "/etc/os-release") == b'NAME="Test"\nID=test\n'
    await second.aclose()


async def content_of(engine: LayerEngine, source: MemorySource, path: str) -> bytes:
    read = await engine.layer_file(source, path)
    return b"".join([p async for p in read.chunks])  # type: ignore[union-attr]


async def test_least_recently_used_indexes_go_first(tmp_path: Path) -> None:
    sources = [
        MemorySource(gzip_bytes(tar_bytes([file(f"layer{n}/f{i}", str(i)) for i in range(200)])))
        for n in range(3)
    ]
    engine = engine_at(tmp_path, budget=1 << 30)
    for source in sources:
        await engine.layer(source, wait=None)
    one = (await engine.store.get(sources[0].digest)).bytes  # type: ignore[union-attr]
    await engine.aclose()

    engine = engine_at(tmp_path, budget=int(one * 2.5))  # room for two
    await engine.layer(sources[0], wait=None)  # used: 1 is now the oldest
    extra = MemorySource(gzip_bytes(tar_bytes([file(f"extra/f{i}", str(i)) for i in range(200)])))
    await engine.layer(extra, wait=None)
    kept = [d for d, state in layers_in(tmp_path) if state == "complete"]
    assert sources[1].digest not in kept and sources[2].digest not in kept
    assert sources[0].digest in kept and extra.digest in kept
    assert engine.counters.evictions == 2
    assert await engine.store.indexed_bytes() <= int(one * 2.5)
    await engine.aclose()


async def test_an_index_that_is_not_whole_is_dropped_and_read_again(tmp_path: Path) -> None:
    source = MemorySource(gzip_bytes(tar_bytes(known_tree())))
    engine = engine_at(tmp_path)
    await engine.layer(source, wait=None)
    await engine.aclose()
    with sqlite3.connect(tmp_path / FILE_NAME) as c:
        c.execute("DELETE FROM entries WHERE path = '/etc/passwd'")
        c.execute(
            "INSERT INTO layers (digest, state, engine, media_type, last_used) "
            "VALUES ('sha256:' || hex(randomblob(32)), 'building', 1, 'x', 0)"
        )
    engine = engine_at(tmp_path)  # the 'building' leftover of a crash is dropped on open
    assert [state for _, state in layers_in(tmp_path)] == ["complete"]
    source.served = 0
    listing = await engine.layer_files(source, path="/etc")
    assert source.served == len(source.data)  # read again
    assert "/etc/passwd" in [e.path for e in listing.entries]  # type: ignore[union-attr]
    await engine.aclose()


async def test_concurrent_asks_share_one_read(engine: LayerEngine) -> None:
    source = MemorySource(gzip_bytes(tar_bytes(known_tree())), chunk=512)
    results = await asyncio.gather(*(engine.layer_files(source) for _ in range(5)))
    assert all(r == results[0] for r in results)
    assert source.requests == [(0, None)]
    assert engine.counters.index_builds == 1 and engine.counters.index_joins == 4


async def test_progress_then_the_read_goes_on_in_the_background(engine: LayerEngine) -> None:
    source = MemorySource(gzip_bytes(tar_bytes(known_tree())), chunk=100)
    gate = asyncio.Event()
    source.gate = gate
    answer = await engine.layer_files(source, wait=0.01)
    assert answer == IndexingProgress(bytes_read=0, bytes_total=len(source.data))
    assert engine.reads.running == 1
    gate.set()
    for _ in range(200):  # the read finishes with nobody waiting on it
        if engine.reads.running == 0:
            break
        await asyncio.sleep(0.01)
    assert engine.reads.running == 0
    listing = await engine.layer_files(source, wait=0.01)
    assert isinstance(listing, FileListing)
    assert source.requests == [(0, None)] and engine.counters.index_hits == 1


async def test_progress_counts_bytes_while_reading(engine: LayerEngine) -> None:
    source = MemorySource(gzip_bytes(tar_bytes(known_tree())), chunk=100)
    gate = asyncio.Event()
    source.gate, source.hold_at = gate, 300
    task = asyncio.create_task(engine.layer(source, wait=None))
    for _ in range(500):  # until the stream waits at the gate
        if source.served >= 300:
            break
        await asyncio.sleep(0.01)
    progress = engine.reads.progress(source.digest)
    assert isinstance(progress, Progress) and 300 <= progress.bytes_read < len(source.data)
    answer = await engine.layer(source, wait=0)
    assert answer == IndexingProgress(bytes_read=progress.bytes_read, bytes_total=len(source.data))
    gate.set()
    await task


async def test_at_most_n_layers_are_read_at_once(tmp_path: Path) -> None:
    engine = engine_at(tmp_path, concurrency=1)
    gate = asyncio.Event()
    sources = []
    for n in range(3):
        source = MemorySource(gzip_bytes(tar_bytes([file(f"l{n}", "x")])), chunk=64)
        source.gate = gate
        sources.append(source)
    tasks = [asyncio.create_task(engine.layer(s, wait=None)) for s in sources]
    for _ in range(500):  # until one read is under way
        if any(s.requests for s in sources):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # room for a second one to start, were the bound broken
    assert sum(1 for s in sources if s.requests) == 1  # the others wait for the slot
    gate.set()
    await asyncio.gather(*tasks)
    assert all(s.requests == [(0, None)] for s in sources)
    await engine.aclose()


async def test_a_failed_read_keeps_nothing_and_is_tried_again(
    engine: LayerEngine, tmp_path: Path
) -> None:
    good = gzip_bytes(tar_bytes(known_tree()))
    source = MemorySource(good[:-30], digest=MemorySource(good).digest, size=len(good) - 30)
    asks = [engine.layer(source, wait=None) for _ in range(3)]
    results = await asyncio.gather(*asks, return_exceptions=True)
    assert all(isinstance(r, UpstreamInvalid) for r in results)
    assert layers_in(tmp_path) == [] and rows_in(tmp_path) == 0
    assert engine.counters.index_failures == 1
    fixed = MemorySource(good)
    assert isinstance(await engine.layer_files(fixed), FileListing)


async def test_a_gzip_bomb_is_stopped_at_the_bound_with_memory_bounded(tmp_path: Path) -> None:
    bomb = gzip_bomb(1 << 30)  # about 1 MB expanding to 1 GiB
    assert len(bomb) < 2 * 1024 * 1024
    engine = engine_at(tmp_path, limits=Limits(1 << 31, 32 * 1024 * 1024))
    source = MemorySource(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(LayerTooLarge) as caught:
            await engine.layer(source, wait=None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.status == 413 and caught.value.code == "LAYER_TOO_LARGE"
    assert peak < 16 * 1024 * 1024, peak  # pieces of 1 MiB, not the 32 MiB read
    assert source.served < len(bomb)  # stopped early
    assert layers_in(tmp_path) == [] and rows_in(tmp_path) == 0
    await engine.aclose()


async def test_a_layer_over_the_compressed_bound_is_not_fetched(tmp_path: Path) -> None:
    engine = engine_at(tmp_path, limits=Limits(1000, 1 << 30))
    source = MemorySource(gzip_bytes(tar_bytes(known_tree() * 3)))
    assert source.size is not None and source.size > 1000
    with pytest.raises(LayerTooLarge):
        await engine.layer(source, wait=None)
    assert source.requests == []
    unknown = MemorySource(source.data, size=None)  # size unknown: stopped while read
    with pytest.raises(LayerTooLarge):
        await engine.layer(unknown, wait=None)
    assert unknown.served <= 1000 + unknown.chunk
    await engine.aclose()
