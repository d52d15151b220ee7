"""Go programs the tests run as peers: real registries, real clients, the OCI suite.

Each peer is pinned to a module version and built with the Go toolchain from the Go
module proxy (``go install module/cmd@version``), or, for our own small programs under
``harness/peers/``, with ``go build`` there. Binaries are cached by module@version (our
own by a hash of their sources) under ``$LR_GO_PEERS_DIR``, else
``$XDG_CACHE_HOME/light-registry/go`` (``~/.cache/light-registry/go``), so a second
run costs nothing.

``scripts/test.sh`` builds them all up front (``python -m harness.go_peers``); whatever
asks for one that is missing (``ensure``) builds it then. Without the Go toolchain that
raises ``PeerUnavailable``, and the tests that need a peer skip, saying so
(``tests.support.fixtures.require_peer``); with Go present a peer that fails to build
raises ``PeerBuildFailed`` and fails the test (a silent skip would hide it in CI).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OWN_PEERS = REPO_ROOT / "harness" / "peers"
BUILD_TIMEOUT = 900.0


@dataclass(frozen=True)
class GoPeer:
    """One binary: ``package`` at ``version`` (a module query), or our own main package
    ``harness/peers/<local>`` when ``local`` is set."""

    name: str
    package: str
    version: str
    binary: str
    local: str | None = None

    @property
    def label(self) -> str:
        return f"{self.package}@{self.version}"


CONFORMANCE_VERSION = "v0.0.0-20260831232431-97274622c111"

PEERS: dict[str, GoPeer] = {
    peer.name: peer
    for peer in (
        GoPeer(
            "registry-3.0",
            "github.com/distribution/distribution/v3/cmd/registry",
            "v3.0.0",
            "registry",
        ),
        GoPeer(
            "registry-3.1",
            "github.com/distribution/distribution/v3/cmd/registry",
            "v3.1.2",
            "registry",
        ),
        GoPeer("crane", "github.com/google/go-containerregistry/cmd/crane", "v0.22.1", "crane"),
        GoPeer("oras", "oras.land/oras/cmd/oras", "v1.3.6", "oras"),
        GoPeer(
            "conformance",
            "github.com/opencontainers/distribution-spec/conformance",
            CONFORMANCE_VERSION,
            "conformance",
        ),
        GoPeer(
            "referrers-registry",
            "lightregistry.test/peers/referrers-registry",
            "local",
            "referrers-registry",
            local="referrers-registry",
        ),
    )
}


class PeerUnavailable(Exception):
    """The Go toolchain is not installed: tests needing a peer skip with this reason."""


class PeerBuildFailed(Exception):
    """Go is there but the build failed (module proxy unreachable, compile error)."""


def cache_root() -> Path:
    explicit = os.environ.get("LR_GO_PEERS_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "light-registry" / "go"


def go_binary() -> str | None:
    """``$LR_GO`` when set (``LR_GO=none``: as on a machine without Go), else ``go`` on
    PATH, else the usual tarball install location."""
    explicit = os.environ.get("LR_GO")
    candidates = [explicit] if explicit else [shutil.which("go"), "/usr/local/go/bin/go"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _local_fingerprint(peer: GoPeer) -> str:
    """Our own peers are keyed by their sources (and the module's go.mod/go.sum)."""
    assert peer.local is not None
    digest = hashlib.sha256()
    files = [OWN_PEERS / "go.mod", OWN_PEERS / "go.sum"]
    files += sorted((OWN_PEERS / peer.local).rglob("*.go"))
    for path in files:
        digest.update(path.relative_to(OWN_PEERS).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def peer_path(peer: GoPeer) -> Path:
    """Where the binary of ``peer`` lives once built (it may not exist yet)."""
    version = _local_fingerprint(peer) if peer.local else peer.version
    folder = peer.package.replace("/", "_") + "@" + version
    return cache_root() / folder / peer.binary


@contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time across processes (parallel sessions share the cache)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _go_env(go: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOFLAGS")}
    env.update(
        {
            "CGO_ENABLED": "0",  # static binaries; no C compiler needed
            "GOTOOLCHAIN": "local",  # never fetch another toolchain behind our back
            "GOFLAGS": "-trimpath",
        }
    )
    env["PATH"] = str(Path(go).parent) + os.pathsep + env.get("PATH", "")
    return env


def _build(peer: GoPeer, go: str, target: Path) -> None:
    staging = target.parent / (".staging-" + str(os.getpid()))
    staging.mkdir(parents=True, exist_ok=True)
    env = _go_env(go)
    if peer.local:
        argv = [go, "build", "-o", str(staging / peer.binary), "./" + peer.local]
        cwd = OWN_PEERS
    else:
        env["GOBIN"] = str(staging)
        argv = [go, "install", peer.label]
        cwd = cache_root()
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
        built = staging / peer.binary
        if done.returncode != 0 or not built.is_file():
            raise PeerBuildFailed(
                f"building {peer.label} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
            )
        built.replace(target)  # atomic: a reader never sees half a binary
    except subprocess.TimeoutExpired as exc:
        raise PeerBuildFailed(f"building {peer.label} took over {BUILD_TIMEOUT:.0f}s") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# Builds that failed in this process: tried once, not again for every test.
_FAILED: dict[str, PeerBuildFailed] = {}


def ensure(name: str, *, log: bool = False) -> Path:
    """The path of peer ``name``'s binary, building it first if it is not cached.

    Raises ``PeerUnavailable`` without a Go toolchain, ``PeerBuildFailed`` when the
    build fails (then again at once for later asks in this process).
    """
    peer = PEERS[name]
    target = peer_path(peer)
    if target.is_file():
        return target
    if name in _FAILED:
        raise _FAILED[name]
    go = go_binary()
    if go is None:
        raise PeerUnavailable(
            f"the Go toolchain is not installed (needed to build {peer.label}; "
            "set LR_GO or put go on PATH)"
        )
    with _build_lock():
        if target.is_file():  # another process built it while we waited
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            _build(peer, go, target)
        except PeerBuildFailed as exc:
            _FAILED[name] = exc
            raise
        if log:
            took = time.monotonic() - started
            print(f"built {peer.label} in {took:.1f}s -> {target}", file=sys.stderr)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.go_peers",
        description="Build (once) and cache the Go programs the tests use.",
    )
    parser.add_argument("names", nargs="*", help=f"peers to build (default: all of {list(PEERS)})")
    parser.add_argument("--list", action="store_true", help="print each peer's cached path")
    args = parser.parse_args(argv)
    names = args.names or list(PEERS)
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        parser.error(f"unknown peers: {unknown}")
    if args.list:
        for name in names:
            path = peer_path(PEERS[name])
            print(f"{name}\t{PEERS[name].label}\t{path}\t{'cached' if path.is_file() else '-'}")
        return 0
    if go_binary() is None:
        print("Go toolchain not found: tests that need Go peers will skip", file=sys.stderr)
        return 0
    started = time.monotonic()
    missing = [n for n in names if not peer_path(PEERS[n]).is_file()]
    failed = []
    for name in missing:
        try:
            ensure(name, log=True)
        except PeerBuildFailed as exc:
            print(str(exc), file=sys.stderr)
            failed.append(name)
    took = time.monotonic() - started
    if missing:
        print(
            f"Go peers: built {len(missing) - len(failed)} in {took:.1f}s "
            f"(cached under {cache_root()})",
            file=sys.stderr,
        )
    else:
        print(f"Go peers: all {len(names)} cached under {cache_root()}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
