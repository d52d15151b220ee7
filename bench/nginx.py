"""nginx in front of a registry, the baseline the gateway replaces: started on a
loopback port with a configuration of our own (printed in the reports), stopped by PID.

Two configurations, one worker process each (the gateway is one process too):

- ``template``: the README's "Replacing the nginx in front of a registry UI" block as
  written — a new upstream connection per request, nginx's default buffers;
- ``tuned``: an upstream keep-alive pool (``keepalive 32``, HTTP/1.1 without
  ``Connection: close``) and 64 KiB proxy buffers.

Both serve an SPA's files from ``root`` (``try_files $uri /index.html``) and proxy
``/v2/`` to the registry, as such a deployment does. ``apt-get install nginx`` provides
``/usr/sbin/nginx``; without it ``nginx_binary()`` is None and the benches say so.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.registry import free_port

TEMPLATE = "template"
TUNED = "tuned"

_UPSTREAM = {
    TEMPLATE: "",
    TUNED: """
    upstream registry {{
        server {registry};
        keepalive 32;
    }}""",
}
_PROXY = {
    TEMPLATE: """
            proxy_pass http://{registry};
            client_max_body_size 0;
            proxy_request_buffering off;""",
    TUNED: """
            proxy_pass http://registry;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            client_max_body_size 0;
            proxy_request_buffering off;
            proxy_buffer_size 64k;
            proxy_buffers 8 64k;
            proxy_busy_buffers_size 128k;
            proxy_max_temp_file_size 0;""",
}

_CONF = """{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    include {mime};
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;{upstream}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ try_files $uri /index.html; }}
        location /v2/ {{{proxy}
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).is_file()), None
    )


def _worker_user() -> str:
    """Started as root, nginx's workers would run as ``nobody`` and could neither read
    the bench's private temporary folders nor write their proxy buffers there (a pull
    larger than the buffers then ends short): they run as the bench's own user."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"


def config(kind: str, registry: str, port: int, root: Path, prefix: Path) -> str:
    """The configuration ``kind`` of nginx on ``port`` in front of ``registry``
    (``host:port``), serving the files of ``root``."""
    mime = "/etc/nginx/mime.types"
    return _CONF.format(
        user=_worker_user(),
        prefix=prefix,
        mime=mime if Path(mime).is_file() else os.devnull,
        upstream=_UPSTREAM[kind].format(registry=registry),
        port=port,
        root=root,
        proxy=_PROXY[kind].format(registry=registry),
    )


@dataclass
class Nginx:
    kind: str
    url: str
    proc: subprocess.Popen[bytes]
    conf: str

    def pids(self) -> list[int]:
        """The master and its workers (CPU is read from all of them)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            found = [int(p) for p in children.read_text().split()]
        except OSError:
            found = []
        return [self.proc.pid, *found]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_nginx(kind: str, registry_url: str, root: Path, workdir: Path) -> Nginx:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    prefix = workdir / f"nginx-{kind}"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    text = config(kind, registry_url.removeprefix("http://").rstrip("/"), port, root, prefix)
    (prefix / "nginx.conf").write_text(text, encoding="utf-8")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(prefix / "stderr.log").open("wb"),
    )
    server = Nginx(kind, f"http://127.0.0.1:{port}", proc, text)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(prefix / 'stderr.log').read_text()}")
        try:
            httpx.get(server.url + "/v2/", trust_env=False, timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("nginx did not start") from None
            time.sleep(0.05)
