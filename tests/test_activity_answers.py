"""The activity log's answers and its failures, against real registries and a real Redis.

- The stale report and retention's ``not_pulled_days`` (preview and apply) over a
  store whose recording began 90 days ago (opened before the gateway, as an upgrade
  finds it), with notifications of a push and a pull made now.
- Two replicas sharing Redis: a notification received by one is listed by the other,
  and its marks show on the other's tag rows.
- A stopped Redis and a data folder that cannot be used: reads and the notification
  endpoint's invalidation go on; the feed answers 503; health says so.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.activity.sqlite_store import SqliteActivityStore
from harness.images import PushedImage, Pusher, push_image
from harness.redis_server import RedisProcess
from harness.registry import RegistryProcess
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope
from tests.support.callers import XHR

TOKEN = "activity-answers-Tk-3"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = "stale/app"
OTHER = "stale/zzz"
DAY_US = 86_400 * 1_000_000


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(
    action: str,
    repo: str,
    digest: str,
    *,
    tag: str | None = None,
    actor: str | None = "alice",
    event_id: str | None = None,
) -> dict[str, Any]:
    """One notification event as distribution 3.0 sends it."""
    kind = "manifests/" + (tag or digest)
    return {
        "id": event_id or secrets.token_hex(8),
        "timestamp": now_text(),
        "action": action,
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "repository": repo,
            **({"tag": tag} if tag else {}),
            "url": f"http://registry/v2/{repo}/{kind}",
        },
        "request": {"addr": "10.0.0.9:4242", "method": "GET", "useragent": "docker/27.1"},
        "actor": {"name": actor} if actor else {},
    }


def notify(client: TestClient, *events: dict[str, Any]) -> None:
    r = client.post("/api/events", json={"events": list(events)}, headers=AUTH)
    assert r.status_code == 200, r.text


def feed(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/activity", params={"n": 1000, **params})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def wait_listed(client: TestClient, ids: set[str]) -> None:
    eventually(
        lambda: ids <= {e["id"] for e in feed(client)}, within=10, what="the events recorded"
    )


# -- the stale report and not_pulled_days ---------------------------------------------


@dataclass
class Stale:
    registry: RegistryProcess
    images: dict[str, PushedImage]


@pytest.fixture(scope="module")
def stale(registry_factory: Callable[..., RegistryProcess]) -> Stale:
    registry = registry_factory(delete_enabled=True)
    with Pusher(registry.url) as p:
        images = {
            tag: push_image(p, REPO, tag, n_layers=1, seed=f"stale-{tag}")
            for tag in ("fresh", "old", "old2", "used")
        }
        images["z1"] = push_image(p, OTHER, "z1", n_layers=1, seed="stale-z1")
    return Stale(registry, images)


def backdated_store(data_dir: Path, days: int) -> None:
    """A store whose recording began ``days`` ago, as a gateway finds it on start."""
    began = time.time_ns() // 1000 - days * DAY_US
    store = SqliteActivityStore.open(data_dir, max_events=1000, now=began)
    store.db.close()  # blocking, as opening was (no event loop needed)


def test_the_stale_report_and_not_pulled_days(stale: Stale, tmp_path: Path) -> None:
    backdated_store(tmp_path, 90)
    images = stale.images
    with gateway_for(
        stale.registry.url, data_dir=tmp_path, events_token=TOKEN, delete_enabled=True
    ) as client:
        push = event("push", REPO, images["fresh"].digest, tag="fresh")
        pull = event("pull", REPO, images["used"].digest)  # by digest: the image counts
        notify(client, push, pull)
        wait_listed(client, {push["id"], pull["id"]})

        r = client.get("/api/stale", params={"days": 30, "repository": REPO})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["tracking_since"] < now_text()[:10]
        rows = {row["tag"]: row for row in body["tags"]}
        assert sorted(rows) == ["old", "old2"], body
        assert rows["old"]["digest"] == images["old"].digest
        assert rows["old"]["exclusive_bytes"] > 0 and rows["old"]["last_pulled"] is None
        # pages, in tag order
        first = client.get("/api/stale", params={"days": 30, "n": 1}).json()
        assert [t["tag"] for t in first["tags"]] == ["old"] and first["next"] == f"{REPO}:old"
        second = client.get("/api/stale", params={"days": 30, "n": 1, "last": first["next"]})
        assert [t["tag"] for t in second.json()["tags"]] == ["old2"]
        assert second.json()["next"] == f"{REPO}:old2"
        third = client.get("/api/stale", params={"days": 30, "n": 1, "last": f"{REPO}:old2"})
        assert [(t["repository"], t["tag"]) for t in third.json()["tags"]] == [(OTHER, "z1")]
        assert third.json()["next"] is None
        assert_envelope(client.get("/api/stale", params={"last": "nocolon"}), 400)

        # the tag row and image page of the pulled image
        tags = client.get(f"/api/repositories/{REPO}/tags", params={"details": "true"}).json()
        used = next(t for t in tags["tags"] if t["name"] == "used")
        assert used["last_pulled"] is not None and used["last_pulled_by"] == "alice"

        r = client.post(
            f"/api/repositories/{REPO}/retention/preview",
            json={"not_pulled_days": 30},
            headers=XHR,
        )
        assert r.status_code == 200, r.text
        plan = r.json()
        assert sorted(t["tag"] for t in plan["delete"]) == ["old", "old2"]
        kept = {t["tag"]: t["reason"] for t in plan["keep"]}
        assert kept == {"used": "pulled recently", "fresh": "not_pulled_days: pushed recently"}
        r = client.post(
            f"/api/repositories/{REPO}/retention/apply",
            json={"plan_id": plan["plan_id"]},
            headers=XHR,
        )
        assert r.status_code == 200, r.text
        tags_now = client.get(f"/api/repositories/{REPO}/tags").json()["tags"]
        assert sorted(t["name"] for t in tags_now) == ["fresh", "used"]

        # recorded as made through the gateway: the manifests of old and old2, by digest
        wanted = {images["old"].digest, images["old2"].digest}

        def deleted() -> list[dict[str, Any]]:
            return [e for e in feed(client, action="delete") if e["digest"] in wanted]

        gone = eventually(lambda: len(deleted()) >= 2 and deleted(), what="the deletes")
        assert {e["via"] for e in gone} == {"gateway"}, gone


def test_a_stale_page_reads_a_bounded_number_of_repositories(
    stale: Stale, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.services.activity.STALE_REPOSITORIES", 1)
    backdated_store(tmp_path, 90)
    with gateway_for(stale.registry.url, data_dir=tmp_path) as client:
        first = client.get("/api/stale", params={"days": 30}).json()
        assert {t["repository"] for t in first["tags"]} == {REPO}
        assert first["next"] == f"{REPO}:~"  # the budget ended the walk: more may follow
        rest = client.get("/api/stale", params={"days": 30, "last": first["next"]}).json()
        assert [(t["repository"], t["tag"]) for t in rest["tags"]] == [(OTHER, "z1")]
        assert rest["next"] is None


def test_a_store_tracking_for_less_than_the_days_keeps_every_tag(
    stale: Stale, tmp_path: Path
) -> None:
    backdated_store(tmp_path, 2)
    with gateway_for(stale.registry.url, data_dir=tmp_path, delete_enabled=True) as client:
        r = client.post(
            f"/api/repositories/{REPO}/retention/preview",
            json={"not_pulled_days": 30},
            headers=XHR,
        )
        assert r.status_code == 200, r.text
        assert r.json()["delete"] == []
        reasons = {t["reason"] for t in r.json()["keep"]}
        assert reasons == {"not_pulled_days: not tracked long enough"}
        # the report lists them: never pulled since tracking began counts as not pulled
        listed = client.get("/api/stale", params={"days": 30, "repository": REPO}).json()
        assert {t["tag"] for t in listed["tags"]} == {"fresh", "used"}


# -- Redis: two replicas, and Redis stopped --------------------------------------------


def test_replicas_sharing_redis_and_redis_stopped(
    stale: Stale, redis_server: RedisProcess, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {
        "redis_url": redis_server.url,
        "secret_key": secrets.token_hex(32),
        "events_token": TOKEN,
        "cache_ttl": 3600,
    }
    image = stale.images["used"]
    with (
        gateway_for(stale.registry.url, **settings) as a,
        gateway_for(stale.registry.url, **settings) as b,
    ):
        pull = event("pull", REPO, image.digest, tag="used", actor="bob")
        notify(a, pull)
        wait_listed(b, {pull["id"]})  # listed by the other replica
        assert b.get("/api/health").json()["activity"]["store"] == "redis"
        tags = b.get(f"/api/repositories/{REPO}/tags", params={"details": "true"}).json()
        used = next(t for t in tags["tags"] if t["name"] == "used")
        assert used["last_pulled_by"] == "bob"

        redis_server.stop()
        try:
            # a tag pushed behind the gateways' back, then notified: invalidation goes on
            with Pusher(stale.registry.url) as p:
                p.push_manifest(REPO, "late", image.manifest, image.media_type)
            notify(a, event("push", REPO, image.digest, tag="late"))
            r = a.get(f"/api/repositories/{REPO}/tags", params={"details": "true"})
            assert r.status_code == 200, r.text
            assert "late" in {t["name"] for t in r.json()["tags"]}
            assert all(t["last_pulled"] is None for t in r.json()["tags"])
            assert_envelope(a.get("/api/activity"), 503, "ACTIVITY_UNAVAILABLE")
            assert_envelope(a.get("/api/stale"), 503, "ACTIVITY_UNAVAILABLE")
            health = a.get("/api/health")
            assert health.status_code == 200
            assert health.json()["activity"]["healthy"] is False
            assert "lr_activity_store_up 0.0" in a.get("/metrics").text
        finally:
            redis_server.start()


def test_a_data_folder_that_cannot_be_used(stale: Stale, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with gateway_for(
        stale.registry.url,
        data_dir=blocker / "data",
        events_token=TOKEN,
        disk_cache_bytes=0,
        delete_enabled=True,
    ) as client:
        health = client.get("/api/health")
        assert health.status_code == 200
        assert health.json()["activity"] == {
            "store": None,
            "healthy": False,
            "error": health.json()["activity"]["error"],
            "records": 0,
        }
        notify(client, event("pull", REPO, stale.images["used"].digest))
        r = client.get(f"/api/repositories/{REPO}/tags", params={"details": "true"})
        assert r.status_code == 200
        assert_envelope(client.get("/api/activity"), 503, "ACTIVITY_UNAVAILABLE")
        r = client.post(
            f"/api/repositories/{REPO}/retention/preview",
            json={"not_pulled_days": 1},
            headers=XHR,
        )
        assert r.status_code == 200 and r.json()["delete"] == []
        reasons = {t["reason"] for t in r.json()["keep"]}
        assert reasons == {"not_pulled_days: activity unavailable"}
        # The other stores under the same folder fail alone too: files and search 503.
        assert health.json()["layer_index"]["available"] is False
        assert health.json()["search"]["available"] is False
        files = client.get(f"/api/repositories/{REPO}/images/used/files", params={"wait": 5})
        assert_envelope(files, 503, "LAYER_INDEX_UNAVAILABLE")
        assert_envelope(client.get("/api/search", params={"tag": "*"}), 503, "SEARCH_UNAVAILABLE")
