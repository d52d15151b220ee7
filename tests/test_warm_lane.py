"""The warm lane (gateway/routers/warm.py): a kept answer sent again before routing, to
the same caller only, never past an invalidation, with the same bytes and headers as the
routed answer, logged and counted under the route."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.assertions import assert_envelope
from tests.support.callers import XHR
from tests.support.mock_registry import FakeRegistry, gateway
from tests.support.token_world import USERS, World, basic
from tests.support.token_world import world as world  # noqa: PLC0414 - the module's fixture
from tests.test_answers import answers_of
from tests.test_answers import test_a_notification_ends_kept_answers as _notified
from tests.test_events import plain_registry as plain_registry  # noqa: PLC0414 - a fixture

PAGES = (
    "/api/repositories",
    "/api/repositories/team/app/tags?details=true",
    "/api/repositories/team/app/images/1.0",
)


class Routed:
    """Counts the requests that reached the router (the lane did not answer them)."""

    def __init__(self, client: Any) -> None:
        self.count = 0
        router = client.app.router
        inner = router.middleware_stack

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.count += 1
            await inner(scope, receive, send)

        router.middleware_stack = counting


_PER_REQUEST = ("x-request-id", "x-upstream-requests", "x-upstream-bytes")


def _comparable(headers: Any) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in headers.items() if k not in _PER_REQUEST)


def test_a_repeat_takes_the_lane_with_the_same_bytes_and_headers(
    world: World, make_gateway: Any
) -> None:
    with make_gateway(world.url, cache_ttl=300, access_ttl=300) as client:
        counter = Routed(client)
        for page in PAGES:
            first = client.get(page, headers=basic("admin"))
            assert first.status_code == 200, first.text
            routed_before = counter.count
            again = client.get(page, headers=basic("admin"))
            assert counter.count == routed_before, page  # answered before routing
            assert again.content == first.content
            assert _comparable(again.headers) == _comparable(first.headers)
            assert again.headers["x-upstream-requests"] == "0"
        # Another query string is another request: routed, then kept for the lane too.
        before = counter.count
        client.get("/api/repositories?n=7", headers=basic("admin"))
        client.get("/api/repositories?n=7", headers=basic("admin"))
        assert counter.count == before + 1


def test_the_lane_serves_no_one_else(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url, cache_ttl=300, access_ttl=300) as client:
        counter = Routed(client)
        admin = client.get("/api/repositories", headers=basic("admin"))
        assert "secret/vault" in admin.text
        client.get("/api/repositories", headers=basic("admin"))
        routed_before = counter.count
        reader = client.get("/api/repositories", headers=basic("reader"))
        assert counter.count == routed_before + 1
        assert "secret/vault" not in reader.text
        anonymous = client.get("/api/repositories")
        assert anonymous.status_code == 401
        assert "secret/vault" not in anonymous.text
        wrong = client.get("/api/repositories", headers=basic("admin", USERS["reader"]))
        assert wrong.status_code == 401 and "secret/vault" not in wrong.text
        # Malformed credentials cannot name a caller: the route answers with its error.
        bad = client.get("/api/repositories", headers={"Authorization": "Basic %%%"})
        assert_envelope(bad, 401, "UNAUTHORIZED")


def test_an_ended_session_never_takes_the_lane(world: World, make_gateway: Any) -> None:
    with make_gateway(world.url, cache_ttl=300, access_ttl=300) as client:
        body = {"username": "admin", "password": USERS["admin"]}
        assert client.post("/api/session", json=body, headers=XHR).status_code == 200
        page = client.get("/api/repositories")
        assert page.status_code == 200 and "secret/vault" in page.text
        assert client.get("/api/repositories").content == page.content
        cookie = client.cookies.get("lr_session")
        assert cookie
        assert client.delete("/api/session", headers=XHR).status_code == 204
        client.cookies.set("lr_session", cookie)  # the old cookie, sent again
        ended = client.get("/api/repositories")
        assert_envelope(ended, 401, "UNAUTHORIZED")
        assert ended.json()["error"]["detail"] == {"session": "expired"}
        assert "secret/vault" not in ended.text


def test_a_notification_ends_what_the_lane_kept(plain_registry: Any, make_gateway: Any) -> None:
    # The same scenario as for kept answers: the second request took the lane.
    _notified(plain_registry, make_gateway)


def test_lane_answers_are_logged_and_counted_under_their_route(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with gateway(FakeRegistry(), cache_ttl=300) as client:
        counter = Routed(client)
        client.get("/api/repositories/app/tags")
        with caplog.at_level("INFO", logger="gateway.access"):
            client.get("/api/repositories/app/tags")
        assert counter.count == 1
        metrics = client.get("/metrics").text
        line = next(
            line
            for line in metrics.splitlines()
            if line.startswith("lr_http_requests_total")
            and 'route="/api/repositories/{name}/tags"' in line
            and 'status="200"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) == 2
        routes = [getattr(r, "access", {}).get("route") for r in caplog.records]
        assert "/api/repositories/{name}/tags" in routes
        assert answers_of(client).hits >= 1


def test_no_lane_without_a_cache_period() -> None:
    with gateway(FakeRegistry(), cache_ttl=0) as client:
        counter = Routed(client)
        client.get("/api/repositories/app/tags")
        client.get("/api/repositories/app/tags")
        assert counter.count == 2


def test_only_gets_of_kept_pages_take_the_lane() -> None:
    with gateway(FakeRegistry(), cache_ttl=300) as client:
        counter = Routed(client)
        client.get("/api/repositories/app/tags")
        head = client.head("/api/repositories/app/tags")
        assert head.status_code in (200, 405)
        client.get("/api/config")
        client.get("/api/config")
        assert counter.count == 4
        basic_header = "Basic " + base64.b64encode(b"user:pw").decode()
        client.get("/api/repositories/app/tags", headers={"Authorization": basic_header})
        assert counter.count == 5  # another caller: routed
