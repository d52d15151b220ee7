"""Search with per-user rights (a token registry): results only from repositories the
caller may pull, whoever's walk built the index.

- With a service account (an admin who sees everything) the index holds every
  repository; a reader still gets only what the registry lets the reader pull.
- Without one, each caller's search walks what that caller can see: the reader's walk
  never reads the private repository, and the admin's search afterwards walks the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.images import Pusher
from harness.registry import RegistryProcess
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.callers import Users
from tests.support.search_corpus import Corpus, build_search_corpus, push_search_corpus
from tests.support.search_truth import Row, expected

USERS = Users({"admin": "admin-Pw-srch-1", "reader": "reader-Pw-srch-2"})
PREFIX = "guarded"


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return list(actions)
    if user == "reader" and rtype == "registry":
        return list(actions)  # the catalog: it lists every repository
    if user == "reader" and rtype == "repository" and name != f"{PREFIX}/private":
        return [a for a in actions if a == "pull"]
    return []


def reader_sees(repo: str) -> bool:
    return repo != f"{PREFIX}/private"


@pytest.fixture(scope="module")
def guarded(registry_factory: Any, token_server_factory: Any) -> Iterator[tuple[str, Corpus]]:
    tokens = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    corpus = build_search_corpus(PREFIX)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        push_search_corpus(p, corpus)
    yield reg.url, corpus


def rows(client: TestClient, user: str, **params: str) -> tuple[list[Row], dict[str, Any]]:
    r = client.get("/api/search", params={"n": "1000", **params}, headers=USERS.basic(user))
    assert r.status_code == 200, r.text
    body = r.json()
    found = [
        (
            x["repository"],
            x["tag"],
            x["digest"],
            x["platform"],
            x["match"]["kind"],
            x["match"]["value"],
        )
        for x in body["results"]
    ]
    return found, body


CHECKS = [("package", "openssl@3.0.7"), ("label", "team"), ("tag", "*"), ("tag", "*-rc*")]


def complete(client: TestClient, user: str) -> None:
    def check() -> bool:
        _, body = rows(client, user, tag="*")
        return bool(body["complete"])

    eventually(check, within=30, what=f"{user}'s search to be complete")


def test_a_service_accounts_index_shows_a_reader_only_what_the_reader_may_pull(
    guarded: tuple[str, Corpus],
) -> None:
    url, corpus = guarded
    service = {"registry_username": "admin", "registry_password": USERS["admin"]}
    with gateway_for(url, **service) as client:
        complete(client, "admin")
        for kind, text in CHECKS:
            assert rows(client, "admin", **{kind: text})[0] == expected(corpus, kind, text)
            got, body = rows(client, "reader", **{kind: text})
            assert got == expected(corpus, kind, text, reader_sees), (kind, text)
            assert body["complete"]
            assert body["indexed"]["repositories"] == len(corpus.tags) - 1
        secret = corpus.digest("private", "1.0-rc1")
        assert rows(client, "reader", digest=secret)[0] == []
        assert rows(client, "admin", digest=secret)[0] != []


def test_without_a_service_account_each_caller_walks_what_they_can_see(
    guarded: tuple[str, Corpus],
) -> None:
    url, corpus = guarded
    with gateway_for(url) as client:
        anonymous = client.get("/api/search", params={"tag": "*"})
        assert anonymous.status_code == 401, anonymous.text  # a login is needed
        complete(client, "reader")
        for kind, text in CHECKS:
            assert rows(client, "reader", **{kind: text})[0] == expected(
                corpus, kind, text, reader_sees
            )
        # The reader's walk read nothing of the private repository.
        held = client.get("/metrics").text.splitlines()
        assert f"lr_search_index_repositories {len(corpus.tags) - 1}.0" in held
        complete(client, "admin")
        for kind, text in CHECKS:
            assert rows(client, "admin", **{kind: text})[0] == expected(corpus, kind, text)
