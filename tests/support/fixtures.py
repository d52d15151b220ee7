"""Session-scoped pytest fixtures around a real registry.

Import them from the top-level conftest (``from tests.support.fixtures import *``).
Every registry started here is stopped at the end of the session.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import go_peers
from harness.corpus import Corpus, push_corpus
from harness.images import PushedImage, Pusher, push_image
from harness.realworld import push_realworld
from harness.redis_server import RedisProcess, redis_available
from harness.referrers_registry import ReferrersRegistry, start_referrers_registry
from harness.registry import (
    DEFAULT_VERSION,
    RegistryProcess,
    RegistryVersion,
    registry_binary,
    start_registry,
)
from harness.tokenserver import Grant, TokenServer
from tests.support.content import Content, fill_standard

__all__ = [
    "CorpusRegistry",
    "FilledRegistry",
    "RealWorldRegistry",
    "corpus_registry",
    "realworld_registry",
    "redis_server",
    "referrers_api_registry",
    "registry",
    "registry_factory",
    "require_peer",
    "require_registry_binary",
    "token_server_factory",
    "untagged_registry",
]

RegistryFactory = Callable[..., RegistryProcess]
TokenServerFactory = Callable[..., TokenServer]


@dataclass
class FilledRegistry:
    process: RegistryProcess
    content: Content
    pusher: Pusher

    @property
    def url(self) -> str:
        return self.process.url


@dataclass
class RealWorldRegistry:
    process: RegistryProcess
    pushed: dict[str, str]  # "repo:tag" -> digest, or "skipped: why"
    pusher: Pusher

    @property
    def url(self) -> str:
        return self.process.url


@dataclass
class CorpusRegistry:
    process: RegistryProcess
    corpus: Corpus  # CORPUS_IMAGES distinct images in one repository

    @property
    def url(self) -> str:
        return self.process.url


#: Images in ``corpus_registry``'s repository: one page of 1,000 rows, all distinct.
CORPUS_IMAGES = 1000


@dataclass
class UntaggedRegistry:
    process: RegistryProcess
    image: PushedImage  # in ci/untagged, pushed by digest only

    @property
    def url(self) -> str:
        return self.process.url


def require_peer(name: str) -> Path:
    """The binary of Go peer ``name`` (harness/go_peers.py), built if need be; a skip
    saying why on a machine without the Go toolchain, a failure when Go is there and
    the build fails (a silent skip would hide it in CI)."""
    try:
        return go_peers.ensure(name)
    except go_peers.PeerUnavailable as exc:
        pytest.skip(str(exc))
    except go_peers.PeerBuildFailed as exc:
        pytest.fail(str(exc), pytrace=False)


def require_registry_binary(version: RegistryVersion = DEFAULT_VERSION) -> str:
    """The registry binary of ``version``, or a skip saying why there is none (2.8 not
    installed; no Go toolchain to build 3.x). A 3.x build that fails is a failure."""
    if version != "2.8":
        return str(require_peer(f"registry-{version}"))
    binary = registry_binary(version)
    if shutil.which(binary) is None and not Path(binary).is_file():
        pytest.skip(f"registry binary {binary} not installed (set LR_TEST_REGISTRY_BIN)")
    return binary


@pytest.fixture(scope="session")
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryFactory]:
    """``registry_factory(**start_registry_kwargs)`` -> a started ``RegistryProcess``
    (distribution 3.0 unless ``version="2.8"`` or ``"3.1"`` is asked for)."""
    started: list[RegistryProcess] = []

    def factory(**kwargs: Any) -> RegistryProcess:
        require_registry_binary(kwargs.get("version", DEFAULT_VERSION))
        reg = start_registry(tmp_path_factory.mktemp("registry"), **kwargs)
        started.append(reg)
        return reg

    yield factory
    for reg in started:
        reg.stop()


@pytest.fixture(scope="session")
def token_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TokenServerFactory]:
    """``token_server_factory(users, grant, **kwargs)`` -> a started ``TokenServer``."""
    started: list[TokenServer] = []

    def factory(users: dict[str, str], grant: Grant, **kwargs: Any) -> TokenServer:
        server = TokenServer(tmp_path_factory.mktemp("token"), users, grant, **kwargs).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def registry(registry_factory: RegistryFactory) -> Iterator[FilledRegistry]:
    """One open registry (no auth) holding ``fill_standard`` content. Do not modify it."""
    process = registry_factory()
    pusher = Pusher(process.url)
    try:
        content = fill_standard(pusher)
        yield FilledRegistry(process=process, content=content, pusher=pusher)
    finally:
        pusher.close()


@pytest.fixture(scope="session")
def realworld_registry(registry_factory: RegistryFactory) -> Iterator[RealWorldRegistry]:
    """A separate open registry holding the real-world documents (see realworld.py)."""
    process = registry_factory()
    pusher = Pusher(process.url)
    try:
        pushed = push_realworld(pusher)
        if not pushed:
            pytest.skip("real-world fixtures not found (set LR_SHARED_DIR)")
        yield RealWorldRegistry(process=process, pushed=pushed, pusher=pusher)
    finally:
        pusher.close()


@pytest.fixture(scope="session")
def untagged_registry(registry_factory: RegistryFactory) -> Iterator[UntaggedRegistry]:
    """An open registry whose one repository, ``ci/untagged``, holds an image pushed by
    digest only (as CI does before it assembles an index). Distribution lists the
    repository in its catalog but answers NAME_UNKNOWN to its tags/list."""
    process = registry_factory()
    with Pusher(process.url) as pusher:
        image = push_image(pusher, "ci/untagged", None)
        assert pusher.catalog() == ["ci/untagged"]
        assert pusher.request("GET", "/v2/ci/untagged/tags/list").status_code == 404
    yield UntaggedRegistry(process=process, image=image)


@pytest.fixture(scope="session")
def referrers_api_registry() -> Iterator[ReferrersRegistry]:
    """go-containerregistry's in-memory registry with the OCI referrers API (a Go peer;
    no auth). Shared: each test uses repositories of its own."""
    require_peer("referrers-registry")
    registry = start_referrers_registry()
    yield registry
    registry.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One real Redis for the session (no persistence). A test that stops it starts it
    again (same port) before it ends; tests share it, so each uses keys of its own
    gateways only or flushes it first."""
    if not redis_available():
        pytest.fail("redis-server not found: install Debian's redis-server (scripts/test.sh)")
    server = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def corpus_registry(registry_factory: RegistryFactory) -> CorpusRegistry:
    """An open registry whose repository ``corpus/big`` holds ``CORPUS_IMAGES`` distinct
    images (``harness.corpus``: tags ``t00000``…, a config each, one shared layer),
    pushed in seconds. Do not modify it."""
    process = registry_factory()
    return CorpusRegistry(process, push_corpus(process.url, "corpus/big", CORPUS_IMAGES))
