"""The tag index of large repositories: answers within the deadline, completed in the
background, shared only with callers who may read the repository, dropped by
notifications; and the index's own rules (fresh context, failures, shutdown) in units.

One token registry: ``admin`` may do everything, ``outsider`` may read nothing, anonymous
callers nothing either. ``big/app`` holds 1,500 tags over five images; the gateways
here index repositories of more than 100 tags (``LR_TAG_INDEX_MIN_TAGS``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.deadline import current_deadline, request_deadline
from gateway.errors import NotFound, Unauthorized, UpstreamUnavailable
from gateway.registry.credentials import ANONYMOUS
from gateway.registry.metrics import RequestStats, current_stats
from gateway.view.tag_index import GONE, UNKNOWN, Reader, TagIndex
from harness.images import PushedImage, Pusher, push_image, tag_existing
from harness.registry import RegistryProcess
from harness.tokenserver import TokenServer
from harness.waiting import eventually
from tests.support.callers import Users
from tests.support.clock import Clock

USERS = Users({"admin": "admin-Pw-3c9e", "outsider": "outsider-Pw-77ab"})
BIG = "big/app"
EVENTS_REPO = "big/events"
BIG_TAGS = 1500
EVENTS_TAGS = 300
IMAGES = 5
MIN_TAGS = 100
EVENTS_TOKEN = "events-token-tag-index-5d2f"
POLL_SECONDS = 60.0


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    return list(actions) if user == "admin" else []


basic = USERS.basic


ADMIN = basic("admin")


@dataclass
class World:
    registry: RegistryProcess
    images: list[PushedImage]  # big/app's; tag i points at images[i % IMAGES]
    events_images: list[PushedImage]

    @property
    def url(self) -> str:
        return self.registry.url


def _tag(i: int) -> str:
    return f"t-{i:04d}"


def _tag_many(url: str, repo: str, images: list[PushedImage], count: int) -> None:
    """Tag ``count`` tags over ``images`` (round robin), in four threads."""

    def batch(part: int) -> None:
        with Pusher(url, "admin", USERS["admin"]) as p:
            for i in range(part, count, 4):
                if i >= len(images):  # the first len(images) tags were pushed with them
                    tag_existing(p, repo, _tag(i), images[i % len(images)])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(batch, range(4)))


@pytest.fixture(scope="module")
def world(registry_factory: Any, token_server_factory: Any) -> Iterator[World]:
    tokens: TokenServer = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        images = [
            push_image(p, BIG, _tag(i), created=f"2024-0{i + 1}-01T10:00:00Z")
            for i in range(IMAGES)
        ]
        events_images = [
            push_image(p, EVENTS_REPO, _tag(i), created=f"2023-0{i + 1}-01T10:00:00Z")
            for i in range(2)
        ]
    _tag_many(reg.url, BIG, images, BIG_TAGS)
    _tag_many(reg.url, EVENTS_REPO, events_images, EVENTS_TAGS)
    yield World(reg, images, events_images)


@pytest.fixture
def gateway(world: World, make_gateway: Any) -> Iterator[Callable[..., Any]]:
    """``with gateway(**settings) as client`` — a fresh gateway (empty caches)."""

    def make(**settings: Any) -> Any:
        values: dict[str, Any] = {
            "tag_index_min_tags": MIN_TAGS,
            "events_token": EVENTS_TOKEN,
            "cache_ttl": 300,
            "access_ttl": 300,
            # the default page: distribution 3.x pages tag lists too (1,500 tags in two)
            "catalog_page_size": 1000,
        }
        values.update(settings)
        return make_gateway(world.url, **values)

    yield make


def _upstream(response: Any) -> int:
    return int(response.headers["x-upstream-requests"])


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _poll(
    fetch: Callable[[], Any], done: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], int, list[int]]:
    """Ask until ``done`` holds: (the last answer, how many asks, their upstream counts)."""
    counts: list[int] = []

    def complete() -> dict[str, Any] | None:
        response = fetch()
        body = _ok(response)
        counts.append(_upstream(response))
        return body if done(body) else None

    body = eventually(
        complete, within=POLL_SECONDS, every=0.2, what="the tag index complete"
    )
    return body, len(counts), counts


def _expected_tags(image: int, count: int = BIG_TAGS) -> list[str]:
    return sorted(_tag(i) for i in range(count) if i % IMAGES == image)


def _created_order(world: World, newest_first: bool) -> list[str]:
    created = {_tag(i): world.images[i % IMAGES].created for i in range(BIG_TAGS)}
    return sorted(created, key=lambda t: (created[t], t), reverse=newest_first)


# -- the image detail's tags ---------------------------------------------------------


def test_image_detail_tags_complete_false_then_true(world: World, gateway: Any) -> None:
    with gateway() as api:
        path = f"/api/repositories/{BIG}/images/{_tag(2)}"
        first = api.get(path, headers=ADMIN)
        body = _ok(first)
        assert body["digest"] == world.images[2].digest
        assert body["tags_complete"] is False
        assert set(body["tags"]) <= set(_expected_tags(2))
        assert _tag(2) in body["tags"]  # the tag asked for is known
        # The image's own documents (manifest, config) with their token fetches, the
        # tag list and its token: nowhere near one request per tag.
        assert _upstream(first) <= 2 + 10, _upstream(first)

        body, asks, counts = _poll(
            lambda: api.get(path, headers=ADMIN), lambda b: b["tags_complete"]
        )
        assert body["tags"] == _expected_tags(2)
        # The background reads are nobody's request: each answer made few of its own.
        assert max(counts) <= 3, counts
        state = api.app.state.lr
        index = state.registry.tag_index.get(BIG)
        assert index is not None and len(index.digests) == BIG_TAGS
        assert not index.filling

        # Another image of the same repository: complete at once, no upstream but its own.
        other = api.get(f"/api/repositories/{BIG}/images/{_tag(4)}", headers=ADMIN)
        assert _ok(other)["tags_complete"] is True
        assert _ok(other)["tags"] == _expected_tags(4)


def test_small_repositories_keep_complete_answers(world: World, gateway: Any) -> None:
    """Below the threshold, today's behaviour: every tag resolved, complete at once (the
    'before' of the large path: one upstream request per tag)."""
    with gateway(tag_index_min_tags=BIG_TAGS) as api:
        response = api.get(f"/api/repositories/{BIG}/images/{_tag(1)}", headers=ADMIN)
        body = _ok(response)
        assert body["tags_complete"] is True
        assert body["tags"] == _expected_tags(1)
        assert _upstream(response) >= BIG_TAGS
        assert api.app.state.lr.registry.tag_index.get(BIG) is None


# -- sort=created ----------------------------------------------------------------------


def test_sort_created_partial_pages_flagged_then_complete(world: World, gateway: Any) -> None:
    with gateway() as api:
        path = f"/api/repositories/{BIG}/tags"
        params = {"sort": "-created", "n": "50"}
        first = api.get(path, params=params, headers=ADMIN)
        body = _ok(first)
        assert body["complete"] is False
        assert body["total"] == BIG_TAGS
        assert len(body["tags"]) == 50
        assert all(row["digest"] and row["error"] is None for row in body["tags"])
        # The page's own rows at most (50 manifests, their configs, tokens), never the
        # repository's 1,500 tags.
        assert _upstream(first) <= 50 + IMAGES + 10, _upstream(first)

        body, _, counts = _poll(
            lambda: api.get(path, params=params, headers=ADMIN), lambda b: b["complete"]
        )
        assert max(counts[1:], default=0) <= 55, counts
        expected = _created_order(world, newest_first=True)
        assert [row["name"] for row in body["tags"]] == expected[:50]

        # Complete: every page in order, each tag once, from the index (no upstream).
        seen: list[str] = []
        last = None
        while True:
            query = {"sort": "-created", "n": "400", **({"last": last} if last else {})}
            response = api.get(path, params=query, headers=ADMIN)
            page = _ok(response)
            assert page["complete"] is True
            assert _upstream(response) == 0
            seen += [row["name"] for row in page["tags"]]
            for row in page["tags"]:
                image = world.images[int(row["name"][2:]) % IMAGES]
                assert row["digest"] == image.digest
            last = page["next"]
            if last is None:
                break
        assert seen == expected

        oldest = _ok(api.get(path, params={"sort": "created", "n": "5"}, headers=ADMIN))
        assert oldest["complete"] is True
        assert [r["name"] for r in oldest["tags"]] == _created_order(world, False)[:5]

        # q narrowing the repository below the threshold: resolved at once, complete.
        narrow = _ok(api.get(path, params={"sort": "created", "q": "t-000"}, headers=ADMIN))
        assert narrow["complete"] is True and narrow["total"] == 10
        # The name orders never need the index.
        named = _ok(api.get(path, params={"n": "3"}, headers=ADMIN))
        assert named["complete"] is True


def test_q_above_the_threshold_is_flagged_too(world: World, gateway: Any) -> None:
    with gateway() as api:
        path = f"/api/repositories/{BIG}/tags"
        params = {"sort": "created", "q": "t-0", "n": "20"}  # t-0000 .. t-0999
        body = _ok(api.get(path, params=params, headers=ADMIN))
        assert body["total"] == 1000
        assert body["complete"] is False
        body, _, _ = _poll(
            lambda: api.get(path, params=params, headers=ADMIN), lambda b: b["complete"]
        )
        assert [r["name"] for r in body["tags"]] == [
            t for t in _created_order(world, False) if t.startswith("t-0")
        ][:20]


# -- notifications -------------------------------------------------------------------------


def _notify(api: TestClient, repo: str, tag: str, digest: str) -> None:
    envelope = {
        "events": [
            {
                "action": "push",
                "target": {
                    "repository": repo,
                    "tag": tag,
                    "digest": digest,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                },
            }
        ]
    }
    response = api.post(
        "/api/events",
        content=json.dumps(envelope).encode(),
        headers={
            "Authorization": f"Bearer {EVENTS_TOKEN}",
            "Content-Type": "application/vnd.docker.distribution.events.v1+json",
        },
    )
    assert response.status_code == 200, response.text


def test_notification_drops_the_index(world: World, gateway: Any) -> None:
    with gateway() as api:
        state = api.app.state.lr
        path = f"/api/repositories/{EVENTS_REPO}/images/{_tag(0)}"
        old = world.events_images[0]
        _poll(lambda: api.get(path, headers=ADMIN), lambda b: b["tags_complete"])
        index = state.registry.tag_index.get(EVENTS_REPO)
        assert index is not None and len(index.digests) == EVENTS_TAGS

        # t-0002 (on image 0) moves to image 1; the registry notifies the gateway.
        moved = _tag(2)
        with Pusher(world.url, "admin", USERS["admin"]) as p:
            tag_existing(p, EVENTS_REPO, moved, world.events_images[1])
        try:
            _notify(api, EVENTS_REPO, moved, world.events_images[1].digest)
            assert state.registry.tag_index.get(EVENTS_REPO) is None
            assert index.dropped

            body = _ok(api.get(path, headers=ADMIN))
            assert body["tags_complete"] is False  # built anew
            body, _, _ = _poll(lambda: api.get(path, headers=ADMIN), lambda b: b["tags_complete"])
            expected = [_tag(i) for i in range(EVENTS_TAGS) if i % 2 == 0 and _tag(i) != moved]
            assert body["tags"] == expected
            assert body["digest"] == old.digest
            other = _ok(api.get(f"/api/repositories/{EVENTS_REPO}/images/{_tag(1)}", headers=ADMIN))
            assert moved in other["tags"] and other["tags_complete"] is True
        finally:
            with Pusher(world.url, "admin", USERS["admin"]) as p:
                tag_existing(p, EVENTS_REPO, moved, old)


# -- isolation -------------------------------------------------------------------------------


def test_a_caller_without_access_gets_nothing_of_the_index(world: World, gateway: Any) -> None:
    with gateway() as api:
        detail = f"/api/repositories/{BIG}/images/{_tag(3)}"
        _poll(lambda: api.get(detail, headers=ADMIN), lambda b: b["tags_complete"])
        created = {"sort": "-created", "n": "50"}
        tags = f"/api/repositories/{BIG}/tags"
        _poll(lambda: api.get(tags, params=created, headers=ADMIN), lambda b: b["complete"])
        digest = world.images[3].digest
        for headers in (basic("outsider"), {}):
            for path, params in (
                (detail, None),
                (f"/api/repositories/{BIG}/images/{digest}", None),
                (tags, created),
                (tags, {"sort": "created", "q": "t-00"}),
            ):
                response = api.get(path, params=params, headers=headers)
                assert response.status_code in (401, 403, 404), (path, response.text)
                assert set(response.json()) == {"error"}
                text = response.text
                assert _tag(8) not in text and digest not in text
        # What the outsider asked for started no fill with its credentials.
        index = api.app.state.lr.registry.tag_index.get(BIG)
        assert index is not None and not index.filling


def test_shutdown_cancels_a_fill(world: World, gateway: Any) -> None:
    with gateway(upstream_concurrency=4) as api:  # one background read at a time
        state = api.app.state.lr
        body = _ok(api.get(f"/api/repositories/{BIG}/images/{_tag(0)}", headers=ADMIN))
        assert body["tags_complete"] is False
        index = state.registry.tag_index.get(BIG)
        assert index is not None and index.filling
    # The lifespan's end waited for the cancelled fill: nothing runs on.
    assert not index.filling
    assert len(index.digests) < BIG_TAGS


# -- units: the index's own rules -------------------------------------------------------------


def test_a_fill_runs_outside_the_request() -> None:
    """No request deadline, upstream counter or request id reaches a fill; at most
    ``concurrency`` reads run at once."""
    seen: list[tuple[float | None, RequestStats | None]] = []
    running = 0
    peak = 0

    async def resolve(caller: Any, repo: str, tag: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        seen.append((current_deadline.get(), current_stats.get()))
        await asyncio.sleep(0.01)
        running -= 1
        return "sha256:" + "1" * 64

    async def describe(caller: Any, repo: str, digest: str) -> str | None:
        return "2024-01-01T00:00:00Z"

    async def main() -> None:
        index = TagIndex(min_tags=1, concurrency=2)
        repo = index.of("r")
        token = current_stats.set(RequestStats())
        try:
            with request_deadline(0.001):
                index.fill(ANONYMOUS, repo, [f"t{i}" for i in range(10)], Reader(resolve, describe))
        finally:
            current_stats.reset(token)
        await asyncio.sleep(0.01)  # the request's deadline has long passed
        assert repo.task is not None
        await repo.task
        assert repo.digest("t9") == "sha256:" + "1" * 64
        assert repo.created == {}  # no dates asked for
        await index.aclose()

    asyncio.run(main())
    assert len(seen) == 10
    assert all(deadline is None and stats is None for deadline, stats in seen)
    assert peak == 2


def test_failures_never_poison_the_index() -> None:
    async def resolve(caller: Any, repo: str, tag: str) -> str:
        if tag == "gone":
            raise NotFound("no such tag")
        if tag == "flaky":
            raise UpstreamUnavailable("registry down")
        if tag == "login":
            raise Unauthorized("login needed")
        return "sha256:" + "2" * 64

    async def describe(caller: Any, repo: str, digest: str) -> str | None:
        raise UpstreamUnavailable("registry down")

    async def main() -> None:
        index = TagIndex(min_tags=1, concurrency=1)
        repo = index.of("r")
        reader = Reader(resolve, describe)
        index.fill(ANONYMOUS, repo, ["ok", "gone", "flaky"], reader, dates=True)
        assert repo.task is not None
        await repo.task
        assert repo.digest("ok") == "sha256:" + "2" * 64
        assert repo.digest("gone") == GONE
        assert repo.digest("flaky") == UNKNOWN  # read again by the next fill
        assert repo.created == {}  # the date could not be read: not stored
        # A 401 is about the caller: the fill stops, the rest stays queued.
        index.fill(ANONYMOUS, repo, ["login", "later"], reader)
        await repo.task
        assert repo.digest("later") == UNKNOWN and "later" in repo.pending
        # Dropped (a notification): a fill in flight stores nothing more.
        index.fill(ANONYMOUS, repo, ["flaky"], reader)
        fill = repo.task
        assert fill is not None
        index.forget(["r"])
        assert repo.dropped and index.get("r") is None
        await asyncio.wait({fill})
        await asyncio.sleep(0)  # its done callback
        assert repo.task is None
        await index.aclose()

    asyncio.run(main())


def test_an_old_index_is_read_again_and_a_logout_stops_its_fill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []
    digest = {"a": "sha256:" + "3" * 64}

    async def resolve(caller: Any, repo: str, tag: str) -> str:
        reads.append(tag)
        await asyncio.sleep(0.01)
        return digest["a"]

    async def describe(caller: Any, repo: str, digest: str) -> str | None:
        return None

    async def main() -> None:
        index = TagIndex(min_tags=1, ttl=0.05, concurrency=1)
        clock = Clock()
        monkeypatch.setattr(index, "_now", clock.monotonic)
        repo = index.of("r")
        reader = Reader(resolve, describe)
        index.fill(ANONYMOUS, repo, ["a"], reader, every=["a"])
        assert repo.task is not None
        await repo.task
        index.fill(ANONYMOUS, repo, [], reader, every=["a"])  # fresh: nothing to read
        assert repo.task is None and reads == ["a"]
        clock.advance(0.06)
        digest["a"] = "sha256:" + "4" * 64  # the tag was pushed again
        index.fill(ANONYMOUS, repo, [], reader, every=["a"])  # old: read again
        assert repo.digest("a") == "sha256:" + "3" * 64  # still answered meanwhile
        assert repo.task is not None
        await repo.task
        assert repo.digest("a") == "sha256:" + "4" * 64 and reads == ["a", "a"]
        # A logout stops the fill reading with that caller's credentials.
        index.fill(ANONYMOUS, repo, ["b", "c"], reader)
        fill = repo.task
        assert fill is not None
        index.forget_caller(ANONYMOUS.key)
        await asyncio.wait({fill})
        await asyncio.sleep(0)  # its done callback
        assert repo.task is None and "c" in repo.pending
        await index.aclose()

    asyncio.run(main())
