"""wrk's output read into numbers: requests per second, p50 and p99 latency (``--latency``),
and what went wrong. Shared by the benchmarks that drive wrk."""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass

from bench.servers import affinity


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: str = ""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    errors = []
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors.append(f"{non2xx.group(1)} non-2xx")
    sock = re.search(r"Socket errors: (.*)", out)
    if sock:
        errors.append("socket errors " + sock.group(1).strip())
    return WrkResult(
        float(rps.group(1)),
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        int(total.group(1)),
        "; ".join(errors),
    )


def connection_counts(text: str) -> list[int]:
    """``--connections 1,16,64`` read for argparse."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("connection counts must be >= 1")
    return values


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
        preexec_fn=affinity(cpus),  # noqa: PLW1509
    ).stdout
    return parse_wrk(out)
