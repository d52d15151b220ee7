"""Prometheus ``/metrics``: the families, their labels, and the optional bearer token.

Against real registries: the standard open one, a token registry with a real token
server, an htpasswd one. Each test uses gateways of its own (a registry per app: their
counters start at zero), and reads the scrape with prometheus_client's own parser.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from gateway.registry.auth import RENEW_MARGIN, TokenCache
from gateway.registry.credentials import Caller, Credentials
from harness.images import PushedImage, Pusher, push_image
from harness.registry import RegistryProcess, free_port
from tests.conftest import gateway_for
from tests.support.callers import XHR, Users
from tests.support.fixtures import FilledRegistry

USERS = Users({"admin": "admin-Pw-m3tr", "carol": "carol-Pw-55aa"})


basic = USERS.basic


@dataclass
class Scrape:
    """Samples of one scrape: (sample name, labels) -> value."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    families: set[str]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))

    def label_values(self) -> set[str]:
        return {v for (_n, ls) in self.samples for _k, v in ls}


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> Scrape:
    r = client.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    families = set()
    for family in text_string_to_metric_families(r.text):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return Scrape(samples, families)


def upstream_total(s: Scrape) -> float:
    return s.value("lr_upstream_requests_total")


# -- the open registry -------------------------------------------------------------------


def test_families_follow_the_requests_made(registry: FilledRegistry) -> None:
    image = registry.content.images["oci/app:1.0"]
    assert isinstance(image, PushedImage)
    layer_digest, _media_type, layer_size = image.layers[0]
    with gateway_for(registry.url) as client:
        before = scrape(client)
        for family in (
            "lr_http_requests",
            "lr_http_request_duration_seconds",
            "lr_upstream_requests",
            "lr_upstream_request_duration_seconds",
            "lr_cache_hits",
            "lr_cache_misses",
            "lr_cache_evictions",
            "lr_cache_entries",
            "lr_cache_bytes",
            "lr_singleflight_waits",
            "lr_token_fetches",
            "lr_token_renewals",
            "lr_sessions_active",
            "lr_blob_bytes_streamed",
        ):
            assert family in before.families, family
        assert before.value("lr_blob_bytes_streamed_total") == 0
        assert before.value("lr_cache_entries", cache="content") == 0

        sent = 0  # upstream requests, as the X-Upstream-Requests headers tell them

        def get(path: str, **kwargs: Any) -> Any:
            nonlocal sent
            r = client.get(path, **kwargs)
            sent += int(r.headers["x-upstream-requests"])
            return r

        assert get("/api/repositories").status_code == 200
        tags = "/api/repositories/oci/app/tags"
        assert get(tags, params={"details": "true"}).status_code == 200
        assert get("/api/repositories/multi/oci-index/images/1.0.0").status_code == 200
        blob = get(f"/api/repositories/oci/app/blobs/{layer_digest}")
        assert blob.status_code == 200 and len(blob.content) == layer_size
        assert get("/api/repositories/no/such/tags").status_code == 404
        assert get("/api/no-such-route/oci/app").status_code == 404
        assert get("/v2/oci/app/nothing-here").status_code == 404
        assert get("/").status_code == 200
        assert get("/repo/oci/app/tags").status_code == 200  # a history route
        assert get("/api/health").status_code == 200

        after = scrape(client)
        requests = "lr_http_requests_total"
        assert after.value(requests, method="GET", route="/api/repositories", status="200") == 1
        assert after.value(requests, route="/api/repositories/{name}/tags", status="200") == 1
        assert after.value(requests, route="/api/repositories/{name}/tags", status="404") == 1
        assert after.value(requests, route="/api/repositories/{name}/images/{reference}") == 1
        assert after.value(requests, route="/api/repositories/{name}/blobs/{digest}") == 1
        assert after.value(requests, route="unmatched", status="404") == 2
        assert after.value(requests, route="/{spa}", status="200") == 2
        assert after.value(requests, route="/metrics", status="200") == 1  # the first scrape
        duration = "lr_http_request_duration_seconds_count"
        assert after.value(duration, method="GET", route="/api/repositories") == 1
        assert after.value("lr_http_request_duration_seconds_sum", route="/{spa}") > 0

        upstream = "lr_upstream_requests_total"
        for operation in ("catalog", "tags", "manifest", "blob", "ping"):
            assert after.value(upstream, operation=operation) >= 1, operation
        assert after.value(upstream, operation="catalog", status="200") >= 1
        assert after.value(upstream, operation="tags", status="404") >= 1  # no/such
        assert after.value(upstream, status="error") == 0
        assert after.value("lr_upstream_request_duration_seconds_count", operation="manifest") == (
            after.value(upstream, operation="manifest")
        )
        # Every upstream request the log line counted is counted here too, once.
        assert sent > 0 and after.value(upstream) == sent

        assert after.value("lr_blob_bytes_streamed_total") == layer_size
        assert after.value("lr_cache_entries", cache="content") > 0
        assert after.value("lr_cache_bytes", cache="content") > 0
        assert after.value("lr_cache_entries", cache="tags") >= 1
        assert after.value("lr_cache_misses_total", cache="tags") >= 1

        # A warm repeat: the answer kept as sent, no upstream request at all.
        hits = after.value("lr_cache_hits_total")
        warm = client.get(tags, params={"details": "true"})
        assert warm.status_code == 200 and warm.headers["x-upstream-requests"] == "0"
        assert scrape(client).value("lr_cache_hits_total", cache="answers") > after.value(
            "lr_cache_hits_total", cache="answers"
        )
        # Another page of the same tags: built again, from the caches.
        warm = client.get(tags, params={"details": "true", "n": "99"})
        assert warm.status_code == 200 and warm.headers["x-upstream-requests"] == "0"
        repeat = scrape(client)
        assert upstream_total(repeat) == upstream_total(after)
        assert repeat.value("lr_cache_hits_total", cache="tags") > after.value(
            "lr_cache_hits_total", cache="tags"
        )
        assert repeat.value("lr_cache_hits_total", cache="content") > after.value(
            "lr_cache_hits_total", cache="content"
        )
        assert repeat.value("lr_cache_hits_total") > hits

        # Low cardinality: no repository, tag, digest or raw path in any label.
        values = repeat.label_values()
        for value in values:
            assert "sha256" not in value, value
            for word in ("oci", "app", "multi", "such", "1.0.0", "latest", "no-such-route"):
                assert word not in value.split("/"), value
        # Every route label is a route's template, the SPA's, or "unmatched".
        templates = set(client.get("/openapi.json").json()["paths"]) | {"/metrics"}
        routes = {dict(ls)["route"] for (_n, ls) in repeat.samples if "route" in dict(ls)}
        assert routes <= templates | {"/{spa}", "unmatched"}, routes - templates


def test_metrics_is_outside_the_schema_and_never_the_spa(registry: FilledRegistry) -> None:
    with gateway_for(registry.url) as client:
        paths = client.get("/openapi.json").json()["paths"]
        assert "/metrics" not in paths
        r = client.get("/metrics", headers={"Accept": "text/html"})
        assert r.status_code == 200 and r.headers["content-type"] == CONTENT_TYPE_LATEST
        assert r.headers["cache-control"] == "no-store"
        assert client.get("/metrics/more").status_code == 404  # not index.html


def test_single_flight_waits_under_concurrent_identical_requests(
    registry: FilledRegistry,
) -> None:
    path = "/api/repositories/multi/attested/images/1.0"
    workers = 12
    for _attempt in range(3):  # a fresh gateway (cold caches) each attempt
        with gateway_for(registry.url) as client:
            barrier = threading.Barrier(workers)

            def get(_: int, client: TestClient = client, barrier: Any = barrier) -> int:
                barrier.wait()
                return client.get(path).status_code

            with ThreadPoolExecutor(workers) as pool:
                statuses = list(pool.map(get, range(workers)))
            assert statuses == [200] * workers
            waits = scrape(client).value("lr_singleflight_waits_total")
            if waits > 0:
                return
    pytest.fail("no request joined an identical upstream call in flight")


def test_an_unreachable_registry_counts_errors() -> None:
    with gateway_for(f"http://127.0.0.1:{free_port()}", connect_timeout=1.0) as client:
        assert client.get("/api/repositories").status_code in (502, 503, 504)
        assert client.get("/api/health").status_code == 503
        s = scrape(client)
    assert s.value("lr_upstream_requests_total", operation="catalog", status="error") >= 1
    assert s.value("lr_upstream_requests_total", operation="ping", status="error") >= 1
    assert s.value("lr_upstream_request_duration_seconds_count", operation="catalog") >= 1
    assert s.value("lr_http_requests_total", route="/api/repositories") == 1
    assert s.value("lr_http_requests_total", route="/api/repositories", status="200") == 0


# -- the bearer token of /metrics --------------------------------------------------------


def test_the_metrics_token_is_required_when_set(registry: FilledRegistry) -> None:
    token = "scrape-Tk-9e1f"  # noqa: S105 - a test secret
    with gateway_for(registry.url, metrics_token=token) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {token}"},
            {"Authorization": f"Bearer {token}x"},
        ):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["error"]["code"] == "UNAUTHORIZED"
            assert "www-authenticate" not in r.headers
            assert token not in r.text
        s = scrape(client, {"Authorization": f"Bearer {token}"})
        assert s.value("lr_http_requests_total", route="/metrics", status="401") == 4


# -- a token registry --------------------------------------------------------------------


def grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    return list(actions) if user == "admin" else []


@pytest.fixture(scope="module")
def token_registry(registry_factory: Any, token_server_factory: Any) -> Iterator[RegistryProcess]:
    tokens = token_server_factory(USERS, grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        push_image(p, "team/app", "1.0")
    yield reg


def test_token_fetches_are_counted(token_registry: RegistryProcess) -> None:
    with gateway_for(token_registry.url) as client:
        assert client.get("/api/repositories", headers=basic("admin")).status_code == 200
        r = client.get("/api/repositories/team/app/tags", headers=basic("admin"))
        assert r.status_code == 200
        again = client.get("/api/repositories/team/app/images/1.0", headers=basic("admin"))
        assert again.status_code == 200
        denied = client.get("/api/repositories", headers=basic("admin", "not-the-password"))
        assert denied.status_code == 401
        s = scrape(client)
    ok = s.value("lr_token_fetches_total", outcome="ok")
    assert ok >= 2  # the catalog scope and the repository's
    assert s.value("lr_token_fetches_total", outcome="denied") == 1
    assert s.value("lr_token_fetches_total", outcome="error") == 0
    token_requests = s.value("lr_upstream_requests_total", operation="token")
    assert token_requests == ok + 1
    assert s.value("lr_upstream_requests_total", operation="token", status="200") == ok
    assert s.value("lr_upstream_requests_total", operation="token", status="401") == 1
    assert s.value("lr_cache_entries", cache="token") >= 2
    assert s.value("lr_token_renewals_total") == 0
    assert "team" not in " ".join(s.label_values())


def test_a_token_near_expiry_is_counted_as_renewed(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("gateway.registry.auth.time.monotonic", lambda: clock[0])
    cache = TokenCache()
    key = cache.key(Caller(Credentials("u", "p"), "u"), "http://realm", "svc", ["s"])
    cache.put(key, "tok", 60)
    assert cache.get(key) == "tok" and cache.renewals == 0
    clock[0] += 60 - RENEW_MARGIN
    assert cache.get(key) is None
    assert cache.renewals == 1


# -- an htpasswd registry: sessions ------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(registry_factory: Any) -> Iterator[RegistryProcess]:
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    with Pusher(reg.url, "admin", USERS["admin"]) as p:
        push_image(p, "team/app", "1.0")
    yield reg


def test_the_sessions_gauge_follows_logins_and_logouts(basic_registry: RegistryProcess) -> None:
    with gateway_for(basic_registry.url) as client:
        assert scrape(client).value("lr_sessions_active") == 0
        body = {"username": "carol", "password": USERS["carol"]}
        assert client.post("/api/session", json=body, headers=XHR).status_code == 200
        assert scrape(client).value("lr_sessions_active") == 1
        with gateway_for(basic_registry.url) as other:  # another app, its own registry
            assert scrape(other).value("lr_sessions_active") == 0
        assert client.delete("/api/session", headers=XHR).status_code in (200, 204)
        s = scrape(client)
    assert s.value("lr_sessions_active") == 0
    assert "carol" not in " ".join(s.label_values())
