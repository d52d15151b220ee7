"""``python -m gateway`` as a real process, for tests of start-up and shutdown.

``serve(*args, env=, port=, cwd=)`` (a fixture) starts one with its output in a log
file; every process started is stopped by its PID at the end of the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = ["Served", "clean_env", "serve"]

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0


def clean_env(**values: str) -> dict[str, str]:
    """The current environment without any LR_* setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LR_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(values)
    return env


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(trust_env=False, timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    pytest.fail(f"gateway exited with {self.proc.returncode}:\n{self.output()}")
                try:
                    return client.get(self.url + "/api/health")
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"gateway not ready after {START_TIMEOUT}s:\n{self.output()}")
                time.sleep(0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(*args, env=, port=, cwd=)`` starts ``python -m gateway`` (which is to listen
    on ``port``); every process started is stopped by its PID at the end."""
    started: list[Served] = []

    def start(*args: str, env: dict[str, str], port: int, cwd: Path = tmp_path) -> Served:
        log = tmp_path / f"gateway-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv
                [sys.executable, "-m", "gateway", *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        served = Served(proc, port, log)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
