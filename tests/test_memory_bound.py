"""Memory per request: a cold 1,000-row detail page adds at most ``PAGE_BOUND_MB`` to a
real gateway process at its peak (``VmHWM``), and a warm one next to nothing.

A real ``python -m gateway`` in front of a real registry holding 1,000 distinct images
(``corpus_registry``): the process' own ``/proc/<pid>/status`` is read before and after,
so everything the request leaves behind counts — parsed documents, per-row tasks and
buffers, and memory the allocator keeps but cannot reuse (the cause of issue 19: a
set of the whole tag list built per row left the heap at 500 MB after one page).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.replicas import Replica, start_replica
from tests.support.fixtures import CORPUS_IMAGES, CorpusRegistry

#: What one 1,000-row detail page may add at its peak, caches filled included.
PAGE_BOUND_MB = 50
#: What the same rows, all cached, may add again.
WARM_BOUND_MB = 8


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.fixture
def gateway(corpus_registry: CorpusRegistry, tmp_path: Path) -> Iterator[Replica]:
    served = start_replica(
        tmp_path,
        {
            "LR_REGISTRY_URL": corpus_registry.url,
            "LR_DATA_DIR": str(tmp_path / "data"),
            "LR_LOG_LEVEL": "warning",
            # Rows cut by the deadline on a loaded machine would hold less memory: the
            # test needs every row resolved.
            "LR_REQUEST_TIMEOUT": "300",
            "LR_READ_TIMEOUT": "120",
        },
    )
    try:
        yield served
    finally:
        served.stop()


def _page(client: httpx.Client, **params: str) -> list[dict[str, object]]:
    r = client.get(
        "/api/repositories/corpus/big/tags", params={"details": "true", "n": "1000", **params}
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, object]] = r.json()["tags"]
    assert len(rows) == CORPUS_IMAGES
    assert not [row for row in rows if row.get("error") or not row.get("digest")]
    return rows


def test_a_cold_thousand_row_page_adds_a_bounded_peak(gateway: Replica) -> None:
    pid = gateway.proc.pid
    with httpx.Client(base_url=gateway.url, trust_env=False, timeout=600) as client:
        # One-time costs of a new process (lazy imports, the first route) are not the
        # page's: a small listing first.
        assert client.get("/api/repositories/corpus/big/tags", params={"n": "1"}).status_code == 200
        idle = _status_mb(pid, "VmRSS")
        rows = _page(client)
        peak = _status_mb(pid, "VmHWM")
        assert peak - idle <= PAGE_BOUND_MB, (
            f"one cold 1,000-row page took the process from {idle:.0f} MB to a peak of "
            f"{peak:.0f} MB (bound: +{PAGE_BOUND_MB} MB)"
        )
        after = _status_mb(pid, "VmRSS")
        # The same rows again, in another order (not the kept answer): all from cache.
        again = _page(client, sort="-name")
        assert {r["digest"] for r in again} == {r["digest"] for r in rows}
        assert _status_mb(pid, "VmHWM") - max(after, peak) <= WARM_BOUND_MB
