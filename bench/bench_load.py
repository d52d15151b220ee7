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

Internal modes, used by the benchmark itself: ``serve`` (a gateway or bare app under
uvicorn) and ``standin`` (the stand-in registry). Everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from bench.report import git_describe, verdict, write_report  # noqa: E402
from bench.wrk import WrkResult, connection_counts, parse_wrk  # noqa: E402

RATIO_TARGET = 0.5  # gateway req/s >= 0.5 x bare
RSS_TARGET_MB = 200.0
CPU_TARGET = 3.0  # the gateway's CPU per warm request, against the bare endpoint's
CATALOG_RSS_TARGET_MB = 100.0
USERS_TARGET_MB = 50.0
LOOP, HTTP = "uvloop", "httptools"  # the same for both servers (uvicorn's "auto" picks these)
REPO_PAGE = 100
DETAIL_TAGS = 50
PASSWORD_SALT = "bench-pw-"

# -- servers in subprocesses ------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env(extra_path: str | None = None) -> dict[str, str]:
    # LR_* settings of the caller's shell must not leak into the servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LR_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(ROOT)) if p)
    env["PYTHONHASHSEED"] = "0"
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def hwm_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for pid {pid}")


def _affinity(cpus: set[int] | None) -> Any:
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def start_server(
    name: str,
    args: list[str],
    logdir: Path,
    *,
    cpus: set[int] | None = None,
    code_root: str | None = None,
    ready_path: str = "/",
    timeout: float = 30.0,
) -> Server:
    port = free_port()
    log = logdir / f"{name}.log"
    handle = log.open("ab")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(Path(__file__).resolve()), *args, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=_child_env(code_root),
        cwd=code_root or str(ROOT),
        preexec_fn=_affinity(cpus),  # noqa: PLW1509 - only sched_setaffinity
    )
    handle.close()
    server = Server(name, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                client.get(server.url + ready_path)
                return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{name} did not start: {log.read_text(errors='replace')}")
            time.sleep(0.05)


def _uvicorn_run(app: Any, port: int) -> None:
    """The one uvicorn configuration both the gateway and the bare app are served with."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop=LOOP,
        http=HTTP,
        log_config=None,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_load.py serve")
    parser.add_argument("--app", choices=("gateway", "bare"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--registry", help="the gateway's registry URL")
    parser.add_argument("--bodies", help="bare: JSON file {path?query: body}")
    parser.add_argument("--profile", help="gateway: write cProfile stats here on exit")
    args = parser.parse_args(argv)
    app: Any
    if args.app == "bare":
        bodies = {
            k: v.encode() for k, v in json.loads(Path(args.bodies).read_text("utf-8")).items()
        }
        app = FastAPI()

        @app.get("/{path:path}")
        async def bare(request: Request) -> Response:  # noqa: ARG001
            key = request.url.path + ("?" + request.url.query if request.url.query else "")
            body = bodies.get(key)
            if body is None:
                return Response(b'{"error":"unknown"}', status_code=404)
            return Response(body, media_type="application/json")

    else:
        from gateway.main import create_app
        from gateway.settings import Settings

        settings = Settings(
            _env_file=None,
            registry_url=args.registry,
            cache_ttl=3600.0,
            access_ttl=3600.0,
            log_level="warning",
        )
        app = create_app(settings)
    if args.profile:
        import cProfile

        # uvicorn re-raises the SIGTERM it handled once it has shut down: with the
        # default handler that would end the process before the stats are written.
        signal.signal(signal.SIGTERM, lambda *_: None)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            _uvicorn_run(app, args.port)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        _uvicorn_run(app, args.port)
    return 0


# -- the stand-in registry (memory part) ---------------------------------------------------


def standin_names(n: int) -> list[str]:
    return sorted(f"org{i % 97:02d}/svc-{i:06d}" for i in range(n))


def standin_user(i: int) -> tuple[str, str]:
    return f"user-{i:03d}", f"{PASSWORD_SALT}{i:03d}"


def standin_app(n_repos: int, big: int, tags: int) -> Any:
    """A raw ASGI app playing a registry: Basic auth (user-NNN / bench-pw-NNN), a paged
    catalog with distribution's relative ``Link``, tag lists (``tags`` tags for the first
    ``big`` repositories, one for the others), manifests and configs by tag or digest."""
    from tests.support.images import (
        OCI_CONFIG,
        OCI_LAYER,
        OCI_MANIFEST,
        _manifest,
        make_config,
        sha256_digest,
    )

    names = standin_names(n_repos)
    big_names = set(names[:big])
    docs: dict[str, tuple[bytes, str]] = {}  # digest -> (body, media type)
    by_tag: dict[tuple[str, str], str] = {}

    def tag_list(name: str) -> list[str]:
        return [f"1.0.{i}" for i in range(tags)] if name in big_names else ["1.0.0"]

    def image(name: str, tag: str) -> str:
        key = (name, tag)
        digest = by_tag.get(key)
        if digest is not None:
            return digest
        seed = hashlib.sha256(f"{name}:{tag}".encode()).hexdigest()
        layers = [
            ("sha256:" + hashlib.sha256(f"{seed}/layer".encode()).hexdigest(), OCI_LAYER, 300)
        ]
        config = make_config(
            os="linux",
            architecture="amd64",
            variant=None,
            created="2024-05-01T10:00:00Z",
            diff_ids=["sha256:" + hashlib.sha256(f"{seed}/diff".encode()).hexdigest()],
            env=None,
            labels={"org.opencontainers.image.source": f"https://example.invalid/{name}"},
            cmd=["/app/run"],
            entrypoint=None,
            exposed_ports=None,
            empty_history=1,
        )
        manifest = _manifest(OCI_MANIFEST, OCI_CONFIG, config, layers)
        docs[sha256_digest(config)] = (config, OCI_CONFIG)
        digest = sha256_digest(manifest)
        docs[digest] = (manifest, OCI_MANIFEST)
        by_tag[key] = digest
        return digest

    valid = {
        "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode(): u
        for u, p in (standin_user(i) for i in range(1000))
    }
    pages: dict[tuple[str, int], tuple[bytes, str | None]] = {}

    def catalog_page(last: str, n: int) -> tuple[bytes, str | None]:
        cached = pages.get((last, n))
        if cached is None:
            start = bisect.bisect_right(names, last) if last else 0
            page = names[start : start + n]
            link = None
            if start + n < len(names):
                link = f'</v2/_catalog?last={quote(page[-1], safe="")}&n={n}>; rel="next"'
            cached = pages[(last, n)] = (json.dumps({"repositories": page}).encode(), link)
        return cached

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        method, path = scope["method"], scope["path"]

        async def answer(status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
            out = [(b"content-length", str(len(body)).encode()), *extra]
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

        if valid.get(headers.get(b"authorization", b"").decode()) is None:
            await answer(401, b"{}", [(b"www-authenticate", b'Basic realm="bench"')])
            return
        json_type = [(b"content-type", b"application/json")]
        if path == "/v2/":
            await answer(200, b"{}", json_type)
            return
        if path == "/v2/_catalog":
            query = parse_qs(scope["query_string"].decode())
            n = min(int(query.get("n", ["100"])[0]), 1000)
            body, link = catalog_page(query.get("last", [""])[0], n)
            extra = json_type + ([(b"link", link.encode())] if link else [])
            await answer(200, body, extra)
            return
        name, sep, rest = path.removeprefix("/v2/").rpartition("/manifests/")
        if sep:
            if rest.startswith("sha256:"):
                digest = rest
            else:
                digest = image(name, rest) if rest in tag_list(name) else ""
            doc = docs.get(digest)
            if doc is None:
                unknown = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}'
                await answer(404, unknown, json_type)
                return
            body, media_type = doc
            await answer(
                200,
                body,
                [
                    (b"content-type", media_type.encode()),
                    (b"docker-content-digest", digest.encode()),
                ],
            )
            return
        name, sep, rest = path.removeprefix("/v2/").rpartition("/blobs/")
        if sep and rest in docs:
            body, _ = docs[rest]
            await answer(
                200,
                body,
                [
                    (b"content-type", b"application/octet-stream"),
                    (b"docker-content-digest", rest.encode()),
                ],
            )
            return
        if path.endswith("/tags/list"):
            name = path.removeprefix("/v2/").removesuffix("/tags/list")
            body = json.dumps({"name": name, "tags": tag_list(name)}).encode()
            await answer(200, body, json_type)
            return
        await answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}', json_type)

    return app


def standin_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_load.py standin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--big", type=int, default=100)
    parser.add_argument("--tags", type=int, default=100)
    args = parser.parse_args(argv)
    _uvicorn_run(standin_app(args.repos, args.big, args.tags), args.port)
    return 0


# -- wrk ---------------------------------------------------------------------------------


def run_wrk(url: str, connections: int, seconds: float, cpus: set[int] | None) -> WrkResult:
    threads = max(1, min(connections, len(cpus) if cpus else 1))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        url,
    ]
    out = subprocess.run(  # noqa: S603 - fixed argv
        cmd,
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
        preexec_fn=_affinity(cpus),  # noqa: PLW1509
    ).stdout
    return parse_wrk(out)


# -- the load part -----------------------------------------------------------------------


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
        return _metric_sum(client.get(server.url + "/metrics").text, "lr_upstream_requests_total")


def load_part(
    args: argparse.Namespace, tmp: Path, cpus: tuple[set[int], set[int]] | None
) -> LoadReport:
    from bench.bench_read import fill
    from tests.support.registry import start_registry

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
                for server in (gateway, bare):
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


def _metric_sum(text: str, name: str, label: str | None = None) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (label is None or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


# -- the memory part ---------------------------------------------------------------------


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


def _basic(i: int) -> dict[str, str]:
    user, password = standin_user(i)
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


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
            first = client.get(f"/api/repositories?n={REPO_PAGE}", headers=_basic(0))
            first.raise_for_status()
            if first.json()["total"] != args.memory_repos:
                raise RuntimeError(f"catalog total {first.json()['total']} != {args.memory_repos}")
            mem.rss_catalog = _settled_rss(gateway)
            print(f"  one user, the catalog: RSS {mem.rss_catalog:.1f} MB", flush=True)

            def details(name: str) -> None:
                r = client.get(
                    f"/api/repositories/{name}/tags?details=true&n={tags}", headers=_basic(0)
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
                r = client.get(f"/api/repositories?n={REPO_PAGE}", headers=_basic(i))
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
        mem.content_entries = _metric_sum(metrics, "lr_cache_entries", 'cache="content"')
        mem.content_bytes = _metric_sum(metrics, "lr_cache_bytes", 'cache="content"')
        mem.catalog_entries = _metric_sum(metrics, "lr_cache_entries", 'cache="catalog"')
        mem.tag_entries = _metric_sum(metrics, "lr_cache_entries", 'cache="tags"')
    return mem


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
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    if argv and argv[0] == "standin":
        return standin_main(argv[1:])
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
