"""Memory under big pages, a restart, and a list past its cache period (issue 19).

    python bench/bench_memory.py [--images 10000] [--baseline-ref main] [--rounds 5]
                                 [--registry-version 2.8] [--out bench/results/memory-latest.md]

A real registry (Debian's distribution 2.8 unless ``--registry-version``) on /dev/shm
holding one repository of ``--images`` distinct images (``harness/corpus.py``: a config
each, one shared layer; about 100 images a second to push), and fresh ``python -m
gateway`` processes in front of it with default settings, their memory read from
``/proc/<pid>/status``. Every figure is printed beside its baseline from the same run:
the same gateway of ``--baseline-ref`` (``git archive``; ``--no-baseline`` skips it)
for the memory parts, the first cold page for the restart, a warm page for the page
past its cache period.

1. **By page size**: every image read as detail pages of 1,000 rows, then of 100 rows
   (a fresh gateway each): RSS idle, the most one page added at its peak (``VmHWM``
   against ``VmRSS`` before it), RSS at the end. Targets: ≤ 50 MB per page; ≤ 200 MB
   once every image is cached, by any page size.
2. **8 clients at once**, each asking for a different 1,000-row page of a fresh
   gateway: the peak. Target: < 250 MB.
3. **Restart**: a fresh gateway's first ``tags?details=true&n=50`` (time, upstream
   requests), then the same on a gateway started on the same ``LR_DATA_DIR``
   (``--rounds`` times, medians). Targets: ≤ the tag list + one request per tag, and
   ≤ 0.6× the first page's time.
4. **Past the cache period** (``LR_CACHE_TTL=LR_ACCESS_TTL=2``): the page asked warm,
   then again once its lists and pointers expired (stale-while-revalidate), ``--rounds``
   times. Target: ≤ 2× the warm page (the warm page as the route builds it; the one
   the warm lane sends again is shown too). The baseline code reads everything again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.report import git_describe, verdict, write_report  # noqa: E402
from harness.corpus import push_corpus, tag_name  # noqa: E402
from harness.registry import free_port, start_registry  # noqa: E402
from harness.waiting import eventually  # noqa: E402

REPO = "big/app"
MB = 1024 * 1024


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    url: str

    def status_mb(self, field_name: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field_name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the lifespan writes what is queued
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@contextmanager
def gateway(code: Path, registry: str, data: Path, log: Path, **env: str) -> Iterator[Gateway]:
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    settings = {
        "LR_REGISTRY_URL": registry,
        "LR_DATA_DIR": str(data),
        "LR_LOG_LEVEL": "warning",
        "LR_REQUEST_TIMEOUT": "600",  # every row resolved, however loaded the machine
        "LR_READ_TIMEOUT": "300",
        **env,
    }
    child = {k: v for k, v in os.environ.items() if not k.startswith("LR_")}
    child.update(settings, PYTHONPATH=str(code))
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "gateway", "--port", str(port)],
            cwd=data.parent,
            env=child,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Gateway(proc, f"http://127.0.0.1:{port}")
    try:
        with httpx.Client(trust_env=False, timeout=2) as client:
            eventually(
                lambda: client.get(served.url + "/api/health/live").status_code == 200,
                within=30,
                retry=(httpx.TransportError,),
            )
        yield served
    finally:
        served.stop()


def page(
    client: httpx.Client, n: int, last: str = "", **params: str
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    r = client.get(
        f"/api/repositories/{REPO}/tags",
        params={"details": "true", "n": str(n), **({"last": last} if last else {}), **params},
    )
    elapsed = time.perf_counter() - started
    r.raise_for_status()
    rows = r.json()["tags"]
    bad = [t for t in rows if t.get("error")]
    if bad:
        raise RuntimeError(f"{len(bad)} rows in error: {bad[0]['error']}")
    return r, elapsed


@dataclass
class Walk:
    n: int
    idle: float = 0.0
    worst_page: float = 0.0  # MB one page added at its peak
    end: float = 0.0
    hwm: float = 0.0
    seconds: float = 0.0


def walk(code: Path, tmp: Path, registry: str, n: int, images: int) -> Walk:
    result = Walk(n)
    data = tmp / f"walk-{n}-{code.name}"
    with (
        gateway(code, registry, data / "data", tmp / "gateway.log") as gw,
        httpx.Client(base_url=gw.url, trust_env=False, timeout=900) as client,
    ):
        client.get(f"/api/repositories/{REPO}/tags", params={"n": "1"}).raise_for_status()
        result.idle = gw.status_mb("VmRSS")
        last = ""
        started = time.perf_counter()
        for _ in range(images // n):
            before = gw.status_mb("VmRSS")
            r, _elapsed = page(client, n, last)
            result.worst_page = max(result.worst_page, gw.status_mb("VmHWM") - before)
            last = r.json()["next"] or ""
        result.seconds = time.perf_counter() - started
        time.sleep(1)
        result.end = gw.status_mb("VmRSS")
        result.hwm = gw.status_mb("VmHWM")
    print(
        f"  {code.name} n={n}: idle {result.idle:.0f} MB, worst page +{result.worst_page:.0f} MB,"
        f" end {result.end:.0f} MB, peak {result.hwm:.0f} MB, {result.seconds:.0f} s",
        flush=True,
    )
    return result


def concurrent(code: Path, tmp: Path, registry: str, clients: int) -> tuple[float, float, float]:
    """(RSS idle, peak, seconds) of ``clients`` distinct 1,000-row pages asked at once."""
    data = tmp / f"concurrent-{code.name}"
    with gateway(code, registry, data / "data", tmp / "gateway.log") as gw:
        with httpx.Client(base_url=gw.url, trust_env=False, timeout=900) as client:
            client.get(f"/api/repositories/{REPO}/tags", params={"n": "1"}).raise_for_status()
            idle = gw.status_mb("VmRSS")

            def one(i: int) -> None:
                page(client, 1000, tag_name(i * 1000 - 1) if i else "")

            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(one, range(clients)))
            seconds = time.perf_counter() - started
        peak = gw.status_mb("VmHWM")
    print(f"  {code.name}, {clients} clients: idle {idle:.0f} MB, peak {peak:.0f} MB", flush=True)
    return idle, peak, seconds


@dataclass
class Restart:
    cold: list[float] = field(default_factory=list)
    again: list[float] = field(default_factory=list)
    cold_upstream: int = 0
    again_upstream: int = 0


def restart(code: Path, tmp: Path, registry: str, rounds: int) -> Restart:
    out = Restart()
    for i in range(rounds):
        data = tmp / f"restart-{i}" / "data"
        for label in ("cold", "again"):
            with (
                gateway(code, registry, data, tmp / "gateway.log") as gw,
                httpx.Client(base_url=gw.url, trust_env=False, timeout=300) as client,
            ):
                client.get("/api/health/live").raise_for_status()
                r, seconds = page(client, 50)
                getattr(out, label).append(seconds)
                setattr(out, f"{label}_upstream", int(r.headers["x-upstream-requests"]))
        print(
            f"  restart round {i}: cold {out.cold[-1] * 1000:.0f} ms ({out.cold_upstream} "
            f"requests), restarted {out.again[-1] * 1000:.0f} ms ({out.again_upstream})",
            flush=True,
        )
    return out


@dataclass
class Expiry:
    warm_built: list[float] = field(default_factory=list)
    warm_kept: list[float] = field(default_factory=list)
    expired: list[float] = field(default_factory=list)
    expired_upstream: list[int] = field(default_factory=list)


def expiry(code: Path, tmp: Path, registry: str, rounds: int, ttl: float = 2.0) -> Expiry:
    out = Expiry()
    data = tmp / f"expiry-{code.name}" / "data"
    env = {"LR_CACHE_TTL": str(ttl), "LR_ACCESS_TTL": str(ttl)}
    with (
        gateway(code, registry, data, tmp / "gateway.log", **env) as gw,
        httpx.Client(base_url=gw.url, trust_env=False, timeout=300) as client,
    ):
        page(client, 50)
        for i in range(rounds):
            time.sleep(ttl + 0.5)  # every list, pointer and access past its time
            r, seconds = page(client, 50)
            out.expired.append(seconds)
            out.expired_upstream.append(int(r.headers["x-upstream-requests"]))
            time.sleep(0.3)  # the refresh done: warm again
            for k in range(5):
                # A query the kept answers do not know: the page as the route builds it.
                out.warm_built.append(page(client, 50, probe=f"{i}-{k}")[1])
                out.warm_kept.append(page(client, 50)[1])
    print(
        f"  {code.name}: warm {statistics.median(out.warm_built) * 1000:.1f} ms, past its "
        f"time {statistics.median(out.expired) * 1000:.1f} ms",
        flush=True,
    )
    return out


def baseline_tree(ref: str, tmp: Path) -> Path | None:
    target = tmp / f"baseline-{ref.replace('/', '-')}"
    target.mkdir()
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "archive", ref, "gateway"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        print(f"no baseline: git archive {ref} failed", flush=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)  # noqa: S603, S607
    return target


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--registry-version", default="2.8")
    parser.add_argument("--baseline-ref", default="main")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--skip-walks", action="store_true", help="leave out part 1 (every image, by page size)"
    )
    parser.add_argument(
        "--registry", help="a registry already holding the images in big/app (not pushed)"
    )
    parser.add_argument("--out", default="bench/results/memory-latest.md")
    args = parser.parse_args()

    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    tmp = Path(tempfile.mkdtemp(prefix="lr-bench-memory-", dir=shm))
    registry = (
        None if args.registry else start_registry(tmp / "registry", version=args.registry_version)
    )
    url = args.registry if registry is None else registry.url
    push_seconds = 0.0
    try:
        if registry is not None:
            started = time.perf_counter()
            push_corpus(registry.url, REPO, args.images, concurrency=16)
            push_seconds = time.perf_counter() - started
            print(f"{args.images} images pushed in {push_seconds:.0f} s", flush=True)
        codes = [ROOT]
        base = None if args.no_baseline else baseline_tree(args.baseline_ref, tmp)
        if base is not None:
            codes.append(base)
        walks = {
            (c, n): walk(c, tmp, url, n, args.images)
            for c in codes
            for n in (1000, 100)
            if not args.skip_walks
        }
        crowd = {c: concurrent(c, tmp, url, args.clients) for c in codes}
        restarts = restart(ROOT, tmp, url, args.rounds)
        expiries = {c: expiry(c, tmp, url, args.rounds) for c in codes}
    finally:
        if registry is not None:
            registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    label = {ROOT: "this checkout"}
    if base is not None:
        label[base] = f"`{args.baseline_ref}`"
    lines = [
        "# Memory, restarts and expired lists (bench/bench_memory.py)",
        "",
        f"Commit {git_describe()}; distribution {args.registry_version}; {args.images} distinct "
        f"images in one repository (pushed in {push_seconds:.0f} s); {os.cpu_count()} CPUs; "
        "gateways with default settings.",
        "",
        "## By page size",
        "",
        "| code | rows per page | RSS idle | most one page added | RSS at the end | peak | time | "
        "target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for (c, n), w in walks.items():
        ok = w.worst_page <= 50 and w.end <= 200
        lines.append(
            f"| {label[c]} | {n} | {w.idle:.0f} MB | {w.worst_page:.0f} MB | {w.end:.0f} MB | "
            f"{w.hwm:.0f} MB | {w.seconds:.0f} s | {verdict(ok) if c == ROOT else ''} "
            "(≤ 50 MB per page, ≤ 200 MB at the end) |"
        )
    lines += [
        "",
        f"## {args.clients} clients at once (distinct 1,000-row pages)",
        "",
        "| code | RSS idle | peak | time | target |",
        "|---|---:|---:|---:|---|",
    ]
    for c, (idle, peak, seconds) in crowd.items():
        held = verdict(peak < 250) if c == ROOT else ""
        lines.append(
            f"| {label[c]} | {idle:.0f} MB | {peak:.0f} MB | {seconds:.0f} s | {held} (< 250 MB) |"
        )
    r = restarts
    ratio = ms(r.again) / ms(r.cold)
    lines += [
        "",
        f"## Restart (first `tags?details=true&n=50`, median of {args.rounds})",
        "",
        "| | time | upstream requests | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| a fresh gateway (baseline) | {ms(r.cold):.0f} ms | {r.cold_upstream} | 1.00 | |",
        f"| restarted on the same data | {ms(r.again):.0f} ms | {r.again_upstream} | {ratio:.2f} | "
        f"{verdict(ratio <= 0.6 and r.again_upstream <= 51)} (≤ 0.6×, ≤ 51 requests) |",
        "",
        f"## Past the cache period (LR_CACHE_TTL=2, n=50, median of {args.rounds})",
        "",
        "| code | warm, built | warm, kept answer | past its time | requests in the path | "
        "ratio to warm built | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for c, e in expiries.items():
        ratio = ms(e.expired) / ms(e.warm_built)
        quick = verdict(ratio <= 2) if c == ROOT else ""
        lines.append(
            f"| {label[c]} | {ms(e.warm_built):.1f} ms | {ms(e.warm_kept):.1f} ms | "
            f"{ms(e.expired):.1f} ms | {statistics.median(e.expired_upstream):.0f} | {ratio:.2f} | "
            f"{quick} (≤ 2×) |"
        )
    write_report("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
