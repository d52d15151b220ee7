"""Storage usage benchmark: repository usage cold and warm, and the registry's usage
walk, against a minimal raw v2 client.

    python bench/bench_usage.py [--repos 500] [--tags 60] [--runs 5]
                                [--out bench/results/usage-latest.md]

Fills a real distribution registry as ``bench_read.py`` does (the same layout: five
repositories of 60 single-platform tags, one of 60 tags that are mostly two-platform
indexes with attestations, the rest small), then measures over real HTTP on 127.0.0.1:

- ``GET /api/repositories/{name}/usage`` for a 60-tag repository of images and for
  the one of indexes: the *raw* baseline (a plain ``httpx.AsyncClient``: the tag list,
  each tag's manifest, each distinct child manifest once, at most
  ``upstream_concurrency`` in flight), *cold* (a fresh app's first call) and *warm*
  (the next call: no upstream request at all);
- ``GET /api/usage``: a fresh app's first answer, then polled until ``complete`` —
  the time to the first answer, the time to complete, and the upstream requests against
  the minimum (the catalog pages, each repository's tag list, each tag's manifest and
  each distinct child manifest once; no config is needed: a descriptor holds its
  blob's size), with the raw client's walk of every repository as the baseline.

Every figure of the gateway's answers is checked against the raw client's count.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_read import (  # noqa: E402
    CATALOG_PAGE,
    RawClient,
    fill,
    gateway,
    temp_root,
    timed_get,
)
from bench.report import git_describe, verdict, write_report  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from harness.images import ACCEPT_ALL  # noqa: E402
from harness.registry import start_registry  # noqa: E402

SPEEDUP_TARGET = 20.0  # warm >= 20 x faster than cold
COLD_RATIO_TARGET = 1.5  # a repository's cold usage <= 1.5 x raw
POLL_SECONDS = 0.25


@dataclass
class RawUsage:
    ms: float
    requests: int
    total_bytes: int
    tags: int
    items: dict[str, int] = field(default_factory=dict)


async def raw_repository(c: RawClient, repo: str) -> RawUsage:
    """The tag list, each tag's manifest, each distinct child manifest once."""
    started, before = time.perf_counter(), c.requests
    r = await c.get(f"/v2/{repo}/tags/list")
    tags = r.json().get("tags") or []
    docs: dict[str, asyncio.Task[tuple[int, Any]]] = {}

    async def fetch(ref: str) -> tuple[str, int, Any]:
        resp = await c.get(f"/v2/{repo}/manifests/{ref}", accept=ACCEPT_ALL)
        return resp.headers["docker-content-digest"], len(resp.content), resp.json()

    async def child(digest: str) -> tuple[int, Any]:
        _, size, doc = await fetch(digest)
        return size, doc

    def once(digest: str) -> asyncio.Task[tuple[int, Any]]:
        if digest not in docs:
            docs[digest] = asyncio.ensure_future(child(digest))
        return docs[digest]

    items: dict[str, int] = {}

    async def walk(digest: str, size: int, doc: Any) -> None:
        items[digest] = size
        if "manifests" in doc:
            found = await asyncio.gather(*(once(m["digest"]) for m in doc["manifests"]))
            for m, (child_size, child_doc) in zip(doc["manifests"], found, strict=True):
                await walk(m["digest"], child_size, child_doc)
        else:
            for blob in [doc["config"], *doc.get("layers", [])]:
                items[blob["digest"]] = blob["size"]

    tops = await asyncio.gather(*(fetch(t) for t in tags))
    for digest, size, doc in tops:
        await walk(digest, size, doc)
    ms = (time.perf_counter() - started) * 1000
    return RawUsage(ms, c.requests - before, sum(items.values()), len(tags), items)


async def raw_registry(base: str, limit: int) -> tuple[float, int, int, int]:
    """(ms, requests, total_bytes, repositories): the whole walk."""
    c = RawClient(base, limit)
    try:
        started = time.perf_counter()
        names: list[str] = []
        path: str | None = f"/v2/_catalog?n={CATALOG_PAGE}"
        while path:
            r = await c.get(path)
            names.extend(r.json().get("repositories") or [])
            link = r.links.get("next", {}).get("url")
            path = f"/v2/_catalog?{urlsplit(link).query}" if link else None
        repos = await asyncio.gather(*(raw_repository(c, n) for n in names))
        everything: dict[str, int] = {}
        for usage in repos:
            everything.update(usage.items)
        ms = (time.perf_counter() - started) * 1000
        return ms, c.requests, sum(everything.values()), len(names)
    finally:
        await c.aclose()


async def raw_one(base: str, limit: int, repo: str) -> RawUsage:
    c = RawClient(base, limit)
    try:
        return await raw_repository(c, repo)
    finally:
        await c.aclose()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=500, help="repositories to push (500)")
    parser.add_argument("--tags", type=int, default=60, help="tags of the big repositories (60)")
    parser.add_argument("--runs", type=int, default=5, help="samples per measurement (5)")
    parser.add_argument("--workers", type=int, default=8, help="threads filling the registry")
    parser.add_argument("--out", default="bench/results/usage-latest.md", help="report path")
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    lines: list[str] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="lr-bench-", dir=temp_root()) as tmp:
        registry = start_registry(Path(tmp) / "registry", delete_enabled=False, version="2.8")
        try:
            layout = fill(registry.url, args.repos, args.tags, args.workers)
            print(f"filled {layout.repositories} repositories, {layout.tags} tags", flush=True)
            settings = Settings(
                _env_file=None, registry_url=registry.url, cache_ttl=300.0, log_level="warning"
            )
            limit = settings.upstream_concurrency
            lines += [
                "# Light Registry usage benchmark",
                "",
                f"- {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit "
                f"{git_describe()}, Python {platform.python_version()}, {os.cpu_count()} CPUs",
                f"- registry: distribution on 127.0.0.1, {layout.repositories} repositories, "
                f"{layout.tags} tags ({layout.indexes} on multi-platform indexes)",
                f"- gateway: uvicorn in-process, upstream_concurrency={limit}, cache_ttl=300 s;"
                f" raw baseline: httpx.AsyncClient with Semaphore({limit})",
                f"- medians of {args.runs} samples; cold = a new app per sample, warm = the "
                "next call on that app",
                "",
                "| scenario | raw median ms | gateway cold median ms | gateway warm median ms "
                "| cold/raw ratio | cold/warm speed-up | upstream requests (raw / cold / warm) "
                "| verdict |",
                "|---|---:|---:|---:|---:|---:|---|---|",
            ]
            with asyncio.Runner() as runner:
                for repo in (layout.big_repo, layout.multi_repo):
                    raw_ms, cold_ms, warm_ms = [], [], []
                    raw_req = cold_req = warm_req = 0
                    for _ in range(args.runs):
                        raw = runner.run(raw_one(registry.url, limit, repo))
                        raw_ms.append(raw.ms)
                        raw_req = raw.requests
                        with gateway(settings) as (server, client):
                            path = f"/api/repositories/{quote(repo)}/usage"
                            cold = timed_get(server, client, path)
                            warm = timed_get(server, client, path)
                        if cold.body["total_bytes"] != raw.total_bytes:
                            raise SystemExit(f"{repo}: total_bytes differs from the raw count")
                        cold_ms.append(cold.ms)
                        warm_ms.append(warm.ms)
                        cold_req, warm_req = cold.upstream, max(warm_req, warm.upstream)
                    ratio = median(cold_ms) / median(raw_ms)
                    speedup = median(cold_ms) / median(warm_ms)
                    good = (
                        warm_req == 0
                        and speedup >= SPEEDUP_TARGET
                        and ratio <= COLD_RATIO_TARGET
                        and cold_req <= raw_req
                    )
                    ok = ok and good
                    lines.append(
                        f"| usage of {repo} ({raw.tags} tags) | {median(raw_ms):.1f} | "
                        f"{median(cold_ms):.1f} | {median(warm_ms):.2f} | {ratio:.2f} | "
                        f"{speedup:.0f}× | {raw_req} / {cold_req} / {warm_req} | "
                        f"{verdict(good)} |"
                    )
                    print(lines[-1], flush=True)

                raw_ms_all, raw_requests, raw_total, n_repos = runner.run(
                    raw_registry(registry.url, limit)
                )
            with gateway(settings) as (server, client):
                started = time.perf_counter()
                first = client.get("/api/usage").json()
                first_ms = (time.perf_counter() - started) * 1000
                polls = 1
                body = first
                while not body["complete"]:
                    time.sleep(POLL_SECONDS)
                    body = client.get("/api/usage").json()
                    polls += 1
                complete_ms = (time.perf_counter() - started) * 1000
                upstream = server.upstream_total
            if body["total_bytes"] != raw_total or body["repositories_counted"] != n_repos:
                raise SystemExit("GET /api/usage differs from the raw count")
            good = upstream <= raw_requests
            ok = ok and good
            lines += [
                "",
                "| GET /api/usage | raw walk ms | first answer ms (counted) | complete ms "
                "(polls) | complete/raw ratio | upstream requests (gateway / minimum) "
                "| verdict |",
                "|---|---:|---:|---:|---:|---|---|",
                f"| {n_repos} repositories | {raw_ms_all:.0f} | {first_ms:.0f} "
                f"({first['repositories_counted']}) | {complete_ms:.0f} ({polls}) | "
                f"{complete_ms / raw_ms_all:.2f} | {upstream} / {raw_requests} | "
                f"{verdict(good)} |",
                "",
                f"Targets: a warm repository usage makes 0 upstream requests and is ≥ "
                f"{SPEEDUP_TARGET:g}× faster than cold; cold ≤ {COLD_RATIO_TARGET:g}× the raw "
                "client; the registry walk makes no more upstream requests than the minimum. "
                "The walk reads at most a quarter of the upstream slots' worth of "
                "repositories at once, in the background, so that interactive requests are "
                "never starved; the raw client reads every repository at once (16 requests "
                "in flight).",
            ]
        finally:
            registry.stop()
    write_report("\n".join(lines) + "\n", args.out)
    return 1 if args.fail_on_miss and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
