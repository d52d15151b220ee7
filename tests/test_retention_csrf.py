"""Retention and bulk deletes follow the CSRF rules of every state-changing request: with
the session cookie they need ``X-Requested-With`` and the gateway's own Origin; refused,
nothing is sent to the registry and nothing is deleted."""

from __future__ import annotations

from typing import Any

from harness.images import Pusher, push_image
from harness.registry import RegistryProcess
from tests.support.assertions import assert_envelope
from tests.support.callers import XHR

USERS = {"carol": "carol-Pw-ret-4"}


def test_retention_and_bulk_delete_need_the_csrf_header_and_origin(
    registry_factory: Any, make_gateway: Any
) -> None:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(reg.url, "carol", USERS["carol"]) as p:
        push_image(p, "ret/csrf", "1.0", seed="csrf-1")
        push_image(p, "ret/csrf", "2.0", seed="csrf-2")
        with make_gateway(reg.url, delete_enabled=True) as client:
            login = {"username": "carol", "password": USERS["carol"]}
            assert client.post("/api/session", json=login, headers=XHR).status_code == 200
            base = "/api/repositories/ret/csrf"
            requests = (
                ("retention/preview", {"keep_last": 1}),
                ("retention/apply", {"plan_id": "x"}),
                ("delete", {"tags": ["1.0"]}),
            )
            for headers in ({}, {**XHR, "Origin": "http://evil.example"}):
                for path, body in requests:
                    r = client.post(f"{base}/{path}", json=body, headers=headers)
                    assert_envelope(r, 403, "CSRF_FAILED")
                    assert r.headers.get("x-upstream-requests", "0") == "0"
            assert sorted(p.tags("ret/csrf") or []) == ["1.0", "2.0"]
            # With the header the same session may.
            plan = client.post(f"{base}/retention/preview", json={"keep_last": 1}, headers=XHR)
            assert plan.status_code == 200, plan.text
            r = client.post(
                f"{base}/retention/apply", json={"plan_id": plan.json()["plan_id"]}, headers=XHR
            )
            assert r.status_code == 200, r.text
            assert [x["status"] for x in r.json()["results"]] == ["deleted", "deleted"]
        assert p.tags("ret/csrf") == ["2.0"]
