"""Retention through two replicas sharing one Redis: a plan previewed on one replica is
applied through the other (a round-robin balancer sends them anywhere), once only, and
Redis holds it sealed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.images import Pusher, push_image, tag_existing
from harness.redis_server import RedisProcess
from harness.registry import RegistryProcess
from harness.replicas import Replica, replicas
from tests.support.assertions import assert_envelope

REPO = "plans/app"


@dataclass
class World:
    a: Replica
    b: Replica
    registry: RegistryProcess
    redis: RedisProcess


@pytest.fixture(scope="module")
def world(
    registry_factory: Any, redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    reg: RegistryProcess = registry_factory(delete_enabled=True)
    with Pusher(reg.url) as p:
        for i, tag in enumerate(("1.0.0", "1.1.0", "1.2.0")):
            image = push_image(p, REPO, tag, n_layers=1, created=f"2024-03-0{i + 1}T00:00:00Z")
        tag_existing(p, REPO, "latest", image)
    settings = {
        "LR_REGISTRY_URL": reg.url,
        "LR_REDIS_URL": redis_server.url,
        "LR_DELETE_ENABLED": "true",
    }
    with replicas(tmp_path_factory.mktemp("plans"), 2, **settings) as (a, b):
        yield World(a, b, reg, redis_server)


def post(replica: Replica, path: str, body: dict[str, Any]) -> httpx.Response:
    with replica.client() as c:
        return c.post(path, json=body)


def test_a_plan_made_on_a_is_applied_through_b_once(world: World) -> None:
    rules = {"keep_last": 1, "sort": "version", "keep_regex": "^latest$"}
    plan = post(world.a, f"/api/repositories/{REPO}/retention/preview", rules)
    assert plan.status_code == 200, plan.text
    planned = {row["tag"] for row in plan.json()["delete"]}
    assert planned == {"1.0.0", "1.1.0"}
    # Redis holds the plan sealed: no tag or digest of it in clear.
    values = [world.redis.client().get(key) for key in world.redis.client().keys("lr:plan:*")]
    assert len(values) == 1 and values[0] is not None
    assert b"1.0.0" not in values[0] and plan.json()["plan_id"].encode() not in values[0]
    # Another repository's or an unknown plan is unknown on either replica.
    body = {"plan_id": plan.json()["plan_id"]}
    assert_envelope(
        post(world.b, "/api/repositories/plans/other/retention/apply", body), 404, "PLAN_UNKNOWN"
    )
    applied = post(world.b, f"/api/repositories/{REPO}/retention/apply", body)
    assert applied.status_code == 200, applied.text
    results = applied.json()["results"]
    assert {r["tag"]: r["status"] for r in results if r["tag"]} == {
        "1.0.0": "deleted",
        "1.1.0": "deleted",
    }
    assert all(r["status"] == "deleted" for r in results)
    again = post(world.a, f"/api/repositories/{REPO}/retention/apply", body)
    assert_envelope(again, 404, "PLAN_UNKNOWN")
    tags = httpx.get(f"{world.registry.url}/v2/{REPO}/tags/list", timeout=10).json()["tags"]
    assert sorted(tags) == ["1.2.0", "latest"]
