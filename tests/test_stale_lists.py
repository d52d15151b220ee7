"""Never slow twice (``LR_STALE_TTL``): a list, a tag's digest or an access whose cache
period ran out is answered at once from what was known, and read again in the
background; notifications and the gateway's own writes still drop it at once; past
the stale time it is fetched in the request's path again.

Against a real registry, with the caches' clock (and the kept answers') moved by hand
(``tests/support/clock``): nothing here sleeps to make a TTL pass. A caller the registry
refuses on the refresh loses what was served on its word: the mock registry, which can
be made to refuse from one moment on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import gateway.cache
import gateway.services.answers
from harness.images import Pusher, push_image
from harness.registry import RegistryProcess
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.clock import Clock
from tests.support.mock_registry import FakeRegistry
from tests.support.mock_registry import gateway as mock_gateway

TTL = 30.0
STALE = 300.0
EVENTS_TOKEN = "stale-test-events-token"
SETTINGS: dict[str, Any] = {
    "cache_ttl": TTL,
    "access_ttl": TTL,
    "stale_ttl": STALE,
    "delete_enabled": True,
    "events_token": EVENTS_TOKEN,
}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock().install(monkeypatch, gateway.cache, gateway.services.answers)


@pytest.fixture(scope="module")
def plain(registry_factory: Any) -> RegistryProcess:
    registry: RegistryProcess = registry_factory()
    return registry


def _page(client: Any, repo: str) -> tuple[dict[str, str], int]:
    r = client.get(f"/api/repositories/{repo}/tags", params={"details": "true"})
    assert r.status_code == 200, r.text
    rows = {t["name"]: t["digest"] for t in r.json()["tags"]}
    return rows, int(r.headers["x-upstream-requests"])


def test_an_expired_list_is_answered_at_once_and_read_again(
    plain: RegistryProcess, clock: Clock, tmp_path: Path
) -> None:
    repo = "stale/app"
    with Pusher(plain.url) as pusher, gateway_for(plain.url, **SETTINGS) as client:
        one = push_image(pusher, repo, "1.0", n_layers=1, created="2024-01-01T00:00:00Z")
        rows, asked = _page(client, repo)
        assert rows == {"1.0": one.digest} and asked > 0

        # Unannounced (no notifications here): a new tag, and 1.0 moved.
        two = push_image(pusher, repo, "2.0", n_layers=1, created="2024-02-01T00:00:00Z")
        moved = push_image(pusher, repo, "1.0", n_layers=1, created="2024-03-01T00:00:00Z")
        clock.advance(TTL + 1)
        rows, asked = _page(client, repo)
        assert (rows, asked) == ({"1.0": one.digest}, 0)  # what was known, at once

        def refreshed() -> bool:
            return _page(client, repo)[0] == {"1.0": moved.digest, "2.0": two.digest}

        eventually(refreshed, what="the page read again in the background")
        rows, asked = _page(client, repo)
        assert asked == 0

        # Past the stale time too: fetched in the request's path, as a cold list.
        clock.advance(TTL + STALE + 1)
        rows, asked = _page(client, repo)
        assert rows == {"1.0": moved.digest, "2.0": two.digest} and asked > 0


def _event(repo: str, tag: str, digest: str) -> bytes:
    target = {"repository": repo, "tag": tag, "digest": digest}
    return json.dumps({"events": [{"action": "push", "target": target}]}).encode()


def test_notifications_and_writes_drop_stale_lists_at_once(
    plain: RegistryProcess, clock: Clock
) -> None:
    repo = "stale/dropped"
    with Pusher(plain.url) as pusher, gateway_for(plain.url, **SETTINGS) as client:
        one = push_image(pusher, repo, "1.0", n_layers=1, created="2024-01-01T00:00:00Z")
        assert _page(client, repo)[0] == {"1.0": one.digest}

        # Past its time, the list would be answered stale; a notification says a tag was
        # pushed: the next page reads the list in its own path and shows it.
        two = push_image(pusher, repo, "2.0", n_layers=1, created="2024-02-01T00:00:00Z")
        clock.advance(TTL + 1)
        posted = client.post(
            "/api/events",
            content=_event(repo, "2.0", two.digest),
            headers={
                "Authorization": f"Bearer {EVENTS_TOKEN}",
                "Content-Type": "application/vnd.docker.distribution.events.v1+json",
            },
        )
        assert posted.status_code == 200, posted.text
        rows, asked = _page(client, repo)
        assert rows == {"1.0": one.digest, "2.0": two.digest} and asked > 0

        # The gateway's own delete, past the lists' time again: gone from the next page.
        clock.advance(TTL + 1)
        deleted = client.delete(
            f"/api/repositories/{repo}/tags/2.0", headers={"X-Requested-With": "XMLHttpRequest"}
        )
        assert deleted.status_code in (200, 202, 204), deleted.text
        rows, asked = _page(client, repo)
        assert rows == {"1.0": one.digest} and asked > 0


def revocable() -> tuple[FakeRegistry, Callable[[], None]]:
    """A registry that answers every request 403 ``DENIED`` once the returned function
    was called (the caller's access revoked)."""
    fake = FakeRegistry()
    refusing = False

    async def refuse(request: httpx.Request) -> httpx.Response | None:
        if refusing:
            return httpx.Response(403, json={"errors": [{"code": "DENIED", "message": "no"}]})
        return None

    def revoke() -> None:
        nonlocal refusing
        refusing = True

    fake.override = refuse
    return fake, revoke


def test_a_refused_refresh_drops_what_was_served_stale(clock: Clock) -> None:
    fake, revoke = revocable()
    with mock_gateway(fake, cache_ttl=TTL, access_ttl=TTL, stale_ttl=STALE) as client:
        assert client.get("/api/repositories/app/tags").status_code == 200
        revoke()  # the caller's access was revoked
        clock.advance(TTL + 1)
        # One answer from what was known while the registry is asked again…
        assert client.get("/api/repositories/app/tags").status_code == 200

        # …whose refusal drops it: no more stale answers for this caller.
        def refused() -> bool:
            return client.get("/api/repositories/app/tags").status_code == 403

        eventually(refused, what="the refusal applied")


def test_an_access_past_its_time_is_confirmed_again_while_the_list_is_fresh(
    clock: Clock,
) -> None:
    """The access confirmation lives ``LR_ACCESS_TTL``, the tag list longer: past the
    first, the caller's content is served once on the stale access while the registry
    is asked again (the tag list read afresh, not the one still kept); its refusal ends
    it, though the kept list itself had not expired."""
    fake, revoke = revocable()
    with mock_gateway(fake, cache_ttl=10 * TTL, access_ttl=TTL, stale_ttl=STALE) as client:
        path = "/api/repositories/app/images/1.0"
        assert client.get(path).status_code == 200
        revoke()  # the caller's access was revoked
        clock.advance(TTL + 1)  # the access is past its time, the tag list is not
        assert client.get(path).status_code == 200  # served on the stale access, once

        def refused() -> bool:
            return client.get(path).status_code == 403

        eventually(refused, what="the refusal applied")
