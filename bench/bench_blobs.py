"""Blobs through ``/v2``: the gateway against nginx in front of the same registry.

    python bench/bench_blobs.py [--blob-mib 200] [--rounds 5] [--layers 20] [--layer-mib 5]
                                [--out bench/results/blobs-latest.md]

A real registry (Debian's distribution 2.8) on /dev/shm, and in front of it, each on a
loopback port: the gateway (``python -m gateway``, ``LR_V2_MODE=push``, default pools),
nginx with an upstream keep-alive pool and 64 KiB buffers (``tuned``), nginx as the
README's template has it (``template``), and the registry itself. ``curl`` is the client
(``-o /dev/null``; uploads from a file on /dev/shm), so the client costs the same for
every target and little beside the proxies. Every transfer's bytes are checked once per
target first (a pull hashed, a push's digest answered).

- **pull**: one ``--blob-mib`` blob, ``--rounds`` times per target (the order rotated):
  median MiB/s, and the proxy's CPU seconds per GiB (user + system of the gateway
  process; of nginx's master and worker);
- **pull, many**: ``--layers`` distinct layers of ``--layer-mib`` pulled at once;
- **push**: one ``--blob-mib`` blob (``POST``, one ``PATCH`` of the whole file, ``PUT
  ?digest=``), ``--rounds`` times per target;
- the gateway's RSS before, its peak (``VmHWM``) and after: flat while streaming;
- ``gateway + nginx (offload)``: the shipped ``deploy/nginx-blob-offload.conf``
  (harness/nginx.py renders it for loopback ports) in front of a second gateway with
  ``LR_BLOB_OFFLOAD_SECRET``: pulls confirmed by the gateway, moved by nginx, pushes'
  ``PATCH`` and ``PUT`` granted by the gateway, sent by nginx; its CPU is
  nginx's plus that gateway's, with the same ratios against the tuned nginx.

Targets (against the tuned nginx, the same run): throughput ≥ 0.8×; CPU per GiB ≤ 1.5×;
the gateway's peak RSS ≤ 20 MiB above where it started. The configurations used are
printed in the report.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.nginx import TEMPLATE, TUNED, Nginx, nginx_binary, start_nginx  # noqa: E402
from bench.report import git_describe, verdict, write_report  # noqa: E402
from bench.servers import gateway_process, process_cpu  # noqa: E402
from harness.nginx import start_offload  # noqa: E402
from harness.registry import start_registry  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
REPO = "bench/blobs"
OFFLOAD = "gateway + nginx (offload)"
OFFLOAD_SECRET = "bench-offload-secret-0123456789"  # noqa: S105 - a loopback bench's


def status_mb(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(name)


@dataclass
class Target:
    name: str
    url: str
    pids: Callable[[], list[int]]

    def cpu(self) -> float:
        return sum(process_cpu(pid) for pid in self.pids())


def start_gateway(registry: str, workdir: Path, **settings: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    return gateway_process(
        registry, workdir, LR_V2_MODE="push", LR_SHUTDOWN_TIMEOUT="5", **settings
    )


def make_blob(path: Path, size: int, seed: bytes) -> str:
    block = hashlib.sha256(seed).digest() * (MiB // 32)
    h = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(size // MiB):
            chunk = block[:-4] + i.to_bytes(4, "big")
            h.update(chunk)
            out.write(chunk)
    return "sha256:" + h.hexdigest()


def push(base: str, path: Path, digest: str) -> None:
    """POST, one PATCH of the file, PUT ?digest= (curl, the file streamed)."""
    with httpx.Client(base_url=base, trust_env=False, timeout=60) as client:
        r = client.post(f"/v2/{REPO}/blobs/uploads/")
        if r.status_code != 202:
            raise RuntimeError(f"{base}: POST upload {r.status_code}")
        location = r.headers["location"]
        if location.startswith("/"):
            location = base + location
    patched = subprocess.run(  # noqa: S603
        [
            "curl",
            "-sS",
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/octet-stream",  # noqa: S607
            "--data-binary",
            f"@{path}",
            "-D",
            "-",
            "-o",
            "/dev/null",
            location,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    headers = dict(line.split(": ", 1) for line in patched.splitlines()[1:] if ": " in line)
    location = next(v for k, v in headers.items() if k.lower() == "location").strip()
    if location.startswith("/"):
        location = base + location
    sep = "&" if "?" in location else "?"
    r = httpx.put(f"{location}{sep}digest={digest}", trust_env=False, timeout=60)
    if r.status_code != 201:
        raise RuntimeError(f"{base}: PUT upload {r.status_code} {r.text[:200]}")


def pull(base: str, digest: str) -> None:
    subprocess.run(  # noqa: S603
        ["curl", "-sS", "-f", "-o", "/dev/null", f"{base}/v2/{REPO}/blobs/{digest}"],  # noqa: S607
        check=True,
    )


def verified_pull(base: str, digest: str, size: int) -> None:
    h = hashlib.sha256()
    got = 0
    with httpx.stream("GET", f"{base}/v2/{REPO}/blobs/{digest}", trust_env=False, timeout=60) as r:
        r.raise_for_status()
        for part in r.iter_raw():
            h.update(part)
            got += len(part)
    if got != size or "sha256:" + h.hexdigest() != digest:
        raise RuntimeError(f"{base}: the blob pulled is not the one pushed")


@dataclass
class Sample:
    seconds: float
    cpu: float  # the proxy's CPU seconds (0 for the registry itself)
    size: int

    @property
    def mib_s(self) -> float:
        return self.size / MiB / self.seconds

    @property
    def cpu_per_gib(self) -> float:
        return self.cpu / (self.size / GiB)


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def add(self, op: str, target: str, sample: Sample) -> None:
        self.samples.setdefault((op, target), []).append(sample)

    def mib_s(self, op: str, target: str) -> float:
        return statistics.median(s.mib_s for s in self.samples[(op, target)])

    def cpu(self, op: str, target: str) -> float:
        return statistics.median(s.cpu_per_gib for s in self.samples[(op, target)])


def measured(target: Target, size: int, work: Callable[[], None]) -> Sample:
    cpu = target.cpu()
    started = time.perf_counter()
    work()
    return Sample(time.perf_counter() - started, target.cpu() - cpu, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blob-mib", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--layer-mib", type=int, default=5)
    parser.add_argument("--out", default="bench/results/blobs-latest.md")
    args = parser.parse_args()
    if nginx_binary() is None or shutil.which("curl") is None:
        print("needs nginx and curl (apt-get install nginx curl)", file=sys.stderr)
        return 2
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    tmp = Path(tempfile.mkdtemp(prefix="lr-bench-blobs-", dir=shm))
    registry = start_registry(tmp / "registry", version="2.8")
    servers: list[Nginx] = []
    gateway = None
    offload_gateway = None
    results = Results()
    size = args.blob_mib * MiB
    try:
        gateway = start_gateway(registry.url, tmp)
        gw_pid = gateway.pid
        for kind in (TUNED, TEMPLATE):
            servers.append(start_nginx(kind, registry.url, tmp, tmp))
        # The shipped deploy/nginx-blob-offload.conf in front of a gateway of its own:
        # nginx moves the pulls the gateway confirmed; the CPU is both processes'.
        offload_gateway = start_gateway(
            registry.url, tmp / "offload", LR_BLOB_OFFLOAD_SECRET=OFFLOAD_SECRET
        )
        offload_pid = offload_gateway.pid
        offload = start_offload(
            offload_gateway.url.removeprefix("http://"),  # type: ignore[attr-defined]
            registry.url.removeprefix("http://"),
            OFFLOAD_SECRET,
            tmp / "nginx-offload",
        )
        servers.append(offload)
        targets = [
            Target("gateway", gateway.url, lambda: [gw_pid]),  # type: ignore[attr-defined]
            *(Target(f"nginx {s.kind}", s.url, s.pids) for s in servers if s is not offload),
            Target(OFFLOAD, offload.url, lambda: [*offload.pids(), offload_pid]),
            Target("registry", registry.url, lambda: []),
        ]
        big = tmp / "big.bin"
        digest = make_blob(big, size, b"big")
        layers = [tmp / f"layer-{i}.bin" for i in range(args.layers)]
        layer_digests = [
            make_blob(p, args.layer_mib * MiB, b"layer%d" % i) for i, p in enumerate(layers)
        ]
        push(registry.url, big, digest)
        for path, d in zip(layers, layer_digests, strict=True):
            push(registry.url, path, d)
        for t in targets:  # every target's bytes checked once; connections warmed
            verified_pull(t.url, digest, size)
            push(t.url, big, digest)
        rss_before = status_mb(gw_pid, "VmRSS")
        for i in range(args.rounds):
            order = targets[i % len(targets) :] + targets[: i % len(targets)]
            for t in order:
                results.add("pull", t.name, measured(t, size, lambda t=t: pull(t.url, digest)))
                results.add("push", t.name, measured(t, size, lambda t=t: push(t.url, big, digest)))

                def many(t: Target = t) -> None:
                    with ThreadPoolExecutor(len(layers)) as pool:
                        list(pool.map(lambda d: pull(t.url, d), layer_digests))

                results.add(
                    "pull, many", t.name, measured(t, len(layers) * args.layer_mib * MiB, many)
                )
            print(
                f"round {i + 1}: "
                + ", ".join(
                    f"{t.name} {results.samples[('pull', t.name)][-1].mib_s:,.0f}" for t in targets
                )
                + " MiB/s pulled",
                flush=True,
            )
        rss_after = status_mb(gw_pid, "VmRSS")
        hwm = status_mb(gw_pid, "VmHWM")
    finally:
        for s in servers:
            s.stop()
        for proc in (gateway, offload_gateway):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        registry.stop()
    confs = {s.kind: s.conf for s in servers}
    shutil.rmtree(tmp, ignore_errors=True)

    names = [t.name for t in targets]
    lines = [
        "# Blobs through /v2: the gateway against nginx (bench/bench_blobs.py)",
        "",
        f"Commit {git_describe()}; distribution 2.8 on /dev/shm; {os.cpu_count()} CPUs; curl "
        f"as the client; medians of {args.rounds} rounds. Ratios are the gateway's against "
        "the tuned nginx.",
        "",
        "| transfer | "
        + " | ".join(names)
        + " | gateway / tuned nginx | CPU s/GiB: "
        + " / ".join(n for n in names if n != "registry")
        + " | CPU ratio | target |",
        "|---|" + "---:|" * len(names) + "---:|---|---:|---|",
    ]
    for op, label in (
        ("pull", f"pull {args.blob_mib} MiB"),
        ("pull, many", f"pull {args.layers} × {args.layer_mib} MiB at once"),
        ("push", f"push {args.blob_mib} MiB"),
    ):
        speeds = " | ".join(f"{results.mib_s(op, n):,.0f} MiB/s" for n in names)
        ratio = results.mib_s(op, "gateway") / results.mib_s(op, "nginx tuned")
        cpus = " / ".join(f"{results.cpu(op, n):.2f}" for n in names if n != "registry")
        cpu_ratio = results.cpu(op, "gateway") / max(results.cpu(op, "nginx tuned"), 1e-9)
        ok = verdict(ratio >= 0.8 and cpu_ratio <= 1.5)
        lines.append(
            f"| {label} | {speeds} | {ratio:.2f} | {cpus} | {cpu_ratio:.2f} | {ok} "
            "(≥ 0.8×, CPU ≤ 1.5×) |"
        )
    lines += [
        "",
        f"`{OFFLOAD}`: the shipped deploy/nginx-blob-offload.conf in front of a gateway of "
        "its own (LR_BLOB_OFFLOAD_SECRET set): a pull is handed to nginx by the gateway "
        "(after a HEAD as the caller the first time, at once once the registry let that "
        "caller pull there) and moved by nginx; a push starts through the gateway, and its "
        "PATCH and PUT are sent to the registry by nginx once the gateway granted them "
        "(auth_request). Its CPU is "
        "nginx's master and worker plus that gateway process. Against the tuned nginx:",
        "",
        "| transfer | offload / tuned nginx | CPU s/GiB offload / tuned | CPU ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for op, label in (
        ("pull", f"pull {args.blob_mib} MiB"),
        ("pull, many", f"pull {args.layers} × {args.layer_mib} MiB at once"),
        ("push", f"push {args.blob_mib} MiB"),
    ):
        ratio = results.mib_s(op, OFFLOAD) / results.mib_s(op, "nginx tuned")
        cpu_ratio = results.cpu(op, OFFLOAD) / max(results.cpu(op, "nginx tuned"), 1e-9)
        ok = verdict(ratio >= 0.8 and cpu_ratio <= 1.5)
        lines.append(
            f"| {label} | {ratio:.2f} | {results.cpu(op, OFFLOAD):.2f} / "
            f"{results.cpu(op, 'nginx tuned'):.2f} | {cpu_ratio:.2f} | {ok} "
            "(≥ 0.8×, CPU ≤ 1.5×) |"
        )
    growth = hwm - rss_before
    lines += [
        "",
        f"The gateway's RSS: {rss_before:.0f} MB before the rounds, {rss_after:.0f} MB after, "
        f"peak {hwm:.0f} MB: {verdict(growth <= 20)} (peak ≤ 20 MB above the start).",
        "",
    ]
    for kind, text in confs.items():
        lines += [f"nginx `{kind}`:", "", "```nginx", text.rstrip(), "```", ""]
    write_report("\n".join(lines), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
