"""Read-path benchmark: the gateway (cold and warm) against a minimal raw v2 client.

    python bench/bench_read.py [--repos 500] [--tags 60] [--runs 7] [--out bench/results/latest.md]

Starts a real distribution registry (``/usr/bin/docker-registry``) in a temporary
directory (on /dev/shm when it exists), fills it over the v2 API with several threads,
then measures over real HTTP on 127.0.0.1:

- ``GET /api/repositories?n=100``;
- ``GET /api/repositories/{name}/tags?details=true&n=100`` for a repository of
  single-platform images and for one whose tags are mostly multi-platform indexes.

Each gateway sample is a real uvicorn server in a background thread. A *cold* sample is
a fresh app (empty caches, new upstream connection pool) answering its first call; the
*warm* sample is the next identical call on that same app. The *raw* baseline is a plain
``httpx.AsyncClient`` making the minimal upstream calls for the same answer, with the
same concurrency limit as the gateway (an ``asyncio.Semaphore``), a fresh client per
sample, and de-duplication by digest where one document serves several tags.

Every scenario starts with one discarded warm-up round (raw, cold and warm), then
``--runs`` rounds with raw and gateway samples interleaved; the table shows medians.
Everything started here (registry, servers) is stopped by handle before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402

from bench.report import git_describe, verdict, write_report  # noqa: E402
from gateway.main import create_app  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from harness.images import (  # noqa: E402
    ACCEPT_ALL,
    PushedImage,
    PushedIndex,
    Pusher,
    push_image,
    push_index,
    tag_existing,
)
from harness.registry import RegistryProcess, start_registry  # noqa: E402

PAGE = 100  # the page size every scenario asks for
CATALOG_PAGE = 1000  # what the raw client asks the catalog for (the registry's maximum)
COLD_RATIO_TARGET = 1.25  # cold <= 1.25 x raw
SPEEDUP_TARGET = 20.0  # warm >= 20 x faster than cold
BIG_REPOS = 5
SMALL_MULTI_REPOS = 20
ATTESTATION_TYPE = "attestation-manifest"


# -- filling the registry ---------------------------------------------------------------


@dataclass
class Layout:
    """What was pushed: names the scenarios use and counts for the report."""

    repositories: int = 0
    tags: int = 0
    indexes: int = 0  # tags that point at an index
    big_repo: str = ""
    multi_repo: str = ""
    multi_repo_indexes: int = 0
    seconds: float = 0.0
    workers: int = 0


Task = Callable[[Pusher], tuple[int, int]]  # -> (tags pushed, of which indexes)


def _created(i: int) -> str:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i)
    return base.strftime("%Y-%m-%dT%H:%M:%SZ")


def _big_chunk(repo: str, start: int, stop: int, versions: int) -> Task:
    """Single-platform images ``1.0.{i}`` (distinct configs); the newest two also get
    the aliases ``latest`` and ``stable``."""

    def run(p: Pusher) -> tuple[int, int]:
        pushed = 0
        for i in range(start, stop):
            image = push_image(p, repo, f"1.0.{i}", n_layers=1, created=_created(i))
            pushed += 1
            if i == versions - 1:
                tag_existing(p, repo, "latest", image)
                pushed += 1
            if i == versions - 2:
                tag_existing(p, repo, "stable", image)
                pushed += 1
        return pushed, 0

    return run


def _multi_index(p: Pusher, repo: str, tag: str, i: int, *, attest: bool) -> PushedIndex:
    children = [
        push_image(p, repo, None, architecture="amd64", n_layers=1, created=_created(i)),
        push_image(
            p, repo, None, architecture="arm64", variant="v8", n_layers=1, created=_created(i)
        ),
    ]
    return push_index(p, repo, tag, children, attest=attest)


def _multi_chunk(repo: str, start: int, stop: int, versions: int) -> Task:
    """Tags ``2.0.{i}``: every sixth a single-platform image, the others two-platform
    indexes (every other one with buildx-style attestations); ``latest`` on the newest."""

    def run(p: Pusher) -> tuple[int, int]:
        pushed = indexes = 0
        for i in range(start, stop):
            tag = f"2.0.{i}"
            item: PushedImage | PushedIndex
            if i % 6 == 5:
                item = push_image(p, repo, tag, n_layers=1, created=_created(i))
            else:
                item = _multi_index(p, repo, tag, i, attest=i % 2 == 0)
                indexes += 1
            pushed += 1
            if i == versions - 1:
                tag_existing(p, repo, "latest", item)
                pushed += 1
                indexes += isinstance(item, PushedIndex)
        return pushed, indexes

    return run


def _small_multi(repo: str, k: int) -> Task:
    def run(p: Pusher) -> tuple[int, int]:
        index = _multi_index(p, repo, "1.0", k, attest=k % 2 == 0)
        if k % 3 == 0:
            tag_existing(p, repo, "latest", index)
            return 2, 2
        return 1, 1

    return run


def _small(repo: str, i: int) -> Task:
    """1-3 single-platform images (every fourth repository in Docker schema 2)."""

    def run(p: Pusher) -> tuple[int, int]:
        count = 1 + i % 3
        for t in range(count):
            push_image(p, repo, f"0.{t}.0", oci=i % 4 != 0, n_layers=1, created=_created(i + t))
        return count, 0

    return run


def plan(n_repos: int, n_tags: int) -> tuple[list[Task], Layout]:
    """The push tasks, heaviest first, and the layout they produce.

    Every pushed image has its own layer and config: tasks for one repository run in
    parallel, and distribution 2.8 may answer ``MANIFEST_BLOB_UNKNOWN`` to a manifest
    whose blob another upload of the same digest is committing at that moment.
    """
    specials = BIG_REPOS + 1 + SMALL_MULTI_REPOS
    if n_repos < specials + 1:
        raise SystemExit(f"--repos must be at least {specials + 1}")
    if n_tags < 10:
        raise SystemExit("--tags must be at least 10")
    layout = Layout(repositories=n_repos)
    tasks: list[Task] = []
    chunk = 10

    big_versions = n_tags - 2  # plus latest and stable
    for k in range(BIG_REPOS):
        repo = f"big/service-{k}"
        for start in range(0, big_versions, chunk):
            tasks.append(_big_chunk(repo, start, min(start + chunk, big_versions), big_versions))
    layout.big_repo = "big/service-0"

    multi = "big/multiarch"
    multi_versions = n_tags - 1  # plus latest
    for start in range(0, multi_versions, chunk // 2):
        stop = min(start + chunk // 2, multi_versions)
        tasks.insert(0, _multi_chunk(multi, start, stop, multi_versions))
    layout.multi_repo = multi
    layout.multi_repo_indexes = sum(1 for i in range(multi_versions) if i % 6 != 5) + (
        (multi_versions - 1) % 6 != 5
    )

    for k in range(SMALL_MULTI_REPOS):
        tasks.append(_small_multi(f"multi/app-{k:02d}", k))
    for i in range(n_repos - specials):
        tasks.append(_small(f"team-{i % 8}/svc-{i:04d}", i))
    return tasks, layout


def fill(url: str, n_repos: int, n_tags: int, workers: int) -> Layout:
    tasks, layout = plan(n_repos, n_tags)
    local = threading.local()
    pushers: list[Pusher] = []
    lock = threading.Lock()

    def run(task: Task) -> tuple[int, int]:
        p = getattr(local, "pusher", None)
        if p is None:
            p = local.pusher = Pusher(url)
            with lock:
                pushers.append(p)
        return task(p)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fill") as pool:
            for tags, indexes in pool.map(run, tasks):
                layout.tags += tags
                layout.indexes += indexes
    finally:
        for p in pushers:
            p.close()
    layout.seconds = time.perf_counter() - started
    layout.workers = workers
    return layout


# -- the gateway as a real server --------------------------------------------------------


class GatewayServer:
    """One app (fresh caches) served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            proxy_headers=False,
            server_header=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the gateway server exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the gateway server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=15)
        self.sock.close()

    @property
    def upstream_total(self) -> int:
        return int(self.app.state.lr.client.totals.requests)


@contextmanager
def gateway(settings: Settings) -> Iterator[tuple[GatewayServer, httpx.Client]]:
    server = GatewayServer(settings)
    server.start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=60.0) as client:
            # Warm the process and the client connection, not the caches: this route
            # makes no upstream call.
            client.get("/api/no-such-route")
            yield server, client
    finally:
        server.stop()


@dataclass
class Call:
    ms: float
    cpu_ms: float  # CPU time of this process (the server thread and the client)
    upstream: int  # from x-upstream-requests
    body: Any


def timed_get(server: GatewayServer, client: httpx.Client, path: str) -> Call:
    before = server.upstream_total
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(path)
    ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:300]}")
    header = response.headers.get("x-upstream-requests")
    if header is None or not header.isdigit():
        raise RuntimeError(f"GET {path}: no usable x-upstream-requests header")
    counted = server.upstream_total - before
    if counted != int(header):
        print(f"  note: {path}: header says {header} upstream requests, client counted {counted}")
    return Call(ms, cpu_ms, int(header), response.json())


# -- the raw baseline --------------------------------------------------------------------


@dataclass
class RawResult:
    ms: float
    cpu_ms: float
    requests: int
    answer: dict[str, Any]


class RawClient:
    """A plain async v2 client: each GET counted, at most ``limit`` in flight."""

    def __init__(self, base: str, limit: int) -> None:
        self.base = base
        self.http = httpx.AsyncClient(trust_env=False, timeout=60.0)
        self.sem = asyncio.Semaphore(limit)
        self.requests = 0

    async def get(self, path: str, *, accept: str | None = None) -> httpx.Response:
        headers = {"Accept": accept} if accept else None
        async with self.sem:
            self.requests += 1
            response = await self.http.get(self.base + path, headers=headers)
        response.raise_for_status()
        return response

    async def aclose(self) -> None:
        await self.http.aclose()


async def raw_repositories(base: str, limit: int) -> RawResult:
    """Walk the catalog (n=1000, following Link), then the first page's tag lists."""
    c = RawClient(base, limit)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        names: list[str] = []
        path: str | None = f"/v2/_catalog?n={CATALOG_PAGE}"
        while path:
            r = await c.get(path)
            names.extend(r.json().get("repositories") or [])
            link = r.links.get("next", {}).get("url")
            path = f"/v2/_catalog?{urlsplit(link).query}" if link else None
        page = sorted(set(names))[:PAGE]

        async def count(name: str) -> int:
            r = await c.get(f"/v2/{name}/tags/list")
            return len(r.json().get("tags") or [])

        counts = await asyncio.gather(*(count(name) for name in page))
        ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
        return RawResult(ms, cpu_ms, c.requests, dict(zip(page, counts, strict=True)))
    finally:
        await c.aclose()


async def raw_tag_details(base: str, repo: str, limit: int) -> RawResult:
    """Tag list, then per tag of the first page: its manifest; for an index, the child
    manifests; the config of every image (not of attestations, which need none). Each
    digest is fetched once."""
    c = RawClient(base, limit)
    manifests: dict[str, asyncio.Task[Any]] = {}
    configs: dict[str, asyncio.Task[Any]] = {}

    def once(
        cache: dict[str, asyncio.Task[Any]], key: str, make: Callable[[], Awaitable[Any]]
    ) -> asyncio.Task[Any]:
        task = cache.get(key)
        if task is None:
            task = cache[key] = asyncio.ensure_future(make())
        return task

    async def fetch_json(path: str, accept: str | None = None) -> Any:
        return (await c.get(path, accept=accept)).json()

    def manifest(digest: str) -> asyncio.Task[Any]:
        return once(
            manifests,
            digest,
            lambda: fetch_json(f"/v2/{repo}/manifests/{digest}", ACCEPT_ALL),
        )

    def config(digest: str) -> asyncio.Task[Any]:
        return once(configs, digest, lambda: fetch_json(f"/v2/{repo}/blobs/{digest}"))

    async def image(doc: dict[str, Any], body_size: int) -> tuple[int, str | None]:
        cfg = await config(doc["config"]["digest"])
        size = body_size + doc["config"]["size"] + sum(x["size"] for x in doc["layers"])
        return size, cfg.get("created")

    async def child(d: dict[str, Any]) -> tuple[int, str | None, str | None]:
        doc = await manifest(d["digest"])
        if d.get("annotations", {}).get("vnd.docker.reference.type") == ATTESTATION_TYPE:
            size = d["size"] + doc["config"]["size"] + sum(x["size"] for x in doc["layers"])
            return size, None, None
        size, created = await image(doc, d["size"])
        p = d.get("platform") or {}
        label = "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
        return size, created, label

    async def row(tag: str) -> dict[str, Any]:
        r = await c.get(f"/v2/{repo}/manifests/{tag}", accept=ACCEPT_ALL)
        digest = r.headers["docker-content-digest"]
        doc = r.json()
        if "manifests" in doc:
            parts = await asyncio.gather(*(child(d) for d in doc["manifests"]))
            size = len(r.content) + sum(s for s, _, _ in parts)
            created = max((x for _, x, _ in parts if x), default=None)
            platforms = [label for _, _, label in parts if label]
            kind = "index"
        else:
            size, created = await image(doc, len(r.content))
            platforms, kind = [], "image"
        return {
            "digest": digest,
            "kind": kind,
            "size": size,
            "created": created,
            "platforms": platforms,
        }

    try:
        started, cpu = time.perf_counter(), time.process_time()
        r = await c.get(f"/v2/{repo}/tags/list")
        tags = sorted(r.json().get("tags") or [])[:PAGE]
        rows = await asyncio.gather(*(row(t) for t in tags))
        ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
        return RawResult(ms, cpu_ms, c.requests, dict(zip(tags, rows, strict=True)))
    finally:
        await c.aclose()


# -- scenarios ---------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    path: str
    raw: Callable[[], Coroutine[Any, Any, RawResult]]
    check: Callable[[Any, dict[str, Any]], list[str]]


@dataclass
class Result:
    name: str
    raw_ms: list[float] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)
    raw_cpu: list[float] = field(default_factory=list)
    cold_cpu: list[float] = field(default_factory=list)
    warm_cpu: list[float] = field(default_factory=list)
    raw_requests: list[int] = field(default_factory=list)
    cold_requests: list[int] = field(default_factory=list)
    warm_requests: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check_repositories(body: Any, raw: dict[str, Any]) -> list[str]:
    rows = body.get("repositories") or []
    got = {r["name"]: r.get("tag_count") for r in rows}
    if got != raw:
        diff = [n for n in set(got) | set(raw) if got.get(n) != raw.get(n)]
        return [f"repository page differs from the raw answer for {sorted(diff)[:5]}"]
    return []


def check_tags(body: Any, raw: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    rows = {r["name"]: r for r in body.get("tags") or []}
    if sorted(rows) != sorted(raw):
        return [f"tag page names differ from the raw answer ({len(rows)} vs {len(raw)})"]
    for tag, want in raw.items():
        got = rows[tag]
        if got.get("error"):
            problems.append(f"{tag}: error {got['error'].get('code')}")
        elif got.get("digest") != want["digest"] or got.get("kind") != want["kind"]:
            problems.append(f"{tag}: digest or kind differs from the raw answer")
        elif got.get("size") != want["size"]:
            problems.append(f"{tag}: size {got.get('size')} != raw {want['size']}")
    return problems[:5]


def median(values: list[float] | list[int]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def measure(
    scenario: Scenario,
    settings: Settings,
    runner: asyncio.Runner,
    runs: int,
) -> Result:
    result = Result(scenario.name)
    for i in range(runs + 1):  # round 0 is a discarded warm-up
        raw = runner.run(scenario.raw())
        with gateway(settings) as (server, client):
            cold = timed_get(server, client, scenario.path)
            warm = timed_get(server, client, scenario.path)
        if i == 0:
            result.problems += scenario.check(cold.body, raw.answer)
            result.problems += [f"warm: {p}" for p in scenario.check(warm.body, raw.answer)]
            continue
        result.raw_ms.append(raw.ms)
        result.cold_ms.append(cold.ms)
        result.warm_ms.append(warm.ms)
        result.raw_cpu.append(raw.cpu_ms)
        result.cold_cpu.append(cold.cpu_ms)
        result.warm_cpu.append(warm.cpu_ms)
        result.raw_requests.append(raw.requests)
        result.cold_requests.append(cold.upstream)
        result.warm_requests.append(warm.upstream)
    return result


# -- report ------------------------------------------------------------------------------


def _fmt_ms(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def _fmt_count(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def report(
    results: list[Result], layout: Layout, settings: Settings, runs: int
) -> tuple[str, bool]:
    lines = [
        "# Light Registry read benchmark",
        "",
        f"- {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}, commit {git_describe()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs",
        f"- registry: distribution on 127.0.0.1, {layout.repositories} repositories, "
        f"{layout.tags} tags ({layout.indexes} on multi-platform indexes); "
        f"filled in {layout.seconds:.1f} s with {layout.workers} threads",
        f"- gateway: uvicorn in-process, upstream_concurrency={settings.upstream_concurrency}, "
        f"cache_ttl={settings.cache_ttl:g} s; raw baseline: httpx.AsyncClient with "
        f"Semaphore({settings.upstream_concurrency})",
        f"- medians of {runs} samples after one discarded warm-up round; cold = a new app "
        "(empty caches, new connection pool) per sample, warm = the next call on that app",
        "",
        "| scenario | raw baseline median ms | gateway cold median ms | gateway warm median ms "
        "| cold/raw ratio | cold/warm speed-up | upstream requests (raw / cold / warm) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    checks = [
        "",
        f"| scenario | cold ≤ {COLD_RATIO_TARGET:g}× raw | warm ≥ {SPEEDUP_TARGET:g}× faster "
        "than cold | warm makes 0 upstream requests | cold requests ≤ raw requests |",
        "|---|---|---|---|---|",
    ]
    all_ok = True
    for r in results:
        raw, cold, warm = median(r.raw_ms), median(r.cold_ms), median(r.warm_ms)
        ratio, speedup = cold / raw, cold / warm
        requests = (
            f"{_fmt_count(r.raw_requests)} / {_fmt_count(r.cold_requests)} / "
            f"{_fmt_count(r.warm_requests)}"
        )
        lines.append(
            f"| {r.name} | {_fmt_ms(raw)} | {_fmt_ms(cold)} | {_fmt_ms(warm)} | "
            f"{ratio:.2f} | {speedup:.0f}× | {requests} |"
        )
        ok_ratio = ratio <= COLD_RATIO_TARGET
        ok_speed = speedup >= SPEEDUP_TARGET
        ok_zero = max(r.warm_requests) == 0
        ok_count = max(r.cold_requests) <= min(r.raw_requests)
        all_ok = all_ok and ok_ratio and ok_speed and ok_zero and not r.problems
        checks.append(
            f"| {r.name} | {verdict(ok_ratio)} ({ratio:.2f}×) | {verdict(ok_speed)} "
            f"({speedup:.0f}×) | {verdict(ok_zero)} ({_fmt_count(r.warm_requests)}) | "
            f"{verdict(ok_count)} ({_fmt_count(r.cold_requests)} vs "
            f"{_fmt_count(r.raw_requests)}) |"
        )
    lines += checks
    lines += [
        "",
        "CPU time of the benchmark process per call (medians; less sensitive than wall time to "
        "other load on the machine; the gateway's includes its server thread and the client):",
        "",
        "| scenario | raw CPU ms | gateway cold CPU ms | gateway warm CPU ms | cold/raw CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        raw_cpu, cold_cpu, warm_cpu = median(r.raw_cpu), median(r.cold_cpu), median(r.warm_cpu)
        lines.append(
            f"| {r.name} | {_fmt_ms(raw_cpu)} | {_fmt_ms(cold_cpu)} | {_fmt_ms(warm_cpu)} | "
            f"{cold_cpu / raw_cpu:.2f} |"
        )
    lines += ["", "Samples (ms):", ""]
    for r in results:
        for label, values in (("raw", r.raw_ms), ("cold", r.cold_ms), ("warm", r.warm_ms)):
            joined = ", ".join(_fmt_ms(v) for v in values)
            lines.append(f"- {r.name}, {label}: {joined}")
    problems = [f"- {r.name}: {p}" for r in results for p in r.problems]
    if problems:
        lines += ["", "Answers that differ from the raw baseline:", "", *problems]
    return "\n".join(lines) + "\n", all_ok


# -- main --------------------------------------------------------------------------------


def temp_root() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=500, help="repositories to push (500)")
    parser.add_argument("--tags", type=int, default=60, help="tags of the big repositories (60)")
    parser.add_argument("--runs", type=int, default=7, help="samples per measurement (7)")
    parser.add_argument("--workers", type=int, default=8, help="threads filling the registry")
    parser.add_argument("--out", default="bench/results/latest.md", help="Markdown report path")
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="lr-bench-", dir=temp_root()) as tmp:
        registry: RegistryProcess = start_registry(
            Path(tmp) / "registry", delete_enabled=False, version="2.8"
        )
        try:
            print(f"registry {registry.url} (storage {tmp})", flush=True)
            layout = fill(registry.url, args.repos, args.tags, args.workers)
            print(
                f"filled {layout.repositories} repositories, {layout.tags} tags "
                f"({layout.indexes} on indexes) in {layout.seconds:.1f} s "
                f"with {layout.workers} threads",
                flush=True,
            )
            settings = Settings(
                _env_file=None, registry_url=registry.url, cache_ttl=300.0, log_level="warning"
            )
            limit = settings.upstream_concurrency
            base = registry.url
            scenarios = [
                Scenario(
                    f"repositories n={PAGE}",
                    f"/api/repositories?n={PAGE}",
                    lambda: raw_repositories(base, limit),
                    check_repositories,
                ),
                Scenario(
                    f"tags details n={PAGE}, {layout.big_repo} ({args.tags} images)",
                    f"/api/repositories/{quote(layout.big_repo)}/tags?details=true&n={PAGE}",
                    lambda: raw_tag_details(base, layout.big_repo, limit),
                    check_tags,
                ),
                Scenario(
                    f"tags details n={PAGE}, {layout.multi_repo} ({args.tags} tags, "
                    f"{layout.multi_repo_indexes} indexes)",
                    f"/api/repositories/{quote(layout.multi_repo)}/tags?details=true&n={PAGE}",
                    lambda: raw_tag_details(base, layout.multi_repo, limit),
                    check_tags,
                ),
            ]
            # the event loop uvicorn runs the gateway on (uvloop when installed)
            loop_factory = uvicorn.Config("gateway.main:create_app").get_loop_factory()
            results: list[Result] = []
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                for scenario in scenarios:
                    started = time.perf_counter()
                    results.append(measure(scenario, settings, runner, args.runs))
                    print(
                        f"measured {scenario.name} in {time.perf_counter() - started:.1f} s",
                        flush=True,
                    )
        finally:
            registry.stop()

    text, ok = report(results, layout, settings, args.runs)
    write_report(text, args.out)
    return 1 if args.fail_on_miss and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
