"""The memory part of ``bench_load.py``: a gateway's RSS in front of the stand-in registry,
with a 100,000-repository catalog and 10,000 manifests cached, then after 200 distinct
users listed the catalog (see bench_load.py's docstring)."""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.load_part import REPO_PAGE
from bench.servers import Server, metric_sum, start_server
from bench.standin import standin_basic, standin_names


@dataclass
class MemoryReport:
    rss_start: float = 0.0
    rss_catalog: float = 0.0
    rss_base: float = 0.0
    rss_users: float = 0.0
    hwm: float = 0.0
    users: int = 0
    repos: int = 0
    content_entries: float = 0.0
    content_bytes: float = 0.0
    catalog_entries: float = 0.0
    tag_entries: float = 0.0
    seconds_base: float = 0.0
    seconds_users: float = 0.0
    code: str = "this checkout"


def _settled_rss(server: Server) -> float:
    time.sleep(1.0)
    return server.rss_mb()


def memory_part(args: argparse.Namespace, tmp: Path, cpus: set[int] | None) -> MemoryReport:
    mem = MemoryReport(users=args.users, repos=args.memory_repos)
    if args.gateway_code:
        mem.code = args.gateway_code
    big, tags = 100, args.memory_manifests // 100
    with ExitStack() as stack:
        standin = start_server(
            "standin",
            ["standin", "--repos", str(args.memory_repos), "--big", str(big), "--tags", str(tags)],
            tmp,
        )
        stack.callback(standin.stop)
        gateway = start_server(
            "gateway-memory",
            ["serve", "--app", "gateway", "--registry", standin.url],
            tmp,
            cpus=cpus,
            code_root=args.gateway_code,
            ready_path="/api/health/live",
        )
        stack.callback(gateway.stop)
        mem.rss_start = _settled_rss(gateway)
        names = standin_names(args.memory_repos)
        started = time.perf_counter()
        with httpx.Client(base_url=gateway.url, trust_env=False, timeout=600.0) as client:
            first = client.get(f"/api/repositories?n={REPO_PAGE}", headers=standin_basic(0))
            first.raise_for_status()
            if first.json()["total"] != args.memory_repos:
                raise RuntimeError(f"catalog total {first.json()['total']} != {args.memory_repos}")
            mem.rss_catalog = _settled_rss(gateway)
            print(f"  one user, the catalog: RSS {mem.rss_catalog:.1f} MB", flush=True)

            def details(name: str) -> None:
                r = client.get(
                    f"/api/repositories/{name}/tags?details=true&n={tags}", headers=standin_basic(0)
                )
                r.raise_for_status()
                rows = r.json()["tags"]
                bad = [t for t in rows if t.get("error") or not t.get("digest")]
                if len(rows) != tags or bad:
                    raise RuntimeError(f"{name}: {len(rows)} rows, {len(bad)} in error")

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(details, names[:big]))
            mem.seconds_base = time.perf_counter() - started
            mem.rss_base = _settled_rss(gateway)
            print(
                f"  one user, catalog + {big * tags} manifests and configs: "
                f"RSS {mem.rss_base:.1f} MB",
                flush=True,
            )

            def listing(i: int) -> None:
                r = client.get(f"/api/repositories?n={REPO_PAGE}", headers=standin_basic(i))
                r.raise_for_status()
                if r.json()["total"] != args.memory_repos:
                    raise RuntimeError(f"user {i}: total {r.json()['total']}")

            started = time.perf_counter()
            with ThreadPoolExecutor(args.user_concurrency) as pool:
                for k, _ in enumerate(pool.map(listing, range(1, args.users + 1)), 1):
                    if k % 50 == 0:
                        print(
                            f"  {k} users listed the catalog: RSS {gateway.rss_mb():.1f} MB",
                            flush=True,
                        )
            mem.seconds_users = time.perf_counter() - started
            mem.rss_users = _settled_rss(gateway)
            mem.hwm = gateway.hwm_mb()
            metrics = client.get("/metrics").text
        mem.content_entries = metric_sum(metrics, "lr_cache_entries", 'cache="content"')
        mem.content_bytes = metric_sum(metrics, "lr_cache_bytes", 'cache="content"')
        mem.catalog_entries = metric_sum(metrics, "lr_cache_entries", 'cache="catalog"')
        mem.tag_entries = metric_sum(metrics, "lr_cache_entries", 'cache="tags"')
    return mem


