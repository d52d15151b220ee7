"""Scale benchmark: the cold catalog walk and cold detail rows against a raw client, a
10,000-tag repository, and search over a 100,000-repository catalog.

    python bench/bench_scale.py [--repos 100000] [--detail-repos 20] [--runs 3]
                                [--big-tags 10000] [--searches 200]
                                [--out bench/results/scale-latest.md]

The registry is the stand-in of ``bench/standin.py`` (an ASGI app in a subprocess serving a
paged ``_catalog`` with ``Link`` headers, tag lists, and small manifests and configs the
gateway verifies by digest, behind Basic auth): filling a real registry with 100,000
repositories or a 10,000-tag repository over the v2 API takes far too long. Gateways
run as ``python bench/servers.py serve`` subprocesses (uvicorn, one worker), so their
CPU time is read from ``/proc/<pid>/stat``; the raw client runs in this process and its
CPU is ``time.process_time()``. Everything runs on 127.0.0.1 and is stopped by PID.

1. **Cold catalog walk**: a fresh gateway answers its first ``/api/repositories?n=100``,
   which walks the whole catalog (1,000 names a page); against a raw ``httpx`` walk of
   the same pages. Targets: gateway CPU <= 1.25x the raw client's; wall time (the
   answer's, against the raw walk's) <= 1.0x (issue 19).
2. **Cold detail rows**: that gateway then answers ``tags?details=true&n=100`` for
   ``--detail-repos`` repositories of 100 tags, 4 at a time (every manifest and config
   fetched and verified); against a raw client fetching the same tag lists, manifests
   and configs, 16 at a time. Targets: <= 2 ms of gateway CPU per image; <= 1.0x the raw
   client's CPU per image (issue 19).
3. **A 10,000-tag repository**: a fresh gateway answers one image detail (target: within
   the request deadline, <= 10 upstream requests beyond the image's own manifest and
   config, ``tags_complete`` false), then ``sort=created`` (flagged partial), then again
   once the background tag index is built (complete).
4. **Search**: with the catalog cached, ``/api/repositories?q=…`` with distinct queries
   (each a scan) and one query repeated. Target: <= 2 ms of gateway CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.report import git_describe, verdict, write_report  # noqa: E402
from bench.servers import Server, process_cpu, start_server  # noqa: E402
from bench.standin import standin_basic, standin_names  # noqa: E402
from gateway.models import media_types as mt  # noqa: E402

CATALOG_TARGET = 1.25
CATALOG_WALL_TARGET = 1.0
DETAIL_RATIO_TARGET = 1.0
DETAIL_CPU_TARGET_MS = 2.0
SEARCH_CPU_TARGET_MS = 2.0
BEYOND_OWN_TARGET = 10
DETAIL_TAGS = 100


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("nan")


@dataclass
class Figures:
    catalog_gateway: list[float] = field(default_factory=list)
    catalog_raw: list[float] = field(default_factory=list)
    catalog_gateway_wall: list[float] = field(default_factory=list)
    catalog_raw_wall: list[float] = field(default_factory=list)
    detail_gateway_ms: list[float] = field(default_factory=list)
    detail_raw_ms: list[float] = field(default_factory=list)
    detail_upstream: list[float] = field(default_factory=list)
    search_warm_ms: float = 0.0
    search_bare_ms: float = 0.0
    search_new_ms: float = 0.0
    search_scan_ms: float = 0.0
    big: dict[str, Any] = field(default_factory=dict)


def gateway(standin: Server, tmp: Path, name: str, profile: str | None = None) -> Server:
    extra = ["--profile", profile] if profile else []
    return start_server(
        name,
        ["serve", "--app", "gateway", "--registry", standin.url, *extra],
        tmp,
        ready_path="/api/health/live",
    )


# -- raw baselines -----------------------------------------------------------------------


async def raw_walk(url: str, auth: dict[str, str], counted: int = 100) -> int:
    """What the gateway's first repositories page needs: every catalog page, then the
    tag lists of the page's ``counted`` names (their tag counts), 16 at a time."""
    names: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=auth, trust_env=False, timeout=60) as c:
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            r = await c.get(path)
            r.raise_for_status()
            names += r.json()["repositories"]
            link = r.headers.get("link")
            path = link.split(";", 1)[0].strip("<> ") if link else None
        gate = asyncio.Semaphore(16)

        async def count(name: str) -> int:
            async with gate:
                return len((await c.get(f"/v2/{name}/tags/list")).json()["tags"])

        await asyncio.gather(*(count(n) for n in sorted(names)[:counted]))
    return len(names)


async def raw_details(url: str, auth: dict[str, str], repos: list[str]) -> int:
    gate = asyncio.Semaphore(16)
    accept = {"Accept": mt.MANIFEST_ACCEPT}
    images = 0
    async with httpx.AsyncClient(base_url=url, headers=auth, trust_env=False, timeout=60) as c:

        async def one(repo: str, tag: str) -> None:
            async with gate:
                m = await c.get(f"/v2/{repo}/manifests/{tag}", headers=accept)
                m.raise_for_status()
                config = m.json()["config"]["digest"]
                b = await c.get(f"/v2/{repo}/blobs/{config}")
                b.raise_for_status()

        for repo in repos:
            tags = (await c.get(f"/v2/{repo}/tags/list")).json()["tags"]
            await asyncio.gather(*(one(repo, t) for t in tags))
            images += len(tags)
    return images


# -- the parts ---------------------------------------------------------------------------


def catalog_and_details(args: argparse.Namespace, tmp: Path, fig: Figures) -> None:
    auth = standin_basic(0)
    with ExitStack() as stack:
        standin = start_server(
            "standin",
            [
                "standin",
                "--repos",
                str(args.repos),
                "--big",
                str(args.detail_repos),
                "--tags",
                str(DETAIL_TAGS),
            ],
            tmp,
        )
        stack.callback(standin.stop)
        names = standin_names(args.repos)
        detail_repos = names[: args.detail_repos]
        asyncio.run(raw_walk(standin.url, auth))  # warms the stand-in's page cache
        asyncio.run(raw_details(standin.url, auth, detail_repos[:1]))
        for run in range(args.runs):
            started, wall = time.process_time(), time.perf_counter()
            walked = asyncio.run(raw_walk(standin.url, auth))
            fig.catalog_raw.append(time.process_time() - started)
            fig.catalog_raw_wall.append(time.perf_counter() - wall)
            if walked != args.repos:
                raise RuntimeError(f"raw walk: {walked} names")
            started = time.process_time()
            images = asyncio.run(raw_details(standin.url, auth, detail_repos))
            fig.detail_raw_ms.append((time.process_time() - started) * 1000 / images)

            profile = f"{args.profile}.{run}" if args.profile else None
            gw = gateway(standin, tmp, f"gateway-scale-{run}", profile)
            try:
                with httpx.Client(base_url=gw.url, headers=auth, trust_env=False, timeout=600) as c:
                    # One small call first: the first request's one-time costs (lazy
                    # imports, the upstream pool) are not the walk's.
                    c.get(f"/api/repositories/{names[-1]}/tags").raise_for_status()
                    before, wall = process_cpu(gw.pid), time.perf_counter()
                    r = c.get("/api/repositories?n=100")
                    r.raise_for_status()
                    fig.catalog_gateway_wall.append(time.perf_counter() - wall)
                    fig.catalog_gateway.append(process_cpu(gw.pid) - before)
                    if r.json()["total"] != args.repos:
                        raise RuntimeError(f"gateway total {r.json()['total']}")
                    upstream = 0

                    def details(repo: str) -> int:
                        page = c.get(f"/api/repositories/{repo}/tags?details=true&n={DETAIL_TAGS}")
                        page.raise_for_status()
                        rows = page.json()["tags"]
                        if len(rows) != DETAIL_TAGS or any(row["error"] for row in rows):
                            raise RuntimeError(f"{repo}: rows in error")
                        return int(page.headers["x-upstream-requests"])

                    before = process_cpu(gw.pid)
                    from concurrent.futures import ThreadPoolExecutor

                    with ThreadPoolExecutor(4) as pool:
                        upstream = sum(pool.map(details, detail_repos))
                    spent = process_cpu(gw.pid) - before
                    fig.detail_gateway_ms.append(spent * 1000 / (len(detail_repos) * DETAIL_TAGS))
                    fig.detail_upstream.append(upstream)
                    if run == 0:
                        search(c, gw, names, args.searches, fig)
            finally:
                gw.stop()
            print(
                f"  run {run + 1}: catalog CPU gateway {fig.catalog_gateway[-1]:.3f} s, raw "
                f"{fig.catalog_raw[-1]:.3f} s; wall gateway {fig.catalog_gateway_wall[-1]:.3f} s, "
                f"raw {fig.catalog_raw_wall[-1]:.3f} s; detail CPU/image gateway "
                f"{fig.detail_gateway_ms[-1]:.2f} ms, raw {fig.detail_raw_ms[-1]:.2f} ms",
                flush=True,
            )


def search(c: httpx.Client, gw: Server, names: list[str], count: int, fig: Figures) -> None:
    """Warm search calls: each query asked once (its page's tag counts fetched, its
    matches remembered), then again with another page size (no kept answer: the page is
    built again, from what is cached). And, in this process, NameSearch over the same
    names with needles it has not seen (the search itself, nothing remembered)."""
    from gateway.services.name_search import NameSearch
    from gateway.shared_lists import ListInterner

    rng = random.Random(7)
    queries = sorted({rng.choice(names)[-7:] for _ in range(count * 2)})[:count]
    for q in queries:
        c.get("/api/repositories", params={"q": q, "n": 20}).raise_for_status()
    before = process_cpu(gw.pid)
    for q in queries:
        c.get("/api/repositories", params={"q": q, "n": 21}).raise_for_status()
    fig.search_warm_ms = (process_cpu(gw.pid) - before) * 1000 / len(queries)
    before = process_cpu(gw.pid)
    for _ in range(len(queries)):
        c.get("/api/health/live").raise_for_status()
    fig.search_bare_ms = (process_cpu(gw.pid) - before) * 1000 / len(queries)
    catalog = ListInterner().intern(sorted(names))
    finder = NameSearch()
    finder.find(catalog, "warm-up")  # builds the joined text once per catalog
    fresh = sorted({rng.choice(names)[-6:] for _ in range(count * 2)} - set(queries))[:count]
    started = time.process_time()
    for q in fresh:
        finder.find(catalog, q)
    fig.search_new_ms = (time.process_time() - started) * 1000 / len(fresh)
    started = time.process_time()
    for q in fresh:
        [n for n in catalog if q in n]  # noqa: B018 - the per-name test, for comparison
    fig.search_scan_ms = (time.process_time() - started) * 1000 / len(fresh)


def big_repository(args: argparse.Namespace, tmp: Path, fig: Figures) -> None:
    auth = standin_basic(0)
    with ExitStack() as stack:
        standin = start_server(
            "standin-big",
            ["standin", "--repos", "1", "--big", "1", "--tags", str(args.big_tags)],
            tmp,
        )
        stack.callback(standin.stop)
        gw = gateway(standin, tmp, "gateway-big")
        stack.callback(gw.stop)
        repo = standin_names(1)[0]
        tag = f"1.0.{args.big_tags // 2}"
        with httpx.Client(base_url=gw.url, headers=auth, trust_env=False, timeout=600) as c:
            started = time.perf_counter()
            r = c.get(f"/api/repositories/{repo}/images/{tag}")
            fig.big["first_status"] = r.status_code
            fig.big["first_s"] = time.perf_counter() - started
            fig.big["first_upstream"] = int(r.headers.get("x-upstream-requests", "-1"))
            body = r.json()
            fig.big["first_complete"] = body.get("tags_complete")
            fig.big["first_tags"] = len(body.get("tags") or [])
            started = time.perf_counter()
            page = c.get(f"/api/repositories/{repo}/tags?sort=created&n=50")
            fig.big["created_status"] = page.status_code
            fig.big["created_s"] = time.perf_counter() - started
            fig.big["created_complete"] = page.json().get("complete")
            started = time.perf_counter()
            while time.perf_counter() - started < args.index_timeout:
                time.sleep(1.0)
                again = c.get(f"/api/repositories/{repo}/images/{tag}")
                if again.json().get("tags_complete"):
                    break
            fig.big["index_s"] = time.perf_counter() - started
            fig.big["later_complete"] = again.json().get("tags_complete")
            fig.big["later_tags"] = len(again.json().get("tags") or [])
            page = c.get(f"/api/repositories/{repo}/tags?sort=created&n=50")
            fig.big["created_later_complete"] = page.json().get("complete")
            fig.big["created_later_upstream"] = int(page.headers.get("x-upstream-requests", "-1"))
    print(f"  10,000-tag repository: {fig.big}", flush=True)


# -- report ------------------------------------------------------------------------------


def _ratio(value: float, baseline: float) -> str:
    """value/baseline, or n/a when the baseline's CPU was below the clock's tick."""
    return f"{value / baseline:.1f}×" if baseline > 0 else "n/a"


def render(args: argparse.Namespace, fig: Figures) -> tuple[str, bool]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cat_g, cat_r = median(fig.catalog_gateway), median(fig.catalog_raw)
    det_g, det_r = median(fig.detail_gateway_ms), median(fig.detail_raw_ms)
    cat_ratio = cat_g / cat_r
    ok_cat = cat_ratio <= CATALOG_TARGET
    ok_det = det_g <= DETAIL_CPU_TARGET_MS
    wall_g, wall_r = median(fig.catalog_gateway_wall), median(fig.catalog_raw_wall)
    wall_ratio = wall_g / wall_r
    ok_wall = wall_ratio <= CATALOG_WALL_TARGET
    ok_det_ratio = det_g / det_r <= DETAIL_RATIO_TARGET
    ok_search = fig.search_warm_ms <= SEARCH_CPU_TARGET_MS
    big = fig.big
    beyond = big["first_upstream"] - 2  # the image's own manifest and config
    ok_big = (
        big["first_status"] == 200
        and beyond <= BEYOND_OWN_TARGET
        and big["first_complete"] is False
        and big["created_complete"] is False
        and big["later_complete"] is True
        and big["created_later_complete"] is True
    )
    # A manifest and a config per tag: the tag lists were read by the repositories page.
    minimum = 2 * DETAIL_TAGS
    lines = [
        "# Light Registry scale benchmark",
        "",
        f"- {now}, commit {git_describe()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        f"- a stand-in registry on 127.0.0.1 ({args.repos:,} repositories; "
        f"{args.detail_repos} of {DETAIL_TAGS} tags; a second one with one repository of "
        f"{args.big_tags:,} tags); medians of {args.runs} runs, each a fresh gateway process",
        "",
        "| figure | gateway | baseline | ratio | target | verdict |",
        "|---|---:|---:|---:|---|---|",
        f"| cold catalog walk, CPU | {cat_g:.3f} s | raw httpx walk {cat_r:.3f} s | "
        f"{cat_ratio:.2f}× | ≤ {CATALOG_TARGET}× | {verdict(ok_cat)} |",
        f"| cold catalog walk, wall time | {wall_g:.3f} s | raw httpx walk {wall_r:.3f} s | "
        f"{wall_ratio:.2f}× | ≤ {CATALOG_WALL_TARGET}× | {verdict(ok_wall)} |",
        f"| cold detail rows, CPU per image | {det_g:.2f} ms | raw client {det_r:.2f} ms | "
        f"{det_g / det_r:.2f}× | ≤ {DETAIL_CPU_TARGET_MS:g} ms; ≤ {DETAIL_RATIO_TARGET}× | "
        f"{verdict(ok_det)}; {verdict(ok_det_ratio)} |",
        f"| cold detail rows, upstream requests per repository | "
        f"{median(fig.detail_upstream) / args.detail_repos:.0f} | minimum {minimum} | "
        f"{median(fig.detail_upstream) / args.detail_repos / minimum:.2f}× | | |",
        f"| warm search over {args.repos:,} names, CPU per call | {fig.search_warm_ms:.2f} ms | "
        f"/api/health/live {fig.search_bare_ms:.2f} ms | "
        f"{_ratio(fig.search_warm_ms, fig.search_bare_ms)} | ≤ {SEARCH_CPU_TARGET_MS:g} ms | "
        f"{verdict(ok_search)} |",
        f"| a needle not searched before (NameSearch, in-process), CPU | "
        f"{fig.search_new_ms:.2f} ms | a test of each name {fig.search_scan_ms:.2f} ms | "
        f"{fig.search_new_ms / fig.search_scan_ms:.2f}× | | |",
        f"| {args.big_tags:,}-tag repository: first image detail | {big['first_s']:.2f} s, "
        f"{big['first_upstream']} upstream ({beyond} beyond its own 2), "
        f"tags_complete={big['first_complete']} ({big['first_tags']} tags known) | | | "
        f"≤ {BEYOND_OWN_TARGET} beyond, within the deadline | {verdict(ok_big)} |",
        f"| … then `sort=created`, first page | {big['created_s']:.2f} s, "
        f"complete={big['created_complete']} | | | flagged partial | |",
        f"| … index built in the background | {big['index_s']:.0f} s, then "
        f"tags_complete={big['later_complete']} ({big['later_tags']} tags), `sort=created` "
        f"complete={big['created_later_complete']} with {big['created_later_upstream']} "
        f"upstream | | | complete | |",
        "",
        "Samples: catalog gateway "
        + ", ".join(f"{v:.3f}" for v in fig.catalog_gateway)
        + " s; raw "
        + ", ".join(f"{v:.3f}" for v in fig.catalog_raw)
        + " s; catalog wall gateway "
        + ", ".join(f"{v:.3f}" for v in fig.catalog_gateway_wall)
        + " s; raw "
        + ", ".join(f"{v:.3f}" for v in fig.catalog_raw_wall)
        + " s; detail gateway "
        + ", ".join(f"{v:.2f}" for v in fig.detail_gateway_ms)
        + " ms; raw "
        + ", ".join(f"{v:.2f}" for v in fig.detail_raw_ms)
        + " ms.",
    ]
    everything = ok_cat and ok_wall and ok_det and ok_det_ratio and ok_search and ok_big
    return "\n".join(lines) + "\n", everything


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--detail-repos", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-tags", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--index-timeout", type=float, default=300.0)
    parser.add_argument("--profile", help="write each catalog gateway's cProfile stats here")
    parser.add_argument("--out", default="bench/results/scale-latest.md")
    parser.add_argument("--fail-on-miss", action="store_true")
    args = parser.parse_args(argv)
    fig = Figures()
    with tempfile.TemporaryDirectory(prefix="lr-bench-scale-") as tmp:
        print("catalog walk, detail rows and search", flush=True)
        catalog_and_details(args, Path(tmp), fig)
        print("a 10,000-tag repository", flush=True)
        big_repository(args, Path(tmp), fig)
    text, ok = render(args, fig)
    write_report(text, args.out)
    return 1 if args.fail_on_miss and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
