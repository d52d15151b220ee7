"""A registry with the OCI 1.1 referrers API, for what distribution cannot show.

distribution (2.8, 3.0, 3.1) has no referrers API; go-containerregistry's
``pkg/registry`` has one (``WithReferrersSupport``). ``harness/peers/referrers-registry``
serves it in memory on 127.0.0.1 (a Go peer, built by harness/go_peers.py) and
prints its address once it listens. No auth, no deletes of its own limits: a stand-in
for registries such as zot or Harbor in what concerns referrers only.
"""

from __future__ import annotations

import atexit
import select
import subprocess
import time
from dataclasses import dataclass

from harness import go_peers

READY_TIMEOUT = 10.0
_LIVE: dict[int, ReferrersRegistry] = {}


@dataclass
class ReferrersRegistry:
    proc: subprocess.Popen[bytes]
    host: str  # 127.0.0.1:PORT

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        """Terminate by PID, wait, kill on timeout. Safe to call twice."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        _LIVE.pop(id(self), None)


def start_referrers_registry() -> ReferrersRegistry:
    """Start one (``go_peers.PeerUnavailable`` without Go, ``PeerBuildFailed`` when the
    peer does not build; RuntimeError when it does not start)."""
    binary = go_peers.ensure("referrers-registry")
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [str(binary)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        if not ready:
            proc.kill()
            proc.wait()
            raise RuntimeError("the referrers registry did not say where it listens")
        chunk = proc.stdout.read1(256)  # type: ignore[attr-defined]
        if not chunk:
            raise RuntimeError(f"the referrers registry exited with {proc.wait()}")
        line += chunk
    registry = ReferrersRegistry(proc, line.decode().strip())
    _LIVE[id(registry)] = registry
    return registry


@atexit.register
def _stop_leftovers() -> None:
    for registry in list(_LIVE.values()):
        registry.stop()
