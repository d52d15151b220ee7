"""No secret reaches a log line or an error body, whatever happens.

Secrets: passwords (service account, Basic headers, logins), ``Authorization`` values,
session ids and the registry's bearer tokens. Every logger is captured at DEBUG
(the gateway's, httpx's, httpcore's) for whole flows, failures included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.settings import Settings
from harness.images import Pusher, push_image
from harness.registry import RegistryProcess
from harness.tokenserver import TokenServer
from tests.support.callers import XHR, basic_value

USERS = {"alice": "alice-Pw-LOG-5a1f9c", "bob": "bob-Pw-LOG-77e3d0"}
SERVICE = ("svc", "svc-Pw-LOG-0b2c4e")
WRONG = "wrong-Pw-LOG-c0ffee"


class Recorder:
    """Every secret used in a flow, and every response it produced."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.responses: list[httpx.Response] = []

    def add(self, *values: str) -> None:
        for value in values:
            self.secrets.add(value)
            if value.startswith("Basic "):
                self.secrets.add(value.removeprefix("Basic "))

    def call(self, client: TestClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.get("headers") or {}
        if "Authorization" in headers:
            self.add(headers["Authorization"])
        r = client.request(method, path, **kwargs)
        self.responses.append(r)
        for cookie in r.headers.get_list("set-cookie"):
            value = cookie.split(";", 1)[0].split("=", 1)[1]
            if len(value) > 8:
                self.secrets.add(value)
        return r

    def check(self, caplog: pytest.LogCaptureFixture) -> None:
        assert caplog.records, "nothing was logged: the capture is not working"
        texts = [caplog.text]
        for record in caplog.records:
            texts.append(record.getMessage())
            texts.append(repr(record.args))
            if record.exc_info:
                texts.append(logging.Formatter().formatException(record.exc_info))
        logged = "\n".join(texts)
        for secret in self.secrets:
            assert secret not in logged, f"a secret ({secret[:4]}…) reached the log"
        for r in self.responses:
            # The one place a session id may travel is its own Set-Cookie header.
            visible = r.text + "".join(
                f"{k}: {v}\n" for k, v in r.headers.multi_items() if k.lower() != "set-cookie"
            )
            for secret in self.secrets:
                assert secret not in visible, (r.request.url, r.status_code)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("gateway", "gateway.access", "httpx", "httpcore", "uvicorn", "fastapi"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


@pytest.fixture(scope="module")
def htpasswd_registry(registry_factory: Any) -> Iterator[RegistryProcess]:
    users = {**USERS, SERVICE[0]: SERVICE[1]}
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=users)
    with Pusher(reg.url, "alice", USERS["alice"]) as p:
        push_image(p, "team/app", "1.0")
    yield reg


def test_basic_registry_flow_logs_no_secret(
    htpasswd_registry: RegistryProcess, make_gateway: Any, debug_logs: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    rec.add(*USERS.values(), SERVICE[1], WRONG)
    rec.add(basic_value(SERVICE[0], SERVICE[1]))
    settings = {"registry_username": SERVICE[0], "registry_password": SERVICE[1]}
    with make_gateway(htpasswd_registry.url, delete_enabled=True, **settings) as client:
        tags = "/api/repositories/team/app/tags"
        # Service account, Basic headers (good, wrong, malformed), a denied delete.
        assert rec.call(client, "GET", tags).status_code == 200
        assert rec.call(client, "GET", "/api/repositories/team/app/images/1.0").status_code == 200
        good = {"Authorization": basic_value("bob", USERS["bob"])}
        assert rec.call(client, "GET", tags, headers=good).status_code == 200
        bad = {"Authorization": basic_value("bob", WRONG)}
        assert rec.call(client, "GET", tags, headers=bad).status_code == 401
        assert rec.call(client, "GET", "/api/session", headers=bad).status_code == 200
        mangled = {"Authorization": "Basic " + WRONG}
        assert rec.call(client, "GET", tags, headers=mangled).status_code == 401
        assert (
            rec.call(
                client, "DELETE", "/api/repositories/team/app/tags/nope", headers=bad
            ).status_code
            == 401
        )

        # Logins: wrong, malformed, CSRF-refused, right.
        wrong = {"username": "alice", "password": WRONG}
        assert rec.call(client, "POST", "/api/session", json=wrong, headers=XHR).status_code == 401
        assert (
            rec.call(
                client, "POST", "/api/session", json={"password": WRONG}, headers=XHR
            ).status_code
            == 400
        )
        assert (
            rec.call(
                client,
                "POST",
                "/api/session",
                content=b'{"username": "alice", "password": "' + WRONG.encode() + b'"',
                headers={**XHR, "Content-Type": "application/json"},
            ).status_code
            == 400
        )
        right = {"username": "alice", "password": USERS["alice"]}
        assert rec.call(client, "POST", "/api/session", json=right).status_code == 403
        assert rec.call(client, "POST", "/api/session", json=right, headers=XHR).status_code == 200
        session_id = client.cookies.get("lr_session")
        assert session_id
        rec.add(session_id)

        # Using the session: reads, a CSRF refusal, an unknown tag delete, logout, replay.
        assert rec.call(client, "GET", tags).status_code == 200
        assert rec.call(client, "GET", "/api/session").status_code == 200
        assert rec.call(client, "DELETE", "/api/repositories/team/app/tags/nope").status_code == 403
        assert (
            rec.call(
                client, "DELETE", "/api/repositories/team/app/tags/nope", headers=XHR
            ).status_code
            == 404
        )
        assert rec.call(client, "DELETE", "/api/session", headers=XHR).status_code == 204
        client.cookies.set("lr_session", session_id, domain="testserver.local", path="/")
        assert rec.call(client, "GET", "/api/session").json()["authenticated"] is False
    rec.check(debug_logs)


def test_token_registry_flow_logs_no_token(
    registry_factory: Any,
    token_server_factory: Any,
    make_gateway: Any,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
        if user == "alice":
            return list(actions)
        return [a for a in actions if a == "pull"] if name.startswith("public/") else []

    tokens: TokenServer = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "alice", USERS["alice"]) as p:
        push_image(p, "team/app", "1.0")
        push_image(p, "public/base", "1.0")

    rec = Recorder()
    rec.add(*USERS.values(), WRONG)
    issue = tokens.issue

    def recording_issue(user: str | None, scopes: list[str]) -> tuple[str, list[dict[str, Any]]]:
        token, access = issue(user, scopes)
        rec.add(token, token.rsplit(".", 1)[-1])  # the whole JWT and its signature
        return token, access

    monkeypatch.setattr(tokens, "issue", recording_issue)

    with make_gateway(reg.url, delete_enabled=True, cache_ttl=0, access_ttl=0) as client:
        alice = {"Authorization": basic_value("alice", USERS["alice"])}
        bob = {"Authorization": basic_value("bob", USERS["bob"])}
        wrong = {"Authorization": basic_value("bob", WRONG)}
        for _ in range(2):  # the second time from the token cache
            assert rec.call(client, "GET", "/api/repositories", headers=alice).status_code == 200
            path = "/api/repositories/team/app/images/1.0"
            assert rec.call(client, "GET", path, headers=alice).status_code == 200
        assert rec.call(client, "GET", "/api/repositories", headers=bob).status_code == 403
        assert (
            rec.call(client, "GET", "/api/repositories/team/app/tags", headers=bob).status_code
            == 403
        )
        assert (
            rec.call(client, "GET", "/api/repositories/team/app/tags", headers=wrong).status_code
            == 401
        )
        assert rec.call(client, "GET", "/api/repositories/public/base/tags").status_code == 200
        assert rec.call(client, "GET", "/api/repositories/team/app/tags").status_code == 401
        assert (
            rec.call(
                client, "DELETE", "/api/repositories/team/app/tags/1.0", headers=bob
            ).status_code
            == 403
        )
        login = {"username": "bob", "password": USERS["bob"]}
        assert rec.call(client, "POST", "/api/session", json=login, headers=XHR).status_code == 200
        rec.add(client.cookies["lr_session"])
        assert rec.call(client, "GET", "/api/repositories/team/app/tags").status_code == 403
        assert rec.call(client, "DELETE", "/api/session", headers=XHR).status_code == 204
    assert len(rec.secrets) > len(USERS) + 3, "no token was recorded"
    rec.check(debug_logs)


def test_settings_never_show_the_password() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        registry_username=SERVICE[0],
        registry_password=SERVICE[1],
        events_token="events-Secret-LOG-1",
    )
    for text in (
        repr(settings),
        str(settings),
        str(settings.model_dump()),
        settings.model_dump_json(),
    ):
        assert SERVICE[1] not in text
        assert "events-Secret-LOG-1" not in text
