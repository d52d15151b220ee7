"""``ActivityService`` as a subscriber of the view's changes, on a real SQLite store.

Only this gateway's writes with an action are recorded (not another replica's repeat,
nor a drop before a write); the client's address and user agent come with the change; a
tag delete is the tag's alone (the image's last pull stays); an envelope that is not
JSON records nothing and raises nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.activity import Activity, MarkKey
from gateway.services.activity import ActivityService
from gateway.settings import Settings
from gateway.view import Change
from tests.support.activity import digest, rec


class Subscribable:
    """The one thing the service asks of the view here: to be told of changes."""

    def __init__(self) -> None:
        self.subscribers: list[Any] = []

    def subscribe(self, subscriber: Any) -> None:
        self.subscribers.append(subscriber)

    def tell(self, changes: Sequence[Change]) -> None:
        for subscriber in self.subscribers:
            subscriber(changes)


def write(action: Any, **fields: Any) -> Change:
    return Change("gateway", ("team/app",), action=action, actor="alice", caller="k", **fields)


def test_the_gateway_s_writes_are_recorded_as_the_client(tmp_path: Path) -> None:
    async def run() -> None:
        settings = Settings(_env_file=None, registry_url="http://r", data_dir=tmp_path)  # type: ignore[call-arg]
        activity = Activity.open(settings)
        view = Subscribable()
        service = ActivityService(activity, view)  # type: ignore[arg-type]
        await activity.record([rec(1, "pull", image=7)])
        view.tell(
            [
                write("push", tag="1.0", digest=digest(7), addr="10.1.1.1", user_agent="skopeo/1"),
                write("delete", tag="old", digest=digest(7)),  # a tag delete: image stays
                write(None),  # a drop before a write: nothing happened
                Change("replica", ("team/app",), action="push", tag="2.0", origin="gateway"),
                Change("notification", ("team/app",), action="push", tag="3.0"),
            ]
        )
        service.notified(b"not json")
        await service.settle()
        page = await activity.feed()
        made = [(r.action, r.tag, r.digest, r.via) for r in page.events if r.via == "gateway"]
        assert made == [("delete", "old", None, "gateway"), ("push", "1.0", digest(7), "gateway")]
        push = next(r for r in page.events if r.action == "push")
        assert (push.actor, push.addr, push.user_agent) == ("alice", "10.1.1.1", "skopeo/1")
        (marks,) = await activity.marks([MarkKey("team/app", "1.0", digest(7))])
        assert marks.last_pulled is not None and marks.last_pushed is not None
        await service.aclose()

    asyncio.run(run())
