"""Warm answers kept as the bytes sent (gateway/services/answers.py): never one caller's
answer to another, never past an invalidation, never a page with an error, never long."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import gateway.services.answers as answers_module
from harness.images import Pusher, push_image
from tests.support.clock import Clock
from tests.support.mock_registry import FakeRegistry, gateway, registry_error
from tests.support.token_world import USERS, World, basic
from tests.support.token_world import world as world  # noqa: PLC0414 - the module's fixture
from tests.test_events import plain_registry as plain_registry  # noqa: PLC0414 - a fixture

TOKEN = "answers-events-Tk-55"


def answers_of(client: Any) -> Any:
    return client.app.state.lr.answers


def test_a_repeat_is_answered_as_sent_and_only_to_the_same_caller(
    world: World, make_gateway: Any
) -> None:
    with make_gateway(world.url, cache_ttl=300, access_ttl=300) as client:
        answers = answers_of(client)
        admin = client.get("/api/repositories", headers=basic("admin"))
        assert admin.status_code == 200
        assert "secret/vault" in admin.text
        again = client.get("/api/repositories", headers=basic("admin"))
        assert again.content == admin.content and answers.hits == 1
        # The same URL for the reader: the admin's kept answer is not the reader's.
        reader = client.get("/api/repositories", headers=basic("reader"))
        assert reader.status_code == 403 and "secret/vault" not in reader.text
        assert client.get("/api/repositories").status_code == 401
        # The reader's own answer is kept for the reader.
        tags = client.get("/api/repositories/team/app/tags", headers=basic("reader"))
        assert tags.status_code == 200
        before = answers.hits
        assert client.get("/api/repositories/team/app/tags", headers=basic("reader")).content == (
            tags.content
        )
        assert answers.hits == before + 1
        # Anonymous may not read team/app: nothing the reader got reaches it.
        anonymous = client.get("/api/repositories/team/app/tags")
        assert anonymous.status_code == 401
        assert answers.hits == before + 1
        wrong = client.get(
            "/api/repositories/team/app/tags", headers=basic("reader", USERS["admin"])
        )
        assert wrong.status_code == 401


def test_a_notification_ends_kept_answers(plain_registry: Any, make_gateway: Any) -> None:
    registry = plain_registry
    with (
        Pusher(registry.url) as pusher,
        make_gateway(registry.url, events_token=TOKEN, cache_ttl=300) as client,
    ):
        answers = answers_of(client)
        push_image(pusher, "kept/app", "1.0", n_layers=1)
        assert client.get("/api/repositories/kept/app/tags").json()["total"] == 1
        assert client.get("/api/repositories/kept/app/tags").json()["total"] == 1
        assert answers.hits == 1
        push_image(pusher, "kept/app", "2.0", n_layers=1)
        event = {
            "events": [
                {
                    "action": "push",
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "repository": "kept/app",
                        "tag": "2.0",
                    },
                }
            ]
        }
        r = client.post(
            "/api/events",
            content=json.dumps(event).encode(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert r.status_code == 200
        # The kept answer did not survive the notification.
        fresh = client.get("/api/repositories/kept/app/tags")
        assert fresh.json()["total"] == 2
        assert fresh.headers["x-upstream-requests"] != "0"
        assert answers.hits == 1


def test_pages_with_an_error_are_built_each_time() -> None:
    state = {"fail": True}

    async def flaky(request: httpx.Request) -> httpx.Response | None:
        if state["fail"] and request.url.path.endswith("/tags/list"):
            return registry_error(503, "UNAVAILABLE")
        return None

    fake = FakeRegistry(flaky)
    fake.tags = {"app": ["1.0"], "web": ["2.0"]}
    with gateway(fake, cache_ttl=300) as client:
        first = client.get("/api/repositories")
        assert first.status_code == 200
        assert all(row["error"] for row in first.json()["repositories"])
        state["fail"] = False
        second = client.get("/api/repositories")
        assert [row["tag_count"] for row in second.json()["repositories"]] == [1, 1]
        assert answers_of(client).hits == 0


def test_kept_answers_live_half_a_cache_period_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock().install(monkeypatch, answers_module)
    fake = FakeRegistry()
    with gateway(fake, cache_ttl=0.6, access_ttl=0.6) as client:
        answers = answers_of(client)
        assert answers.seconds == 0.3
        client.get("/api/repositories/app/tags")
        client.get("/api/repositories/app/tags")
        assert answers.hits == 1
        clock.advance(0.35)
        client.get("/api/repositories/app/tags")
        assert answers.hits == 1  # expired: built again
    with gateway(FakeRegistry(), cache_ttl=0) as client:
        client.get("/api/repositories/app/tags")
        client.get("/api/repositories/app/tags")
        assert answers_of(client).hits == 0  # no cache period, nothing kept


def test_an_answer_built_while_the_caches_moved_is_not_kept() -> None:
    # A notification drops the caches while a page is being built from them: the page
    # built from the old list must not be kept past that drop.
    with gateway(FakeRegistry(), cache_ttl=300) as client:
        answers = answers_of(client)
        stamp = answers.stamp()
        client.app.state.lr.registry.forget_repository("app")  # the caches move
        answers.put(("any", "key"), b"{}", stamp)
        assert answers.get(("any", "key")) is None
        assert len(answers) == 0
