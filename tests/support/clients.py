"""Real registry clients for tests: skopeo (Debian's), crane and oras (Go peers).

Each run gets its own ``HOME`` (so ``crane auth login`` / ``oras login`` write a
credentials file of the test's own, never the user's), no proxy variables, and plain
HTTP to 127.0.0.1. ``run`` returns the finished process; ``ok`` asserts it succeeded
and returns its stdout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.fixtures import require_peer

CLIENT_TIMEOUT = 120.0
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@dataclass(frozen=True)
class Client:
    """One client binary, run with a home folder of its own."""

    name: str
    binary: Path
    home: Path

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in _PROXY_VARS and not k.startswith("DOCKER_")
        }
        env["HOME"] = str(self.home)
        env["XDG_RUNTIME_DIR"] = str(self.home / "run")  # skopeo's auth.json lives there
        env["DOCKER_CONFIG"] = str(self.home / ".docker")
        return env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        (self.home / "run").mkdir(parents=True, exist_ok=True)
        return subprocess.run(  # noqa: S603 - fixed binary
            [str(self.binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.home,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )

    def ok(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, (
            f"{self.name} {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
        return done.stdout


def crane(home: Path) -> Client:
    return Client("crane", require_peer("crane"), home)


def oras(home: Path) -> Client:
    return Client("oras", require_peer("oras"), home)


def skopeo(home: Path) -> Client:
    found = shutil.which("skopeo")
    if found is None:
        pytest.skip("skopeo not installed (Debian package skopeo)")
    return Client("skopeo", Path(found), home)
