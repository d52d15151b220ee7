"""Activity store benchmark: recording, the marks of a page of tag rows, a feed page
under the caller's rights, and the size of a record — SQLite and Redis side by side.

    python bench/bench_activity.py [--records 20000] [--runs 7]
                                   [--out bench/results/activity-latest.md]

Fills each store with ``--records`` records (pulls, pushes and deletes over 200
repositories, 500 tags and 40 actors each), then measures, median of ``--runs``:

- **record**: one notification of one event (what the registry sends), µs per record;
- **marks**: ``last_pulled``/``last_pushed`` of a 1,000-row tag page (one repository) in
  one call, against the *baseline* of one call per row (what a naive lookup would do):
  the ratio is the claim "one query, not 1,000"; and the same for 1,000 rows spread over
  200 repositories (the stale report's pages);
- **feed**: a page of 50 under a rights predicate that allows one repository in ten,
  and under an allowed set of the same repositories (applied in the store);
- **size**: bytes per record (the SQLite file; Redis ``used_memory``).

Redis is Debian's ``redis-server`` started on 127.0.0.1 (skipped without it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.activity import Activity, MarkKey  # noqa: E402
from gateway.activity.records import Record  # noqa: E402
from gateway.activity.redis_store import RedisActivityStore  # noqa: E402
from gateway.activity.sqlite_store import SqliteActivityStore  # noqa: E402
from gateway.activity.store import ActivityStore  # noqa: E402
from gateway.shared_state.store import RedisStore  # noqa: E402
from harness.redis_server import RedisProcess, redis_available  # noqa: E402

START = 1_780_000_000_000_000
ACTIONS = ("pull", "pull", "pull", "pull", "push", "push", "delete")


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def record(i: int) -> Record:
    action = ACTIONS[i % len(ACTIONS)]
    return Record(
        id=f"bench-{i}",
        time=START + i * 1_000_000,
        action=action,  # type: ignore[arg-type]
        repository=f"team/app{i % 200}",
        tag=None if action == "pull" else f"v{i % 500}",
        digest=digest(i % 5000),
        media_type="application/vnd.oci.image.manifest.v1+json",
        actor=f"user{i % 40}",
        addr="10.0.0.5:40000",
        user_agent="docker/27.1 go/go1.22 git-commit/abc kernel/6.1 os/linux arch/amd64",
    )


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def measure(store: ActivityStore, records: int, runs: int) -> dict[str, float]:
    for start in range(0, records, 1000):
        await store.add([record(i) for i in range(start, min(records, start + 1000))], START)
    activity = Activity(store, origin=store.origin, clock=lambda: START + records * 2_000_000)
    out: dict[str, float] = {}
    n = [records]

    async def one() -> None:
        n[0] += 1
        await store.add([record(n[0])], START)

    out["record_us"] = await timed(one, runs * 20) * 1e6
    # A tag page: 1,000 rows of one repository; the stale report's: of 200 repositories.
    keys = [MarkKey("team/app7", f"v{i}", digest(i)) for i in range(1000)]
    spread = [MarkKey(f"team/app{i % 200}", f"v{i % 500}", digest(i)) for i in range(1000)]
    out["marks_ms"] = await timed(lambda: store.marks(keys), runs) * 1e3
    out["marks_spread_ms"] = await timed(lambda: store.marks(spread), runs) * 1e3

    async def one_by_one() -> None:
        for key in keys:
            await store.marks([key])

    out["marks_base_ms"] = await timed(one_by_one, max(1, runs // 3)) * 1e3
    allowed = frozenset(f"team/app{i}" for i in range(0, 200, 10))

    async def visible(names: frozenset[str]) -> set[str]:
        return set(names & allowed)

    out["feed_pred_ms"] = await timed(lambda: activity.feed(n=50, visible=visible), runs) * 1e3
    out["feed_set_ms"] = await timed(lambda: activity.feed(n=50, allowed=allowed), runs) * 1e3
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        sqlite = SqliteActivityStore.open(folder, max_events=10**7, now=START)
        results["SQLite"] = await measure(sqlite, args.records, args.runs)
        await sqlite.aclose()
        size = sum(f.stat().st_size for f in folder.iterdir())
        results["SQLite"]["bytes"] = size / args.records
        if redis_available():
            server = RedisProcess(Path(tmp)).start()
            try:
                client = server.client()
                base = int(client.info("memory")["used_memory"])
                shared = RedisStore(server.url, timeout=5.0)
                redis = RedisActivityStore(shared, origin="bench", max_events=10**7)
                results["Redis"] = await measure(redis, args.records, args.runs)
                used = int(client.info("memory")["used_memory"]) - base
                results["Redis"]["bytes"] = used / args.records
                await shared.aclose()
            finally:
                server.stop()
    lines = [
        f"# Activity stores ({args.records} records, median of {args.runs})",
        "",
        "| Store | record (µs) | marks of 1,000 rows (ms) | one call per row (ms) | "
        "ratio | the same rows over 200 repositories (ms) | feed, predicate (ms) | "
        "feed, set (ms) | bytes/record |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        ratio = r["marks_base_ms"] / r["marks_ms"]
        lines.append(
            f"| {name} | {r['record_us']:.0f} | {r['marks_ms']:.1f} | {r['marks_base_ms']:.0f} "
            f"| {ratio:.0f}× | {r['marks_spread_ms']:.1f} | {r['feed_pred_ms']:.1f} "
            f"| {r['feed_set_ms']:.1f} "
            f"| {r['bytes']:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
