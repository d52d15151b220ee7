"""The load part of ``bench_load.py``: warm pages of a gateway in front of a real
registry, driven by ``wrk`` at several connection counts, against a bare FastAPI app
answering the very same bytes, in the same run (see bench_load.py's docstring)."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.servers import Server, metric_sum, process_cpu, start_server
from bench.wrk import WrkResult, run_wrk

REPO_PAGE = 100
DETAIL_TAGS = 50


@dataclass
class Page:
    label: str
    path: str
    body_bytes: int = 0


@dataclass
class LoadRow:
    page: str
    connections: int
    gateway: WrkResult
    bare: WrkResult
    gateway_cpu_ms: float = 0.0  # the server process's CPU per request answered
    bare_cpu_ms: float = 0.0
    # --baseline-code: the same gateway page served by another checkout, in the same run
    baseline: WrkResult | None = None
    baseline_cpu_ms: float = 0.0

    @property
    def vs_baseline(self) -> float:
        """This checkout's req/s against the baseline checkout's (> 1: faster)."""
        if self.baseline is None or not self.baseline.rps:
            return 0.0
        return self.gateway.rps / self.baseline.rps

    @property
    def ratio(self) -> float:
        return self.gateway.rps / self.bare.rps if self.bare.rps else 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.gateway_cpu_ms / self.bare_cpu_ms if self.bare_cpu_ms else 0.0


@dataclass
class LoadReport:
    rows: list[LoadRow] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    layout: str = ""
    pinning: str = ""
    profiles: list[str] = field(default_factory=list)


def warm(server: Server, pages: list[Page], rounds: int = 3) -> dict[str, str]:
    """Fill the gateway's caches; return each page's body. A warm call must make no
    upstream request."""
    bodies: dict[str, str] = {}
    with httpx.Client(base_url=server.url, trust_env=False, timeout=120.0) as client:
        for page in pages:
            for i in range(rounds):
                r = client.get(page.path)
                if r.status_code != 200:
                    raise RuntimeError(f"GET {page.path}: HTTP {r.status_code} {r.text[:300]}")
                upstream = r.headers.get("x-upstream-requests")
                if i == rounds - 1 and upstream != "0":
                    raise RuntimeError(f"GET {page.path} still made {upstream} upstream requests")
            bodies[page.path] = r.text
            page.body_bytes = len(r.content)
    return bodies


def _pages(layout: Any) -> list[Page]:
    return [
        Page(f"repositories n={REPO_PAGE}", f"/api/repositories?n={REPO_PAGE}"),
        Page(
            f"tags details, {layout.big_repo} ({DETAIL_TAGS} tags)",
            f"/api/repositories/{layout.big_repo}/tags?details=true&n={DETAIL_TAGS}",
        ),
        Page(
            f"image detail, {layout.multi_repo}:latest (2 platforms + 2 attestations)",
            f"/api/repositories/{layout.multi_repo}/images/latest",
        ),
    ]


def _upstream_total(server: Server) -> float:
    with httpx.Client(trust_env=False) as client:
        return metric_sum(client.get(server.url + "/metrics").text, "lr_upstream_requests_total")


def load_part(
    args: argparse.Namespace, tmp: Path, cpus: tuple[set[int], set[int]] | None
) -> LoadReport:
    from bench.bench_read import fill
    from harness.registry import start_registry

    report = LoadReport()
    server_cpus, wrk_cpus = cpus if cpus else (None, None)
    report.pinning = (
        f"servers on CPU {sorted(server_cpus)}, wrk on CPU {sorted(wrk_cpus)}"
        if server_cpus and wrk_cpus
        else "not pinned (one CPU)"
    )
    with ExitStack() as stack:
        registry = start_registry(tmp / "registry", delete_enabled=False, version="2.8")
        stack.callback(registry.stop)
        layout = fill(registry.url, args.repos, DETAIL_TAGS, args.workers)
        report.layout = (
            f"real distribution registry, {layout.repositories} repositories, {layout.tags} tags "
            f"({layout.indexes} on indexes), filled over the v2 API in {layout.seconds:.1f} s"
        )
        print(report.layout, flush=True)
        pages = report.pages = _pages(layout)
        if args.profile:
            report.profiles = [
                profile_page(page, registry.url, tmp, args, server_cpus, wrk_cpus) for page in pages
            ]
            return report
        gateway = start_server(
            "gateway",
            ["serve", "--app", "gateway", "--registry", registry.url],
            tmp,
            cpus=server_cpus,
            ready_path="/api/health/live",
        )
        stack.callback(gateway.stop)
        bodies = warm(gateway, pages)
        upstream_warm = _upstream_total(gateway)
        measured = [gateway]
        if args.baseline_code:
            baseline = start_server(
                "baseline",
                ["serve", "--app", "gateway", "--registry", registry.url],
                tmp,
                cpus=server_cpus,
                code_root=args.baseline_code,
                ready_path="/api/health/live",
            )
            stack.callback(baseline.stop)
            warm(baseline, pages)
            measured.append(baseline)
        bodies_file = tmp / "bodies.json"
        bodies_file.write_text(json.dumps(bodies), encoding="utf-8")
        bare = start_server(
            "bare", ["serve", "--app", "bare", "--bodies", str(bodies_file)], tmp, cpus=server_cpus
        )
        stack.callback(bare.stop)
        with httpx.Client(trust_env=False) as client:
            for page in pages:
                got = client.get(bare.url + page.path)
                if got.status_code != 200 or len(got.content) != page.body_bytes:
                    raise RuntimeError(f"bare {page.path}: {got.status_code}, {len(got.content)} B")
        for page in pages:
            for c in args.connections:
                results = {}
                cpu_ms = {}
                for server in (*measured, bare):
                    url = server.url + page.path
                    run_wrk(url, c, args.warmup, wrk_cpus)  # discarded
                    before = process_cpu(server.pid)
                    result = results[server.name] = run_wrk(url, c, args.duration, wrk_cpus)
                    spent = process_cpu(server.pid) - before
                    cpu_ms[server.name] = spent * 1000 / max(result.requests, 1)
                row = LoadRow(
                    page.label,
                    c,
                    results["gateway"],
                    results["bare"],
                    cpu_ms["gateway"],
                    cpu_ms["bare"],
                    results.get("baseline"),
                    cpu_ms.get("baseline", 0.0),
                )
                report.rows.append(row)
                print(
                    f"  {page.label}, c={c}: gateway {row.gateway.rps:.0f} req/s, "
                    f"bare {row.bare.rps:.0f} req/s ({row.ratio:.2f}x)",
                    flush=True,
                )
        # warm means warm: no upstream request during the runs
        upstream = _upstream_total(gateway) - upstream_warm
        report.layout += f"; upstream requests during the runs: {upstream:g}"
    return report


def profile_page(
    page: Page,
    registry_url: str,
    tmp: Path,
    args: argparse.Namespace,
    server_cpus: set[int] | None,
    wrk_cpus: set[int] | None,
) -> str:
    """The gateway under cProfile answering one warm page for --duration seconds at 16
    connections: the functions with the most own time, and the most cumulative."""
    import io
    import pstats

    stats_file = tmp / f"profile-{len(list(tmp.glob('profile-*')))}.pstats"
    gateway = start_server(
        "gateway-profile",
        ["serve", "--app", "gateway", "--registry", registry_url, "--profile", str(stats_file)],
        tmp,
        cpus=server_cpus,
        ready_path="/api/health/live",
    )
    try:
        warm(gateway, [page])
        result = run_wrk(gateway.url + page.path, 16, args.duration, wrk_cpus)
    finally:
        gateway.stop()
    out = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    text = (
        f"## {page.label}: {result.requests} requests under cProfile "
        f"({result.rps:.0f} req/s profiled)\n\n```\n{out.getvalue()}```\n"
    )
    print(text, flush=True)
    return text
