"""A 40,000-event notification envelope against a gateway on a real socket, with its
caches full: the invalidation does what it should, and other requests are not stalled
meanwhile (it used to take 19-29 s and freeze the gateway for as long).

The caches are warmed with the session registry's catalog and tag lists through the
API, plus synthetic repositories put straight into the stores of the served app's
``CachedRegistry``: tens of thousands of real repositories cannot be pushed in a test,
and the public methods cache only what the registry really holds. The puts happen
before the load starts, while no request is being served.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.cache import TTLStore
from gateway.registry.credentials import ANONYMOUS
from gateway.view import CachedRegistry
from harness.registry import free_port
from harness.waiting import eventually
from tests.support.fixtures import FilledRegistry
from tests.support.gateway_server import GatewayServer

TOKEN = secrets.token_urlsafe(24)
EVENTS = 40_000
SYNTHETIC = 30_000  # synthetic repositories in the caches
NAMED_SYNTHETIC = 20_000  # of which the envelope names these (twice each, or so)
OTHER_CALLERS = ("load-caller-1", "load-caller-2")
DIGEST = "sha256:" + "ab" * 32
MAX_STALL = 0.5  # seconds a health check may wait while the envelope is handled


@pytest.fixture(scope="module")
def served(registry: FilledRegistry) -> Iterator[GatewayServer]:
    gateway = GatewayServer(
        registry.url, free_port(), events_token=TOKEN, cache_ttl=300, catalog_page_size=1000
    ).start()
    try:
        yield gateway
    finally:
        gateway.stop()


def _cached_registry(gateway: GatewayServer) -> CachedRegistry:
    registry: CachedRegistry = gateway.server.config.app.state.lr.registry
    return registry


def _synthetic(i: int) -> str:
    return f"load-synthetic/repo-{i:05d}"


def _envelope(repos: list[str]) -> bytes:
    events: list[dict[str, Any]] = []
    while len(events) < EVENTS:
        repo = repos[len(events) % len(repos)]
        events.append(
            {
                "action": "push",
                "target": {"repository": repo, "tag": "1.0"},
            }
        )
    return json.dumps({"events": events}, separators=(",", ":")).encode()


class HealthPoller(threading.Thread):
    """Asks /api/health/live every 10 ms; keeps (started, waited) of each answer."""

    def __init__(self, url: str) -> None:
        super().__init__(name="health-poller", daemon=True)
        self.url = url
        self.samples: list[tuple[float, float]] = []
        self.failures = 0
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, trust_env=False, timeout=30) as client:
            while not self.done.is_set():
                started = time.monotonic()
                try:
                    ok = client.get("/api/health/live").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.samples.append((started, time.monotonic() - started))
                self.failures += not ok
                time.sleep(0.01)

    def running(self) -> None:
        """Wait until the poller has answers of its own (it is checking)."""
        eventually(lambda: len(self.samples) >= 5, every=0.01, what="health checks answered")

    def past(self, moment: float) -> None:
        """Wait until a check started after ``moment`` was answered."""
        eventually(
            lambda: any(s >= moment for s, _ in list(self.samples)),
            every=0.01,
            what="a health check after the post",
        )

    def longest_wait(self, since: float, until: float) -> float:
        """The longest wait of a check that was under way at some time in [since, until]."""
        overlapping = [w for s, w in self.samples if s <= until and s + w >= since]
        assert overlapping, "no health check ran while the envelope was handled"
        return max(overlapping)


def test_a_huge_envelope_is_quick_and_stalls_nothing(served: GatewayServer) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=served.url, trust_env=False, timeout=60) as client:
        # -- warm the caches through the API: the catalog and every tag list ------------
        page = client.get("/api/repositories", params={"n": 1000})
        assert page.status_code == 200, page.text
        real = [r["name"] for r in page.json()["repositories"] if r["error"] is None]
        assert len(real) >= 4
        for repo in real:
            assert client.get(f"/api/repositories/{repo}/tags").status_code == 200
        named_real, kept_real = real[: len(real) // 2], real[len(real) // 2 :]
        for repo in real:  # all cached now
            r = client.get(f"/api/repositories/{repo}/tags")
            assert r.headers["x-upstream-requests"] == "0", repo

        # -- and with synthetic repositories, straight into the stores ------------------
        cached = _cached_registry(served)
        callers = (ANONYMOUS.key, *OTHER_CALLERS)
        for i in range(SYNTHETIC):
            repo = _synthetic(i)
            for caller in callers:
                cached.tag_lists.put((caller, repo), ["1.0", "2.0"])
            cached.tag_digests.put((repo, "1.0"), DIGEST)
            cached.tag_digests.put((repo, "2.0"), DIGEST)
            cached.membership.put((repo, DIGEST), True)
        for caller in OTHER_CALLERS:
            cached.catalogs.put((caller,), sorted([*real, *map(_synthetic, range(SYNTHETIC))]))
        entries = len(cached.tag_lists) + len(cached.tag_digests) + len(cached.membership)
        assert entries > 5 * SYNTHETIC

        # -- one envelope of 40,000 events (~3.4 MB) -----------------------------------
        named = [*named_real, *map(_synthetic, range(NAMED_SYNTHETIC))]
        body = _envelope(named)
        assert 3_000_000 < len(body) < 4 * 1024 * 1024

        poller = HealthPoller(served.url)
        poller.start()
        poller.running()
        started = time.monotonic()
        r = client.post("/api/events", content=body, headers=headers)
        took = time.monotonic() - started
        poller.past(started + took)
        poller.done.set()
        poller.join(timeout=10)

        assert r.status_code == 200, r.text[:500]
        answer = r.json()
        assert answer["accepted"] == EVENTS
        assert answer["repositories"] == named  # deduplicated, in first-named order
        stall = poller.longest_wait(started, started + took)
        print(f"\nPOST of {len(body)} B: {took:.3f} s; longest health wait {stall:.3f} s")
        assert poller.failures == 0
        assert stall < MAX_STALL, f"a health check waited {stall:.3f} s during the post"
        assert took < 10, f"the post took {took:.1f} s"

        # -- what was dropped, and what was not ------------------------------------------
        for i in (0, 1, NAMED_SYNTHETIC - 1):
            repo = _synthetic(i)
            assert all(cached.tag_lists.get((c, repo)) is None for c in callers), repo
            assert cached.tag_digests.get((repo, "1.0")) is None
            assert cached.membership.get((repo, DIGEST)) is None
        for i in (NAMED_SYNTHETIC, SYNTHETIC - 1):
            repo = _synthetic(i)
            assert all(cached.tag_lists.get((c, repo)) == ["1.0", "2.0"] for c in callers)
            assert cached.tag_digests.get((repo, "2.0")) == DIGEST
            assert cached.membership.get((repo, DIGEST)) is True
        # the catalogs listed every named repository: they stay; the anonymous one
        # (real repositories only) did not list the synthetic ones: they may be new
        assert all(cached.catalogs.get((c,)) is not None for c in OTHER_CALLERS)
        assert cached.catalogs.get((ANONYMOUS.key,)) is None

        for repo in named_real:
            r = client.get(f"/api/repositories/{repo}/tags")
            assert r.status_code == 200
            assert int(r.headers["x-upstream-requests"]) > 0, repo
        for repo in kept_real:
            r = client.get(f"/api/repositories/{repo}/tags")
            assert r.headers["x-upstream-requests"] == "0", repo

        # -- a small envelope naming only listed repositories keeps the catalog --------
        assert client.get("/api/repositories", params={"n": 1000}).status_code == 200
        small = json.dumps(
            {"events": [{"action": "push", "target": {"repository": named_real[0]}}]}
        ).encode()
        r = client.post("/api/events", content=small, headers=headers)
        assert r.json() == {"accepted": 1, "repositories": [named_real[0]]}
        r = client.get("/api/repositories", params={"q": kept_real[0]})
        assert r.status_code == 200
        assert r.headers["x-upstream-requests"] == "0"
        assert kept_real[0] in [x["name"] for x in r.json()["repositories"]]


def test_a_four_mib_envelope_is_parsed_off_the_loop(served: GatewayServer) -> None:
    """The largest envelope the endpoint takes, of events as distribution writes them
    (ids, timestamps, request, actor, source): other requests still get answers."""
    event = {
        "id": "6a1c2b8e-2f0c-4bd2-9a9d-3f1e4c5b6a7d",
        "timestamp": "2024-05-01T12:00:00.123456789Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": DIGEST,
            "size": 1234,
            "length": 1234,
            "repository": "load-synthetic/big",
            "url": "http://registry:5000/v2/load-synthetic/big/manifests/" + DIGEST,
            "tag": "1.0",
        },
        "request": {"id": "r", "addr": "10.0.0.1:5000", "host": "registry:5000"},
        "actor": {},
        "source": {"addr": "registry:5000", "instanceID": "i"},
    }
    one = len(json.dumps(event, separators=(",", ":"))) + 1
    count = (4 * 1024 * 1024 - 100) // one
    body = json.dumps({"events": [event] * count}, separators=(",", ":")).encode()
    assert 4 * 1024 * 1024 - 2 * one < len(body) <= 4 * 1024 * 1024
    poller = HealthPoller(served.url)
    poller.start()
    poller.running()
    with httpx.Client(base_url=served.url, trust_env=False, timeout=60) as client:
        started = time.monotonic()
        r = client.post("/api/events", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
        took = time.monotonic() - started
    poller.past(started + took)
    poller.done.set()
    poller.join(timeout=10)
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"accepted": count, "repositories": ["load-synthetic/big"]}
    stall = poller.longest_wait(started, started + took)
    print(f"\nPOST of {len(body)} B: {took:.3f} s; longest health wait {stall:.3f} s")
    assert stall < MAX_STALL


# -- the indexes themselves ---------------------------------------------------------------


def test_drop_groups_drops_exactly_the_group_and_fences_fetches() -> None:
    store: TTLStore[tuple[str, str], int] = TTLStore(
        60, indexes={"caller": lambda k: k[0], "repo": lambda k: k[1]}
    )
    store.put(("u1", "a"), 1)
    store.put(("u2", "a"), 2)
    store.put(("u1", "b"), 3)
    generation = store.generation  # a fetch of ("u3", "a") starts
    assert store.drop_groups("repo", ["a", "nothing-cached"]) == 2
    store.put(("u3", "a"), 9, generation)  # ... and ends after the drop: not stored
    assert store.get(("u3", "a")) is None
    assert store.get(("u1", "b")) == 3
    # dropped through one index, still listed in the other: a no-op there
    assert store.drop_groups("caller", ["u2"]) == 0
    assert store.drop_groups("caller", ["u1"]) == 1
    assert len(store) == 0
    store.put(("u1", "a"), 4)  # cached again after the drop: indexed again
    assert store.drop_groups("repo", ["a"]) == 1


def test_an_index_stays_bounded_under_churn() -> None:
    store: TTLStore[tuple[str, str], int] = TTLStore(
        60, maxsize=100, indexes={"repo": lambda k: k[1]}
    )
    for i in range(10_000):
        store.put(("u", f"r{i}"), i)  # evicts: the index is rebuilt from the live keys
    index = store._indexes["repo"]
    assert len(store) == 100
    assert index.size <= 2 * 100 + 64
    assert sum(map(len, index.groups.values())) == index.size
    assert store.drop_groups("repo", ["r9999", "r0"]) == 1
    store.clear()
    assert index.size == 0


def test_forget_caller_and_forget_repositories() -> None:
    cached = CachedRegistry(None, content_bytes=1 << 20, ttl=60, access_ttl=60)  # type: ignore[arg-type]
    cached.client = _NoTokens()  # type: ignore[assignment]
    for caller in ("alice", "bob"):
        cached.catalogs.put((caller,), ["a", "b"])
        for repo in ("a", "b"):
            cached.tag_lists.put((caller, repo), ["1"])
            cached.access.put((caller, repo), True)
    cached.tag_digests.put(("a", "1"), DIGEST)
    cached.membership.put(("a", DIGEST), True)
    cached.forget_caller("alice")
    assert cached.catalogs.get(("alice",)) is None
    assert cached.tag_lists.get(("alice", "a")) is None
    assert cached.access.get(("alice", "b")) is None
    assert cached.tag_lists.get(("bob", "a")) == ["1"]
    assert cached.access.get(("bob", "a")) is True
    cached.forget_repositories(["a"])  # listed in bob's catalog: it stays
    assert cached.catalogs.get(("bob",)) == ["a", "b"]
    assert cached.tag_lists.get(("bob", "a")) is None
    assert cached.tag_digests.get(("a", "1")) is None
    assert cached.membership.get(("a", DIGEST)) is None
    assert cached.tag_lists.get(("bob", "b")) == ["1"]
    cached.forget_repositories(["b", "c"])  # c is not listed: it may be new
    assert cached.catalogs.get(("bob",)) is None


class _NoTokens:
    class tokens:  # noqa: N801 - stands in for RegistryClient.tokens
        @staticmethod
        def drop_caller(_key: str) -> None:
            pass
