"""Blob uploads through nginx in front of the gateway (LR_BLOB_OFFLOAD_SECRET,
auth_request), against real parts: the shipped ``deploy/nginx-blob-offload.conf``, real
nginx, the gateway as a real process in push mode, Debian's distribution 2.8 with
htpasswd logins, the token world's registry for bearer tokens, and crane as a client.

What is checked: a push through nginx ends as one through the gateway (the same
statuses, the same headers, the blob stored), but the bytes of its ``PATCH`` and ``PUT``
steps go from nginx to the registry, granted by the gateway; a step the gateway does
not grant (a caller who has not started an upload there, a cross-site request, a
refusal) is answered as without nginx; the upstream credentials never reach a client;
a registry refusing nginx's step after the grant (a stand-in: a real registry takes the
credentials it just took) is answered as the gateway answers it, never with the
registry's own challenge.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.nginx import Nginx, start_offload
from harness.processes import Served
from harness.redis_server import RedisProcess
from harness.registry import RegistryProcess, free_port
from harness.replicas import replicas
from harness.waiting import eventually
from tests.support.clients import crane
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

CHUNKS = (os.urandom(2 * 1024 * 1024 + 5), os.urandom(1024 * 1024 + 3), os.urandom(777))
BLOB = b"".join(CHUNKS)
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
OFFLOADS = "lr_upload_offloads_total"
#: What an upload step's answer carries, through nginx as from the gateway.
STEP_HEADERS = ("location", "range", "docker-upload-uuid", "docker-content-digest")
UPLOAD = re.compile(r"^/v2/team/app/blobs/uploads/[0-9a-f-]{36}(\?_state=[^ ]+)?$")


@dataclass
class Stand:
    registry: RegistryProcess
    gateway: Served
    nginx: Nginx
    tmp: Path


@pytest.fixture(scope="module")
def stand(registry_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    """An htpasswd registry (2.8), the gateway in push mode (``python -m gateway``, debug
    log to a file), nginx in front of both with the shipped offload configuration."""
    registry: RegistryProcess = registry_factory(
        auth="htpasswd", htpasswd_users=dict([ALICE]), version="2.8"
    )
    tmp = tmp_path_factory.mktemp("upload-offload")
    with offload_stack(registry.url, tmp, LR_V2_MODE="push") as (served, nginx):
        yield Stand(registry, served, nginx, tmp)


def _push(base: str, headers: dict[str, str], repo: str = "team/app") -> list[httpx.Response]:
    """A chunked push of ``BLOB``: POST, two PATCHes (Content-Range), PUT the last chunk."""
    answers = []
    with httpx.Client(base_url=base, headers=headers, trust_env=False, timeout=30) as client:
        r = client.post(f"/v2/{repo}/blobs/uploads/")
        answers.append(r)
        assert r.status_code == 202, r.text
        start = 0
        for chunk in CHUNKS[:2]:
            r = client.patch(
                r.headers["location"],
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + len(chunk) - 1}",
                },
            )
            answers.append(r)
            assert r.status_code == 202, r.text
            start += len(chunk)
        location = r.headers["location"]
        r = client.put(
            location + ("&" if "?" in location else "?") + f"digest={DIGEST}",
            content=CHUNKS[2],
            headers={"Content-Type": "application/octet-stream"},
        )
        answers.append(r)
    return answers


def _grants_logged(stand: Stand) -> list[str]:
    """The gateway's access-log lines of upload steps (PATCH, PUT) it granted (200: an
    answer to nginx; a step it handles itself answers 202 or 201)."""
    return [
        line
        for line in stand.gateway.output().splitlines()
        if re.search(r"\b(PATCH|PUT) /v2/team/app/blobs/uploads/\S+ 200 ", line)
    ]


def _stored(stand: Stand) -> bytes:
    r = httpx.get(
        f"{stand.registry.url}/v2/team/app/blobs/{DIGEST}",
        headers={"Authorization": basic(ALICE)},
        trust_env=False,
        timeout=30,
    )
    assert r.status_code == 200
    return r.content


def test_a_push_through_nginx_ends_as_through_the_gateway_its_bytes_past_it(
    stand: Stand,
) -> None:
    alice = {"Authorization": basic(ALICE)}
    direct = _push(stand.gateway.url, alice)
    assert _stored(stand) == BLOB
    httpx.delete(f"{stand.registry.url}/v2/team/app/blobs/{DIGEST}", headers=alice)
    granted = len(_grants_logged(stand))
    before = metric_values(stand.gateway.url)[OFFLOADS]
    through = _push(stand.nginx.url, alice)
    assert metric_values(stand.gateway.url)[OFFLOADS] - before == 3  # PATCH, PATCH, PUT
    assert _stored(stand) == BLOB
    assert (
        [r.status_code for r in through] == [r.status_code for r in direct] == [202, 202, 202, 201]
    )
    for offloaded, streamed in zip(through, direct, strict=True):
        assert sorted(k for k in STEP_HEADERS if k in offloaded.headers) == sorted(
            k for k in STEP_HEADERS if k in streamed.headers
        )
        assert offloaded.headers.get("range") == streamed.headers.get("range")
        assert offloaded.headers["content-length"] == "0"
        assert CREDENTIALS not in offloaded.headers
    for r in through[:3]:  # on this origin, as the gateway puts them
        assert UPLOAD.match(r.headers["location"]), r.headers["location"]
    assert through[3].headers["location"] == direct[3].headers["location"]
    assert through[3].headers["docker-content-digest"] == DIGEST
    # the gateway granted the three steps (200, no body read; logged after it answers)
    eventually(lambda: len(_grants_logged(stand)) == granted + 3, what="three grants logged")
    assert stand.registry.url.removeprefix("http://") not in str([r.headers for r in through])


def test_only_a_caller_the_registry_let_start_an_upload_is_granted(stand: Stand) -> None:
    """Another caller (anonymous, wrong password) stepping into alice's upload is not
    granted: the gateway takes the step and answers as without nginx."""
    alice = {"Authorization": basic(ALICE)}
    started = httpx.post(f"{stand.nginx.url}/v2/team/app/blobs/uploads/", headers=alice)
    assert started.status_code == 202
    location = started.headers["location"]
    before = metric_values(stand.gateway.url)[OFFLOADS]
    for headers in (
        {},
        {"Authorization": basic(("alice", "wrong-password"))},
        {"Authorization": "Basic not-base64!"},  # refused before the route: one challenge
    ):
        today = httpx.patch(stand.gateway.url + location, content=b"x", headers=headers)
        through = httpx.patch(stand.nginx.url + location, content=b"x", headers=headers)
        assert today.status_code == through.status_code
        assert today.status_code in (400, 401)
        assert through.json() == today.json()
        assert through.headers.get_list("www-authenticate") == today.headers.get_list(
            "www-authenticate"
        )
        assert CREDENTIALS not in through.headers
    assert metric_values(stand.gateway.url)[OFFLOADS] == before


def test_a_cross_site_step_is_refused_as_without_nginx(stand: Stand) -> None:
    alice = {"Authorization": basic(ALICE)}
    started = httpx.post(f"{stand.nginx.url}/v2/team/app/blobs/uploads/", headers=alice)
    location = started.headers["location"]
    hostile = {**alice, "Origin": "https://elsewhere.test"}
    today = httpx.patch(stand.gateway.url + location, content=b"x", headers=hostile)
    through = httpx.patch(stand.nginx.url + location, content=b"x", headers=hostile)
    assert today.status_code == through.status_code == 403
    assert through.json() == today.json()
    assert through.json()["errors"][0]["code"] == "DENIED"


def test_an_upload_s_status_and_cancel_go_through_the_gateway(stand: Stand) -> None:
    alice = {"Authorization": basic(ALICE)}
    started = httpx.post(f"{stand.nginx.url}/v2/team/app/blobs/uploads/", headers=alice)
    location = started.headers["location"]
    patched = httpx.patch(stand.nginx.url + location, content=CHUNKS[2], headers=alice)
    assert patched.status_code == 202
    location = patched.headers["location"]
    status = httpx.get(stand.nginx.url + location, headers=alice)
    assert status.status_code == 204
    assert status.headers["range"] == f"0-{len(CHUNKS[2]) - 1}"
    logged = f"GET {location.partition('?')[0]}"  # the gateway logs after it answers
    eventually(lambda: logged in stand.gateway.output(), what="the status asked of the gateway")
    cancelled = httpx.delete(stand.nginx.url + location, headers=alice)
    assert cancelled.status_code == 204
    gone = httpx.get(stand.nginx.url + location, headers=alice)
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_the_grant_s_credentials_never_reach_a_client(stand: Stand) -> None:
    alice = basic(ALICE)
    started = httpx.post(
        f"{stand.nginx.url}/v2/team/app/blobs/uploads/", headers={"Authorization": alice}
    )
    location = started.headers["location"]
    # a client asking for a grant through nginx: nginx drops its header, the step is sent
    asked = {"Authorization": alice, "X-LR-Upload-Grant": "1", "X-LR-Offload": SECRET}
    r = httpx.patch(stand.nginx.url + location, content=b"abc", headers=asked)
    assert r.status_code == 202 and CREDENTIALS not in r.headers
    assert r.headers["range"] == "0-2"
    # the gateway asked without the secret, or with another: an upload step as always
    for secret in (None, "wrong", SECRET[:-1]):
        headers = {"Authorization": alice, "X-LR-Upload-Grant": "1"}
        if secret is not None:
            headers["X-LR-Offload"] = secret
        location = r.headers["location"]
        r = httpx.patch(stand.gateway.url + location, content=b"d", headers=headers)
        assert r.status_code == 202 and CREDENTIALS not in r.headers
    # what nginx is told: the caller's own Basic credentials
    told = httpx.patch(
        stand.gateway.url + r.headers["location"],
        headers={"Authorization": alice, "X-LR-Upload-Grant": "1", "X-LR-Offload": SECRET},
    )
    assert told.status_code == 200 and told.headers[CREDENTIALS] == alice
    metrics = httpx.get(f"{stand.gateway.url}/metrics", trust_env=False).text
    for text in (stand.gateway.output() + stand.nginx.error_log(), metrics):
        for secret in (ALICE[1], alice, SECRET):
            assert secret not in text


def test_crane_pushes_through_nginx(stand: Stand, tmp_path: Path) -> None:
    """A real client's push (crane: POST, one PATCH, PUT) through nginx, then pulled."""
    host = stand.nginx.url.removeprefix("http://")
    cr = crane(tmp_path / "crane")
    cr.ok("auth", "login", host, "-u", ALICE[0], "-p", ALICE[1])
    layer = tmp_path / "layer.bin"
    layer.write_bytes(os.urandom(4 * 1024 * 1024))
    before = metric_values(stand.gateway.url)[OFFLOADS]
    cr.ok("append", "--insecure", "-f", str(layer), "-t", f"{host}/team/crane:1.0")
    assert metric_values(stand.gateway.url)[OFFLOADS] > before
    manifest = json.loads(cr.ok("manifest", "--insecure", f"{host}/team/crane:1.0"))
    pulled = cr.ok("blob", "--insecure", f"{host}/team/crane@{manifest['config']['digest']}")
    assert json.loads(pulled)["rootfs"]["type"] == "layers"


def test_with_redis_a_replica_grants_a_step_of_an_upload_another_replica_started(
    registry_factory: Any, redis_server: RedisProcess, tmp_path: Path
) -> None:
    """nginx may ask any replica for the grant: with Redis, the start one replica saw
    is known to the others (alice's step granted by B after her start through A); a
    caller who started nothing is granted by neither."""
    registry: RegistryProcess = registry_factory(
        auth="htpasswd", htpasswd_users=dict([ALICE, BOB]), version="2.8"
    )
    settings = {
        "LR_REGISTRY_URL": registry.url,
        "LR_REDIS_URL": redis_server.url,
        "LR_V2_MODE": "push",
        "LR_BLOB_OFFLOAD_SECRET": SECRET,
    }
    with replicas(tmp_path, 2, **settings) as (a, b):
        started = httpx.post(
            f"{a.url}/v2/team/app/blobs/uploads/", headers={"Authorization": basic(ALICE)}
        )
        assert started.status_code == 202
        location = started.headers["location"]
        asked = {"X-LR-Upload-Grant": "1", "X-LR-Offload": SECRET}
        for replica in (b, a):
            told = httpx.patch(
                replica.url + location, headers={**asked, "Authorization": basic(ALICE)}
            )
            assert told.status_code == 200 and told.headers[CREDENTIALS] == basic(ALICE)
            other = httpx.patch(
                replica.url + location, headers={**asked, "Authorization": basic(BOB)}
            )
            assert other.status_code == 403 and CREDENTIALS not in other.headers


# -- the registry refusing nginx's step after the grant: a stand-in registry ------------


class _Refusing(http.server.BaseHTTPRequestHandler):
    """What a registry answers to a token that expired between grant and step."""

    status = 401

    def _refuse(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "x"}]}).encode()
        self.send_response(self.status)
        self.send_header(
            "WWW-Authenticate", 'Bearer realm="http://127.0.0.2:1/token",service="registry"'
        )
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PATCH = do_PUT = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "code"), [(401, "UNAUTHORIZED"), (403, "DENIED"), (500, None)])
def test_a_registry_refusing_nginx_s_step_is_answered_as_the_gateway_would(
    stand: Stand, tmp_path: Path, status: int, code: str | None
) -> None:
    handler = type("Refusing", (_Refusing,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    nginx = start_offload(
        stand.gateway.url.removeprefix("http://"),
        f"127.0.0.1:{server.server_address[1]}",
        SECRET,
        tmp_path / "nginx",
    )
    try:
        alice = {"Authorization": basic(ALICE)}
        started = httpx.post(f"{nginx.url}/v2/team/app/blobs/uploads/", headers=alice)
        assert started.status_code == 202  # through the gateway, to the real registry
        r = httpx.patch(nginx.url + started.headers["location"], content=b"x", headers=alice)
        if code is None:  # the registry failed: the gateway's answer to a failed upstream
            assert r.status_code == 502
            assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
        else:
            assert r.status_code == status
            assert r.json()["errors"][0]["code"] == code
        # never the registry's challenge (its token server), never the credentials
        assert "127.0.0.2" not in str(r.headers) and CREDENTIALS not in r.headers
        if status == 401:
            assert r.headers["www-authenticate"] == 'Basic realm="Light Registry"'
        assert r.headers.get("x-request-id")
    finally:
        nginx.stop()
        server.shutdown()
        server.server_close()


# -- a token registry: the bearer token of THIS caller's push scope -------------------


@pytest.fixture(scope="module")
def token_stand(
    world: World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(the gateway's URL, nginx's URL) over the token world's registry, push mode."""
    tmp = tmp_path_factory.mktemp("upload-offload-token")
    with token_offload_stack(world.url, tmp, v2_mode="push") as urls:
        yield urls


def test_nginx_sends_a_step_with_the_token_of_the_callers_push_scope(
    token_stand: tuple[str, str],
) -> None:
    gateway_url, nginx_url = token_stand
    admin = TOKEN_USERS.basic("admin")
    started = httpx.post(f"{nginx_url}/v2/team/up/blobs/uploads/", headers=admin)
    assert started.status_code == 202
    location = started.headers["location"]
    told = httpx.patch(
        gateway_url + location, headers={**admin, "X-LR-Upload-Grant": "1", "X-LR-Offload": SECRET}
    )
    scheme, _, token = told.headers[CREDENTIALS].partition(" ")
    assert scheme == "Bearer"
    claims = token_claims(token)
    assert claims["sub"] == "admin"
    assert claims["access"] == [
        {"type": "repository", "name": "team/up", "actions": ["pull", "push"]}
    ]
    r = httpx.put(
        nginx_url + location + f"&digest={DIGEST}", content=BLOB, headers=admin, timeout=30
    )
    assert r.status_code == 201 and CREDENTIALS not in r.headers
    pulled = httpx.get(f"{nginx_url}/v2/team/up/blobs/{DIGEST}", headers=admin, timeout=30)
    assert pulled.status_code == 200 and pulled.content == BLOB


def test_a_caller_who_may_not_push_gets_todays_answer_through_nginx(
    token_stand: tuple[str, str],
) -> None:
    """The reader may pull team/* but not push: the registry refuses their upload's
    start, so no step of theirs is granted."""
    gateway_url, nginx_url = token_stand
    reader = TOKEN_USERS.basic("reader")
    today = httpx.post(f"{gateway_url}/v2/team/app/blobs/uploads/", headers=reader)
    through = httpx.post(f"{nginx_url}/v2/team/app/blobs/uploads/", headers=reader)
    assert today.status_code == through.status_code
    assert today.status_code in (401, 403)
    assert through.json() == today.json()
    step = "/v2/team/app/blobs/uploads/0a1b2c3d-0000-4000-8000-000000000000"
    today = httpx.patch(gateway_url + step, content=b"x", headers=reader)
    through = httpx.patch(nginx_url + step, content=b"x", headers=reader)
    assert through.status_code == today.status_code and through.json() == today.json()
    assert CREDENTIALS not in through.headers
