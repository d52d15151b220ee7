"""Files inside images through the gateway, against a real registry: what each answer
reads from the registry (``X-Upstream-Bytes``), against downloading the whole layer.

    python bench/bench_files_api.py [--runs 5] [--out bench/results/files-api-latest.md]

Starts distribution (harness/registry.py) and pushes one image: a 60 MB gzip layer of
incompressible files with a 1 KiB file in its middle, and a compressible text layer
(gzip -6). A gateway (in process, its own data folder) then answers, for each layer:

- the **baseline**: the whole blob downloaded (``/api/…/blobs/{digest}``), what a client
  without an index reads to list a layer or take one file out of it;
- the **first listing** (the index built): bytes read, time;
- a **listing again** (from the index): bytes read, time;
- **one small file** (its bytes, and its preview): bytes read, time;
- the **index on disk** per GB of layer (``LR_DATA_DIR/layers.sqlite3``).

Ratios are against the baseline of the same run. Times include the loopback network and
the registry (one machine: indicative); the bytes are exact.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient  # noqa: E402

from bench.report import git_describe, write_report  # noqa: E402
from gateway.main import create_app  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from harness.images import Pusher  # noqa: E402
from harness.layer_images import Layer, push_layers  # noqa: E402
from harness.layer_trees import (  # noqa: E402
    OCI_GZIP,
    gzip_bytes,
    random_gzip_layer,
    tar_bytes,
    text_layer,
)
from harness.registry import start_registry  # noqa: E402

MB = 1024**2
GB = 1024**3
REPO = "bench/files"


@dataclass
class Row:
    name: str
    size: int
    baseline: tuple[int, float]
    first: tuple[int, float]
    again: tuple[int, float]
    file: tuple[int, float]
    preview: tuple[int, float]
    disk_per_gb: float


def timed(
    client: TestClient, url: str, *, streamed: bool = False, **params: Any
) -> tuple[int, float]:
    """(bytes read from the registry, seconds). A streamed answer's header is sent before
    its body is read: its bytes are the body's length."""
    started = time.perf_counter()
    r = client.get(url, params=params)
    seconds = time.perf_counter() - started
    assert r.status_code == 200, (url, r.status_code, r.text[:200])
    return (len(r.content) if streamed else int(r.headers["x-upstream-bytes"])), seconds


def median(samples: list[tuple[int, float]]) -> tuple[int, float]:
    return max(b for b, _ in samples), statistics.median(s for _, s in samples)


def measure(registry_url: str, name: str, layer: Layer, path: str, runs: int) -> Row:
    layers = f"/api/repositories/{REPO}/layers/{layer.digest}"
    baselines, firsts, agains, files, previews = [], [], [], [], []
    disk = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="lr-bench-files-") as data:
            settings = Settings(_env_file=None, registry_url=registry_url, data_dir=Path(data))  # type: ignore[call-arg]
            with TestClient(create_app(settings)) as client:
                baselines.append(
                    timed(client, f"/api/repositories/{REPO}/blobs/{layer.digest}", streamed=True)
                )
                firsts.append(timed(client, f"{layers}/files", recursive="true"))
                agains.append(timed(client, f"{layers}/files", recursive="true"))
                files.append(timed(client, f"{layers}/file", path=path))
                previews.append(timed(client, f"{layers}/file/preview", path=path))
                disk = client.app.state.lr.files.engine.store.disk_bytes()  # type: ignore[attr-defined]
    return Row(
        name,
        len(layer.data),
        median(baselines),
        median(firsts),
        median(agains),
        median(files),
        median(previews),
        disk / len(layer.data) * GB / MB,
    )


def table(rows: list[Row]) -> str:
    def cell(value: tuple[int, float], base: tuple[int, float]) -> str:
        return (
            f"{value[0] / MB:.2f} MB ({value[0] / base[0]:.3f}×), "
            f"{value[1] * 1000:.0f} ms ({value[1] / base[1]:.2f}×)"
        )

    lines = [
        "| layer | whole layer downloaded (baseline) | first listing (index built) "
        "| listing again | one small file | its preview | index on disk per GB of layer |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = r.baseline
        lines.append(
            f"| {r.name}, {r.size / MB:.1f} MB | {base[0] / MB:.2f} MB, {base[1] * 1000:.0f} ms "
            f"| {cell(r.first, base)} | {cell(r.again, base)} | {cell(r.file, base)} "
            f"| {cell(r.preview, base)} | {r.disk_per_gb:.1f} MB |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="bench/results/files-api-latest.md")
    args = parser.parse_args()

    random_data, middle, _ = random_gzip_layer()
    text_tar = tar_bytes(text_layer(files=1100))
    text = Layer(gzip_bytes(text_tar, level=6), OCI_GZIP)
    random_layer = Layer(random_data, OCI_GZIP)
    with tempfile.TemporaryDirectory(prefix="lr-bench-registry-") as root:
        registry = start_registry(Path(root))
        try:
            with Pusher(registry.url) as p:
                push_layers(p, REPO, "1", [random_layer, text])
            rows = [
                measure(
                    registry.url,
                    "incompressible, 1 KiB file in the middle",
                    random_layer,
                    middle,
                    args.runs,
                ),
                measure(
                    registry.url,
                    "compressible text (gzip -6)",
                    text,
                    "/text/file-0550.txt",
                    args.runs,
                ),
            ]
        finally:
            registry.stop()
    report = (
        f"# Files inside images through the gateway (commit {git_describe()})\n\n"
        "Bytes are X-Upstream-Bytes (what each answer read from the registry, the access "
        "check's tag list included); the largest of the runs. Times: medians of "
        f"{args.runs} runs, each on a fresh gateway and data folder. Baseline: the whole "
        "layer downloaded through the gateway.\n\n" + table(rows)
    )
    write_report(report, args.out)
    print(report)


if __name__ == "__main__":
    main()
