"""``GET /api/search`` against a real registry (distribution 3.0) that notifies a real
gateway: the service account's walk at start, every search kind against the corpus'
independent answers (``search_truth``), freshness after a push, a tag move and a delete
(notification → result, bounded by ``eventually``), and a restart on the same data
folder that reads nothing from the registry again.

One registry and one gateway for the module (plus the restarted one at the end); the
re-walk after ``LR_SEARCH_INDEX_TTL`` has its own registry, which notifies nobody, and
its own gateway with a TTL of a few seconds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.images import Pusher, push_image
from harness.registry import RegistryProcess, free_port
from harness.waiting import eventually
from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope
from tests.support.fixtures import FilledRegistry
from tests.support.gateway_server import GatewayServer
from tests.support.search_corpus import Corpus, build_search_corpus, push_search_corpus
from tests.support.search_truth import QUERIES, Row, expected

TOKEN = "search-events-token"  # noqa: S105 - a test's own
SERVICE = {"registry_username": "walker", "registry_password": "walker-pw", "events_token": TOKEN}
FRESH_WITHIN = 1.0  # seconds from a notification to the result

# Held to a wall clock: run with the machine to itself (scripts/test.sh's last part).
pytestmark = pytest.mark.alone


@dataclass
class World:
    registry: RegistryProcess
    pusher: Pusher
    corpus: Corpus
    gateway: GatewayServer
    http: httpx.Client
    port: int
    data_dir: Path


def metric(http: httpx.Client, name: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.split(" ", 1)[0] in (name, name + "_total"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def rows(answer: dict[str, Any]) -> list[Row]:
    return [
        (
            r["repository"],
            r["tag"],
            r["digest"],
            r["platform"],
            r["match"]["kind"],
            r["match"]["value"],
        )
        for r in answer["results"]
    ]


def every_page(http: httpx.Client, kind: str, text: str, n: int = 4) -> list[Row]:
    out: list[Row] = []
    last = None
    while True:
        params = {kind: text, "n": str(n), **({"last": last} if last else {})}
        r = http.get("/api/search", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        out += rows(body)
        if body["next"] is None:
            return out
        assert len(body["results"]) == n
        last = body["next"]


def walked(http: httpx.Client) -> dict[str, Any]:
    def check() -> dict[str, Any]:
        body: dict[str, Any] = http.get("/api/search", params={"tag": "*"}).json()
        assert body["complete"], body
        assert metric(http, "lr_search_index_pending_documents") == 0
        assert metric(http, "lr_search_walk_passes") >= 1
        return body

    return eventually(check, within=30, what="the walk to finish")


def start_gateway(registry: RegistryProcess, port: int, data_dir: Path) -> GatewayServer:
    return GatewayServer(registry.url, port, data_dir=data_dir, **SERVICE).start()


@pytest.fixture(scope="module")
def world(registry_factory: Any) -> Iterator[World]:
    port = free_port()
    registry = registry_factory(
        notifications_url=f"http://127.0.0.1:{port}/api/events", notifications_token=TOKEN
    )
    corpus = build_search_corpus("wired")
    data_dir = Path(tempfile.mkdtemp(prefix="lr-search-"))
    with Pusher(registry.url) as pusher:
        push_search_corpus(pusher, corpus)
        gateway = start_gateway(registry, port, data_dir)
        try:
            with httpx.Client(base_url=gateway.url, trust_env=False, timeout=30) as http:
                walked(http)
                yield World(registry, pusher, corpus, gateway, http, port, data_dir)
        finally:
            gateway.stop()


def test_every_kind_of_search_answers_what_the_corpus_says(world: World) -> None:
    http, corpus = world.http, world.corpus
    for kind, text in QUERIES:
        assert every_page(http, kind, text) == expected(corpus, kind, text), (kind, text)
    digests = sorted(set(corpus.manifests) | set(corpus.blobs))
    for digest in digests[:: max(1, len(digests) // 25)]:
        assert every_page(http, "digest", digest, n=100) == expected(corpus, "digest", digest)
    short = digests[0].removeprefix("sha256:")[:12]
    assert every_page(http, "digest", short, n=100) == expected(corpus, "digest", short)


def test_health_reports_the_index(world: World) -> None:
    search = world.http.get("/api/health").json()["search"]
    assert search["available"] and search["index_bytes"] > 0
    assert search["repositories"] == len(world.corpus.tags)


def test_an_index_that_cannot_be_opened_is_a_503_and_nothing_else(
    registry: FilledRegistry, tmp_path: Path
) -> None:
    (tmp_path / "search.sqlite3").mkdir()  # not a database file
    with gateway_for(registry.url, data_dir=tmp_path) as client:
        r = client.get("/api/search", params={"tag": "*"})
        assert r.status_code == 503, r.text
        assert_envelope(r, 503)
        assert r.json()["error"]["code"] == "SEARCH_UNAVAILABLE"
        assert client.get("/api/repositories").status_code == 200
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["search"]["available"] is False


def test_the_search_box_syntax_and_bad_input(world: World) -> None:
    http, corpus = world.http, world.corpus
    box = http.get("/api/search", params={"q": "pkg:openssl@3.0.7", "n": "100"}).json()
    assert box["query"] == {"kind": "package", "text": "openssl@3.0.7"}
    assert rows(box) == expected(corpus, "package", "openssl@3.0.7")
    label = http.get("/api/search", params={"q": "label:team=web", "n": "100"}).json()
    assert rows(label) == expected(corpus, "label", "team=web")
    names = http.get("/api/search", params={"q": "WIRED/W"}).json()
    assert names["query"]["kind"] == "name"
    assert names["repositories"] == ["wired/web", "wired/worker"]
    for params in ({}, {"tag": "a", "label": "b"}, {"digest": "abc"}, {"tag": "a/b"}, {"n": "0"}):
        r = http.get("/api/search", params=params)
        assert r.status_code == 400, (params, r.text)
        assert_envelope(r, 400)
    r = http.get("/api/search", params={"tag": "*", "last": "not a cursor"})
    assert r.status_code == 400
    assert_envelope(r, 400)


def test_a_push_a_tag_move_and_a_delete_are_found_within_a_second(world: World) -> None:
    http, p = world.http, world.pusher
    repo = "wired/fresh"
    image = push_image(p, repo, "1.0", seed="wired-fresh", labels={"team": "fresh"})

    def found(kind: str, text: str) -> list[Row]:
        return rows(http.get("/api/search", params={kind: text, "n": "100"}).json())

    # The registry's notification first (it may take its time on a busy machine: its
    # delivery is not what this measures), as the activity log records it; then the
    # search answers from it.
    eventually(
        lambda: (
            http.get("/api/activity", params={"repository": repo, "action": "push"})
            .json()
            .get("events")
        ),
        within=30,
        what="the push notification",
    )
    assert eventually(lambda: found("label", "team=fresh"), within=FRESH_WITHIN * 5)
    eventually(
        lambda: (
            [r[:3] for r in found("tag", "1.0") if r[0] == repo] == [(repo, "1.0", image.digest)]
        ),
        within=FRESH_WITHIN,
    )
    other = push_image(p, repo, "2.0", seed="wired-fresh-2", labels={"team": "fresh2"})
    p.push_manifest(repo, "1.0", other.manifest, other.media_type)  # 1.0 moves
    eventually(
        lambda: (
            {r[1]: r[2] for r in found("tag", "*") if r[0] == repo}
            == {"1.0": other.digest, "2.0": other.digest}
        ),
        within=FRESH_WITHIN,
    )
    eventually(lambda: found("label", "team=fresh") == [], within=FRESH_WITHIN)
    p.delete_manifest(repo, other.digest)
    eventually(lambda: [r for r in found("tag", "*") if r[0] == repo] == [], within=FRESH_WITHIN)


def test_an_sbom_attached_later_is_found_within_a_second(world: World) -> None:
    http = world.http
    late = Corpus("wired")
    image = late.image([("wired-late", 2)], labels={"team": "late"})
    late.tag("late", "1.0", image)
    push_search_corpus(world.pusher, late)
    eventually(
        lambda: rows(http.get("/api/search", params={"label": "team=late"}).json()),
        within=FRESH_WITHIN,
    )
    late.sbom_referrer("late", image, [("left-pad", "1.3.0", "")], "SPDX-2.3")
    push_search_corpus(world.pusher, late)

    def found() -> list[Row]:
        return rows(http.get("/api/search", params={"package": "left-pad@1.3.0"}).json())

    want = [("wired/late", "1.0", image.digest, "linux/amd64", "package", "left-pad@1.3.0")]
    eventually(lambda: found() == want, within=FRESH_WITHIN)


def test_a_restart_reopens_the_index_and_reads_nothing_again(world: World) -> None:
    walked(world.http)  # what the notifications named is walked too
    world.gateway.stop()
    before = every_page_after_restart(world)
    assert before == expected(world.corpus, "package", "openssl")


def every_page_after_restart(world: World) -> list[Row]:
    world.gateway = start_gateway(world.registry, world.port, world.data_dir)
    with httpx.Client(base_url=world.gateway.url, trust_env=False, timeout=30) as http:
        eventually(lambda: metric(http, "lr_search_walk_passes") >= 1, within=30)
        assert metric(http, "lr_search_walk_upstream_requests") == 0
        assert metric(http, "lr_search_walk_repositories") == 0
        body = http.get("/api/search", params={"tag": "*"}).json()
        assert body["complete"]
        found = every_page(http, "package", "openssl")
        assert metric(http, "lr_search_walk_upstream_requests") == 0
        return [r for r in found if not r[0].startswith("wired/fresh")]


REWALK_TTL = 6.0  # LR_SEARCH_INDEX_TTL of the gateway below: seconds


def test_a_change_no_notification_told_is_found_after_the_index_ttl(
    registry_factory: Any, tmp_path: Path
) -> None:
    """A registry that notifies nobody: a tag moved and a tag deleted there are answered
    as before until ``LR_SEARCH_INDEX_TTL`` (the staleness bound), and as they are once
    the re-walk read the registry afresh — even though the view's own caches (cache TTL
    30 s, stale 300 s: the defaults) still hold the previous tag list and pointers."""
    registry = registry_factory()  # no notifications: only the re-walk can see a change
    repo = "quiet/app"
    with Pusher(registry.url) as p:
        old = push_image(p, repo, "1.0", seed="quiet-old", labels={"team": "quiet"})
        doomed = push_image(p, repo, "2.0", seed="quiet-doomed", labels={"team": "doomed"})
        started = time.monotonic()  # nothing is walked before: nothing due before + TTL
        gateway = GatewayServer(
            registry.url,
            free_port(),
            data_dir=tmp_path,
            search_index_ttl=REWALK_TTL,
            cache_ttl=30.0,
            stale_ttl=300.0,
            **SERVICE,
        ).start()
        try:
            with httpx.Client(base_url=gateway.url, trust_env=False, timeout=30) as http:

                def tags() -> dict[str, str]:
                    found = every_page(http, "tag", "*")
                    return {r[1]: r[2] for r in found if r[0] == repo}

                walked(http)
                before = {"1.0": old.digest, "2.0": doomed.digest}
                assert tags() == before
                # The gateway's own reads cache the list and the pointers (as a page would).
                assert http.get(f"/api/repositories/{repo}/tags").status_code == 200
                new = push_image(p, repo, "1.0", seed="quiet-new", labels={"team": "quiet2"})
                p.delete_manifest(repo, doomed.digest)
                # Within the TTL, with no notification, the index answers what it had.
                assert tags() == before
                assert every_page(http, "label", "team=doomed")
                assert time.monotonic() - started < REWALK_TTL, "too slow to tell"
                # After it, the re-walk read the registry afresh.
                eventually(lambda: tags() == {"1.0": new.digest}, within=REWALK_TTL * 3)
                assert every_page(http, "label", "team=doomed") == []
                assert every_page(http, "label", "team=quiet") == []
                eventually(
                    lambda: (
                        [r[:3] for r in every_page(http, "label", "team=quiet2")]
                        == [(repo, "1.0", new.digest)]
                    ),
                    within=REWALK_TTL,
                )
        finally:
            gateway.stop()
