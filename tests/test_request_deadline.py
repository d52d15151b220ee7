"""One deadline per gateway request (``LR_REQUEST_TIMEOUT``).

The registry is played by ``FakeRegistry`` (tests/support/mock_registry.py) with
answers delayed by ``asyncio.sleep`` — a real registry cannot be made to stall on
command — except where a real socket that never answers is enough. Each test asserts
the wall time of the gateway's answer against the deadline: a page answers with what it
has (rows carrying their error) or a 504 envelope, never later, and nothing a timeout
cut short is cached.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.cache import SingleFlight
from gateway.deadline import GRACE, request_deadline, within_deadline
from gateway.errors import UpstreamTimeout
from gateway.main import create_app
from gateway.middleware import DeadlineMiddleware
from gateway.registry.slots import DeadlineSlots
from gateway.settings import Settings
from tests.support.assertions import assert_envelope
from tests.support.mock_registry import (
    MANIFEST,
    REGISTRY,
    FakeRegistry,
    blob_response,
    manifest_response,
)
from tests.support.stand_ins import hanging_registry

SLACK = 1.0  # what the issue allows past the deadline (assembling the page, the test's own)
STALL = 3600.0  # "forever": longer than any test


@asynccontextmanager
async def gateway_client(
    fake: FakeRegistry | None = None, *, registry_url: str = REGISTRY, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An app over ``fake`` (or the network, for ``registry_url``), its lifespan run,
    and an async client: concurrent requests need one event loop, not TestClient's."""
    values: dict[str, Any] = {"registry_url": registry_url, "read_timeout": 60.0}
    values.update(settings)
    config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    transport = httpx.MockTransport(fake) if fake is not None else None
    app = create_app(config, transport=transport)
    async with app.router.lifespan_context(app):
        asgi = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=asgi, base_url="http://testserver") as client:
            yield client


async def timed(client: httpx.AsyncClient, url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(url)
    return response, time.monotonic() - started


def many_repositories(count: int) -> FakeRegistry:
    fake = FakeRegistry()
    fake.tags = {f"team/app-{i:03d}": ["1.0"] for i in range(count)}
    return fake


def stalling(pattern: str, seconds: float = STALL) -> Any:
    """An override that holds every request whose path matches ``pattern``."""
    rule = re.compile(pattern)
    state = {"stall": True}

    async def override(request: httpx.Request) -> httpx.Response | None:
        if state["stall"] and rule.search(request.url.path):
            await asyncio.sleep(seconds)
        return None

    override.state = state  # type: ignore[attr-defined]
    return override


async def test_stalled_tag_lists_answer_the_page_at_the_deadline_with_row_errors() -> None:
    # Measured before the deadline existed: this page answered after 120 s.
    fake = many_repositories(50)
    fake.override = stalling(r"/tags/list$")
    async with gateway_client(fake, request_timeout=1.5) as client:
        response, took = await timed(client, "/api/repositories?n=50")
        assert response.status_code == 200, response.text
        assert took < 1.5 + SLACK, took
        rows = response.json()["repositories"]
        assert len(rows) == 50
        assert {row["error"]["code"] for row in rows} == {"UPSTREAM_TIMEOUT"}
        assert all(row["tag_count"] is None for row in rows)

        # Nothing the deadline cut short was cached: the registry answers now.
        fake.override.state["stall"] = False  # type: ignore[union-attr]
        response, took = await timed(client, "/api/repositories?n=50")
        rows = response.json()["repositories"]
        assert [row["tag_count"] for row in rows] == [1] * 50
        assert all(row.get("error") is None for row in rows)


async def test_a_stalled_catalog_is_a_504_envelope_at_the_deadline() -> None:
    fake = many_repositories(3)
    fake.override = stalling(r"/_catalog$")
    async with gateway_client(fake, request_timeout=1.0) as client:
        response, took = await timed(client, "/api/repositories")
        assert took < 1.0 + SLACK, took
        assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
        assert "deadline" in response.json()["error"]["message"]

        fake.override.state["stall"] = False  # type: ignore[union-attr]
        response = await client.get("/api/repositories")
        assert response.status_code == 200
        assert len(response.json()["repositories"]) == 3


async def test_requests_queued_for_upstream_slots_answer_by_their_deadline() -> None:
    # Measured before: 48 concurrent image calls under a slow registry answered in
    # waves at 31, 62 and 92 s, each wave waiting for the slots the one before held.
    # Each image call needs three upstream calls (tag list, manifest, config); the
    # slots go to the request that must answer soonest, so the oldest finish.
    fake = many_repositories(48)
    fake.override = stalling(r"/manifests/", seconds=0.5)
    async with gateway_client(fake, request_timeout=2.0, upstream_concurrency=4) as client:
        results = await asyncio.gather(
            *(timed(client, f"/api/repositories/team/app-{i:03d}/images/1.0") for i in range(48))
        )
    statuses = [r.status_code for r, _ in results]
    assert max(took for _, took in results) < 2.0 + SLACK
    # 4 slots x 0.5 s: a few waves can answer; the rest are cut at the deadline.
    # (With first-come slots none answered: every request's later calls queued behind
    # the first calls of all the others.)
    assert 1 <= statuses.count(200) <= 16, statuses
    assert set(statuses) == {200, 504}
    for response, _ in results:
        if response.status_code == 504:
            assert_envelope(response, 504, "UPSTREAM_TIMEOUT")


async def test_a_registry_that_accepts_and_never_answers_is_cut_at_the_deadline() -> None:
    # A real socket: the per-read timeout (60 s here) would have been the bound.
    with hanging_registry() as url:
        async with gateway_client(registry_url=url, request_timeout=1.0) as client:
            response, took = await timed(client, "/api/repositories/app/tags")
    assert took < 1.0 + SLACK, took
    assert_envelope(response, 504, "UPSTREAM_TIMEOUT")


async def test_tag_details_rows_past_the_deadline_carry_their_error() -> None:
    fake = FakeRegistry()
    fake.tags = {"app": ["1.0", "slow"]}
    fake.manifests["slow"] = fake.manifests["1.0"]
    fake.override = stalling(r"/manifests/slow$")
    async with gateway_client(fake, request_timeout=1.0) as client:
        response, took = await timed(client, "/api/repositories/app/tags?details=true")
    assert response.status_code == 200, response.text
    assert took < 1.0 + SLACK
    rows = {row["name"]: row for row in response.json()["tags"]}
    assert rows["1.0"]["digest"] and rows["1.0"].get("error") is None
    assert rows["slow"]["error"]["code"] == "UPSTREAM_TIMEOUT"


async def test_a_blob_stream_that_started_is_not_cut_by_the_deadline() -> None:
    body = b"z" * 50_000

    async def slow_blob(request: httpx.Request) -> httpx.Response | None:
        if "/blobs/" not in request.url.path:
            return None

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 10_000):
                await asyncio.sleep(0.4)  # 2 s in all: twice the deadline
                yield body[i : i + 10_000]

        headers = {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"}
        return httpx.Response(200, content=chunks(), headers=headers)

    fake = FakeRegistry(slow_blob)
    digest = "sha256:" + "1" * 64
    async with gateway_client(fake, request_timeout=1.0) as client:
        response, took = await timed(client, f"/api/repositories/app/blobs/{digest}")
    assert response.status_code == 200
    assert response.content == body
    assert took > 1.0 + GRACE  # it did run past the deadline, whole


async def test_manifests_answered_after_the_deadline_are_not_cached() -> None:
    answers = {"slow": True}

    async def late(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path and answers["slow"]:
            await asyncio.sleep(1.5)
            return manifest_response(MANIFEST)
        return None

    fake = FakeRegistry(late)
    async with gateway_client(fake, request_timeout=1.0) as client:
        response = await client.get("/api/repositories/app/images/1.0")
        assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
        answers["slow"] = False
        seen = len(fake.requests)
        response = await client.get("/api/repositories/app/images/1.0")
        assert response.status_code == 200
        assert any("/manifests/" in r.url.path for r in fake.requests[seen:])


async def test_a_joined_flight_is_waited_for_within_each_callers_own_deadline() -> None:
    flights = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "done"

    async def caller(seconds: float) -> str:
        with request_deadline(seconds):
            return await flights.run("key", work)

    patient = asyncio.create_task(caller(30.0))
    await asyncio.sleep(0)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        await caller(0.3)  # joins the patient caller's flight, gives up at its own deadline
    assert time.monotonic() - started < 0.3 + 0.5
    assert flights.coalesced == 1
    release.set()
    assert await patient == "done"  # the flight went on for the other caller


async def test_a_flight_cut_by_its_starters_deadline_is_made_again_for_a_later_one() -> None:
    flights = SingleFlight()
    calls = 0

    async def work() -> str:
        nonlocal calls
        calls += 1
        await within_deadline(asyncio.sleep(0.4))  # as an upstream call does
        return "done"

    async def caller(seconds: float) -> str:
        with request_deadline(seconds):
            return await flights.run("key", work)

    hasty = asyncio.create_task(caller(0.1))
    await asyncio.sleep(0)
    patient = asyncio.create_task(caller(5.0))  # joins the hasty caller's flight
    with pytest.raises(UpstreamTimeout):
        await hasty
    assert await patient == "done"  # not the hasty caller's timeout
    assert calls == 2


async def test_slots_go_to_the_earliest_deadline_and_survive_cancelled_waiters() -> None:
    slots = DeadlineSlots(1)
    order: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with slots.held(0.0):
            await gate.wait()

    async def waiter(name: str, priority: float) -> None:
        async with slots.held(priority):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    late = asyncio.create_task(waiter("late", 30.0))
    gone = asyncio.create_task(waiter("gone", 5.0))
    soon = asyncio.create_task(waiter("soon", 10.0))
    await asyncio.sleep(0)
    assert slots.waiting == 3
    gone.cancel()  # its turn is skipped, its place not lost to the others
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, late, soon)
    assert order == ["soon", "late"]
    assert slots.waiting == 0

    # A waiter handed the slot and cancelled before it ran passes the slot on.
    async with slots.held(0.0):
        handed = asyncio.create_task(waiter("handed", 1.0))
        after = asyncio.create_task(waiter("after", 2.0))
        await asyncio.sleep(0)
    handed.cancel()
    await asyncio.gather(after)
    assert order[-1] == "after"


async def _call(app: Any, path: str = "/api/x") -> tuple[list[Message], float]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "root_path": ""}
    started = time.monotonic()
    await app(scope, receive, send)
    return sent, time.monotonic() - started


async def test_the_safety_net_answers_504_for_work_no_upstream_call_bounds() -> None:
    async def wedged(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(STALL)

    sent, took = await _call(DeadlineMiddleware(wedged, seconds=0.3))
    assert took < 0.3 + GRACE + 0.5
    assert sent[0]["status"] == 504
    assert b'"UPSTREAM_TIMEOUT"' in sent[1]["body"]
    assert b'"deadline_seconds": 0.3' in sent[1]["body"]


async def test_the_safety_net_leaves_answers_that_started_and_other_paths_alone() -> None:
    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(0.3 + GRACE + 0.2)
        await send({"type": "http.response.body", "body": b"late but whole"})

    sent, took = await _call(DeadlineMiddleware(streaming, seconds=0.3))
    assert took > 0.3 + GRACE
    assert sent[-1]["body"] == b"late but whole"

    async def slow_page(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(0.6)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"spa"})

    sent, _ = await _call(DeadlineMiddleware(slow_page, seconds=0.01), path="/index.html")
    assert sent[0]["status"] == 200  # only /api has a deadline

    async def own_timeout(scope: Scope, receive: Receive, send: Send) -> None:
        raise TimeoutError("not the safety net's")

    with pytest.raises(TimeoutError):
        await _call(DeadlineMiddleware(own_timeout, seconds=5.0))


async def test_upstream_calls_outside_a_request_keep_their_own_bound() -> None:
    # No deadline set (a background job): the per-call overall timeout applies alone.
    fake = FakeRegistry(stalling(r"/tags/list$", seconds=0.2))
    async with gateway_client(fake, request_timeout=0.05) as client:
        # Through the API the 0.05 s deadline cuts the 0.2 s answer...
        response = await client.get("/api/repositories/app/tags")
        assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
    settings = Settings(_env_file=None, registry_url=REGISTRY)  # type: ignore[call-arg]
    from gateway.registry.credentials import ANONYMOUS
    from gateway.state import build_state

    state = build_state(settings, transport=httpx.MockTransport(fake))
    try:
        # ...while the client called directly waits for it.
        assert await state.client.tags(ANONYMOUS, "app") == ["1.0"]
    finally:
        await state.aclose()


def test_blob_response_helper_streams() -> None:
    # The mock's streamed answer is what the download test above builds on.
    response = blob_response(b"abc")
    assert response.headers["content-length"] == "3"
