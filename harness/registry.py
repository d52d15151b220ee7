"""Run a real CNCF distribution registry for tests.

Which one is chosen per registry: distribution 3.0 by default (what ``registry:3``
users run; built from the Go module proxy by harness/go_peers.py), 3.1 for the
conformance comparison, or Debian's 2.8 (``docker-registry``) for the compatibility
subset — the tests that show where 2.8 differs (tag deletes, tag paging and order,
error codes, notifications) ask for it with ``version="2.8"``.

Every registry gets its own directory holding ``config.yml``, ``data/`` (filesystem
storage) and ``registry.log`` (the process' stdout and stderr). It listens on 127.0.0.1
only. Processes are stopped by PID; an ``atexit`` hook stops any a test forgot.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import httpx

from harness import go_peers

if TYPE_CHECKING:
    from harness.tokenserver import TokenServer

RegistryVersion = Literal["2.8", "3.0", "3.1"]
DEFAULT_VERSION: RegistryVersion = "3.0"
DEFAULT_BINARY = "/usr/bin/docker-registry"  # Debian's distribution 2.8
READY_TIMEOUT = 10.0

_LIVE: dict[int, RegistryProcess] = {}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def registry_binary(version: RegistryVersion = DEFAULT_VERSION) -> str:
    """The binary of that version: 2.8 is Debian's (or ``$LR_TEST_REGISTRY_BIN``), 3.x
    the Go peer, built on first use (``go_peers.PeerUnavailable`` without Go)."""
    if version == "2.8":
        return os.environ.get("LR_TEST_REGISTRY_BIN", DEFAULT_BINARY)
    return str(go_peers.ensure(f"registry-{version}"))


def _child_env() -> dict[str, str]:
    # REGISTRY_* variables override the config file: never inherit them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "OTEL_"))}
    # distribution 3.x exports OpenTelemetry traces to localhost:4318 by default: to
    # whatever listens there. Off.
    env["OTEL_TRACES_EXPORTER"] = "none"
    return env


@dataclass
class RegistryProcess:
    url: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes]
    binary: str = ""  # set by start_registry
    version: RegistryVersion = DEFAULT_VERSION
    _log_handle: IO[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / "config.yml"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, the form image references and skopeo use."""
        return f"127.0.0.1:{self.port}"

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Terminate by PID, wait, kill on timeout. Safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        _LIVE.pop(id(self), None)

    def restart(self) -> None:
        """Start again on the same port with the same storage and config."""
        self.stop()
        self._spawn()
        self._wait_ready()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _spawn(self) -> None:
        self.proc, self._log_handle = _popen(self.binary, self.root)
        _LIVE[id(self)] = self

    def _wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while True:
                if self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(
                        f"registry exited with {self.proc.returncode} on port {self.port}:\n"
                        + self.log_text()
                    )
                try:
                    r = client.get(f"{self.url}/v2/")
                    if r.status_code in (200, 401):
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"registry on port {self.port} not ready after {timeout}s:\n"
                        + self.log_text()
                    )
                time.sleep(0.02)


def _popen(binary: str, root: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    log = (root / "registry.log").open("ab")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [binary, "serve", str(root / "config.yml")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_child_env(),
        cwd=root,
    )
    return proc, log


def _htpasswd_line(user: str, password: str) -> str:
    out = subprocess.run(  # noqa: S603
        ["htpasswd", "-Bbn", user, password],  # noqa: S607 - htpasswd from PATH
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def build_config(
    root: Path,
    port: int,
    *,
    auth: Literal["none", "htpasswd", "token"],
    htpasswd_path: Path | None,
    token: TokenServer | None,
    notifications_url: str | None,
    notifications_token: str | None,
    delete_enabled: bool,
    access_log: bool,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {
            "level": "warn",
            "formatter": "text",
            "accesslog": {"disabled": not access_log},
        },
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": delete_enabled},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": f"127.0.0.1:{port}",
            "secret": secrets.token_hex(16),
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "health": {"storagedriver": {"enabled": False}},
    }
    if auth == "htpasswd":
        assert htpasswd_path is not None
        config["auth"] = {"htpasswd": {"realm": "light-registry-test", "path": str(htpasswd_path)}}
    elif auth == "token":
        if token is None:
            raise ValueError("auth='token' needs a started TokenServer")
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.certbundle),
            }
        }
    if notifications_url is not None:
        headers: dict[str, list[str]] = {}
        if notifications_token is not None:
            headers["Authorization"] = [f"Bearer {notifications_token}"]
        config["notifications"] = {
            "endpoints": [
                {
                    "name": "light-registry",
                    "url": notifications_url,
                    "headers": headers,
                    "timeout": "2s",
                    "threshold": 5,
                    "backoff": "1s",
                    "ignoredmediatypes": ["application/octet-stream"],
                }
            ]
        }
    return config


def start_registry(
    root: Path,
    *,
    auth: Literal["none", "htpasswd", "token"] = "none",
    htpasswd_users: dict[str, str] | None = None,
    token: TokenServer | None = None,
    notifications_url: str | None = None,
    notifications_token: str | None = None,
    delete_enabled: bool = True,
    port: int | None = None,
    access_log: bool = False,
    version: RegistryVersion = DEFAULT_VERSION,
    extra_config: dict[str, Any] | None = None,
) -> RegistryProcess:
    """Write a config under ``root`` and start a registry of ``version``; return once
    ``/v2/`` answers. A token server is told which key id form that version reads.
    ``extra_config`` adds top-level sections (e.g. 3.x's ``validation``).

    Without an explicit ``port`` a free one is picked, and picked again if another
    process grabbed it between the check and the bind.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    htpasswd_path: Path | None = None
    if auth == "htpasswd":
        htpasswd_path = root / "htpasswd"
        lines = [_htpasswd_line(u, pw) for u, pw in (htpasswd_users or {}).items()]
        htpasswd_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    if token is not None:
        token.serve_registry(version)
    binary = registry_binary(version)
    attempts = 1 if port is not None else 3
    last_error: RuntimeError | None = None
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        config = build_config(
            root,
            chosen,
            auth=auth,
            htpasswd_path=htpasswd_path,
            token=token,
            notifications_url=notifications_url,
            notifications_token=notifications_token,
            delete_enabled=delete_enabled,
            access_log=access_log,
        )
        config.update(extra_config or {})
        # JSON is valid YAML; it spares us quoting rules.
        (root / "config.yml").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        proc, log = _popen(binary, root)
        reg = RegistryProcess(
            url=f"http://127.0.0.1:{chosen}",
            port=chosen,
            root=root,
            proc=proc,
            binary=binary,
            version=version,
            _log_handle=log,
        )
        _LIVE[id(reg)] = reg
        try:
            reg._wait_ready()
        except RuntimeError as exc:
            last_error = exc
            if "address already in use" in str(exc):
                continue
            raise
        return reg
    assert last_error is not None
    raise last_error


@atexit.register
def _stop_leftovers() -> None:
    for reg in list(_LIVE.values()):
        reg.stop()
