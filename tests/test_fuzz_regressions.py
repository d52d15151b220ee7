"""Failures the API fuzzing (tests/test_fuzz_api.py) turned up, kept as plain tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from harness.registry import RegistryProcess
from tests.conftest import gateway_for
from tests.support.callers import XHR

# A password with a colon: RFC 7617 allows one there, never in the user-id.
USERS = {"carol": "pass:word-1"}


@pytest.fixture(scope="module")
def colon_registry(registry_factory: Any) -> Iterator[RegistryProcess]:
    yield registry_factory(auth="htpasswd", htpasswd_users=USERS)


def test_a_login_whose_username_has_a_colon_is_refused(colon_registry: RegistryProcess) -> None:
    """Basic credentials end the user-id at the first colon: "carol:pass" with password
    "word-1" reached the registry as carol / "pass:word-1", was accepted, and the session
    then said the user was "carol:pass"."""
    with gateway_for(colon_registry.url) as client:
        body = {"username": "carol:pass", "password": "word-1"}
        r = client.post("/api/session", json=body, headers=XHR)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert r.json()["error"]["detail"][0]["loc"] == ["body", "username"]
        assert "word-1" not in r.text
        assert "set-cookie" not in r.headers
        assert client.get("/api/session").json()["authenticated"] is False
        # The real user, whose password has the colon, still logs in.
        r = client.post(
            "/api/session", json={"username": "carol", "password": USERS["carol"]}, headers=XHR
        )
        assert r.status_code == 200, r.text
        assert client.get("/api/session").json()["username"] == "carol"


@pytest.mark.parametrize("username", ["ca\nrol", "carol\r", "\x00carol", "car\x7fol", "carol\t"])
def test_a_login_whose_username_has_a_control_character_is_refused(
    colon_registry: RegistryProcess, username: str
) -> None:
    with gateway_for(colon_registry.url) as client:
        r = client.post("/api/session", json={"username": username, "password": "x"}, headers=XHR)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
