"""Several gateway replicas sharing one Redis: real ``python -m gateway`` processes (each
with its own memory and its own per-process caller-key salt, as separate machines
would have), started on free 127.0.0.1 ports and stopped by PID."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from harness.processes import Served, clean_env
from harness.registry import free_port

_UPSTREAM_RE = re.compile(
    r'^lr_upstream_requests_total\{operation="([^"]+)",status="([^"]+)"\} (\S+)$'
)


class Replica(Served):
    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, timeout=10)

    def upstream(self) -> dict[str, int]:
        """Requests this replica sent upstream so far, by operation (its /metrics)."""
        text = httpx.get(self.url + "/metrics", trust_env=False, timeout=10).text
        counts: dict[str, int] = {}
        for line in text.splitlines():
            match = _UPSTREAM_RE.match(line)
            if match:
                counts[match[1]] = counts.get(match[1], 0) + int(float(match[3]))
        return counts

    def metric(self, sample: str) -> float:
        """One sample of this replica's /metrics, by its name and labels as written."""
        text = httpx.get(self.url + "/metrics", trust_env=False, timeout=10).text
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name == sample:
                return float(value)
        raise AssertionError(f"{sample} not in /metrics")


def start_replica(root: Path, env: dict[str, str], *, port: int | None = None) -> Replica:
    """``python -m gateway`` with ``env`` (``LR_…`` names) on ``port`` (a free one unless
    given: a registry told where to send its notifications needs it first)."""
    port = port or free_port()
    log = root / f"replica-{port}.log"
    replica = Replica.start("--port", str(port), env=clean_env(**env), port=port, cwd=root, log=log)
    replica.wait_ready()
    return replica


@contextmanager
def replicas(root: Path, count: int, **settings: str) -> Iterator[list[Replica]]:
    """``count`` replicas with the same settings (``LR_…`` names) and a fresh secret key
    unless one is given; all stopped at the end."""
    env = {"LR_SECRET_KEY": secrets.token_hex(32), "LR_LOG_LEVEL": "warning", **settings}
    started: list[Replica] = []
    try:
        for _ in range(count):
            started.append(start_replica(root, env))
        yield started
    finally:
        for replica in started:
            replica.stop()
