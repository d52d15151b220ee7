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
Starting and stopping nginx is ``harness.nginx``'s (shared with the tests).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.nginx import Nginx, nginx_binary, run_nginx, worker_user
from harness.registry import free_port

__all__ = ["TEMPLATE", "TUNED", "Nginx", "config", "nginx_binary", "start_nginx"]

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


def config(kind: str, registry: str, port: int, root: Path, prefix: Path) -> str:
    """The configuration ``kind`` of nginx on ``port`` in front of ``registry``
    (``host:port``), serving the files of ``root``."""
    mime = "/etc/nginx/mime.types"
    return _CONF.format(
        user=worker_user(),
        prefix=prefix,
        mime=mime if Path(mime).is_file() else os.devnull,
        upstream=_UPSTREAM[kind].format(registry=registry),
        port=port,
        root=root,
        proxy=_PROXY[kind].format(registry=registry),
    )


def start_nginx(kind: str, registry_url: str, root: Path, workdir: Path) -> Nginx:
    prefix = workdir / f"nginx-{kind}"
    port = free_port()
    text = config(kind, registry_url.removeprefix("http://").rstrip("/"), port, root, prefix)
    return run_nginx(kind, text, prefix, port)
