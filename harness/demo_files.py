"""The demo's image for the Files and Compare views: ``demo/webapp`` in two versions of
one small web app on a shared base layer.

- ``1.0``: a base (``/etc``, ``/bin`` with a setuid helper and a symlink, ``/lib``), then
  the app (``/app/server.py``, a config, static files, a 1.5 MiB bundle);
- ``2.0``: the same base, the app changed (``server.py`` rewritten, a new module, the
  bundle larger, a static file removed by a whiteout, the config's mode tightened) and
  its config (``APP_VERSION``, a label, the command).

Layers are gzip'd tars built here with ``tarfile``: deterministic, so seeding again
pushes the same digests.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile

from harness.images import Pusher
from harness.layer_images import Layer, PushedLayers, image_config, push_layers

OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REPO = "demo/webapp"
MTIME = 1714557600  # 2024-05-01T10:00:00Z


def _tar(entries: list[tuple[str, str, bytes | str, int]]) -> bytes:
    """(name, type, data or link target, mode) → a gzip'd tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, MTIME
            body = data.encode() if isinstance(data, str) else data
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, body.decode()
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)


def _bundle(size: int, seed: int) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - demo content
    words = ["render", "fetch", "state", "props", "route", "store", "event", "hook"]
    lines = [f"function {rng.choice(words)}{n}(a,b){{return a+b*{n};}}" for n in range(size // 40)]
    return "\n".join(lines).encode()[:size]


def base_layer() -> bytes:
    return _tar(
        [
            ("etc", "dir", b"", 0o755),
            ("etc/os-release", "file", 'NAME="Demo Linux"\nID=demo\nVERSION_ID=1.0\n', 0o644),
            (
                "etc/passwd",
                "file",
                "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
                0o644,
            ),
            ("bin", "dir", b"", 0o755),
            ("bin/busybox", "file", b"\x7fELF" + bytes(range(256)) * 64, 0o755),
            ("bin/sh", "symlink", "/bin/busybox", 0o777),
            ("bin/su", "file", b"\x7fELF-su" * 32, 0o4755),
            ("lib", "dir", b"", 0o755),
            ("lib/libc.so.6", "file", b"\x7fELF-libc" * 4096, 0o755),
            ("tmp", "dir", b"", 0o1777),
        ]
    )


def app_layer(version: str) -> bytes:
    v2 = version == "2.0"
    server = (
        "from app import routes\n\n\ndef main():\n    routes.serve(port=8080)\n"
        if v2
        else "import http.server\n\n\ndef main():\n    http.server.test(port=8080)\n"
    )
    entries: list[tuple[str, str, bytes | str, int]] = [
        ("app", "dir", b"", 0o755),
        ("app/server.py", "file", server, 0o644),
        (
            "app/config.yaml",
            "file",
            f"version: {version}\nlisten: 0.0.0.0:8080\n",
            0o600 if v2 else 0o644,
        ),
        ("app/static", "dir", b"", 0o755),
        ("app/static/index.html", "file", f"<!doctype html><title>Demo {version}</title>\n", 0o644),
        ("app/static/bundle.js", "file", _bundle(2_400_000 if v2 else 1_500_000, 7), 0o644),
        (
            "app/README.md",
            "file",
            f"# Demo web app {version}\n\nServes /app/static on port 8080.\n",
            0o644,
        ),
    ]
    entries.append(("app/static/legacy.css", "file", "body { font: 16px serif }\n", 0o644))
    if v2:
        entries.append(("app/routes.py", "file", "def serve(port):\n    ...\n", 0o644))
    return _tar(entries)


def cleanup_layer() -> bytes:
    """2.0's last layer: removes the old stylesheet (a whiteout) and adds a health check."""
    return _tar(
        [
            ("app", "dir", b"", 0o755),
            ("app/static", "dir", b"", 0o755),
            ("app/static/.wh.legacy.css", "file", b"", 0o644),
            ("app/healthcheck.sh", "file", "#!/bin/sh\nwget -qO- localhost:8080/health\n", 0o755),
        ]
    )


def seed_webapp(p: Pusher) -> dict[str, PushedLayers]:
    """``demo/webapp:1.0`` and ``:2.0`` (and ``latest`` = 2.0)."""
    base = Layer(base_layer(), OCI_GZIP)
    old = push_layers(
        p,
        REPO,
        "1.0",
        [base, Layer(app_layer("1.0"), OCI_GZIP)],
        config=image_config(
            env=["PATH=/usr/bin:/bin", "APP_VERSION=1.0"],
            labels={"org.opencontainers.image.version": "1.0"},
            cmd=["python", "/app/server.py"],
            created="2024-05-01T10:00:00Z",
            layers=2,
        ),
    )
    new_layers = [base, Layer(app_layer("2.0"), OCI_GZIP), Layer(cleanup_layer(), OCI_GZIP)]
    config = image_config(
        env=["PATH=/usr/bin:/bin", "APP_VERSION=2.0"],
        labels={"org.opencontainers.image.version": "2.0"},
        cmd=["python", "-m", "app.server"],
        created="2024-06-01T10:00:00Z",
        layers=3,
    )
    new = push_layers(p, REPO, "2.0", new_layers, config=config)
    push_layers(p, REPO, "latest", new_layers, config=config)
    return {"1.0": old, "2.0": new}
