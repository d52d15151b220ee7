"""Files inside images: the cost model, against reading the whole layer.

    python bench/bench_layers.py [--runs 15] [--out bench/results/layers-latest.md]

Builds two gzip layers in memory — 60 MB of incompressible files with a 1 KiB file in
the middle, and about 60 MB of compressible text files — and serves them from an
in-memory ``BlobSource`` that counts the bytes it serves (what the registry view counts
as ``X-Upstream-Bytes``). For each layer, in the same run:

- the **baseline**: what a client without an index does to list the layer or take one
  file out of it — stream the whole blob and read it with ``tarfile``;
- the **index build** (the first listing): its time, the bytes read, the index's size
  on disk, and that size per GB of layer;
- a **listing from the index** (the whole layer, recursive, one page of 200; and one
  directory): time, bytes read (0);
- **one file read** through the checkpoints: bytes read and time, for small files spread
  over the layer.

Ratios are against the baseline measured in the same run. Nothing here is a registry:
the figures are the engine's own (network time excluded).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import statistics
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import git_describe, write_report  # noqa: E402
from gateway.layers.engine import FileRead, LayerEngine  # noqa: E402
from gateway.layers.indexer import Limits  # noqa: E402
from gateway.layers.store import IndexStore  # noqa: E402
from harness.layer_trees import (  # noqa: E402
    MemorySource,
    gzip_bytes,
    random_gzip_layer,
    read_layer_with_tarfile,
    tar_bytes,
    text_layer,
)

GB = 1024**3
MB = 1024**2


def whole_layer_baseline(data: bytes) -> tuple[float, int]:
    """Stream the blob, decompress, read every entry with tarfile (content included)."""
    started = time.perf_counter()
    entries = 0
    with tarfile.open(fileobj=gzip.GzipFile(fileobj=io.BytesIO(data)), mode="r|") as archive:
        for info in archive:
            entries += 1
            if info.isfile():
                archive.extractfile(info).read()  # type: ignore[union-attr]
    return time.perf_counter() - started, entries


def inflate_only(data: bytes) -> float:
    started = time.perf_counter()
    inflater = zlib.decompressobj(31)
    for start in range(0, len(data), MB):
        inflater.decompress(data[start : start + MB])
    return time.perf_counter() - started


@dataclass
class Result:
    name: str
    size: int
    expanded: int
    entries: int
    points: int
    baseline_s: float
    zlib_s: float
    build_s: float
    build_bytes: int
    disk: int
    listing_ms: float
    listing_bytes: int
    file_bytes: int
    file_bytes_median: float
    file_ms: float


async def measure(name: str, data: bytes, files: list[str], runs: int) -> Result:
    tmp = Path(tempfile.mkdtemp(prefix="bench-layers-"))
    engine = LayerEngine(IndexStore.open(tmp, 4 * GB), Limits(4 * GB, 16 * GB), 2)
    source = MemorySource(data)
    baseline_s, entries = whole_layer_baseline(data)
    zlib_s = inflate_only(data)

    started = time.perf_counter()
    await engine.layer_files(source, path="/", recursive=True)
    build_s = time.perf_counter() - started
    build_bytes = source.served
    index = await engine.store.get(source.digest)
    assert index is not None
    disk = engine.store.disk_bytes()

    listing_s = []
    source.served = 0
    for _ in range(runs):
        started = time.perf_counter()
        await engine.layer_files(source, path="/", recursive=True, n=200)
        listing_s.append(time.perf_counter() - started)
    listing_bytes = source.served

    file_bytes, file_s = [], []
    for path in files:
        source.served = 0
        started = time.perf_counter()
        read = await engine.layer_file(source, path)
        assert isinstance(read, FileRead)
        body = b"".join([piece async for piece in read.chunks])
        file_s.append(time.perf_counter() - started)
        file_bytes.append(source.served)
        assert body
    await engine.aclose()
    return Result(
        name=name,
        size=len(data),
        expanded=index.expanded_size,
        entries=entries,
        points=len(index.points),
        baseline_s=baseline_s,
        zlib_s=zlib_s,
        build_s=build_s,
        build_bytes=build_bytes,
        disk=disk,
        listing_ms=statistics.median(listing_s) * 1000,
        listing_bytes=listing_bytes,
        file_bytes=max(file_bytes),
        file_bytes_median=statistics.median(file_bytes),
        file_ms=statistics.median(file_s) * 1000,
    )


def table(results: list[Result]) -> str:
    lines = [
        "| layer | size MB (expanded) | entries / checkpoints | whole-layer read (baseline) "
        "| index build: time, bytes read | index on disk, per GB of layer "
        "| listing from the index: ms, bytes read, time vs baseline "
        "| one small file: bytes read (max / median), ms, bytes vs whole layer |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        per_gb = r.disk / r.size * GB / MB
        lines.append(
            f"| {r.name} | {r.size / MB:.1f} ({r.expanded / MB:.1f}) "
            f"| {r.entries} / {r.points} "
            f"| {r.baseline_s * 1000:.0f} ms, {r.size / MB:.1f} MB "
            f"| {r.build_s * 1000:.0f} ms ({r.build_s / r.baseline_s:.2f}× baseline; "
            f"zlib alone {r.zlib_s * 1000:.0f} ms), {r.build_bytes / MB:.1f} MB "
            f"| {r.disk / MB:.2f} MB, {per_gb:.1f} MB/GB "
            f"| {r.listing_ms:.2f} ms, {r.listing_bytes} B, "
            f"{r.listing_ms / 1000 / r.baseline_s:.4f}× "
            f"| {r.file_bytes / MB:.2f} / {r.file_bytes_median / MB:.2f} MB, "
            f"{r.file_ms:.1f} ms, {r.file_bytes / r.size:.3f}× |"
        )
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default="bench/results/layers-latest.md")
    args = parser.parse_args()

    random_layer, middle, _ = random_gzip_layer()
    text_tar = tar_bytes(text_layer(files=1100))
    text_gz = gzip_bytes(text_tar, level=6)
    text_files = sorted(
        p for p, e in read_layer_with_tarfile(text_tar).items() if e.type == "file"
    )[::100]
    results = [
        await measure(
            "60 MB incompressible, 1 KiB file in the middle", random_layer, [middle], args.runs
        ),
        await measure("compressible text (gzip -6)", text_gz, text_files, args.runs),
    ]
    text = (
        f"# Files inside images: cost model (commit {git_describe()})\n\n"
        "Bytes are what the engine read from the blob source (X-Upstream-Bytes); checkpoints "
        "every 4 MiB of output. Baseline: the whole layer streamed and read with tarfile.\n\n"
        + table(results)
    )
    write_report(text, args.out)


if __name__ == "__main__":
    asyncio.run(main())
