"""The servers a benchmark measures, each in a subprocess of its own: the gateway or a
bare FastAPI app (``serve``), or the stand-in registry (``standin``, bench/standin.py),
all under the same uvicorn configuration; their CPU and memory read from ``/proc``.

    python bench/servers.py serve --app gateway --registry URL --port N [--profile F]
    python bench/servers.py serve --app bare --bodies FILE --port N
    python bench/servers.py standin --port N [--repos 100000] [--big 100] [--tags 100]

``start_server`` starts one (pinned to ``cpus`` when given) and waits until it answers;
everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from bench.uvicorn_config import uvicorn_run  # noqa: E402
from harness.processes import clean_env  # noqa: E402
from harness.waiting import eventually  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env(extra_path: str | None = None) -> dict[str, str]:
    # LR_* settings of the caller's shell must not leak into the servers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LR_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(ROOT)) if p)
    env["PYTHONHASHSEED"] = "0"
    return env


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return _status_kb(self.pid, "VmRSS") / 1024

    def hwm_mb(self) -> float:
        return _status_kb(self.pid, "VmHWM") / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field_name} for pid {pid}")


def affinity(cpus: set[int] | None) -> Any:
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def gateway_process(registry: str, workdir: Path, **settings: str) -> subprocess.Popen[bytes]:
    """``python -m gateway`` in ``workdir`` (its data folder and log there) in front of
    ``registry``, with ``LR_…`` ``settings`` besides; returned once it answers, its URL
    as ``.url``. The caller stops it by PID."""
    port = free_port()
    env = clean_env(
        LR_REGISTRY_URL=registry,
        LR_PORT=str(port),
        LR_LOG_LEVEL="warning",
        LR_DATA_DIR=str(workdir / "data"),
        **settings,
    )
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "gateway"],
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=(workdir / "gateway.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    eventually(
        lambda: httpx.get(url + "/api/health/live", trust_env=False).status_code == 200,
        within=30,
        retry=(httpx.TransportError,),
    )
    proc.url = url  # type: ignore[attr-defined]
    return proc


def start_server(
    name: str,
    args: list[str],
    logdir: Path,
    *,
    cpus: set[int] | None = None,
    code_root: str | None = None,
    ready_path: str = "/",
    timeout: float = 30.0,
) -> Server:
    port = free_port()
    log = logdir / f"{name}.log"
    handle = log.open("ab")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(Path(__file__).resolve()), *args, "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=_child_env(code_root),
        cwd=code_root or str(ROOT),
        preexec_fn=affinity(cpus),  # noqa: PLW1509 - only sched_setaffinity
    )
    handle.close()
    server = Server(name, proc, f"http://127.0.0.1:{port}", log)
    with httpx.Client(trust_env=False, timeout=2.0) as client:

        def answers() -> httpx.Response:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
            return client.get(server.url + ready_path)

        try:
            eventually(answers, within=timeout, retry=(httpx.TransportError,))
        except AssertionError:
            server.stop()
            raise RuntimeError(f"{name} did not start: {log.read_text(errors='replace')}") from None
    return server


def serve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="servers.py serve")
    parser.add_argument("--app", choices=("gateway", "bare"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--registry", help="the gateway's registry URL")
    parser.add_argument("--bodies", help="bare: JSON file {path?query: body}")
    parser.add_argument("--profile", help="gateway: write cProfile stats here on exit")
    args = parser.parse_args(argv)
    app: Any
    data_dir: Path | None = None
    if args.app == "bare":
        bodies = {
            k: v.encode() for k, v in json.loads(Path(args.bodies).read_text("utf-8")).items()
        }
        app = FastAPI()

        @app.get("/{path:path}")
        async def bare(request: Request) -> Response:  # noqa: ARG001
            key = request.url.path + ("?" + request.url.query if request.url.query else "")
            body = bodies.get(key)
            if body is None:
                return Response(b'{"error":"unknown"}', status_code=404)
            return Response(body, media_type="application/json")

    else:
        from gateway.main import create_app
        from gateway.settings import Settings

        # A data folder of its own, removed on exit: a gateway started by a bench is cold,
        # with no content on disk from an earlier run (they shared ./data before).
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        data_dir = Path(tempfile.mkdtemp(prefix="lr-bench-data-", dir=shm))
        settings = Settings(
            _env_file=None,
            registry_url=args.registry,
            cache_ttl=3600.0,
            access_ttl=3600.0,
            log_level="warning",
            data_dir=data_dir,
        )
        app = create_app(settings)
    if args.profile:
        import cProfile

        # uvicorn re-raises the SIGTERM it handled once it has shut down: with the
        # default handler that would end the process before the stats are written.
        signal.signal(signal.SIGTERM, lambda *_: None)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            uvicorn_run(app, args.port)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
            if data_dir is not None:
                shutil.rmtree(data_dir, ignore_errors=True)
    else:
        # uvicorn re-raises the SIGTERM it handled once it has shut down: ignored, so
        # that the data folder is removed below (the default handler would end the
        # process first).
        signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            uvicorn_run(app, args.port)
        finally:
            if data_dir is not None:
                shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def metric_sum(text: str, name: str, label: str | None = None) -> float:
    """The sum of a metric's samples in a /metrics answer (those with ``label``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (label is None or label in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        return serve_main(argv[1:])
    if argv and argv[0] == "standin":
        from bench.standin import standin_main

        return standin_main(argv[1:])
    print("usage: servers.py serve|standin ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
