"""A real Redis (Debian's ``redis-server``) for tests: 127.0.0.1 only, no persistence.

Started on a free port in its own temporary directory (``--save '' --appendonly no``),
stopped by PID. ``stop()`` and ``start()`` again bring it back on the same port, empty:
what a Redis restart looks like to the gateways.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
from pathlib import Path
from typing import IO

import redis

from harness.registry import free_port
from harness.waiting import eventually

BINARY = "/usr/bin/redis-server"
READY_TIMEOUT = 10.0

_LIVE: dict[int, RedisProcess] = {}


def redis_available() -> bool:
    return shutil.which(BINARY) is not None


class RedisProcess:
    def __init__(
        self,
        root: Path,
        port: int | None = None,
        maxmemory: str | None = None,
        password: str | None = None,
    ) -> None:
        self.root = root
        self.port = port or free_port()
        self.maxmemory = maxmemory
        self.password = password  # of the default user (requirepass), any characters
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        argv = [
            BINARY,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.maxmemory:
            argv += ["--maxmemory", self.maxmemory, "--maxmemory-policy", "noeviction"]
        if self.password is not None:
            argv += ["--requirepass", self.password]
        self._log = (self.root / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)  # noqa: S603
        _LIVE[id(self)] = self
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log_text()[-2000:]}")
            return self.ping()

        try:
            eventually(ready, within=READY_TIMEOUT)
            return self
        except AssertionError:
            pass
        self.stop()
        raise RuntimeError("redis-server did not become ready")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                if self.password is not None:
                    secret = self.password.encode()
                    s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret))
                    if not s.recv(64).startswith(b"+OK"):
                        return False
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def client(self) -> redis.Redis:
        """A synchronous client, for a test to look at (or change) what Redis holds."""
        return redis.Redis.from_url(self.url, socket_timeout=2, password=self.password)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        _LIVE.pop(id(self), None)

    def log_text(self) -> str:
        path = self.root / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE.values()):
        proc.stop()
