"""Repository rows' ``bytes`` and ``last_changed``, and a Helm chart's metadata.

``bytes`` comes from the caller's usage figures once they are known and
``last_changed`` from what the gateway saw (a notification, a write through it): a cold
page asks the registry exactly what it asked before (the catalog and a tag list per
row), and both are null until known. Against a real registry.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from gateway.services.charts import chart_metadata
from gateway.services.last_changed import LastChanged, rfc3339
from gateway.view import Change
from harness.images import Pusher, push_artifact, push_image
from harness.registry import RegistryProcess
from tests.conftest import gateway_for
from tests.support.callers import XHR
from tests.support.fixtures import FilledRegistry

TOKEN = "rows-events-Tk-29"


def rows(client: TestClient, **params: Any) -> dict[str, dict[str, Any]]:
    r = client.get("/api/repositories", params={"n": 1000, **params})
    assert r.status_code == 200, r.text
    return {row["name"]: row for row in r.json()["repositories"]}


def test_a_cold_page_asks_nothing_more_and_knows_neither(registry: FilledRegistry) -> None:
    with gateway_for(registry.url, catalog_page_size=1000) as client:
        r = client.get("/api/repositories", params={"n": 5})
        assert r.status_code == 200
        # the catalog, and one tag list per row: as before the two fields existed
        assert int(r.headers["x-upstream-requests"]) == 1 + 5
        for row in r.json()["repositories"]:
            assert row["bytes"] is None and row["last_changed"] is None, row


def test_bytes_appear_once_the_usage_is_known(registry: FilledRegistry) -> None:
    with gateway_for(registry.url) as client:
        assert rows(client)["oci/app"]["bytes"] is None
        usage = client.get("/api/repositories/oci/app/usage").json()
        known = rows(client)
        assert known["oci/app"]["bytes"] == usage["total_bytes"] > 0
        assert known["multi/oci-index"]["bytes"] is None  # not counted yet
        # the registry's walk counts every repository: then every row has its size
        client.get("/api/usage")
        walked = rows(client)
        figures = {r["name"]: r["bytes"] for r in client.get("/api/usage").json()["repositories"]}
        for name, size in figures.items():
            assert walked[name]["bytes"] == size, name


def test_last_changed_follows_writes_and_notifications(
    registry_factory: Any,
) -> None:
    process: RegistryProcess = registry_factory(delete_enabled=True)
    with Pusher(process.url) as p:
        push_image(p, "rows/a", "1.0", n_layers=1)
        push_image(p, "rows/a", "2.0", n_layers=1)
        push_image(p, "rows/b", "1.0", n_layers=1)
    with gateway_for(process.url, delete_enabled=True, events_token=TOKEN, cache_ttl=0) as client:
        before = rows(client)
        assert before["rows/a"]["last_changed"] is None
        assert before["rows/b"]["last_changed"] is None
        # a delete through the gateway
        assert client.delete("/api/repositories/rows/a/tags/2.0", headers=XHR).status_code == 202
        changed = rows(client)["rows/a"]["last_changed"]
        assert changed is not None and changed.endswith("Z")
        assert rows(client)["rows/b"]["last_changed"] is None
        # a notification from the registry (a push)
        envelope = {
            "events": [
                {
                    "action": "push",
                    "target": {"repository": "rows/b", "tag": "1.0", "mediaType": "x"},
                },
                {"action": "pull", "target": {"repository": "rows/a"}},
            ]
        }
        r = client.post(
            "/api/events",
            content=json.dumps(envelope),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert rows(client)["rows/b"]["last_changed"] is not None


def test_last_changed_keeps_the_newest_and_a_bounded_number() -> None:
    now = [1_700_000_000.0]
    known = LastChanged(clock=lambda: now[0], max_repositories=2)
    known.note(["a", "b"])
    now[0] += 60
    known.note(["a"])
    assert known.get("a") == rfc3339(1_700_000_060.0) == "2023-11-14T22:14:20Z"
    assert known.get("b") == rfc3339(1_700_000_000.0)
    known.note(["c"])  # b changed longest ago: it goes
    assert known.get("b") is None and known.get("c") is not None


def test_last_changed_is_told_only_what_happened() -> None:
    """As a subscriber of the view: a notification, a gateway write with its action, and
    another replica's message repeating either; not a drop before a write (or after one
    that failed), a logout or a gap, which say nothing happened to a repository."""
    known = LastChanged(clock=lambda: 1_700_000_000.0)
    known.changed(
        [
            Change("gateway", ("refreshed",)),  # view.refresh before a delete
            Change("gateway", ("written",), action="delete", tag="1.0", caller="k"),
            Change("notification", ("notified",), action="push", tag="2.0"),
            Change("notification", ("mounted",)),  # an event of an action not named
            Change("replica", ("elsewhere",), action="push", origin="gateway"),
            Change("replica", ("elsewhere-notified",), origin="notification"),
            Change("replica", ("elsewhere-refreshed",), origin="gateway"),
            Change("logout", caller="k"),
            Change("gap"),
        ]
    )
    noted = {"written", "notified", "mounted", "elsewhere", "elsewhere-notified"}
    for repo in noted:
        assert known.get(repo) == rfc3339(1_700_000_000.0), repo
    for repo in ("refreshed", "elsewhere-refreshed"):
        assert known.get(repo) is None, repo


def test_a_helm_charts_detail_has_its_metadata(registry_factory: Any) -> None:
    process: RegistryProcess = registry_factory()
    config = {
        "apiVersion": "v2",
        "name": "web",
        "version": "1.2.3",
        "appVersion": "4.5",
        "description": "A web server",
    }
    with Pusher(process.url) as p:
        push_artifact(p, "charts/web", "1.2.3", config=json.dumps(config).encode())
        push_image(p, "plain/app", "1.0", n_layers=1)
    with gateway_for(process.url) as client:
        body = client.get("/api/repositories/charts/web/images/1.2.3").json()
        assert body["chart"] == {
            "name": "web",
            "version": "1.2.3",
            "app_version": "4.5",
            "description": "A web server",
        }
        assert client.get("/api/repositories/plain/app/images/1.0").json()["chart"] is None
        # asked again: the config comes from the cache
        again = client.get("/api/repositories/charts/web/images/1.2.3")
        assert again.json()["chart"]["name"] == "web"
        assert int(again.headers.get("x-upstream-requests", "0")) <= 2


def test_chart_metadata_keeps_only_text() -> None:
    assert chart_metadata(b"not json").model_dump() == {
        "name": None,
        "version": None,
        "app_version": None,
        "description": None,
    }
    odd = chart_metadata(
        json.dumps({"name": 7, "version": " 1.0 ", "description": "x" * 5000}).encode()
    )
    assert odd.name is None and odd.version == "1.0"
    assert odd.description is not None and len(odd.description) == 2000
    assert chart_metadata(b"[1, 2]").name is None
