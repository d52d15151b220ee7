"""Two replicas sharing one Redis: tokens, access confirmations, caches, invalidation.

Real ``python -m gateway`` processes in front of one token registry (a real token
server) with per-user rights, as in test_auth_token: ``admin`` reads everything,
``reader`` only ``team/*``. What one replica fetched serves the other without asking
the registry again — never past a caller's own rights — and a notification posted to
one replica reaches the other's answers within a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.images import PushedImage, Pusher, push_image
from harness.redis_server import RedisProcess
from harness.registry import RegistryProcess
from harness.replicas import Replica, replicas
from harness.tokenserver import TokenServer
from harness.waiting import eventually
from tests.support.callers import XHR
from tests.support.token_world import SECRET_MARKER, USERS, grant

EVENTS_TOKEN = "events-tk-3a9c7e"


basic = USERS.basic


@dataclass
class World:
    a: Replica
    b: Replica
    registry: RegistryProcess
    tokens: TokenServer
    redis: RedisProcess
    team: PushedImage
    secret: PushedImage

    def token_requests(self) -> int:
        return len(self.tokens.requests)


@pytest.fixture(scope="module")
def world(
    registry_factory: Any,
    token_server_factory: Any,
    redis_server: RedisProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    tokens: TokenServer = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        team = push_image(p, "team/app", "1.0")
        secret = push_image(p, "secret/vault", "1.0", env=[SECRET_MARKER])
    redis_server.client().flushall()  # this module's keys only
    settings = {
        "LR_REGISTRY_URL": reg.url,
        "LR_REDIS_URL": redis_server.url,
        "LR_EVENTS_TOKEN": EVENTS_TOKEN,
    }
    with replicas(tmp_path_factory.mktemp("replicas"), 2, **settings) as (a, b):
        yield World(a, b, reg, tokens, redis_server, team, secret)


def get(replica: Replica, path: str, headers: dict[str, str]) -> httpx.Response:
    with replica.client() as c:
        return c.get(path, headers=headers)


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def test_config_says_redis(world: World) -> None:
    for replica in (world.a, world.b):
        assert get(replica, "/api/config", {}).json()["features"]["redis"] is True
        health = get(replica, "/api/health", {}).json()
        assert health["redis"]["reachable"] is True


def test_admin_warms_a_b_serves_the_detail_without_content_requests(world: World) -> None:
    path = "/api/repositories/secret/vault/images/1.0"
    first = get(world.a, path, basic("admin"))
    assert first.status_code == 200, first.text
    config = get(world.a, path + "/config", basic("admin"))
    assert config.status_code == 200
    before = world.b.upstream()
    detail = get(world.b, path, basic("admin"))
    assert detail.status_code == 200, detail.text
    assert detail.json() == first.json()
    assert get(world.b, path + "/config", basic("admin")).json() == config.json()
    spent = delta(world.b.upstream(), before)
    # Content by digest (manifests, configs) came from Redis: no manifest or blob read.
    assert spent.get("manifest", 0) == 0, spent
    assert spent.get("blob", 0) == 0, spent


def test_a_token_fetched_by_a_serves_b(world: World) -> None:
    layer = world.team.layers[0][0]
    path = f"/api/repositories/team/app/blobs/{layer}"
    assert get(world.a, path, basic("admin")).content == world.team.layer_data[0]
    mark = world.token_requests()
    r = get(world.b, path, basic("admin"))  # B streams it: upstream, with A's token
    assert r.content == world.team.layer_data[0]
    assert world.tokens.requests[mark:] == []


def test_reader_is_refused_the_secret_repository_on_either_replica(world: World) -> None:
    # The admin's reads have put the secret repository's content in both levels.
    assert get(world.a, "/api/repositories/secret/vault/images/1.0", basic("admin")).is_success
    assert get(world.b, "/api/repositories/secret/vault/images/1.0", basic("admin")).is_success
    base = "/api/repositories/secret/vault"
    paths = [
        f"{base}/tags",
        f"{base}/images/1.0",
        f"{base}/images/{world.secret.digest}",
        f"{base}/images/1.0/config",
        f"{base}/manifests/{world.secret.digest}",
        f"{base}/blobs/{world.secret.config_digest}",
    ]
    for replica in (world.a, world.b):
        for path in paths:
            for headers in (basic("reader"), {}):
                r = get(replica, path, headers)
                assert r.status_code in (401, 403, 404), (replica.url, path, r.status_code)
                assert SECRET_MARKER.encode() not in r.content
                assert world.secret.manifest not in r.content
                assert world.secret.config not in r.content
                assert set(r.json()["error"]) == {"code", "message", "detail"}
    # The reader's own rights still work through both.
    for replica in (world.a, world.b):
        assert get(replica, "/api/repositories/team/app/tags", basic("reader")).status_code == 200


def test_a_notification_on_a_shows_the_tag_on_b_within_a_second(world: World) -> None:
    tags_path = "/api/repositories/team/app/tags"
    for replica in (world.a, world.b):  # both have the list cached, in process
        tags = get(replica, tags_path, basic("admin")).json()["tags"]
        assert [t["name"] for t in tags] == ["1.0"]
    with Pusher(world.registry.url, "admin", USERS["admin"]) as p:
        pushed = push_image(p, "team/app", "2.0", created="2024-06-01T10:00:00Z")
    event = {
        "events": [
            {
                "action": "push",
                "target": {
                    "repository": "team/app",
                    "tag": "2.0",
                    "digest": pushed.digest,
                    "mediaType": pushed.media_type,
                },
            }
        ]
    }
    headers = {
        "Authorization": f"Bearer {EVENTS_TOKEN}",
        "Content-Type": "application/vnd.docker.distribution.events.v1+json",
    }
    with world.a.client() as c:
        assert c.post("/api/events", content=json.dumps(event), headers=headers).is_success
    posted = time.monotonic()
    # On A at once: its copies are dropped, and Redis' (stale until A has set the
    # repository's new generation) is not read meanwhile.
    names = [t["name"] for t in get(world.a, tags_path, basic("admin")).json()["tags"]]
    assert names == ["1.0", "2.0"]

    def seen_on_b() -> list[str]:
        names = [t["name"] for t in get(world.b, tags_path, basic("admin")).json()["tags"]]
        return names if "2.0" in names else []

    left = posted + 1.0 - time.monotonic()
    names = eventually(seen_on_b, within=left, every=0.02, what="2.0 on B within 1 s")
    assert names == ["1.0", "2.0"]
    detail = get(world.b, "/api/repositories/team/app/images/2.0", basic("admin"))
    assert detail.json()["digest"] == pushed.digest
    metrics = get(world.b, "/metrics", {}).text
    assert "lr_redis_up 1.0" in metrics
    received = [line for line in metrics.splitlines() if line.startswith("lr_redis_inval")]
    assert received and float(received[0].split()[-1]) >= 1, received


def test_redis_holds_no_password_token_or_session_id_in_clear(world: World) -> None:
    sessions = []
    for replica, user in ((world.a, "admin"), (world.b, "reader")):
        with replica.client() as c:
            r = c.post(
                "/api/session", json={"username": user, "password": USERS[user]}, headers=XHR
            )
            assert r.status_code == 200, r.text
            sessions.append(r.cookies["lr_session"])
            cookie = {"Cookie": f"lr_session={sessions[-1]}"}
            assert c.get("/api/repositories/team/app/tags", headers=cookie).status_code == 200
    assert world.tokens.issued, "no token was fetched"
    client = world.redis.client()
    names = list(client.scan_iter("*"))
    assert any(n.startswith(b"lr:t:") for n in names), "no token in Redis"
    assert any(n.startswith(b"lr:s:") for n in names), "no session in Redis"
    secrets = [p.encode() for p in USERS.values()]
    secrets += [t.encode() for t in world.tokens.issued] + [s.encode() for s in sessions]
    for name in names:
        value = client.dump(name) or b""
        assert b"eyJ" not in name and b"eyJ" not in value, name  # no JWT part in clear
        for secret in secrets:
            assert secret not in name, name
            assert secret not in value, name


def _cold_detail(world: World, repo: str, replicas_asking: list[Replica]) -> int:
    """Upstream requests (manifests, configs, tag lists) the replicas spent answering,
    all at once, the image detail of a repository none of them has seen."""
    from concurrent.futures import ThreadPoolExecutor

    with Pusher(world.registry.url, "admin", USERS["admin"]) as p:
        push_image(p, repo, "1.0")
    before = [r.upstream() for r in replicas_asking]
    path = f"/api/repositories/{repo}/images/1.0"
    with ThreadPoolExecutor(len(replicas_asking) * 3) as pool:
        answers = list(pool.map(lambda r: get(r, path, basic("admin")), replicas_asking * 3))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    spent = 0
    for replica, counts in zip(replicas_asking, before, strict=True):
        used = delta(replica.upstream(), counts)
        spent += sum(used.get(kind, 0) for kind in ("manifest", "blob", "tags"))
    return spent


def test_two_cold_replicas_fetch_about_once(world: World) -> None:
    one = _cold_detail(world, "cold/one", [world.a])
    two = _cold_detail(world, "cold/two", [world.a, world.b])
    assert one > 0
    # Without the lock each replica would fetch everything: about twice as much.
    assert two <= one + 1, (one, two)


def test_an_in_process_hit_never_touches_redis(world: World) -> None:
    paths = [
        "/api/repositories/team/app/tags?details=true",
        "/api/repositories/team/app/images/1.0",
        f"/api/repositories/team/app/manifests/{world.team.digest}",
    ]
    for path in paths * 2:  # warm, in process
        assert get(world.a, path, basic("reader")).status_code == 200
    client = world.redis.client()

    def commands() -> int:
        return int(client.info("stats")["total_commands_processed"])

    start = commands()
    idle = commands() - start  # the INFO itself, and anything else going on
    start = commands()
    for path in paths * 5:
        r = get(world.a, path, basic("reader"))
        assert r.status_code == 200 and r.headers["x-upstream-requests"] == "0"
    assert commands() - start - idle == 0
