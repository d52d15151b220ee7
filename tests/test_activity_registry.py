"""The classification rules against what a real registry notifies (Debian's
docker-registry 2.8: pulls are notified, as docker-compose.yml will ask).

Clients with their own user agents push, pull, HEAD and delete; a gateway's user agent
browses; another gateway deletes a tag the 2.x way (the placeholder); this gateway's
own write is echoed. The events the registry sends are classified, then recorded by an
``Activity`` on SQLite, and the feed and marks are what happened — once each.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.activity import Activity, MarkKey, agent
from gateway.activity.classify import classify_all
from gateway.activity.placeholder import placeholder_for
from gateway.activity.sqlite_store import SqliteActivityStore
from harness.images import ACCEPT_ALL, Pusher, push_image
from harness.registry import RegistryProcess
from tests.support.activity import NotificationSink
from tests.support.clock import FakeClock

REPO = "activity/app"
OURS = "c3" * 16
OTHER = "d4" * 16


@pytest.fixture(scope="module")
def notifying(
    registry_factory: Callable[..., RegistryProcess],
) -> Iterator[tuple[RegistryProcess, NotificationSink]]:
    sink = NotificationSink()
    try:
        yield registry_factory(notifications_url=sink.url), sink
    finally:
        sink.close()


def as_client(pusher: Pusher, user_agent: str) -> Pusher:
    pusher.client.headers["User-Agent"] = user_agent
    return pusher


def test_what_the_registry_notifies_is_recorded_once(
    notifying: tuple[RegistryProcess, NotificationSink], tmp_path: Path
) -> None:
    registry, sink = notifying
    with Pusher(registry.url) as p:
        as_client(p, "docker/27.1")
        image = push_image(p, REPO, "1.0")
        p.push_manifest(REPO, "old", image.manifest, image.media_type)
        assert p.get_manifest(REPO, "1.0").status_code == 200  # a pull
        head = p.request("HEAD", f"/v2/{REPO}/manifests/1.0", headers={"Accept": ACCEPT_ALL})
        assert head.status_code == 200  # not a pull
        layer = image.layers[0][0]
        assert p.request("GET", f"/v2/{REPO}/blobs/{layer}").status_code == 200  # nor this

        as_client(p, agent.user_agent("0.1.0"))  # a gateway browsing
        assert p.get_manifest(REPO, image.digest).status_code == 200
        as_client(p, agent.user_agent("0.1.0", origin=OURS, request_id="r1"))
        p.push_manifest(REPO, "2.0", image.manifest, image.media_type)  # our own write

        as_client(p, agent.user_agent("0.1.0", origin=OTHER, request_id="r2"))
        placeholder = placeholder_for(REPO, "old")  # another gateway deletes "old" on 2.x
        p.push_blob(REPO, placeholder.config)
        p.push_manifest(REPO, "old", placeholder.manifest, placeholder.media_type)
        p.delete_manifest(REPO, placeholder.digest)
        assert "old" not in (p.tags(REPO) or [])

        as_client(p, "skopeo/1.13")
        p.delete_manifest(REPO, image.digest)  # removes 1.0 and 2.0 as well

    def complete(events: list[dict[str, Any]]) -> bool:
        deletes = [e for e in events if e.get("action") == "delete"]
        return len(deletes) >= 5  # the placeholder, its tag; the image, its two tags

    events = sink.wait_for(complete)
    events = [e for e in events if e.get("target", {}).get("repository") == REPO]

    # What distribution puts in each event's request: the method and our user agent.
    methods = Counter(
        (e["action"], e["request"]["method"])
        for e in events
        if "/manifests/" in e.get("target", {}).get("url", "")
    )
    assert methods[("pull", "GET")] == 2 and methods[("pull", "HEAD")] == 1

    records, skipped = classify_all(events, origin=OURS, now=FakeClock()())
    listed = sorted(
        (r.action, r.tag or r.digest, r.user_agent, r.placeholder)
        for r in records
        if not r.placeholder
    )
    assert listed == sorted(
        [
            ("push", "1.0", "docker/27.1", False),
            ("push", "old", "docker/27.1", False),
            ("pull", "1.0", "docker/27.1", False),
            ("delete", placeholder.digest, "light-registry/0.1.0", False),  # recognised below
            ("delete", "old", "light-registry/0.1.0", False),
            ("delete", image.digest, "skopeo/1.13", False),
            ("delete", "1.0", "skopeo/1.13", False),
            ("delete", "2.0", "skopeo/1.13", False),
        ]
    )
    assert [r.tag for r in records if r.placeholder] == ["old"]
    reasons = Counter(s.reason for s in skipped)
    assert reasons["head"] == 1 and reasons["gateway_read"] == 1 and reasons["echo"] == 1
    assert set(reasons) <= {"head", "gateway_read", "echo", "blob"}

    # Recorded: the placeholder's push and its delete by digest are not listed.
    store = SqliteActivityStore.open(tmp_path, max_events=1000, now=FakeClock()(), origin=OURS)
    activity = Activity(store, origin=OURS, clock=FakeClock())

    async def record_and_read() -> tuple[list[tuple[str, str | None]], Any]:
        await activity.notify(events)
        await activity.notify(events)  # delivered twice: recorded once
        page = await activity.feed(repository=REPO, n=100)
        marks = await activity.marks([MarkKey(REPO, "1.0", image.digest)])
        await activity.aclose()
        return [(e.action, e.tag or e.digest) for e in page.events], marks

    feed, (marks,) = asyncio.run(record_and_read())
    assert Counter(feed) == Counter(
        [
            ("push", "1.0"),
            ("push", "old"),
            ("pull", "1.0"),
            ("delete", "old"),
            ("delete", image.digest),
            ("delete", "1.0"),
            ("delete", "2.0"),
        ]
    )
    assert feed[-1] == ("push", "1.0")  # newest first: the first push is the oldest
    # The image was deleted: its pull and its tags' pushes are gone with it.
    assert marks.last_pulled is None and marks.last_pushed is None
    assert activity.duplicates == len(feed)  # the second delivery
    assert activity.placeholders == 4  # its push and its delete, in each delivery
