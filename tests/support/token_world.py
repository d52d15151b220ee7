"""A token (Bearer) registry with three identities, for the tests of per-user rights.

- ``admin``: everything, including the catalog;
- ``reader``: pull on ``team/*`` only, no catalog;
- anonymous: pull on ``public/*`` only.

``secret/vault`` carries ``SECRET_MARKER`` in its config: no answer to anyone but the
admin may hold it. ``world`` is a module-scoped fixture: import it into a test module
(``from tests.support.token_world import world as world``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess
from harness.tokenserver import TokenServer
from tests.support.callers import Users

USERS = Users({"admin": "admin-Pw-7f3a", "reader": "reader-Pw-91c2"})
SECRET_MARKER = "SECRET_MARKER=tk-4b1d9e"


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return list(actions)
    if rtype != "repository":
        return []
    if user == "reader" and name.startswith("team/"):
        return [a for a in actions if a == "pull"]
    if user is None and name.startswith("public/"):
        return [a for a in actions if a == "pull"]
    return []


basic = USERS.basic


@dataclass
class World:
    registry: RegistryProcess
    tokens: TokenServer
    team: PushedImage
    public: PushedImage
    secret: PushedImage

    @property
    def url(self) -> str:
        return self.registry.url

    def mark(self) -> int:
        return len(self.tokens.requests)

    def since(self, mark: int) -> list[dict[str, Any]]:
        return list(self.tokens.requests[mark:])


@pytest.fixture(scope="module")
def world(registry_factory: Any, token_server_factory: Any) -> Iterator[World]:
    tokens: TokenServer = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        team = push_image(p, "team/app", "1.0")
        public = push_image(p, "public/base", "1.0")
        secret = push_image(p, "secret/vault", "1.0", env=[SECRET_MARKER])
    yield World(reg, tokens, team, public, secret)
