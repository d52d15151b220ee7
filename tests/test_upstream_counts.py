"""``X-Upstream-Requests`` and ``X-Upstream-Bytes`` say what the registry itself logged
for the answer: its access log, line by line, against the headers.

A token registry (what most deployments run): the token server's answers are not the
registry's and are not counted; a 401 whose body the auth flow never reads is a request
but no bytes. 50 tags, two of them on one digest (49 configs, not 50)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.corpus import push_corpus, push_corpus_with
from harness.images import OCI_MANIFEST, Pusher
from harness.registry import RegistryProcess
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.token_world import USERS, grant

# 127.0.0.1 - - [date] "GET /v2/... HTTP/1.1" 200 480 "" "light-registry/0.1.0"
_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d+) (?P<bytes>\d+)')


@dataclass
class Logged:
    registry: RegistryProcess

    def lines(self) -> list[re.Match[str]]:
        return [
            m
            for line in self.registry.log_text().splitlines()
            if "light-registry/" in line and (m := _LINE.search(line))
        ]


@pytest.fixture(scope="module")
def logged(registry_factory: Any, token_server_factory: Any) -> Iterator[Logged]:
    tokens = token_server_factory(USERS, grant)
    registry: RegistryProcess = registry_factory(auth="token", token=tokens, access_log=True)
    with Pusher(registry.url, "admin", USERS["admin"]) as p:
        corpus = push_corpus_with(p, "team/dup", 49)
        manifest = p.get_manifest("team/dup", "t00000")
        p.push_manifest("team/dup", "zz-same", manifest.content, OCI_MANIFEST)
    assert len(corpus.tags) == 49
    yield Logged(registry)


def test_a_cold_page_counts_what_the_registry_logged(logged: Logged) -> None:
    with gateway_for(logged.registry.url) as client:
        before = len(logged.lines())
        r = client.get(
            "/api/repositories/team/dup/tags",
            params={"details": "true", "n": "50"},
            headers=USERS.basic("admin"),
        )
        assert r.status_code == 200, r.text
        rows = r.json()["tags"]
        assert len(rows) == 50 and not [t for t in rows if t.get("error")]
        said = int(r.headers["x-upstream-requests"])
        # The registry writes its line once the answer is sent: wait for every one.
        lines = eventually(
            lambda: (found := logged.lines()[before:]) and len(found) >= said and found,
            what=f"{said} access log lines",
        )
        assert said == len(lines), [m.group("method", "path", "status") for m in lines]
        manifests = [m for m in lines if "/manifests/" in m["path"] and m["status"] == "200"]
        configs = [m for m in lines if "/blobs/" in m["path"] and m["status"] == "200"]
        assert (len(manifests), len(configs)) == (50, 49)
        read = sum(int(m["bytes"]) for m in lines if m["status"] != "401")
        assert int(r.headers["x-upstream-bytes"]) == read

        # The same page again: from the kept answer, nothing asked or read.
        again = client.get(
            "/api/repositories/team/dup/tags",
            params={"details": "true", "n": "50"},
            headers=USERS.basic("admin"),
        )
        assert again.headers["x-upstream-requests"] == "0"
        assert again.headers["x-upstream-bytes"] == "0"


def test_corpus_pushes_to_an_open_registry(registry_factory: Any) -> None:
    """``harness.corpus`` (what the memory test and the benchmarks push) makes distinct
    images under consecutive tags."""
    process = registry_factory()
    corpus = push_corpus(process.url, "c/app", 5)
    assert sorted(corpus.tags) == [f"t0000{i}" for i in range(5)]
    assert len(set(corpus.tags.values())) == 5 and len(set(corpus.configs.values())) == 5
