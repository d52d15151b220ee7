"""Load and memory benchmark: warm throughput and latency against a bare endpoint, and RSS.

    python bench/bench_load.py [--duration 5] [--connections 1,16,64] [--users 200]
                               [--skip-load] [--skip-memory] [--out bench/results/load.md]

Load (``wrk``, a C client, so the load generator does not take the gateway's CPU the way
a Python client would): a real distribution registry (``/usr/bin/docker-registry``) is
filled over the v2 API as ``bench_read.py`` does; the gateway and a bare FastAPI app
returning, for each page, a precomputed JSON document of the very same size are served
by uvicorn in subprocesses with identical settings (one worker, the same loop and HTTP
implementation, access log off), pinned to the same CPU when there are two or more
(``wrk`` on another). For each page, once its caches are warm, ``wrk --latency`` runs at
each connection count against the gateway and then the bare app, in the same run.
Target: the gateway's throughput >= 0.5x the bare endpoint's.

Memory: a stand-in registry on 127.0.0.1 (a small ASGI app in a subprocess: filling a
real registry with 100,000 repositories over the v2 API takes far too long) serves a
paged ``_catalog`` with ``Link`` headers, tag lists, and small manifests and configs
whose digests the gateway verifies, behind Basic auth. A fresh gateway lists the
100,000-repository catalog for one user and reads the detailed tag pages of 100
repositories of 100 tags (10,000 manifests and their 10,000 configs cached); its RSS
(``VmRSS`` of ``/proc/<pid>/status``) is read, then again after 200 distinct users
(distinct Basic credentials, so distinct caller keys) each listed the catalog.
Targets: <= 200 MB, then <= 50 MB more.

The parts: bench/servers.py (the servers, in subprocesses), bench/standin.py (the
stand-in registry), bench/wrk.py (wrk), bench/load_part.py and bench/memory_part.py; this
file renders their report. ``bench_load.py serve|standin`` are bench/servers.py's modes.
Everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load_part import REPO_PAGE, LoadReport, load_part  # noqa: E402
from bench.memory_part import MemoryReport, memory_part  # noqa: E402
from bench.report import git_describe, verdict, write_report  # noqa: E402
from bench.servers import main as servers_main  # noqa: E402
from bench.uvicorn_config import HTTP, LOOP  # noqa: E402
from bench.wrk import connection_counts  # noqa: E402

RATIO_TARGET = 0.5  # gateway req/s >= 0.5 x bare
RSS_TARGET_MB = 200.0
CPU_TARGET = 3.0  # the gateway's CPU per warm request, against the bare endpoint's
CATALOG_RSS_TARGET_MB = 100.0
USERS_TARGET_MB = 50.0


# -- report ------------------------------------------------------------------------------


def _f(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def render(
    args: argparse.Namespace, load: LoadReport | None, mem: MemoryReport | None
) -> tuple[str, bool]:
    lines = [
        "# Light Registry load and memory benchmark",
        "",
        f"- {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit {git_describe()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs",
        f"- servers: uvicorn, 1 worker, loop={LOOP}, http={HTTP}, access log off, "
        "log level warning; the gateway with cache_ttl = access_ttl = 3600 s",
    ]
    ok = True
    if load and load.rows:
        lines += [
            f"- load: wrk, {args.duration:g} s per run after a discarded {args.warmup:g} s one, "
            f"gateway then bare for each row; {load.pinning}",
            f"- {load.layout}",
            "- bare: a FastAPI app answering each page's path with the gateway's own body "
            "(precomputed bytes, same size): "
            + ", ".join(f"{p.label} {p.body_bytes:,} B" for p in load.pages),
            "",
            "| page | connections | gateway req/s | bare req/s | ratio | gateway p50 / p99 ms "
            "| bare p50 / p99 ms | CPU ms per request, gateway / bare (ratio) "
            f"| ≥ {RATIO_TARGET:g}× bare, CPU ≤ {CPU_TARGET:g}× |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in load.rows:
            passed = r.ratio >= RATIO_TARGET and r.cpu_ratio <= CPU_TARGET and not r.gateway.errors
            ok = ok and passed
            note = f" ({r.gateway.errors})" if r.gateway.errors else ""
            lines.append(
                f"| {r.page} | {r.connections} | {r.gateway.rps:,.0f} | {r.bare.rps:,.0f} | "
                f"{r.ratio:.2f} | {_f(r.gateway.p50_ms)} / {_f(r.gateway.p99_ms)} | "
                f"{_f(r.bare.p50_ms)} / {_f(r.bare.p99_ms)} | "
                f"{r.gateway_cpu_ms:.3f} / {r.bare_cpu_ms:.3f} ({r.cpu_ratio:.1f}×) | "
                f"{verdict(passed)}{note} |"
            )
    if load and any(r.baseline is not None for r in load.rows):
        lines += [
            "",
            f"- baseline: the gateway of {args.baseline_code}, served and warmed the same way, "
            "measured right after this checkout's in each row",
            "",
            "| page | connections | this checkout req/s | baseline req/s | this / baseline "
            "| CPU ms per request, this / baseline |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in load.rows:
            if r.baseline is None:
                continue
            lines.append(
                f"| {r.page} | {r.connections} | {r.gateway.rps:,.0f} | {r.baseline.rps:,.0f} | "
                f"{r.vs_baseline:.2f} | {r.gateway_cpu_ms:.3f} / {r.baseline_cpu_ms:.3f} |"
            )
    if load and load.profiles:
        lines += ["", *load.profiles]
    if mem:
        delta = mem.rss_users - mem.rss_base
        ok_base = mem.rss_base <= RSS_TARGET_MB
        ok_catalog = mem.rss_catalog <= CATALOG_RSS_TARGET_MB
        ok_users = delta <= USERS_TARGET_MB
        ok = ok and ok_base and ok_catalog and ok_users
        lines += [
            "",
            f"- memory: a stand-in registry on 127.0.0.1 (an ASGI app serving a paged "
            f"`_catalog` with `Link` headers, tag lists, and small manifests and configs the "
            f"gateway verifies by digest; Basic auth), not a real registry; gateway code: "
            f"{mem.code}",
            f"- caches at the end: {mem.content_entries:,.0f} manifests and configs "
            f"({mem.content_bytes / 1e6:.1f} MB of bodies), {mem.catalog_entries:,.0f} catalog "
            f"entries, {mem.tag_entries:,.0f} tag-list entries; RSS peak (VmHWM) {mem.hwm:.1f} MB",
            "",
            "| state | gateway RSS MB | target | verdict |",
            "|---|---:|---|---|",
            f"| started, nothing cached | {mem.rss_start:.1f} | | |",
            f"| one user: the {mem.repos:,}-repository catalog listed | {mem.rss_catalog:.1f} | "
            f"≤ {CATALOG_RSS_TARGET_MB:g} MB | {verdict(ok_catalog)} |",
            f"| one user: {mem.repos:,}-repository catalog + {args.memory_manifests:,} manifests "
            f"and their configs cached ({mem.seconds_base:.0f} s) | {mem.rss_base:.1f} | "
            f"≤ {RSS_TARGET_MB:g} MB | {verdict(ok_base)} |",
            f"| then {mem.users} distinct users each listed that catalog "
            f"(repositories n={REPO_PAGE}, {args.user_concurrency} at a time, "
            f"{mem.seconds_users:.0f} s) | {mem.rss_users:.1f} (+{delta:.1f}) | "
            f"≤ +{USERS_TARGET_MB:g} MB | {verdict(ok_users)} |",
        ]
    return "\n".join(lines) + "\n", ok


# -- main --------------------------------------------------------------------------------


def _cpu_split() -> tuple[set[int], set[int]] | None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    # The servers (one worker: one CPU is all they use) on the last, wrk on the others.
    return {cpus[-1]}, set(cpus[:-1])


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("serve", "standin"):
        return servers_main(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="discarded wrk run first (1 s)")
    parser.add_argument("--connections", type=connection_counts, default=[1, 16, 64])
    parser.add_argument("--repos", type=int, default=200, help="repositories pushed (200)")
    parser.add_argument("--workers", type=int, default=8, help="threads filling the registry")
    parser.add_argument("--users", type=int, default=200, help="distinct users listing (200)")
    parser.add_argument("--user-concurrency", type=int, default=4, help="users at a time (4)")
    parser.add_argument("--memory-repos", type=int, default=100_000)
    parser.add_argument(
        "--memory-manifests", type=int, default=10_000, help="manifests (each with a config)"
    )
    parser.add_argument(
        "--gateway-code", help="memory part: run the gateway from this tree (e.g. an export)"
    )
    parser.add_argument(
        "--baseline-code",
        help="load part: also serve each page from the gateway of this tree (another "
        "checkout), measured in the same run; the table gains its req/s and the ratio",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the load table: cProfile the gateway on each warm page (16 connections)",
    )
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and wrk")
    parser.add_argument("--out", default="bench/results/load.md", help="Markdown report path")
    parser.add_argument("--fail-on-miss", action="store_true", help="exit 1 on a missed target")
    args = parser.parse_args(argv)
    if not args.skip_load and shutil.which("wrk") is None:
        print(
            "bench_load.py: wrk is not installed; install it (Debian/Ubuntu: "
            "apt-get update && apt-get install -y wrk), or pass --skip-load",
            file=sys.stderr,
        )
        return 2
    if args.memory_manifests < 100 or args.memory_manifests % 100:
        parser.error("--memory-manifests must be a multiple of 100")
    cpus = None if args.no_pin else _cpu_split()
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    load = mem = None
    with tempfile.TemporaryDirectory(prefix="lr-load-", dir=base) as tmp:
        if not args.skip_load:
            print("load part", flush=True)
            load = load_part(args, Path(tmp), cpus)
        if not args.skip_memory:
            print("memory part", flush=True)
            mem = memory_part(args, Path(tmp), cpus[0] if cpus else None)
    text, ok = render(args, load, mem)
    write_report(text, args.out)
    return 1 if args.fail_on_miss and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
