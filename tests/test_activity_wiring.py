"""The activity log wired, against a real registry (distribution 3.0) configured to
notify the gateway as docker-compose.yml does (pulls included).

Clients push and pull directly against the registry and through the gateway's ``/v2``
(skopeo, and plain HTTP clients with their own user agents); the gateway browses through
``/api``. What is listed is what clients did — once each: the gateway's own reads and
``HEAD``s are never pulls, a pull or push through ``/v2`` is the real client's (``via:
gateway``), not a second time the registry's echo, and a notification delivered twice
is one record. A restart keeps the records. One registry and one gateway for the module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.images import ACCEPT_ALL, PushedImage, Pusher, push_image
from harness.registry import RegistryProcess, free_port
from harness.waiting import eventually
from tests.support.callers import XHR
from tests.support.clients import skopeo
from tests.support.gateway_server import GatewayServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "activity-wiring-Tk-7"
REPO = "act/app"


@dataclass
class World:
    registry: RegistryProcess
    gateway: GatewayServer
    port: int
    data_dir: Path
    image: PushedImage

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway.url, trust_env=False, timeout=10)

    def restart(self) -> None:
        self.gateway.stop()
        self.gateway = start_gateway(self.registry, self.port, self.data_dir)


def start_gateway(registry: RegistryProcess, port: int, data_dir: Path) -> GatewayServer:
    return GatewayServer(
        registry.url,
        port,
        events_token=TOKEN,
        data_dir=data_dir,
        delete_enabled=True,
        v2_mode="push",
    ).start()


@pytest.fixture(scope="module")
def world(
    registry_factory: Callable[..., RegistryProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    port = free_port()
    registry = registry_factory(
        notifications_url=f"http://127.0.0.1:{port}/api/events",
        notifications_token=TOKEN,
        delete_enabled=True,
    )
    data_dir = tmp_path_factory.mktemp("activity-data")
    gateway = start_gateway(registry, port, data_dir)
    with Pusher(registry.url) as p:
        p.client.headers["User-Agent"] = "docker/27.1"
        image = push_image(p, REPO, "1.0", n_layers=1)
    w = World(registry, gateway, port, data_dir, image)
    try:
        yield w
    finally:
        w.gateway.stop()


def feed(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/api/activity", params={"n": 1000, **params})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def marker(world: World, tag: str) -> None:
    """A direct pull by a client named ``marker/<tag>``, waited for in the feed: what
    the registry notified before it has been recorded (one endpoint, in order)."""
    with Pusher(world.registry.url) as p:
        p.client.headers["User-Agent"] = f"marker/{tag}"
        assert p.get_manifest(REPO, "1.0").status_code == 200
    with world.client() as client:

        def seen() -> bool:
            return any(
                (e["client"]["user_agent"] or "") == f"marker/{tag}"
                for e in feed(client, action="pull")
            )

        eventually(seen, within=20, what=f"the marker {tag} recorded")


def metric(client: httpx.Client, line_start: str) -> float:
    text = client.get("/metrics").text
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


def test_compose_lets_the_registry_notify_pulls() -> None:
    for name in ("docker-compose.yml", "docker-compose.replicas.yml"):
        doc = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        endpoints = yaml.safe_load(
            doc["services"]["registry"]["environment"]["REGISTRY_NOTIFICATIONS_ENDPOINTS"]
        )
        for endpoint in endpoints:
            ignore = endpoint.get("ignore") or {}
            assert "pull" not in (ignore.get("actions") or []), name
            assert ignore.get("mediatypes") == ["application/octet-stream"], name


def test_a_direct_push_and_pull_are_listed_browsing_and_heads_are_not(world: World) -> None:
    with world.client() as client:
        pushes = eventually(
            lambda: [e for e in feed(client, action="push") if e["tag"] == "1.0"],
            within=20,
            what="the push recorded",
        )
        (push,) = pushes
        assert push["via"] == "registry" and push["repository"] == REPO
        assert push["digest"] == world.image.digest
        assert push["client"]["user_agent"] == "docker/27.1"

        with Pusher(world.registry.url) as p:
            p.client.headers["User-Agent"] = "docker/27.1"
            assert p.get_manifest(REPO, "1.0").status_code == 200  # a pull
            head = p.request("HEAD", f"/v2/{REPO}/manifests/1.0", headers={"Accept": ACCEPT_ALL})
            assert head.status_code == 200  # not a pull
        # the gateway browses: tag rows with details, the image page, usage
        assert client.get(f"/api/repositories/{REPO}/tags", params={"details": "true"}).is_success
        assert client.get(f"/api/repositories/{REPO}/images/{world.image.digest}").is_success
        assert client.get(f"/api/repositories/{REPO}/usage").is_success
        marker(world, "a")

        pulls = [e for e in feed(client, action="pull", repository=REPO)]
        by_agent = [e["client"]["user_agent"] for e in pulls]
        assert by_agent.count("docker/27.1") == 1, pulls
        assert not any((a or "").startswith("light-registry") for a in by_agent)
        # this gateway's reads carry its origin: dropped as its own (another's: gateway_read)
        assert metric(client, 'lr_activity_events_skipped_total{reason="echo"}') >= 1
        assert metric(client, 'lr_activity_events_skipped_total{reason="head"}') >= 1

        # the tag row and the image page carry the last pull and push, at no upstream cost
        # (a kept answer, at most 2 s old, may show it a moment later)
        def tag_row() -> dict[str, Any] | None:
            r = client.get(f"/api/repositories/{REPO}/tags", params={"details": "true"})
            (row,) = [t for t in r.json()["tags"] if t["name"] == "1.0"]
            return row if row["last_pulled"] is not None else None

        row = eventually(tag_row, what="the tag row's last pull")
        assert row["last_pushed"] == push["time"]
        r = client.get(f"/api/repositories/{REPO}/images/1.0")
        assert r.json()["last_pulled"] == row["last_pulled"]
        assert r.json()["last_pushed"] == push["time"]
        health = client.get("/api/health").json()["activity"]
        assert health["store"] == "sqlite" and health["healthy"] is True
        assert metric(client, 'lr_activity_store_size{kind="records"}') >= 3
        assert metric(client, 'lr_activity_events_recorded_total{action="push"') >= 1
        # the filters' bad input: 400 with the envelope
        for bad in ({"action": "mount"}, {"since": "yesterday"}, {"last": "nonsense"}):
            r = client.get("/api/activity", params=bad)
            assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", bad
        later = client.get("/api/activity", params={"since": "2999-01-01T00:00:00Z"})
        assert later.status_code == 200 and later.json()["events"] == []


def test_v2_pulls_and_pushes_are_the_clients_once(world: World, tmp_path: Path) -> None:
    tool = skopeo(tmp_path / "home")
    gateway = f"127.0.0.1:{world.port}"
    target = tmp_path / "image"
    tool.ok("copy", "--src-tls-verify=false", f"docker://{gateway}/{REPO}:1.0", f"dir:{target}")
    tool.ok("copy", "--dest-tls-verify=false", f"dir:{target}", f"docker://{gateway}/{REPO}:2.0")
    marker(world, "b")
    with world.client() as client:
        events = feed(client, repository=REPO)
        through = [e for e in events if "skopeo" in (e["client"]["user_agent"] or "")]
        pulls = [e for e in through if e["action"] == "pull"]
        pushes = [e for e in through if e["action"] == "push"]
        assert len(pulls) == 1 and pulls[0]["via"] == "gateway", through
        assert pulls[0]["tag"] == "1.0" and pulls[0]["digest"] == world.image.digest
        assert pulls[0]["client"]["addr"] == "127.0.0.1"
        assert len(pushes) == 1 and pushes[0]["via"] == "gateway", through
        assert pushes[0]["tag"] == "2.0"
        # the registry's echo of both was dropped, not listed as its own
        assert [e for e in events if e["tag"] == "2.0" and e["via"] == "registry"] == []
        assert metric(client, 'lr_activity_events_skipped_total{reason="echo"}') >= 2

        # a delete through the API: once, the gateway's caller as actor (anonymous here)
        assert client.delete(f"/api/repositories/{REPO}/tags/2.0", headers=XHR).status_code == 202
        marker(world, "c")
        deletes = [e for e in feed(client, action="delete") if e["tag"] == "2.0"]
        assert len(deletes) == 1 and deletes[0]["via"] == "gateway", deletes


def test_a_notification_sent_twice_is_one_record(world: World) -> None:
    event = {
        "id": "twice-0001",
        "timestamp": "2026-12-01T10:00:00.123456789Z",
        "action": "pull",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": world.image.digest,
            "repository": REPO,
            "tag": "1.0",
            "url": f"http://registry/v2/{REPO}/manifests/1.0",
        },
        "request": {"addr": "10.0.0.7:5555", "method": "GET", "useragent": "containerd/1.7"},
        "actor": {"name": "alice"},
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with world.client() as client:
        for _ in range(2):
            r = client.post("/api/events", json={"events": [event]}, headers=headers)
            assert r.status_code == 200, r.text

        def listed() -> list[dict[str, Any]]:
            return [e for e in feed(client, actor="alice") if e["id"] == "twice-0001"]

        found = eventually(listed, within=10, what="the event recorded")
        assert len(found) == 1 and found[0]["client"]["addr"] == "10.0.0.7:5555"
        eventually(
            lambda: metric(client, "lr_activity_duplicates_total") >= 1,
            what="the duplicate counted",
        )


def test_a_direct_tag_delete_on_3_0_is_listed_without_a_digest(world: World) -> None:
    """3.0 deletes a tag natively and notifies it with an empty digest and media type."""
    with Pusher(world.registry.url) as p:
        p.client.headers["User-Agent"] = "regctl/0.7"
        p.push_manifest(REPO, "gone", world.image.manifest, world.image.media_type)
        assert p.request("DELETE", f"/v2/{REPO}/manifests/gone").status_code == 202
    with world.client() as client:

        def deleted() -> list[dict[str, Any]]:
            return [e for e in feed(client, action="delete") if e["tag"] == "gone"]

        (delete,) = eventually(deleted, within=20, what="the tag delete")
        assert delete["via"] == "registry" and delete["digest"] is None
        assert delete["client"]["user_agent"] == "regctl/0.7"


def test_records_survive_a_restart(world: World) -> None:
    """The feed, and repository rows' last_changed (the newest push or delete the log
    holds, with the event's own date), are the same after a restart."""

    def row(client: httpx.Client) -> dict[str, Any]:
        rows = client.get("/api/repositories", params={"n": 1000}).json()["repositories"]
        found: dict[str, Any] = next(r for r in rows if r["name"] == REPO)
        return found

    with world.client() as client:
        before = feed(client)
        changed = row(client)["last_changed"]
    newest = max(e["time"] for e in before if e["action"] != "pull")
    assert changed == newest
    world.restart()
    with world.client() as client:
        after = feed(client)
        assert {e["id"] for e in before} <= {e["id"] for e in after}
        assert row(client)["last_changed"] == changed


def test_distribution_2_8_a_tag_delete_is_one_delete(
    registry_factory: Callable[..., RegistryProcess], tmp_path: Path
) -> None:
    """2.8 (``events.v1+json``) cannot delete a tag: the gateway pushes a placeholder to
    it and deletes that by digest. Listed: one delete of the tag, no push; the 3.0
    difference (``events.v2+json``, delete targets with an empty digest) is the module's
    registry above."""
    port = free_port()
    registry = registry_factory(
        version="2.8",
        notifications_url=f"http://127.0.0.1:{port}/api/events",
        notifications_token=TOKEN,
        delete_enabled=True,
    )
    server = start_gateway(registry, port, tmp_path)
    try:
        with Pusher(registry.url) as p:
            p.client.headers["User-Agent"] = "docker/27.1"
            image = push_image(p, REPO, "1.0", n_layers=1)
            p.push_manifest(REPO, "keep", image.manifest, image.media_type)
        with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as client:
            eventually(lambda: len(feed(client, action="push")) == 2, within=20, what="the pushes")
            r = client.delete(f"/api/repositories/{REPO}/tags/1.0", headers=XHR)
            assert r.status_code == 202, r.text
            with Pusher(registry.url) as p:
                p.client.headers["User-Agent"] = "marker/28"
                assert p.get_manifest(REPO, "keep").status_code == 200

            def marked() -> bool:
                return any(e["client"]["user_agent"] == "marker/28" for e in feed(client))

            eventually(marked, within=20, what="the marker")
            events = feed(client)
            assert [e["action"] for e in events if e["action"] != "pull"] == [
                "delete",
                "push",
                "push",
            ], events
            (delete,) = [e for e in events if e["action"] == "delete"]
            assert delete["tag"] == "1.0" and delete["via"] == "gateway"
            assert {e["tag"] for e in events if e["action"] == "push"} == {"1.0", "keep"}
    finally:
        server.stop()
