"""Registry notifications: a real registry posts its events to a real gateway server,
which drops the cached lists they name."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.images import Pusher, push_image
from harness.registry import RegistryProcess, free_port
from harness.waiting import eventually
from tests.support.gateway_server import GatewayServer

TOKEN = secrets.token_urlsafe(24)
POLL_SECONDS = 10.0


def _shared_dir() -> Path:
    env = os.environ.get("LR_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


REALWORLD = _shared_dir() / "fixtures" / "realworld"


@pytest.fixture(scope="module", params=["3.0", "2.8"])
def notified(
    request: pytest.FixtureRequest,
    registry_factory: Callable[..., RegistryProcess],
) -> Iterator[tuple[RegistryProcess, GatewayServer]]:
    """A registry that notifies a gateway (cache TTL 300 s) on a free local port: 3.0
    (``events.v2+json``) and 2.8 (``events.v1+json``), the same envelope."""
    port = free_port()
    registry = registry_factory(
        notifications_url=f"http://127.0.0.1:{port}/api/events",
        notifications_token=TOKEN,
        version=request.param,
    )
    gateway = GatewayServer(registry.url, port, events_token=TOKEN, cache_ttl=300).start()
    try:
        yield registry, gateway
    finally:
        gateway.stop()


@pytest.fixture(scope="module")
def plain_registry(registry_factory: Callable[..., RegistryProcess]) -> RegistryProcess:
    """A registry without notifications, for posting events by hand."""
    return registry_factory()


def post_events(client: Any, body: bytes) -> httpx.Response:
    """POST an envelope as the registry does: its media type, the bearer token."""
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/vnd.docker.distribution.events.v1+json",
    }
    response: httpx.Response = client.post("/api/events", content=body, headers=headers)
    return response


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _tag_names(client: httpx.Client, repo: str) -> list[str]:
    return [t["name"] for t in _get(client, f"/api/repositories/{repo}/tags")["tags"]]


def _repo_names(client: httpx.Client) -> list[str]:
    return [r["name"] for r in _get(client, "/api/repositories", n=1000)["repositories"]]


def _wait_for(what: str, check: Callable[[], bool]) -> float:
    started = time.monotonic()
    eventually(check, within=POLL_SECONDS, every=0.1, what=what)
    return time.monotonic() - started


def test_events_keep_cached_lists_fresh(
    notified: tuple[RegistryProcess, GatewayServer], make_gateway: Any
) -> None:
    registry, gateway = notified
    repo = "events/app"
    with (
        Pusher(registry.url) as pusher,
        httpx.Client(base_url=gateway.url, trust_env=False, timeout=10) as client,
        make_gateway(registry.url, cache_ttl=300) as unnotified,
    ):
        push_image(pusher, repo, "1.0", n_layers=1, created="2024-01-01T00:00:00Z")
        # the push's own event may still be on its way: wait until the list shows it
        _wait_for("1.0 listed", lambda: _tag_names(client, repo) == ["1.0"])
        repos_before = _repo_names(client)
        assert repo in repos_before
        # a gateway without events caches the same lists
        assert unnotified.get(f"/api/repositories/{repo}/tags").json()["total"] == 1
        before = unnotified.get("/api/repositories", params={"n": 1000}).json()["repositories"]

        # a new tag: the event drops the cached tag list
        pushed = push_image(pusher, repo, "2.0", n_layers=1, created="2024-02-01T00:00:00Z")
        _wait_for("2.0 listed", lambda: _tag_names(client, repo) == ["1.0", "2.0"])
        detail = _get(client, f"/api/repositories/{repo}/images/2.0")
        assert detail["digest"] == pushed.digest
        # the same list without events is still the cached one: the event made the change
        assert [
            t["name"] for t in unnotified.get(f"/api/repositories/{repo}/tags").json()["tags"]
        ] == ["1.0"]

        # a new repository: the event drops the cached catalog
        new_repo = "events/new-repo"
        push_image(pusher, new_repo, "0.1", n_layers=1)
        _wait_for("new repository listed", lambda: new_repo in _repo_names(client))
        assert _repo_names(client) == sorted([*repos_before, new_repo])
        still = unnotified.get("/api/repositories", params={"n": 1000}).json()["repositories"]
        assert still == before

        # a deleted manifest: its tag disappears, and so does its image
        pusher.delete_manifest(repo, pushed.digest)
        _wait_for("2.0 gone", lambda: _tag_names(client, repo) == ["1.0"])
        r = client.get(f"/api/repositories/{repo}/images/2.0")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "MANIFEST_UNKNOWN"
        assert _get(client, "/api/repositories", q="events/app")["repositories"] == [
            {"name": repo, "tag_count": 1, "error": None}
        ]


def test_events_need_the_token(notified: tuple[RegistryProcess, GatewayServer]) -> None:
    _, gateway = notified
    body = json.dumps({"events": []}).encode()
    with httpx.Client(base_url=gateway.url, trust_env=False, timeout=10) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-" + TOKEN},
            {"Authorization": "Bearer"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": TOKEN},
        ):
            r = client.post("/api/events", content=body, headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert r.json()["error"]["code"] == "UNAUTHORIZED"
            assert not r.headers.get("www-authenticate", "").lower().startswith("basic")
        r = client.post("/api/events", content=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 0, "repositories": []}


def test_events_off_without_a_token(plain_registry: RegistryProcess, make_gateway: Any) -> None:
    registry = plain_registry
    with make_gateway(registry.url) as client:
        for headers in ({}, {"Authorization": "Bearer anything"}):
            r = client.post("/api/events", content=b'{"events": []}', headers=headers)
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "NOT_FOUND"
    with make_gateway(registry.url, events_token="") as client:
        r = client.post("/api/events", content=b"{}", headers={"Authorization": "Bearer "})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "NOT_FOUND"


NOT_ENVELOPES = [
    (b"", ["body"]),
    (b"not json at all", ["body"]),
    (b"\xff\xfe\x00", ["body"]),
    (b"[" * 100_000 + b"]" * 100_000, ["body"]),  # nested too deeply
    (b"[]", ["body"]),
    (b"null", ["body"]),
    (b'"events"', ["body"]),
    (b'{"something": "else"}', ["body", "events"]),
    (b'{"events": "nope"}', ["body", "events"]),
    (b'{"events": {"action": "push"}}', ["body", "events"]),
    (b'{"events": [1, "x", null]}', ["body", "events", 0]),
    (b'{"events": [{"action": "push", "target": 3}]}', ["body", "events", 0, "target"]),
    (
        b'{"events": [{"action": "push", "target": {"repository": "a"}}, '
        b'{"action": "push", "target": {"repository": ["a"]}}]}',
        ["body", "events", 1, "target", "repository"],
    ),
    (
        b'{"events": [{"action": 7, "target": {"repository": "a"}}]}',
        ["body", "events", 0, "action"],
    ),
]


@pytest.mark.parametrize(("body", "loc"), NOT_ENVELOPES)
def test_a_body_that_is_not_an_envelope_is_400(
    plain_registry: RegistryProcess, make_gateway: Any, body: bytes, loc: list[Any]
) -> None:
    with make_gateway(plain_registry.url, events_token=TOKEN, cache_ttl=300) as client:
        r = post_events(client, body)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["detail"][0]["loc"] == loc
        assert len(r.content) < 2000  # the body is never echoed
        # without the token it is 401 first: nothing is parsed for a stranger
        r = client.post("/api/events", content=body)
        assert r.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b'{"events": []}',
        b'{"events": [], "extra": {"registries": "add fields"}}',
        b'{"events": [{}, {"action": "push"}, {"action": "push", "target": null}]}',
        b'{"events": [{"action": "push", "target": {"repository": "UP/per"}}]}',
        b'{"events": [{"action": "pull", "target": {"repository": "a/b", "tag": "1"}}]}',
        b'{"events": [{"action": "pull", "target": {"repository": "a/b", "length": 3, '
        b'"references": [{"digest": "sha256:x"}]}, "actor": {}, "source": {"x": 1}}]}',
    ],
)
def test_events_that_change_nothing_are_ignored(
    plain_registry: RegistryProcess, make_gateway: Any, body: bytes
) -> None:
    with make_gateway(plain_registry.url, events_token=TOKEN) as client:
        r = post_events(client, body)
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 0, "repositories": []}


def test_the_documented_body_is_the_checked_one() -> None:
    """The request body in the OpenAPI document (api.EventEnvelope) and the hand-written
    check (read_envelope, fast enough for 4 MiB) accept and refuse the same bodies."""
    from pydantic import ValidationError

    from gateway.errors import InvalidRequest
    from gateway.models.api import EventEnvelope
    from gateway.services.events import read_envelope

    bodies = [b for b, _ in NOT_ENVELOPES if b[:1] != b"[" or b == b"[]"]
    bodies += [
        b'{"events": []}',
        b'{"events": [{}, {"action": null, "target": null}]}',
        b'{"events": [{"action": "push", "target": {"repository": "a", "digest": null, '
        b'"tag": "1", "mediaType": "x", "size": 5, "url": 3}}]}',
        b'{"events": [{"action": "push", "target": {"tag": 1}}]}',
        b'{"events": [{"action": "push", "target": {"mediaType": {}}}]}',
        b'{"events": [{"action": "push", "target": {"digest": true}}]}',
        b'{"events": [{"action": [], "target": {}}]}',
        b'{"events": [[]]}',
    ]
    for body in bodies:
        try:
            EventEnvelope.model_validate_json(body)
            documented = True
        except ValidationError:
            documented = False
        try:
            read_envelope(body)
            checked = True
        except InvalidRequest:
            checked = False
        assert documented == checked, body


def test_realworld_envelopes(plain_registry: RegistryProcess, make_gateway: Any) -> None:
    push = REALWORLD / "event-distribution-notification-push-envelope.json"
    pull = REALWORLD / "event-distribution-notification-pull.json"
    if not push.is_file():
        pytest.skip(f"{push} not found")
    with make_gateway(plain_registry.url, events_token=TOKEN, cache_ttl=300) as client:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        r = client.post("/api/events", content=push.read_bytes(), headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 3, "repositories": ["library/test"]}
        # pulls change nothing
        r = client.post("/api/events", content=pull.read_bytes(), headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 0, "repositories": []}


def test_an_event_drops_only_what_it_names(
    plain_registry: RegistryProcess, make_gateway: Any
) -> None:
    """Posted by hand: a push to one repository leaves another's cached list alone."""
    registry = plain_registry
    with (
        Pusher(registry.url) as pusher,
        make_gateway(registry.url, events_token=TOKEN, cache_ttl=300) as client,
    ):
        push_image(pusher, "one/app", "1.0", n_layers=1)
        push_image(pusher, "two/app", "1.0", n_layers=1)
        for repo in ("one/app", "two/app"):
            assert client.get(f"/api/repositories/{repo}/tags").json()["total"] == 1
        push_image(pusher, "one/app", "2.0", n_layers=1)
        push_image(pusher, "two/app", "2.0", n_layers=1)
        event = {
            "events": [
                {
                    "action": "push",
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "repository": "one/app",
                        "tag": "2.0",
                    },
                }
            ]
        }
        r = client.post(
            "/api/events",
            content=json.dumps(event).encode(),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert r.json() == {"accepted": 1, "repositories": ["one/app"]}
        assert client.get("/api/repositories/one/app/tags").json()["total"] == 2
        two = client.get("/api/repositories/two/app/tags")
        assert two.json()["total"] == 1
        assert two.headers["x-upstream-requests"] == "0"
