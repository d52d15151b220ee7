"""Real nginx for the benches and the tests: started unprivileged on a loopback port
with a configuration of our own and temporary folders of its own, stopped by PID.

``apt-get install nginx`` provides ``/usr/sbin/nginx``; without it ``nginx_binary()`` is
None and the callers say so (a bench exits, a test skips). ``render_offload`` turns
the shipped ``deploy/nginx-blob-offload.conf`` into one that runs here, replacing only
its addresses, its secret and the paths nginx writes to, so the file shipped is the
file tested.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.registry import free_port

ROOT = Path(__file__).resolve().parents[1]
OFFLOAD_CONF = ROOT / "deploy" / "nginx-blob-offload.conf"
MIME_TYPES = "/etc/nginx/mime.types"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None
    )


def worker_user() -> str:
    """Started as root, nginx's workers would run as ``nobody`` and could neither read
    private temporary folders nor write their proxy buffers there (a pull larger than
    the buffers then ends short): they run as the caller's own user."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"


def temp_paths(prefix: Path) -> str:
    """nginx's temporary folders under ``prefix`` (Debian's are under /var/lib)."""
    return "".join(
        f"    {kind}_temp_path {prefix}/{folder};\n"
        for kind, folder in (
            ("client_body", "body"),
            ("proxy", "proxy"),
            ("fastcgi", "fastcgi"),
            ("uwsgi", "uwsgi"),
            ("scgi", "scgi"),
        )
    )


@dataclass
class Nginx:
    kind: str
    url: str
    proc: subprocess.Popen[bytes]
    conf: str
    prefix: Path

    def pids(self) -> list[int]:
        """The master and its workers (CPU is read from all of them)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            found = [int(p) for p in children.read_text().split()]
        except OSError:
            found = []
        return [self.proc.pid, *found]

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def run_nginx(kind: str, text: str, prefix: Path, port: int, probe: str = "/v2/") -> Nginx:
    """Start nginx with configuration ``text`` (listening on 127.0.0.1:``port``, its
    files under ``prefix``); return once ``probe`` answers anything."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "nginx.conf").write_text(text, encoding="utf-8")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(prefix / "stderr.log").open("wb"),
    )
    server = Nginx(kind, f"http://127.0.0.1:{port}", proc, text, prefix)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(prefix / 'stderr.log').read_text()}")
        try:
            httpx.get(server.url + probe, trust_env=False, timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("nginx did not start") from None
            time.sleep(0.05)


# What the shipped offload configuration names, replaced to run it here.
_GATEWAY = "server gateway:8000"
_REGISTRY = "server registry:5000"
_LISTEN = "listen 8080"
_SECRET = "CHANGE-ME-to-LR_BLOB_OFFLOAD_SECRET"  # noqa: S105 - the placeholder
_PATHS = re.compile(r"^(\s*)(pid|error_log|access_log|include)\s+[^;]*;", re.MULTILINE)


def _once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"{OFFLOAD_CONF.name}: {old!r} is not there exactly once")
    return text.replace(old, new)


def render_offload(
    gateway: str, registry: str, port: int, secret: str, prefix: Path, *, workers: int = 1
) -> str:
    """``deploy/nginx-blob-offload.conf`` for nginx on 127.0.0.1:``port`` in front of
    ``gateway``, fetching blobs from ``registry`` (both ``host:port``), sharing
    ``secret``; its pid, logs and temporary folders under ``prefix``; ``workers``
    worker processes (one, as the bench's other nginx configurations have)."""
    text = OFFLOAD_CONF.read_text(encoding="utf-8")
    text = _once(text, "worker_processes auto;", f"worker_processes {workers};")
    text = _once(text, _GATEWAY, f"server {gateway}")
    text = _once(text, _REGISTRY, f"server {registry}")
    text = _once(text, _LISTEN, f"listen 127.0.0.1:{port}")
    if f'X-LR-Offload "{_SECRET}"' not in text:
        raise ValueError(f"{OFFLOAD_CONF.name}: the secret's placeholder is not there")
    text = text.replace(f'X-LR-Offload "{_SECRET}"', f'X-LR-Offload "{secret}"')

    def local(match: re.Match[str]) -> str:
        indent, directive = match.group(1), match.group(2)
        if directive == "pid":
            return f"{indent}pid {prefix}/nginx.pid;"
        if directive == "error_log":
            return f"{indent}error_log {prefix}/error.log warn;"
        if directive == "access_log":
            return f"{indent}access_log {prefix}/access.log;"
        mime = MIME_TYPES if Path(MIME_TYPES).is_file() else os.devnull
        return f"{indent}include {mime};"

    text = _PATHS.sub(local, text)
    text = _once(text, "\nhttp {\n", "\nhttp {\n" + temp_paths(prefix))
    return worker_user() + text


def start_offload(gateway: str, registry: str, secret: str, prefix: Path) -> Nginx:
    """nginx with the shipped offload configuration on a free loopback port."""
    port = free_port()
    text = render_offload(gateway, registry, port, secret, prefix)
    return run_nginx("offload", text, prefix, port)
