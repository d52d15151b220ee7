"""Blob pulls through nginx in front of the gateway (LR_BLOB_OFFLOAD_SECRET,
X-Accel-Redirect), against real parts: the shipped ``deploy/nginx-blob-offload.conf``
rendered for loopback ports (harness/nginx.py), real nginx, the gateway as a real
process logging at debug level, and Debian's distribution 2.8 with htpasswd logins; the
bearer path over the token world's registry (a token server with per-user rights).

What is checked: the bytes and headers a client gets through nginx are those of a
pull the gateway streams; a refusal is the gateway's answer of today; the upstream
credentials never reach a client (through nginx, from the gateway without the secret,
through ``/_lr_blob/``, with a client's own ``X-LR-Offload``) nor the gateway's log and
metrics; they are the ones the auth flow used for this caller (the caller's Basic, or
a token for the caller's pull scope). A caller the registry already let pull there is
handed on without a request, and what nginx then cannot fetch comes back to the gateway.
A registry redirecting to storage is no offload (a mock: the local registry cannot
redirect).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from harness.images import ACCEPT_ALL, PushedImage, Pusher, push_image
from harness.nginx import Nginx
from harness.processes import Served
from harness.registry import RegistryProcess
from tests.support.mock_registry import FakeRegistry, blob_response, gateway
from tests.support.offload import (
    ALICE,
    BOB,
    CREDENTIALS,
    SECRET,
    basic,
    metric_values,
    needs_nginx,
    offload_stack,
    token_claims,
    token_offload_stack,
)
from tests.support.token_world import USERS as TOKEN_USERS
from tests.support.token_world import World
from tests.support.token_world import world as world  # noqa: PLC0414 - the module's fixture

pytestmark = needs_nginx

BLOB = os.urandom(3 * 1024 * 1024 + 17)  # more than nginx's buffers hold
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
MISSING = "sha256:" + "0" * 64
#: What a blob answer streamed by the gateway and one moved by nginx must agree on.
SAME = ("content-type", "content-length", "accept-ranges", "docker-content-digest", "etag")


@dataclass
class Stand:
    registry: RegistryProcess
    gateway: Served
    nginx: Nginx
    image: PushedImage

    def blob(self, base: str, digest: str = DIGEST, **headers: str) -> httpx.Response:
        return httpx.get(
            f"{base}/v2/team/app/blobs/{digest}", headers=headers, trust_env=False, timeout=30
        )


def _metrics(stand: Stand) -> dict[str, float]:
    return metric_values(stand.gateway.url)


@pytest.fixture(scope="module")
def stand(registry_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """An htpasswd registry (2.8) holding ``BLOB`` and an image in ``team/app``; the
    gateway in front (``python -m gateway``, debug log to a file); nginx in front of
    both with the shipped offload configuration."""
    registry: RegistryProcess = registry_factory(
        auth="htpasswd", htpasswd_users=dict([ALICE, BOB]), version="2.8"
    )
    with Pusher(registry.url, *ALICE) as p:
        assert p.push_blob("team/app", BLOB) == DIGEST
        image = push_image(p, "team/app", "1.0")
    with offload_stack(registry.url, tmp_path_factory.mktemp("offload")) as (served, nginx):
        yield Stand(registry, served, nginx, image)


def test_a_pull_through_nginx_is_the_blob_with_the_streamed_headers(stand: Stand) -> None:
    alice = basic(ALICE)
    before = _metrics(stand)
    streamed = stand.blob(stand.gateway.url, Authorization=alice)  # no secret: streamed
    offloaded = stand.blob(stand.nginx.url, Authorization=alice)
    after = _metrics(stand)
    assert streamed.status_code == offloaded.status_code == 200
    assert "x-accel-redirect" not in streamed.headers
    assert hashlib.sha256(offloaded.content).hexdigest() == DIGEST.removeprefix("sha256:")
    assert offloaded.content == BLOB == streamed.content
    for name in SAME:
        assert offloaded.headers.get_list(name) == streamed.headers.get_list(name), name
    # a logged-in caller's content: kept by the browser, by no shared cache
    assert offloaded.headers.get_list("cache-control") == streamed.headers.get_list("cache-control")
    assert offloaded.headers["cache-control"].startswith("private, ")
    assert CREDENTIALS not in offloaded.headers and CREDENTIALS not in streamed.headers
    assert "x-accel-redirect" not in offloaded.headers
    # the pull through nginx is counted; its bytes are nginx's (only the direct one's here)
    assert after["lr_blob_offloads_total"] - before["lr_blob_offloads_total"] == 1
    streamed_bytes = "lr_blob_bytes_streamed_total"
    assert after[streamed_bytes] - before[streamed_bytes] == len(BLOB)


def test_a_range_goes_through_nginx_as_the_gateway_answers_it(stand: Stand) -> None:
    alice = basic(ALICE)
    streamed = stand.blob(stand.gateway.url, Authorization=alice, Range="bytes=100-1123")
    offloaded = stand.blob(stand.nginx.url, Authorization=alice, Range="bytes=100-1123")
    assert streamed.status_code == offloaded.status_code == 206
    assert offloaded.content == BLOB[100:1124] == streamed.content
    for name in (*SAME, "content-range", "cache-control"):
        assert offloaded.headers.get_list(name) == streamed.headers.get_list(name), name


def test_a_config_the_gateway_holds_is_served_by_it(stand: Stand) -> None:
    alice = basic(ALICE)
    path = f"/v2/team/app/manifests/{stand.image.digest}"
    headers = {"Authorization": alice, "Accept": ACCEPT_ALL}
    assert httpx.get(stand.nginx.url + path, headers=headers).status_code == 200
    offloaded = stand.blob(stand.nginx.url, stand.image.config_digest, Authorization=alice)
    assert offloaded.status_code == 200
    assert offloaded.content == stand.image.config
    assert "x-upstream-requests" in offloaded.headers  # the gateway's own answer


def _pulls_logged(stand: Stand, digest: str) -> list[str]:
    """The gateway's access-log lines of the pulls of ``digest`` so far."""
    marker = f"GET /v2/team/app/blobs/{digest} "
    return [line for line in stand.gateway.output().splitlines() if marker in line]


def test_a_caller_known_to_the_gateway_is_handed_on_without_a_request(stand: Stand) -> None:
    """Once the registry let this caller pull here (a HEAD), the next pulls through nginx
    ask the registry nothing from the gateway: its answer is the caller's Basic login,
    and the registry checks it when nginx fetches the blob."""
    alice = basic(ALICE)
    first = stand.blob(stand.nginx.url, Authorization=alice)  # proven once (or before)
    again = stand.blob(stand.nginx.url, Authorization=alice)
    assert first.status_code == again.status_code == 200 and again.content == BLOB
    assert _pulls_logged(stand, DIGEST)[-1].endswith(" upstream=0")
    told = stand.blob(stand.gateway.url, Authorization=alice, **{"X-LR-Offload": SECRET})
    assert told.headers[CREDENTIALS] == alice
    assert _pulls_logged(stand, DIGEST)[-1].endswith(" upstream=0")


def test_what_nginx_cannot_fetch_comes_back_to_the_gateway(stand: Stand) -> None:
    """Handed on without a request, a pull the registry refuses (no such blob here) is
    handed back by nginx (``@lr_streamed``) and answered by the gateway as always."""
    alice = basic(ALICE)
    assert stand.blob(stand.nginx.url, Authorization=alice).status_code == 200  # known
    before = _metrics(stand)["lr_blob_offloads_total"]
    through = stand.blob(stand.nginx.url, MISSING, Authorization=alice)
    today = stand.blob(stand.gateway.url, MISSING, Authorization=alice)
    assert _metrics(stand)["lr_blob_offloads_total"] == before + 1  # handed on, first
    assert through.status_code == today.status_code == 404
    assert through.json() == today.json()
    assert CREDENTIALS not in through.headers and "x-accel-redirect" not in through.headers
    offloaded, streamed, direct = _pulls_logged(stand, MISSING)[-3:]
    assert " 200 " in offloaded and offloaded.endswith(" upstream=0")  # the empty answer
    assert " 404 " in streamed and " 404 " in direct  # nginx's fallback, then ours


@pytest.mark.parametrize(
    ("who", "digest"),
    [
        (None, DIGEST),  # anonymous on a registry that wants a login: 401
        (("alice", "wrong-password"), DIGEST),  # rejected credentials: 401
        (ALICE, MISSING),  # no such blob: 404
    ],
)
def test_a_refusal_through_nginx_is_todays_answer(
    stand: Stand, who: tuple[str, str] | None, digest: str
) -> None:
    headers = {} if who is None else {"Authorization": basic(who)}
    today = stand.blob(stand.gateway.url, digest, **headers)
    through = stand.blob(stand.nginx.url, digest, **headers)
    assert today.status_code in (401, 404)
    assert through.status_code == today.status_code
    assert through.json() == today.json()
    assert through.headers.get("www-authenticate") == today.headers.get("www-authenticate")
    assert CREDENTIALS not in through.headers and "x-accel-redirect" not in through.headers


def test_the_credentials_never_reach_a_client(stand: Stand) -> None:
    alice = basic(ALICE)
    # (a) through nginx: checked on every answer above, and here with a client's own header
    # (d) a client's X-LR-Offload, right or wrong, is overwritten by nginx
    for sent in (SECRET, "wrong"):
        r = stand.blob(stand.nginx.url, Authorization=alice, **{"X-LR-Offload": sent})
        assert r.status_code == 200 and r.content == BLOB
        assert CREDENTIALS not in r.headers and "x-accel-redirect" not in r.headers
    # (b) the gateway called directly without the secret, or with another: streamed
    for headers in ({}, {"X-LR-Offload": "wrong"}, {"X-LR-Offload": SECRET[:-1]}):
        r = stand.blob(stand.gateway.url, Authorization=alice, **headers)
        assert r.status_code == 200 and r.content == BLOB
        assert CREDENTIALS not in r.headers and "x-accel-redirect" not in r.headers
    # (c) nginx's internal location is no place a client can ask for
    r = httpx.get(
        f"{stand.nginx.url}/_lr_blob/v2/team/app/blobs/{DIGEST}",
        headers={"Authorization": alice},
        trust_env=False,
    )
    assert r.status_code == 404 and BLOB[:64] not in r.content
    # What nginx is told: the caller's own Basic credentials, nothing else
    told = stand.blob(stand.gateway.url, Authorization=alice, **{"X-LR-Offload": SECRET})
    assert told.status_code == 200 and told.content == b""
    assert told.headers[CREDENTIALS] == alice
    assert told.headers["x-accel-redirect"] == f"/_lr_blob/v2/team/app/blobs/{DIGEST}"
    bob = stand.blob(stand.gateway.url, Authorization=basic(BOB), **{"X-LR-Offload": SECRET})
    assert bob.headers[CREDENTIALS] == basic(BOB)


def test_the_log_and_metrics_never_hold_the_credentials(stand: Stand) -> None:
    r = stand.blob(stand.nginx.url, Authorization=basic(ALICE))
    assert r.status_code == 200
    metrics = httpx.get(f"{stand.gateway.url}/metrics", trust_env=False).text
    logged = stand.gateway.output() + stand.nginx.error_log()
    assert f"GET /v2/team/app/blobs/{DIGEST} 200" in stand.gateway.output()  # pulls logged
    for text in (logged, metrics):
        for secret in (ALICE[1], BOB[1], basic(ALICE), basic(BOB), SECRET):
            assert secret not in text


# -- a token registry: the bearer token fetched for THIS caller's pull scope ----------


@pytest.fixture(scope="module")
def token_stand(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(the gateway's URL, nginx's URL) over the token world's registry."""
    with token_offload_stack(world.url, tmp_path_factory.mktemp("offload-token")) as urls:
        yield urls


def test_nginx_pulls_with_the_token_of_the_callers_pull_scope(
    world: World, token_stand: tuple[str, str]
) -> None:
    gateway_url, nginx_url = token_stand
    reader = TOKEN_USERS.basic("reader")["Authorization"]
    layer = world.team.layers[0][0]
    path = f"/v2/team/app/blobs/{layer}"
    through = httpx.get(nginx_url + path, headers={"Authorization": reader}, trust_env=False)
    assert through.status_code == 200
    assert through.content == world.team.layer_data[0]
    assert CREDENTIALS not in through.headers
    told = httpx.get(
        gateway_url + path,
        headers={"Authorization": reader, "X-LR-Offload": SECRET},
        trust_env=False,
    )
    scheme, _, token = told.headers[CREDENTIALS].partition(" ")
    assert scheme == "Bearer"
    claims = token_claims(token)
    assert claims["sub"] == "reader"
    assert claims["access"] == [{"type": "repository", "name": "team/app", "actions": ["pull"]}]


@pytest.mark.parametrize(
    ("user", "repo"),
    [
        ("reader", "secret/vault"),
        ("reader", "public/base"),  # reader may pull team/* only
        (None, "team/app"),
        (None, "public/base"),  # anonymous may pull public/*: its token, moved by nginx
    ],
)
def test_a_refused_caller_gets_todays_answer_through_nginx(
    world: World, token_stand: tuple[str, str], user: str | None, repo: str
) -> None:
    gateway_url, nginx_url = token_stand
    image = {"secret/vault": world.secret, "team/app": world.team, "public/base": world.public}
    layer = image[repo].layers[0][0]
    headers = {} if user is None else TOKEN_USERS.basic(user)
    path = f"/v2/{repo}/blobs/{layer}"
    today = httpx.get(gateway_url + path, headers=headers, trust_env=False)
    through = httpx.get(nginx_url + path, headers=headers, trust_env=False)
    assert through.status_code == today.status_code
    if user is None and repo == "public/base":
        assert through.status_code == 200 and through.content == image[repo].layer_data[0]
        return
    assert today.status_code in (401, 403)
    assert through.json() == today.json()
    assert CREDENTIALS not in through.headers
    assert image[repo].layer_data[0] not in through.content


# -- a registry that redirects to storage: no offload (a mock: distribution cannot) ----


def test_a_registry_redirecting_to_storage_is_streamed_by_the_gateway() -> None:
    data = b"layer bytes on object storage" * 100
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    presigned = "https://storage.test/blobs/abc?X-Amz-Signature=secret-signature"

    async def storage(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == "storage.test":
            return blob_response(data)
        if request.url.path == f"/v2/app/blobs/{digest}":
            return httpx.Response(307, headers={"Location": presigned})
        return None

    with gateway(FakeRegistry(storage), blob_offload_secret=SECRET) as client:
        r = client.get(
            f"/v2/app/blobs/{digest}",
            headers={"Authorization": basic(ALICE), "X-LR-Offload": SECRET},
        )
        assert r.status_code == 200 and r.content == data
        assert "x-accel-redirect" not in r.headers and CREDENTIALS not in r.headers
        assert "storage.test" not in str(r.headers)
