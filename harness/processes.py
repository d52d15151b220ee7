"""``python -m gateway`` as a real process: started with a clean environment, waited for
until it answers, stopped by its PID."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Self

import httpx

from harness.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[1]
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

    @classmethod
    def start(
        cls, *args: str, env: dict[str, str], port: int, cwd: Path, log: Path
    ) -> Self:
        """``python -m gateway *args`` in ``cwd`` with exactly ``env`` (which makes it
        listen on ``port``), its output into ``log``; not waited for (``wait_ready``)."""
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv
                [sys.executable, "-m", "gateway", *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(proc, port, log)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> httpx.Response:
        """The first answer of ``GET /api/health`` (a process that exits fails at once)."""
        with httpx.Client(trust_env=False, timeout=2) as client:

            def answer() -> httpx.Response:
                if self.proc.poll() is not None:
                    code = self.proc.returncode
                    raise RuntimeError(f"gateway exited with {code}:\n{self.output()}")
                return client.get(self.url + "/api/health")

            try:
                return eventually(answer, within=START_TIMEOUT, retry=(httpx.TransportError,))
            except AssertionError:
                raise AssertionError(
                    f"gateway not ready after {START_TIMEOUT}s:\n{self.output()}"
                ) from None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode
