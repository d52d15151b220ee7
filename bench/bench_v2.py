"""The v2 API through the gateway against the registry itself: warm manifests and big blobs.

    python bench/bench_v2.py [--duration 5] [--connections 1,16] [--blob-mib 200]
                             [--rounds 7] [--out bench/results/v2-latest.md]

Starts a real distribution registry (``/usr/bin/docker-registry``) in a temporary
directory (on /dev/shm when it exists) and the gateway as a subprocess (``python -m
gateway`` with ``LR_V2_MODE=push``, ``LR_CACHE_TTL=300``, ``LR_ACCESS_TTL=300``, access
log off), both on 127.0.0.1, then measures in the same run:

- **warm manifest by digest**: ``GET /v2/<name>/manifests/<digest>`` with the four
  manifest types in ``Accept``, once the gateway has it cached. A few warm answers are
  checked (``x-upstream-requests: 0``, the registry's bytes and digest); then ``wrk
  --latency`` (one thread; 1 and 16 connections; a discarded 1 s run first) against the
  gateway and against the registry's own endpoint with the same headers. The gateway's
  ``lr_upstream_requests_total`` (``/metrics``) is read around the load runs: it must not
  move.
- **a 200 MiB blob**, pushed (``POST``, one streamed ``PATCH`` from a generator of 1 MiB
  chunks, ``PUT ?digest=``) and pulled (a streamed ``GET``, hashed as it arrives and
  checked), through the gateway and straight to the registry, with the same ``httpx``
  client code for both; a discarded warm-up round, then ``--rounds`` rounds alternating
  which target goes first. The gateway's RSS (``VmRSS``, and the peak ``VmHWM``, of
  ``/proc/<pid>/status``) is read before and after, and the CPU time of the client, the
  gateway and the registry is taken for every transfer.

Targets: a warm manifest makes 0 upstream requests; blob push and pull through the
gateway >= 0.5x the direct throughput (medians); the gateway's RSS grows by < 20 MiB
over the blob rounds. The manifest throughput ratio has no target; it is shown.

``--profile PATH`` runs the gateway under ``cProfile`` (``python -m cProfile -o PATH -m
gateway``) and writes its profile when it stops; the numbers are then slower than usual.
Everything started here is stopped by PID.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.report import verdict, write_report  # noqa: E402
from bench.wrk import WrkResult, connection_counts, parse_wrk  # noqa: E402
from harness.images import ACCEPT_ALL, Pusher, push_image  # noqa: E402
from harness.registry import RegistryProcess, free_port, start_registry  # noqa: E402

MiB = 1024 * 1024
CHUNK = MiB
REPO = "bench/app"
BLOB_REPO = "bench/blob"
BLOB_RATIO_TARGET = 0.5  # gateway >= 0.5x direct
RSS_GROWTH_TARGET_MIB = 20.0  # < 20 MiB
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes -----------------------------------------------------------------------------


def proc_status(pid: int, key: str) -> int:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def proc_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process (all its threads), ``/proc/<pid>/stat``."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


class Gateway:
    """``python -m gateway`` in a subprocess on 127.0.0.1 (optionally under cProfile)."""

    def __init__(self, registry_url: str, workdir: Path, profile: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gateway.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LR_")}
        env.update(
            PYTHONPATH=str(ROOT),
            LR_REGISTRY_URL=registry_url,
            LR_HOST="127.0.0.1",
            LR_PORT=str(self.port),
            LR_V2_MODE="push",
            LR_CACHE_TTL="300",
            LR_ACCESS_TTL="300",
            LR_LOG_LEVEL="warning",
            LR_SHUTDOWN_TIMEOUT="5",
        )
        argv = [sys.executable]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile)]
        argv += ["-m", "gateway"]
        self.profile = profile
        with self.log_path.open("wb") as log:
            # cwd: a directory without a .env, so only the settings above apply.
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
                argv,
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited:\n{self.log()}")
            try:
                r = httpx.get(self.url + "/api/health/live", trust_env=False, timeout=1.0)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            # uvicorn raises the signal again once it has shut down: SIGTERM would end
            # the process before cProfile writes; SIGINT ends it with KeyboardInterrupt.
            if self.profile is not None:
                self.proc.send_signal(signal.SIGINT)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def rss_kib(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def hwm_kib(self) -> int:
        return proc_status(self.pid, "VmHWM")

    def upstream_requests(self) -> float:
        """The sum of ``lr_upstream_requests_total`` on ``/metrics``."""
        text = httpx.get(self.url + "/metrics", trust_env=False, timeout=10.0).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("lr_upstream_requests_total")
        )


# -- warm manifests with wrk ---------------------------------------------------------------


def run_wrk(url: str, connections: int, seconds: float, headers: dict[str, str]) -> WrkResult:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
    cmd += ["--timeout", "30s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    out = subprocess.run(  # noqa: S603 - fixed argv
        cmd, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    return parse_wrk(out)


@dataclass
class ManifestResult:
    path: str
    media_type: str
    size: int
    cold_upstream: int
    warm_upstream: list[int]
    load_upstream: float  # upstream requests counted by the gateway during the wrk runs
    runs: dict[int, dict[str, WrkResult]] = field(default_factory=dict)  # c -> target -> r
    problems: list[str] = field(default_factory=list)


def bench_manifest(
    gw: Gateway, registry: RegistryProcess, connections: list[int], seconds: float
) -> ManifestResult:
    with Pusher(registry.url) as p:
        image = push_image(p, REPO, "1.0", n_layers=2)
    path = f"/v2/{REPO}/manifests/{image.digest}"
    headers = {"Accept": ACCEPT_ALL}
    result = ManifestResult(path, image.media_type, len(image.manifest), -1, [], 0.0)
    with httpx.Client(trust_env=False, timeout=30.0) as client:
        direct = client.get(registry.url + path, headers=headers)
        direct.raise_for_status()
        for i in range(4):
            r = client.get(gw.url + path, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"GET {path} on the gateway: HTTP {r.status_code} {r.text}")
            upstream = int(r.headers.get("x-upstream-requests", "-1"))
            if i == 0:
                result.cold_upstream = upstream
            else:
                result.warm_upstream.append(upstream)
            if r.content != direct.content:
                result.problems.append("the gateway's body differs from the registry's")
            if r.headers.get("docker-content-digest") != image.digest:
                result.problems.append("the gateway's Docker-Content-Digest differs")
            if r.headers.get("content-type") != direct.headers.get("content-type"):
                result.problems.append("the gateway's Content-Type differs")
    before = gw.upstream_requests()
    for c in connections:
        result.runs[c] = {}
        for name, base in (("gateway", gw.url), ("registry", registry.url)):
            run_wrk(base + path, c, 1, headers)  # discarded
            r = run_wrk(base + path, c, seconds, headers)
            result.runs[c][name] = r
            if r.errors:
                result.problems.append(f"{name}, {c} connections: {r.errors}")
            print(
                f"  manifest, {c} connections, {name}: {r.rps:,.0f} req/s, "
                f"p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms",
                flush=True,
            )
    result.load_upstream = gw.upstream_requests() - before
    return result


# -- big blobs -----------------------------------------------------------------------------


def blob_chunks(size: int) -> Callable[[], Iterator[bytes]]:
    """A generator factory of ``size`` deterministic bytes in 1 MiB chunks, each distinct."""
    block = hashlib.sha256(b"bench_v2").digest() * (CHUNK // 32)

    def chunks() -> Iterator[bytes]:
        for i in range(size // CHUNK):
            yield block[:-4] + i.to_bytes(4, "big")
        if size % CHUNK:
            yield block[: size % CHUNK]

    return chunks


def digest_of_chunks(chunks: Callable[[], Iterator[bytes]]) -> str:
    h = hashlib.sha256()
    for chunk in chunks():
        h.update(chunk)
    return "sha256:" + h.hexdigest()


@dataclass
class Transfer:
    seconds: float
    client_cpu: float
    gateway_user: float
    gateway_sys: float
    registry_cpu: float

    @property
    def gateway_cpu(self) -> float:
        return self.gateway_user + self.gateway_sys


class Meter:
    """Wall time and the CPU time of the client, the gateway and the registry."""

    def __init__(self, gw: Gateway, registry: RegistryProcess) -> None:
        self.pids = (gw.pid, registry.proc.pid)

    def __enter__(self) -> Meter:
        self._cpu = [proc_cpu(pid) for pid in self.pids]
        self._client = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        client = time.process_time() - self._client
        (gu, gs), (ru, rs) = (proc_cpu(pid) for pid in self.pids)
        (gu0, gs0), (ru0, rs0) = self._cpu
        self.result = Transfer(wall, client, gu - gu0, gs - gs0, ru + rs - ru0 - rs0)


def push_blob(
    client: httpx.Client, chunks: Callable[[], Iterator[bytes]], digest: str, repo: str
) -> None:
    """POST, one PATCH streamed from the generator (chunked), PUT ?digest=."""
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    if r.status_code != 202:
        raise RuntimeError(f"POST upload: HTTP {r.status_code} {r.text[:300]}")
    octet = {"Content-Type": "application/octet-stream"}
    r = client.patch(r.headers["location"], content=chunks(), headers=octet)
    if r.status_code != 202:
        raise RuntimeError(f"PATCH upload: HTTP {r.status_code} {r.text[:300]}")
    location = r.headers["location"]
    sep = "&" if "?" in location else "?"
    r = client.put(f"{location}{sep}digest={digest}", content=b"")
    if r.status_code != 201:
        raise RuntimeError(f"PUT upload: HTTP {r.status_code} {r.text[:300]}")


def pull_blob(client: httpx.Client, digest: str, size: int, repo: str) -> None:
    """A streamed GET, hashed as it arrives; the size and the digest checked."""
    h = hashlib.sha256()
    got = 0
    with client.stream("GET", f"/v2/{repo}/blobs/{digest}") as r:
        if r.status_code != 200:
            raise RuntimeError(f"GET blob: HTTP {r.status_code}")
        for part in r.iter_raw():
            h.update(part)
            got += len(part)
    if got != size or "sha256:" + h.hexdigest() != digest:
        raise RuntimeError(f"GET blob: {got} bytes, not the {size} pushed, or another digest")


@dataclass
class BlobResult:
    size: int
    rounds: int
    # (op, target) -> transfers; op in push/pull, target in gateway/registry
    transfers: dict[tuple[str, str], list[Transfer]] = field(default_factory=dict)
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    rss_max_kib: int = 0  # the largest VmRSS read after a transfer
    hwm_before_kib: int = 0
    hwm_after_kib: int = 0

    def mib_s(self, op: str, target: str) -> list[float]:
        return [self.size / MiB / t.seconds for t in self.transfers[(op, target)]]

    def median(self, op: str, target: str) -> float:
        return statistics.median(self.mib_s(op, target))

    def ratio(self, op: str) -> float:
        return self.median(op, "gateway") / self.median(op, "registry")

    def growth_mib(self) -> float:
        return (max(self.rss_max_kib, self.rss_after_kib) - self.rss_before_kib) / 1024


def bench_blob(gw: Gateway, registry: RegistryProcess, size: int, rounds: int) -> BlobResult:
    chunks = blob_chunks(size)
    digest = digest_of_chunks(chunks)
    warm = blob_chunks(8 * MiB)
    warm_digest = digest_of_chunks(warm)
    result = BlobResult(size, rounds)
    meter = Meter(gw, registry)
    targets = {"gateway": gw.url, "registry": registry.url}
    clients = {
        name: httpx.Client(base_url=url, trust_env=False, timeout=300.0)
        for name, url in targets.items()
    }
    try:
        # A discarded warm-up (an 8 MiB blob up and down both ways): connections, code.
        for client in clients.values():
            push_blob(client, warm, warm_digest, BLOB_REPO)
            pull_blob(client, warm_digest, 8 * MiB, BLOB_REPO)
        result.rss_before_kib = gw.rss_kib()
        result.hwm_before_kib = gw.hwm_kib()
        result.rss_max_kib = result.rss_before_kib
        for i in range(rounds):
            order = ["gateway", "registry"] if i % 2 == 0 else ["registry", "gateway"]
            for op in ("push", "pull"):
                for target in order:
                    client = clients[target]
                    with meter:
                        if op == "push":
                            push_blob(client, chunks, digest, BLOB_REPO)
                        else:
                            pull_blob(client, digest, size, BLOB_REPO)
                    result.transfers.setdefault((op, target), []).append(meter.result)
                    result.rss_max_kib = max(result.rss_max_kib, gw.rss_kib())
                    t = meter.result
                    print(
                        f"  round {i + 1}, {op} {target}: {size / MiB / t.seconds:,.0f} MiB/s "
                        f"(CPU s: client {t.client_cpu:.2f}, gateway {t.gateway_cpu:.2f}, "
                        f"registry {t.registry_cpu:.2f})",
                        flush=True,
                    )
        result.rss_after_kib = gw.rss_kib()
        result.hwm_after_kib = gw.hwm_kib()
    finally:
        for client in clients.values():
            client.close()
    return result


# -- the report ----------------------------------------------------------------------------


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def report(
    m: ManifestResult | None,
    b: BlobResult | None,
    args: argparse.Namespace,
    registry: RegistryProcess,
) -> tuple[str, bool]:
    version = subprocess.run(  # noqa: S603 - fixed argv
        [registry.binary, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "# v2 through the gateway against the registry",
        "",
        f"- run: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"registry `{version or registry.binary}`",
        "- gateway: `python -m gateway` subprocess (one uvicorn worker), `LR_V2_MODE=push`, "
        "`LR_CACHE_TTL=300`, `LR_ACCESS_TTL=300`, access log off"
        + (f", **under cProfile** ({args.profile})" if args.profile else ""),
        "- nothing pinned: the client, the gateway and the registry share the same cores; "
        f"load average at the start {args.load[0]:.2f}, at the end {args.load[1]:.2f} "
        "(the machine's other work shows in the wall times)",
    ]
    all_ok = True
    if m is not None:
        warm_zero = bool(m.warm_upstream) and max(m.warm_upstream) == 0 and m.load_upstream == 0
        all_ok = all_ok and warm_zero and not m.problems
        lines += [
            "",
            "## Warm manifest by digest",
            "",
            f"`GET {m.path}` ({m.media_type}, {m.size} bytes), `Accept:` the four manifest "
            f"types; `wrk -t1 --latency`, {args.duration:g} s per run after a discarded 1 s "
            "run. The direct target is the registry's own endpoint with the same headers.",
            "",
            "| connections | gateway req/s | p50 ms | p99 ms | registry req/s | p50 ms | "
            "p99 ms | gateway/registry |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c, runs in m.runs.items():
            g, r = runs["gateway"], runs["registry"]
            lines.append(
                f"| {c} | {g.rps:,.0f} | {g.p50_ms:.2f} | {g.p99_ms:.2f} | {r.rps:,.0f} | "
                f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {g.rps / r.rps:.2f}× |"
            )
        total = sum(runs["gateway"].requests for runs in m.runs.values())
        lines += [
            "",
            f"Upstream requests: cold {m.cold_upstream}; warm (`x-upstream-requests`) "
            f"{', '.join(map(str, m.warm_upstream))}; during the {total:,} warm requests of "
            f"the load runs (`lr_upstream_requests_total`) {m.load_upstream:g} — "
            f"**{verdict(warm_zero)}** (target: 0). The throughput ratio has no target.",
        ]
        if m.problems:
            lines += ["", "Problems:", "", *(f"- {p}" for p in m.problems)]
    if b is not None:
        push_ok = b.ratio("push") >= BLOB_RATIO_TARGET
        pull_ok = b.ratio("pull") >= BLOB_RATIO_TARGET
        rss_ok = b.growth_mib() < RSS_GROWTH_TARGET_MIB
        all_ok = all_ok and push_ok and pull_ok and rss_ok
        size = f"{b.size / MiB:g} MiB"
        lines += [
            "",
            f"## A {size} blob, pushed and pulled",
            "",
            f"Push: `POST`, one `PATCH` streamed from a generator of 1 MiB chunks (chunked "
            f"encoding), `PUT ?digest=`. Pull: a streamed `GET`, hashed as it arrives. Same "
            f"`httpx` client code for both targets; medians of {b.rounds} rounds after a "
            "discarded 8 MiB warm-up. The client is Python in this process and shares the "
            f"{os.cpu_count()} cores with the gateway and the registry: through the gateway, "
            "three processes move every byte; direct, two.",
            "",
            "| transfer | gateway MiB/s | registry MiB/s | gateway/registry | target |",
            "|---|---:|---:|---:|---|",
        ]
        for op, ok in (("push", push_ok), ("pull", pull_ok)):
            lines.append(
                f"| {op} {size} | {b.median(op, 'gateway'):,.0f} | "
                f"{b.median(op, 'registry'):,.0f} | {b.ratio(op):.2f}× | "
                f"**{verdict(ok)}** (≥ {BLOB_RATIO_TARGET}×) |"
            )
        lines += [
            "",
            f"Gateway RSS: {_mib(b.rss_before_kib)} MiB before the rounds, "
            f"{_mib(b.rss_after_kib)} MiB after, at most {_mib(b.rss_max_kib)} MiB read "
            f"after a transfer; growth {b.growth_mib():.1f} MiB — **{verdict(rss_ok)}** "
            f"(target: < {RSS_GROWTH_TARGET_MIB:g} MiB). Peak (`VmHWM`): "
            f"{_mib(b.hwm_before_kib)} MiB before, {_mib(b.hwm_after_kib)} MiB after.",
            "",
            f"CPU seconds per transfer (medians) and how many of the {os.cpu_count()} cores "
            "the three processes kept busy:",
            "",
            "| transfer | target | wall s | client | gateway (user + sys) | registry | "
            "cores busy |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for op in ("push", "pull"):
            for target in ("gateway", "registry"):
                ts = b.transfers[(op, target)]
                wall = statistics.median(t.seconds for t in ts)
                cl = statistics.median(t.client_cpu for t in ts)
                gw = statistics.median(t.gateway_cpu for t in ts)
                gu = statistics.median(t.gateway_user for t in ts)
                gs = statistics.median(t.gateway_sys for t in ts)
                rg = statistics.median(t.registry_cpu for t in ts)
                busy = statistics.median(
                    (t.client_cpu + t.gateway_cpu + t.registry_cpu) / t.seconds for t in ts
                )
                gw_text = f"{gw:.2f} ({gu:.2f} + {gs:.2f})" if target == "gateway" else "—"
                lines.append(
                    f"| {op} | {target} | {wall:.2f} | {cl:.2f} | {gw_text} | {rg:.2f} | "
                    f"{busy:.2f} |"
                )
        path_cpu = {
            (op, target): statistics.median(
                t.client_cpu + t.gateway_cpu + t.registry_cpu for t in b.transfers[(op, target)]
            )
            for op in ("push", "pull")
            for target in ("gateway", "registry")
        }
        lines += [
            "",
            "CPU seconds of the whole path (client + gateway + registry) per transfer: "
            + "; ".join(
                f"{op} {path_cpu[(op, 'registry')]:.2f} direct, "
                f"{path_cpu[(op, 'gateway')]:.2f} through the gateway "
                f"({path_cpu[(op, 'registry')] / path_cpu[(op, 'gateway')]:.2f}×)"
                for op in ("push", "pull")
            )
            + ". With no idle core (other load), throughput tends to this ratio; on idle "
            "cores the transfer is a pipeline bound by its busiest process.",
        ]
        lines += ["", "Samples (MiB/s):", ""]
        for op in ("push", "pull"):
            for target in ("gateway", "registry"):
                joined = ", ".join(f"{v:,.0f}" for v in b.mib_s(op, target))
                lines.append(f"- {op}, {target}: {joined}")
    return "\n".join(lines) + "\n", all_ok


# -- main ----------------------------------------------------------------------------------


def temp_root() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (5)")
    parser.add_argument(
        "--connections", type=connection_counts, default=[1, 16], help="wrk connections (1,16)"
    )
    parser.add_argument("--blob-mib", type=int, default=200, help="blob size in MiB (200)")
    parser.add_argument("--rounds", type=int, default=7, help="blob rounds (7)")
    parser.add_argument("--skip-manifest", action="store_true", help="no wrk runs")
    parser.add_argument("--skip-blob", action="store_true", help="no blob rounds")
    parser.add_argument("--profile", type=Path, help="run the gateway under cProfile")
    parser.add_argument("--out", default="bench/results/v2-latest.md", help="Markdown path")
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.blob_mib < 1:
        parser.error("--rounds and --blob-mib must be at least 1")
    if not args.skip_manifest and shutil.which("wrk") is None:
        parser.error(
            "wrk is not installed (Debian/Ubuntu: apt-get install wrk), or --skip-manifest"
        )
    if args.profile is not None:
        args.profile = args.profile.resolve()

    m: ManifestResult | None = None
    b: BlobResult | None = None
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lr-bench-v2-", dir=temp_root()) as tmp:
        registry = start_registry(Path(tmp) / "registry", delete_enabled=False, version="2.8")
        gw: Gateway | None = None
        try:
            gw = Gateway(registry.url, Path(tmp), args.profile)
            gw.wait_ready()
            print(f"registry {registry.url}, gateway {gw.url} (pid {gw.pid}), in {tmp}")
            if not args.skip_manifest:
                started = time.perf_counter()
                m = bench_manifest(gw, registry, args.connections, args.duration)
                print(f"measured the warm manifest in {time.perf_counter() - started:.1f} s")
            if not args.skip_blob:
                started = time.perf_counter()
                b = bench_blob(gw, registry, args.blob_mib * MiB, args.rounds)
                print(f"measured the blob in {time.perf_counter() - started:.1f} s")
        finally:
            if gw is not None:
                gw.stop()
            registry.stop()
        args.load = (load_start, os.getloadavg()[0])
        text, ok = report(m, b, args, registry)

    write_report(text, args.out)
    return 1 if args.fail_on_miss and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
