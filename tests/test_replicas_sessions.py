"""Two replicas sharing one Redis: sessions.

Real ``python -m gateway`` processes in front of one htpasswd registry (users alice and
bob, and a service account for requests without a login) and one real Redis. A login
made on one replica works on the other, a logout on either ends it on both; with Redis
down, requests that depend on a session answer 503 ``SESSION_STORE_UNAVAILABLE`` and
reads without one go on; Redis back, sessions work again without a restart.
"""

from __future__ import annotations

import os
import secrets
import signal
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
from harness.waiting import eventually
from tests.support.assertions import assert_envelope
from tests.support.callers import XHR

USERS = {"alice": "alice-Pw-5e1c", "bob": "bob-Pw-0d7a", "svc": "svc-Pw-99b3"}


@dataclass
class Pair:
    a: Replica
    b: Replica
    registry: RegistryProcess
    image: PushedImage
    redis: RedisProcess


@pytest.fixture(scope="module")
def pair(
    registry_factory: Any, redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(reg.url, "svc", USERS["svc"]) as p:
        image = push_image(p, "team/app", "1.0")
    settings = {
        "LR_REGISTRY_URL": reg.url,
        "LR_REGISTRY_USERNAME": "svc",
        "LR_REGISTRY_PASSWORD": USERS["svc"],
        "LR_REDIS_URL": redis_server.url,
        # Redis's answers on a loaded 2-core machine (the suite's two parts side by
        # side) have taken longer than the default 100 ms: a login then read as a store
        # that is down. Still short enough for the hang below to be a bounded wait.
        "LR_REDIS_TIMEOUT": "0.5",
    }
    with replicas(tmp_path_factory.mktemp("replicas"), 2, **settings) as (a, b):
        yield Pair(a, b, reg, image, redis_server)


def login(replica: Replica, user: str) -> str:
    with replica.client() as c:
        r = c.post("/api/session", json={"username": user, "password": USERS[user]}, headers=XHR)
    assert r.status_code == 200, r.text
    return r.cookies["lr_session"]


def with_cookie(session_id: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"lr_session={session_id}", **extra}


def who(replica: Replica, session_id: str) -> httpx.Response:
    with replica.client() as c:
        return c.get("/api/session", headers=with_cookie(session_id))


def test_login_on_a_works_on_b(pair: Pair) -> None:
    session_id = login(pair.a, "alice")
    r = who(pair.b, session_id)
    assert r.status_code == 200
    assert r.json() == {"authenticated": True, "username": "alice", "source": "session"}
    with pair.b.client() as c:
        tags = c.get("/api/repositories/team/app/tags", headers=with_cookie(session_id))
    assert tags.status_code == 200, tags.text
    assert [t["name"] for t in tags.json()["tags"]] == ["1.0"]


def test_two_users_stay_apart_across_replicas(pair: Pair) -> None:
    alice, bob = login(pair.a, "alice"), login(pair.b, "bob")
    assert who(pair.b, alice).json()["username"] == "alice"
    assert who(pair.a, bob).json()["username"] == "bob"


def test_logout_on_b_ends_the_session_on_a(pair: Pair) -> None:
    session_id = login(pair.a, "alice")
    with pair.a.client() as c:  # A has served it (and cached for it) before the logout
        assert c.get("/api/repositories", headers=with_cookie(session_id)).status_code == 200
    with pair.b.client() as c:
        out = c.delete("/api/session", headers=with_cookie(session_id, **XHR))
    assert out.status_code == 204
    with pair.a.client() as c:
        r = c.get("/api/repositories", headers=with_cookie(session_id))
    error = assert_envelope(r, 401, "UNAUTHORIZED")
    assert error["detail"] == {"session": "expired"}
    assert "lr_session=" in r.headers.get("set-cookie", "")  # the browser drops it
    assert who(pair.a, session_id).json()["authenticated"] is False


def test_a_forged_session_id_is_no_session_on_either(pair: Pair) -> None:
    for replica in (pair.a, pair.b):
        with replica.client() as c:
            r = c.get("/api/repositories", headers=with_cookie("x" * 43))
        assert_envelope(r, 401, "UNAUTHORIZED")


def test_redis_down_sessions_answer_503_reads_go_on_then_recover(pair: Pair) -> None:
    session_id = login(pair.a, "alice")
    with pair.a.client() as c:  # warm A's caches for the service account
        assert c.get("/api/repositories/team/app/tags").status_code == 200
    pair.redis.stop()
    try:
        for replica in (pair.a, pair.b):
            with replica.client() as c:
                # Reads without a session: the service account, from the caches or upstream.
                for path in ("/api/repositories", "/api/repositories/team/app/tags"):
                    r = c.get(path)
                    assert r.status_code == 200, (replica.url, path, r.text)
                start = time.monotonic()
                r = c.get("/api/repositories", headers=with_cookie(session_id))
                assert time.monotonic() - start < 2
                assert_envelope(r, 503, "SESSION_STORE_UNAVAILABLE")
                assert r.headers["retry-after"] == "1"
                assert_envelope(
                    c.get("/api/session", headers=with_cookie(session_id)),
                    503,
                    "SESSION_STORE_UNAVAILABLE",
                )
                body = {"username": "bob", "password": USERS["bob"]}
                assert_envelope(
                    c.post("/api/session", json=body, headers=XHR),
                    503,
                    "SESSION_STORE_UNAVAILABLE",
                )
                # Without a cookie the session endpoint needs no store.
                assert c.get("/api/session").json()["source"] == "service"
                health = c.get("/api/health")
                assert health.status_code == 200
                assert health.json()["redis"] == {"reachable": False, "latency_ms": None}
    finally:
        pair.redis.start()  # the same port, empty: what a Redis restart looks like
    eventually(
        lambda: who(pair.a, login(pair.b, "bob")).json().get("username") == "bob",
        within=2.0,
        every=0.1,
        what="sessions working again",
    )
    # The old session was in the Redis that went away: it has ended, it is not anyone else.
    with pair.a.client() as c:
        r = c.get("/api/repositories", headers=with_cookie(session_id))
    assert_envelope(r, 401, "UNAUTHORIZED")
    with pair.a.client() as c:
        assert c.get("/api/health").json()["redis"]["reachable"] is True


def test_a_redis_that_hangs_costs_a_bounded_wait_not_an_answer(pair: Pair) -> None:
    session_id = login(pair.a, "alice")
    assert pair.redis.proc is not None
    os.kill(pair.redis.proc.pid, signal.SIGSTOP)  # alive, accepting, answering nothing
    try:
        with pair.b.client() as c:
            start = time.monotonic()
            r = c.get("/api/repositories/team/app/tags", headers=with_cookie(session_id))
            assert time.monotonic() - start < 2
            assert_envelope(r, 503, "SESSION_STORE_UNAVAILABLE")
            start = time.monotonic()
            assert c.get("/api/repositories/team/app/tags").status_code == 200
            assert c.get(f"/api/repositories/team/app/images/{pair.image.digest}").is_success
            assert time.monotonic() - start < 3
    finally:
        os.kill(pair.redis.proc.pid, signal.SIGCONT)
    eventually(
        lambda: who(pair.b, session_id).status_code == 200,
        within=2,
        every=0.1,
        what="the session working again",
    )
    assert who(pair.b, session_id).json()["username"] == "alice"


def test_a_logout_drops_what_the_other_replica_cached_for_the_user(pair: Pair) -> None:
    session_id = login(pair.a, "bob")
    with pair.a.client() as c:
        assert c.get("/api/repositories/team/app/tags", headers=with_cookie(session_id)).is_success
    before = pair.a.metric("lr_redis_invalidations_received_total")
    entries = pair.a.metric('lr_cache_entries{cache="tags"}')
    with pair.b.client() as c:
        assert c.delete("/api/session", headers=with_cookie(session_id, **XHR)).status_code == 204
    eventually(
        lambda: pair.a.metric("lr_redis_invalidations_received_total") != before,
        within=1,
        every=0.02,
        what="A hearing of the logout",
    )
    assert pair.a.metric('lr_cache_entries{cache="tags"}') == entries - 1  # bob's list


def test_a_full_redis_refuses_logins_with_503_and_reads_go_on(pair: Pair) -> None:
    session_id = login(pair.a, "alice")
    client = pair.redis.client()
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # full: every write is refused (OOM)
    try:
        for replica in (pair.a, pair.b):
            with replica.client() as c:
                assert c.get("/api/repositories/team/app/tags").status_code == 200
                body = {"username": "bob", "password": USERS["bob"]}
                assert_envelope(
                    c.post("/api/session", json=body, headers=XHR),
                    503,
                    "SESSION_STORE_UNAVAILABLE",
                )
                # Reading a session (and renewing its idle expiry) needs no memory:
                # Redis allows it, and the session still works, as its own user.
                r = c.get("/api/session", headers=with_cookie(session_id))
                assert r.json() == {
                    "authenticated": True,
                    "username": "alice",
                    "source": "session",
                }
    finally:
        client.config_set("maxmemory", "0")
    assert who(pair.b, session_id).json()["username"] == "alice"


def test_a_rotated_key_still_opens_the_sessions_sealed_before(
    pair: Pair, tmp_path_factory: pytest.TempPathFactory
) -> None:
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    settings = {
        "LR_REGISTRY_URL": pair.registry.url,
        "LR_REGISTRY_USERNAME": "svc",
        "LR_REGISTRY_PASSWORD": USERS["svc"],
        "LR_REDIS_URL": pair.redis.url,
    }
    root = tmp_path_factory.mktemp("rotation")
    with replicas(root, 1, LR_SECRET_KEY=old, **settings) as (before,):
        session_id = login(before, "alice")
    rotated = {"LR_SECRET_KEY": new, "LR_SECRET_KEY_PREVIOUS": old}
    with replicas(root, 1, **rotated, **settings) as (after,):
        assert who(after, session_id).json()["username"] == "alice"
    with replicas(root, 1, LR_SECRET_KEY=new, **settings) as (retired,):
        # The previous key retired: what it sealed opens no more (no session, no error).
        assert who(retired, session_id).json()["authenticated"] is False


def test_redis_holds_no_password_and_no_session_id_in_clear(pair: Pair) -> None:
    sessions = [login(pair.a, "alice"), login(pair.b, "bob"), login(pair.a, "bob")]
    for session_id in sessions:
        assert who(pair.b, session_id).status_code == 200
    client = pair.redis.client()
    names = list(client.scan_iter("*"))
    assert names, "nothing in Redis"
    hidden = [p.encode() for p in USERS.values()] + [s.encode() for s in sessions]
    for name in names:
        value = client.dump(name) or b""
        for secret in hidden:
            assert secret not in name, name
            assert secret not in value, name
