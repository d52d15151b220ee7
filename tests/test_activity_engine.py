"""gateway.activity.Activity: recording from notifications, the gateway's own records,
retention's verdicts, the stale report, metrics and settings (SQLite and real Redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from gateway.activity import Activity, Pulled, StaleTag, TagRow, agent
from gateway.activity.placeholder import placeholder_for
from gateway.activity.records import MarkKey, format_time
from gateway.errors import InvalidRequest
from gateway.settings import Settings
from harness.redis_server import RedisProcess
from tests.support.activity import Stores, digest
from tests.support.clock import FakeClock

D1, D2, D3 = digest(1), digest(2), digest(3)
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def notification(
    event_id: str,
    action: str,
    *,
    tag: str | None = None,
    image: str | None = D1,
    method: str = "GET",
    useragent: str = "docker/27.1",
    repository: str = "team/app",
    when: str = "2026-12-01T10:00:00Z",
    actor: str = "alice",
) -> dict[str, Any]:
    target: dict[str, Any] = {"repository": repository, "mediaType": MANIFEST}
    if action in ("push", "pull"):
        target["url"] = f"http://registry:5000/v2/{repository}/manifests/{image}"
    if tag is not None:
        target["tag"] = tag
    if image is not None:
        target["digest"] = image
    return {
        "id": event_id,
        "timestamp": when,
        "action": action,
        "target": target,
        "request": {"addr": "10.0.0.5", "method": method, "useragent": useragent},
        "actor": {"name": actor},
    }


async def test_a_notification_is_recorded_and_its_echo_is_not(activity_stores: Stores) -> None:
    activity = await activity_stores.activity()
    ours = activity.user_agent("0.1.0", request_id="req-7")
    assert agent.is_echo(ours, activity.origin)
    written = await activity.notify(
        [
            notification("e1", "push", tag="1.0", method="PUT"),
            notification("e2", "pull", tag="1.0"),
            notification("e3", "pull", tag="1.0", method="HEAD"),
            notification("e4", "pull", useragent=agent.user_agent("0.1.0")),  # browsing
            notification("e5", "pull", tag="1.0", useragent=ours),  # a /v2 pull's echo
            notification("e2", "pull", tag="1.0"),  # delivered again
            "not an event",
        ]
    )
    assert [r.id for r in written] == ["e1", "e2"]
    # The /v2 pull the gateway served, recorded as the real client: once.
    made = activity.made(
        "pull", "team/app", tag="1.0", digest=D1, actor="carol", addr="10.9.9.9",
        user_agent="skopeo/1.13",
    )  # fmt: skip
    assert await activity.record([made]) == [made]
    page = await activity.feed()
    assert [(e.id, e.via, e.actor) for e in page.events] == [
        (made.id, "gateway", "carol"),
        ("e2", "registry", "alice"),
        ("e1", "registry", "alice"),
    ]
    assert dict(activity.skipped) == {"head": 1, "gateway_read": 1, "echo": 1, "invalid": 1}
    assert activity.duplicates == 1
    assert activity.recorded[("pull", "gateway")] == 1
    assert activity.recorded[("pull", "registry")] == 1 and activity.events == 3
    api = page.api()
    assert api["next"] is None and api["tracking_since"] == format_time(activity_stores.clock())
    assert api["events"][0]["client"] == {"addr": "10.9.9.9", "user_agent": "skopeo/1.13"}


async def test_another_replica_lists_it_at_once(redis_server: RedisProcess, tmp_path: Path) -> None:
    stores = Stores("redis", tmp_path, redis_server.url)  # replicas share records in Redis
    try:
        one, two = await stores.activity(), await stores.activity()
        await one.notify([notification("e1", "push", tag="1.0", method="PUT")])
        assert [e.id for e in (await two.feed()).events] == ["e1"]
        (marks,) = await two.marks([MarkKey("team/app", "1.0", D1)])
        assert marks.last_pushed is not None and marks.last_pushed.actor == "alice"
    finally:
        await stores.close()


async def test_a_2x_tag_delete_by_another_gateway_is_one_delete(activity_stores: Stores) -> None:
    activity = await activity_stores.activity()
    other = agent.user_agent("0.1.0", origin="b2" * 16)
    p = placeholder_for("team/app", "old").digest
    await activity.notify(
        [
            notification("e1", "push", tag="old", image=D1, method="PUT"),
            notification("e2", "push", tag="old", image=p, method="PUT", useragent=other),
            notification("e3", "delete", image=p, method="DELETE", useragent=other),
            notification("e4", "delete", tag="old", image=None, method="DELETE", useragent=other),
        ]
    )
    page = await activity.feed()
    assert [(e.id, e.action, e.tag) for e in page.events] == [
        ("e4", "delete", "old"),
        ("e1", "push", "old"),
    ]
    assert activity.placeholders == 2


async def test_bad_feed_parameters_are_400(activity_stores: Stores) -> None:
    activity = await activity_stores.activity()
    for kwargs in ({"action": "mount"}, {"since": "yesterday"}, {"last": "nope"}):
        with pytest.raises(InvalidRequest):
            await activity.feed(**kwargs)  # type: ignore[arg-type]


async def test_not_pulled_days(activity_stores: Stores) -> None:
    activity = await activity_stores.activity()
    clock = activity_stores.clock
    tags = [
        MarkKey("team/app", "a", D1),
        MarkKey("team/app", "b", D2),
        MarkKey("team/other", "a", D1),
        MarkKey("team/other", "new", D3),
    ]
    await activity.record([activity.made("pull", "team/app", digest=D1, actor="a")])
    # Tracking began today: what was not pulled is unknown for 30 days, not "not pulled".
    assert await activity.pulled_within(tags, 30) == [
        Pulled.RECENTLY, Pulled.UNKNOWN, Pulled.UNKNOWN, Pulled.UNKNOWN
    ]  # fmt: skip
    clock.advance(days=20)
    await activity.record([activity.made("pull", "team/other", digest=D1, actor="a")])
    clock.advance(days=14)
    await activity.record([activity.made("push", "team/other", tag="new", digest=D3)])
    clock.advance(days=1)
    # Day 35: tracked for the whole 30 days. A tag pushed yesterday is too new to go.
    verdicts = await activity.pulled_within(tags, 30)
    assert verdicts == [Pulled.NOT, Pulled.NOT, Pulled.RECENTLY, Pulled.PUSHED]
    assert [v.keeps for v in verdicts] == [False, False, True, True]
    # Over 40 days: the first pull counts again; D2 was tracked for 35 days only.
    assert await activity.pulled_within(tags, 40) == [
        Pulled.RECENTLY, Pulled.UNKNOWN, Pulled.RECENTLY, Pulled.PUSHED
    ]  # fmt: skip
    assert Pulled.RECENTLY.value == "pulled recently"
    assert Pulled.UNKNOWN.stale and Pulled.NOT.stale and not Pulled.PUSHED.stale


async def _rows(rows: Sequence[TagRow]) -> AsyncIterator[TagRow]:
    for row in rows:
        yield row


async def test_stale_report(activity_stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.activity import paging

    monkeypatch.setattr(paging, "STALE_BATCH", 4)  # several store calls per page
    activity = await activity_stores.activity()
    clock = activity_stores.clock
    rows = [TagRow("team/app", f"t{i:02d}", digest(i)) for i in range(20)]
    await activity.record(
        [activity.made("push", "team/app", tag=r.tag, digest=r.digest) for r in rows]
    )
    clock.advance(days=40)
    fresh = {3, 7, 8, 15}
    await activity.record(
        [activity.made("pull", "team/app", digest=digest(i), actor="bob") for i in fresh]
    )
    # Pushed again now: not pulled, but too new to be stale.
    await activity.record([activity.made("push", "team/app", tag="t19", digest=digest(19))])
    fresh.add(19)
    asked: list[int] = []

    async def sizes(tags: Sequence[StaleTag]) -> list[int | None]:
        asked.append(len(tags))
        return [len(t.tag) for t in tags]

    stale = [r.tag for i, r in enumerate(rows) if i not in fresh]
    first = await activity.stale(_rows(rows), days=30, n=10, sizes=sizes)
    assert [t.tag for t in first.tags] == stale[:10]
    assert first.next == TagRow("team/app", stale[9], rows[int(stale[9][1:])].digest)
    assert asked == [10] and first.tags[0].exclusive_bytes == 3
    assert first.tags[0].marks.last_pushed is not None and first.tags[0].marks.last_pulled is None
    after = [r for r in rows if r.tag > stale[9]]
    second = await activity.stale(_rows(after), days=30, n=10)
    assert [t.tag for t in second.tags] == stale[10:] and second.next is None
    assert second.tags[0].api()["exclusive_bytes"] is None
    # A tag pulled 40 days ago is stale at 30 days, not at 50.
    clock.advance(days=35)
    report = await activity.stale(_rows(rows), days=50, n=100)
    assert [t.tag for t in report.tags] == stale
    api = report.tags[0].api()
    assert api["last_pulled"] is None and api["last_pushed"] is not None


def _scrape(activity: Activity) -> str:
    class Source(Collector):
        def collect(self) -> Any:
            yield from activity.metric_families()

    registry = CollectorRegistry()
    registry.register(Source())
    return generate_latest(registry).decode()


async def test_metrics(activity_stores: Stores) -> None:
    activity = await activity_stores.activity()
    await activity.notify(
        [
            notification("e1", "pull"),
            notification("e1", "pull"),
            notification("e2", "pull", method="HEAD"),
        ]
    )
    await activity.refresh_size()
    text = _scrape(activity)
    assert 'lr_activity_events_recorded_total{action="pull",source="registry"} 1.0' in text
    assert 'lr_activity_events_skipped_total{reason="head"} 1.0' in text
    assert "lr_activity_duplicates_total 1.0" in text
    assert "lr_activity_store_errors_total 0.0" in text
    assert "lr_activity_store_up 1.0" in text
    assert 'lr_activity_store_size{kind="records"} 1.0' in text
    assert 'lr_activity_store_size{kind="marks"} 1.0' in text
    assert activity.health() == {
        "store": activity_stores.kind, "healthy": True, "error": None, "records": 1
    }  # fmt: skip


# -- settings ------------------------------------------------------------------------


def test_the_setting_and_its_bounds() -> None:
    assert Settings().activity_max_events == 100_000
    assert Settings(activity_max_events=500).activity_max_events == 500
    with pytest.raises(ValueError):
        Settings(activity_max_events=10)


async def test_open_from_settings_keeps_one_origin(tmp_path: Path) -> None:
    clock = FakeClock()
    settings = Settings(data_dir=tmp_path / "data", activity_max_events=100)
    first = Activity.open(settings, clock=clock)
    assert first.store is not None and first.store.kind == "sqlite" and first.healthy
    assert (tmp_path / "data" / "activity.sqlite3").is_file()
    origin = first.origin
    await first.record([first.made("pull", "team/app", digest=D1)])
    await first.aclose()
    again = Activity.open(settings, clock=clock)
    assert (again.events, again.marks_kept) == (1, 1)  # the metrics know it at once
    assert again.origin == origin  # kept in the file: the echo of an earlier write is known
    assert again.store is not None and again.store.max_events == 100
    await again.aclose()
    keyed = Settings(data_dir=tmp_path / "keyed", secret_key="ab" * 32)
    a, b = Activity.open(keyed, clock=clock), Activity.open(keyed, clock=clock)
    assert a.origin == b.origin != origin  # from LR_SECRET_KEY
    await a.aclose()
    await b.aclose()


def test_redis_needs_its_store() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/0", secret_key="ab" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="LR_REDIS_URL"):
        Activity.open(settings)
