"""Upstream failures the real registry cannot be made to produce, through MockTransport.

Every test builds a gateway whose state uses an ``httpx.AsyncClient`` over a
``MockTransport`` that plays a registry at ``http://registry.test`` (nothing leaves the
process), then asserts the status and envelope code the SPA gets: bad JSON, digest
mismatches, oversized documents, confused media types, 5xx, timeouts, refused
connections, rate limits, auth challenges, hostile ``Link`` headers. A bad answer must
never be cached, and nothing may ever become a 500.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.assertions import assert_envelope, error_of
from tests.support.mock_registry import (
    CONFIG,
    CONFIG_DIGEST,
    DIGEST,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    ENDPOINTS,
    HOST,
    LAYER_DIGEST,
    MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    ONE_CHILD_INDEX,
    OTHER_DIGEST,
    REGISTRY,
    TAMPERED,
    FakeRegistry,
    Responder,
    answering,
    answering_status,
    config_doc,
    dumps,
    garbage,
    gateway,
    manifest_doc,
    manifest_response,
    raising,
    registry_error,
    sha256,
)

# -- the fake itself works: the happy path through every endpoint ------------------------


def test_fake_registry_serves_every_endpoint() -> None:
    fake = FakeRegistry()
    with gateway(fake) as client:
        for name, url in ENDPOINTS.items():
            response = client.get(url)
            assert response.status_code == 200, (name, response.text)
        assert client.get("/api/repositories").json()["repositories"] == [
            {"name": "app", "tag_count": 1, "error": None, "bytes": None, "last_changed": None}
        ]
        manifest = client.get(ENDPOINTS["manifest"])
        assert manifest.content == MANIFEST
        assert manifest.headers["docker-content-digest"] == DIGEST
        blob = client.get(ENDPOINTS["blob"])
        assert blob.content == CONFIG
        assert blob.headers["content-length"] == str(len(CONFIG))
        image = client.get(ENDPOINTS["image"]).json()
        assert image["digest"] == DIGEST
        assert image["platforms"][0]["created"] == "2024-05-01T10:00:00Z"
    assert {r.url.host for r in fake.requests} == {HOST}


# -- every upstream request fails the same way: same answer from every endpoint --------


FAILURES: dict[str, tuple[Responder, int, str]] = {
    "500": (answering_status(500), 502, "UPSTREAM_UNAVAILABLE"),
    "502": (answering_status(502), 502, "UPSTREAM_UNAVAILABLE"),
    "503": (answering_status(503), 502, "UPSTREAM_UNAVAILABLE"),
    "500_html": (
        answering(lambda _r: httpx.Response(500, content=b"<h1>oops</h1>")),
        502,
        "UPSTREAM_UNAVAILABLE",
    ),
    "read_timeout": (raising(httpx.ReadTimeout), 504, "UPSTREAM_TIMEOUT"),
    "connect_timeout": (raising(httpx.ConnectTimeout), 504, "UPSTREAM_TIMEOUT"),
    "pool_timeout": (raising(httpx.PoolTimeout), 504, "UPSTREAM_TIMEOUT"),
    "connection_refused": (raising(httpx.ConnectError), 503, "UPSTREAM_UNAVAILABLE"),
    "connection_reset": (raising(httpx.ReadError), 502, "UPSTREAM_UNAVAILABLE"),
    "protocol_error": (raising(httpx.RemoteProtocolError), 502, "UPSTREAM_UNAVAILABLE"),
    "garbage_200": (answering(garbage), 502, "UPSTREAM_INVALID"),
    "teapot": (answering(lambda _r: httpx.Response(418)), 502, "UPSTREAM_INVALID"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_upstream_failure_maps_to_envelope(failure: str) -> None:
    """Every endpoint, one after the other, against the same failing registry."""
    responder, status, code = FAILURES[failure]
    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        for endpoint, url in ENDPOINTS.items():
            before = len(fake.requests)
            response = client.get(url)
            assert response.status_code == status, (endpoint, response.text)
            assert error_of(response)["code"] == code, endpoint
            assert len(fake.requests) > before, f"{endpoint}: the registry was never asked"


def test_upstream_failure_details_do_not_leak_urls() -> None:
    fake = FakeRegistry(raising(httpx.ConnectError))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["manifest"])
    assert_envelope(response, 503, "UPSTREAM_UNAVAILABLE")
    assert "registry.test" not in response.text


def test_5xx_detail_names_the_upstream_status() -> None:
    fake = FakeRegistry(answering_status(503))
    with gateway(fake) as client:
        error = assert_envelope(client.get(ENDPOINTS["tags"]), 502, "UPSTREAM_UNAVAILABLE")
    assert error["detail"] == {"upstream_status": 503}


# -- rate limiting and auth --------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["7", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_429_passes_retry_after_through(retry_after: str) -> None:
    fake = FakeRegistry(answering_status(429, {"Retry-After": retry_after}))
    with gateway(fake) as client:
        for endpoint, url in ENDPOINTS.items():
            response = client.get(url)
            assert response.status_code == 429, (endpoint, response.text)
            assert error_of(response)["code"] == "TOOMANYREQUESTS"
            assert response.headers["retry-after"] == retry_after, endpoint


def test_429_on_rows_and_children_is_passed_through() -> None:
    """The list answers but the per-row (or per-child) requests are rate limited: the
    page is a 429 with Retry-After, not a 200 of error rows (nor a created order that
    takes every rate-limited row for undated)."""
    index = ONE_CHILD_INDEX

    async def limited(request: httpx.Request) -> httpx.Response | None:
        path = request.url.path
        if path in (f"/v2/app/manifests/{DIGEST}", "/v2/app/manifests/1.0", "/v2/other/tags/list"):
            return registry_error(429, "TOOMANYREQUESTS", {"Retry-After": "7"})
        return None

    fake = FakeRegistry(limited)
    fake.tags = {"app": ["1.0", "multi"], "other": ["1.0"]}
    fake.manifests["multi"] = (index, OCI_INDEX)
    with gateway(fake) as client:
        for url in (
            "/api/repositories/app/tags?details=true",
            "/api/repositories/app/tags?sort=-created",
            "/api/repositories/app/images/multi",
            "/api/repositories",
        ):
            response = client.get(url)
            assert_envelope(response, 429, "TOOMANYREQUESTS")
            assert response.headers["retry-after"] == "7", url


def test_a_created_order_without_a_rows_date_says_it_is_not_final() -> None:
    """One tag's manifest cannot be read (the registry fails it): its row carries the
    error and sorts as undated, and the page says the order is not final — it is only
    what the registry let be known (a registry killed mid-page did this under load)."""
    newer = manifest_doc(config_doc(created="2025-01-01T00:00:00Z"))
    older_config = config_doc(created="2020-01-01T00:00:00Z")
    older = manifest_doc(older_config)

    async def failing(request: httpx.Request) -> httpx.Response | None:
        return registry_error(500, "UNKNOWN") if request.url.path.endswith("/new") else None

    fake = FakeRegistry(failing)
    fake.tags = {"app": ["new", "old", "1.0"]}
    fake.manifests["new"] = (newer, OCI_MANIFEST)
    fake.manifests["old"] = (older, OCI_MANIFEST)
    fake.blobs[sha256(older_config)] = older_config
    with gateway(fake) as client:
        page = client.get("/api/repositories/app/tags?sort=-created").json()
        assert [row["name"] for row in page["tags"]] == ["1.0", "old", "new"]
        assert [bool(row["error"]) for row in page["tags"]] == [False, False, True]
        assert page["complete"] is False
        fake.override = None  # the registry answers again
        by_name = client.get("/api/repositories/app/tags?sort=name").json()
        assert by_name["complete"] is True  # the name order is final whatever the rows


def test_429_without_retry_after_has_none() -> None:
    fake = FakeRegistry(answering_status(429))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert_envelope(response, 429, "TOOMANYREQUESTS")
    assert "retry-after" not in response.headers


def test_429_with_hostile_retry_after_is_dropped() -> None:
    fake = FakeRegistry(answering_status(429, {"Retry-After": "1" * 200}))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert_envelope(response, 429, "TOOMANYREQUESTS")
    assert "retry-after" not in response.headers


def _basic_challenge(_request: httpx.Request) -> httpx.Response:
    return registry_error(401, "UNAUTHORIZED", {"WWW-Authenticate": 'Basic realm="registry"'})


def test_401_without_credentials_is_401_without_www_authenticate() -> None:
    fake = FakeRegistry(answering(_basic_challenge))
    with gateway(fake) as client:
        for endpoint, url in ENDPOINTS.items():
            response = client.get(url)
            assert response.status_code == 401, (endpoint, response.text)
            assert error_of(response)["code"] == "UNAUTHORIZED"
            assert "www-authenticate" not in response.headers, endpoint
    assert all("authorization" not in r.headers for r in fake.requests)


def test_401_with_rejected_basic_credentials_has_no_www_authenticate() -> None:
    fake = FakeRegistry(answering(_basic_challenge))
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"], auth=("alice", "wrong"))
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert "www-authenticate" not in response.headers
    # Tried once with the credentials, then gave up (no loop).
    assert sum(1 for r in fake.requests if "authorization" in r.headers) == 1


def test_401_bearer_challenge_with_refusing_token_server() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/token":
            return httpx.Response(401, json={"details": "no"})
        if "authorization" not in request.headers:
            challenge = (
                f'Bearer realm="{REGISTRY}/token",service="registry.test",'
                'scope="repository:app:pull"'
            )
            return registry_error(401, "UNAUTHORIZED", {"WWW-Authenticate": challenge})
        return None

    fake = FakeRegistry(responder)
    with gateway(fake) as client:
        response = client.get(ENDPOINTS["tags"])
    assert_envelope(response, 401, "UNAUTHORIZED")
    assert "www-authenticate" not in response.headers
    token_requests = [r for r in fake.requests if r.url.path == "/token"]
    assert len(token_requests) == 1
    assert token_requests[0].url.params.get_list("scope") == ["repository:app:pull"]


@pytest.mark.parametrize(
    ("token_answer", "status", "code"),
    [
        (httpx.Response(200, content=b"{nope"), 502, "UPSTREAM_INVALID"),
        (httpx.Response(200, json={"token": ""}), 502, "UPSTREAM_INVALID"),
        (httpx.Response(200, json=["token"]), 502, "UPSTREAM_INVALID"),
        (httpx.Response(200, content=b"[" * 30_000 + b"]" * 30_000), 502, "UPSTREAM_INVALID"),
        (httpx.Response(500), 502, "UPSTREAM_UNAVAILABLE"),
    ],
    ids=["not-json", "empty-token", "list", "deeply-nested", "500"],
)
def test_bearer_token_server_answering_garbage(
    token_answer: httpx.Response, status: int, code: str
) -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/token":
            return httpx.Response(
                token_answer.status_code, content=token_answer.content, headers={}
            )
        if "authorization" not in request.headers:
            challenge = f'Bearer realm="{REGISTRY}/token",service="registry.test"'
            return registry_error(401, "UNAUTHORIZED", {"WWW-Authenticate": challenge})
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_envelope(client.get(ENDPOINTS["tags"]), status, code)


def test_403_is_denied() -> None:
    fake = FakeRegistry(answering(lambda _r: registry_error(403, "DENIED")))
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["tags"]), 403, "DENIED")


# -- 404s keep the registry's codes --------------------------------------------------------


def test_404_name_unknown() -> None:
    with gateway(FakeRegistry()) as client:
        assert_envelope(client.get("/api/repositories/nope/tags"), 404, "NAME_UNKNOWN")
        assert_envelope(client.get("/api/repositories/nope/images/1.0"), 404, "NAME_UNKNOWN")
        assert_envelope(
            client.get(f"/api/repositories/nope/blobs/{CONFIG_DIGEST}"), 404, "NAME_UNKNOWN"
        )


def test_404_manifest_unknown() -> None:
    with gateway(FakeRegistry()) as client:
        assert_envelope(client.get("/api/repositories/app/images/2.0"), 404, "MANIFEST_UNKNOWN")
        assert_envelope(client.get("/api/repositories/app/manifests/2.0"), 404, "MANIFEST_UNKNOWN")
        assert_envelope(
            client.get(f"/api/repositories/app/manifests/{OTHER_DIGEST}"), 404, "MANIFEST_UNKNOWN"
        )
        assert_envelope(
            client.get("/api/repositories/app/images/2.0/config"), 404, "MANIFEST_UNKNOWN"
        )


def test_404_blob_unknown() -> None:
    with gateway(FakeRegistry()) as client:
        assert_envelope(
            client.get(f"/api/repositories/app/blobs/{OTHER_DIGEST}"), 404, "BLOB_UNKNOWN"
        )


def test_404_config_blob_unknown_in_image_config() -> None:
    fake = FakeRegistry()
    del fake.blobs[CONFIG_DIGEST]
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["config"]), 404, "BLOB_UNKNOWN")


def test_404_without_error_body_uses_the_subject_default() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return httpx.Response(404, content=b"")
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(404, content=b"not found")
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_envelope(client.get("/api/repositories/app/manifests/1.0"), 404, "MANIFEST_UNKNOWN")
        assert_envelope(client.get("/api/repositories/app/tags"), 404, "NAME_UNKNOWN")


# -- malformed documents -----------------------------------------------------------------


def _manifest_body(body: bytes, content_type: str = OCI_MANIFEST) -> Responder:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if "/manifests/" in request.url.path:
            return manifest_response(body, content_type)
        return None

    return responder


BAD_MANIFESTS: dict[str, tuple[bytes, str]] = {
    "not_json": (b"{this is not json", OCI_MANIFEST),
    "not_utf8": (b"\xff\xfe\x00garbage", OCI_MANIFEST),
    "json_list": (b"[1, 2, 3]", OCI_MANIFEST),
    "json_string": (b'"manifest"', OCI_MANIFEST),
    "empty": (b"", OCI_MANIFEST),
    "media_type_not_string": (
        dumps({"schemaVersion": 2, "mediaType": 5, "layers": []}),
        OCI_MANIFEST,
    ),
    "index_body_manifest_header": (
        dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        OCI_MANIFEST,
    ),
    "manifest_body_index_header": (manifest_doc(CONFIG), OCI_INDEX),
    "docker_body_oci_header": (manifest_doc(CONFIG, DOCKER_MANIFEST), OCI_MANIFEST),
    "list_body_docker_header": (
        dumps({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": []}),
        DOCKER_MANIFEST,
    ),
    "both_manifests_and_layers": (
        dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [],
                "layers": [{"mediaType": OCI_LAYER, "digest": LAYER_DIGEST, "size": 1}],
            }
        ),
        OCI_INDEX,
    ),
    "both_manifests_and_config_no_media_type": (
        dumps(
            {
                "schemaVersion": 2,
                "manifests": [],
                "config": {"mediaType": OCI_CONFIG, "digest": CONFIG_DIGEST, "size": 1},
            }
        ),
        "application/json",
    ),
    "index_media_type_with_layers_only": (
        dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "layers": []}),
        "application/octet-stream",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_malformed_manifest_is_upstream_invalid(case: str) -> None:
    body, content_type = BAD_MANIFESTS[case]
    with gateway(FakeRegistry(_manifest_body(body, content_type))) as client:
        for endpoint in ("manifest", "image", "config"):
            response = client.get(ENDPOINTS[endpoint])
            assert response.status_code == 502, (endpoint, response.text)
            assert error_of(response)["code"] == "UPSTREAM_INVALID", endpoint
        # A tag row that cannot be resolved carries the error; the page still renders.
        response = client.get(ENDPOINTS["tags_details"])
        assert response.status_code == 200, response.text
        (row,) = response.json()["tags"]
        assert row["error"]["code"] == "UPSTREAM_INVALID"


def test_media_type_contradiction_detail_names_both() -> None:
    body, content_type = BAD_MANIFESTS["index_body_manifest_header"]
    with gateway(FakeRegistry(_manifest_body(body, content_type))) as client:
        error = assert_envelope(client.get(ENDPOINTS["manifest"]), 502, "UPSTREAM_INVALID")
    assert error["detail"] == {"media_type": OCI_INDEX, "content_type": OCI_MANIFEST}


def test_content_type_parameters_are_ignored() -> None:
    responder = _manifest_body(MANIFEST, OCI_MANIFEST + "; charset=utf-8")
    with gateway(FakeRegistry(responder)) as client:
        response = client.get(ENDPOINTS["manifest"])
    assert response.status_code == 200, response.text
    assert response.content == MANIFEST


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"{nope", "catalog"),
        (b"[]", "catalog"),
        (b'{"repositories": "app"}', "catalog"),
        (b'{"repositories": [1, 2]}', "catalog"),
        (b'{"repositories": {"app": 1}}', "catalog"),
        (b"{nope", "tags"),
        (b"null", "tags"),
        (b'{"name": "app", "tags": "1.0"}', "tags"),
        (b'{"name": "app", "tags": [1.0]}', "tags"),
        (b'{"name": "app", "tags": [null]}', "tags"),
    ],
)
def test_malformed_lists_are_upstream_invalid(body: bytes, what: str) -> None:
    path = "/v2/_catalog" if what == "catalog" else "/v2/app/tags/list"

    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == path:
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        return None

    with gateway(FakeRegistry(responder)) as client:
        url = ENDPOINTS["catalog"] if what == "catalog" else ENDPOINTS["tags"]
        assert_envelope(client.get(url), 502, "UPSTREAM_INVALID")


def test_invalid_names_and_tags_from_upstream_are_dropped() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": ["app", "Bad", "../x", "a//b"]})
        if request.url.path == "/v2/app/tags/list":
            return httpx.Response(200, json={"name": "app", "tags": ["1.0", "bad tag", "-x"]})
        return None

    with gateway(FakeRegistry(responder)) as client:
        catalog = client.get(ENDPOINTS["catalog"]).json()
        tags = client.get(ENDPOINTS["tags"]).json()
    assert [r["name"] for r in catalog["repositories"]] == ["app"]
    assert [t["name"] for t in tags["tags"]] == ["1.0"]


def test_null_tags_is_zero_tags() -> None:
    fake = FakeRegistry()
    fake.tags["emptied"] = None
    with gateway(fake) as client:
        tags = client.get("/api/repositories/emptied/tags")
        assert tags.status_code == 200, tags.text
        assert tags.json()["total"] == 0
        assert tags.json()["tags"] == []
        assert tags.json()["next"] is None
        catalog = client.get("/api/repositories").json()
    counts = {r["name"]: r["tag_count"] for r in catalog["repositories"]}
    assert counts == {"app": 1, "emptied": 0}


def test_null_and_missing_repositories_is_an_empty_catalog() -> None:
    for body in ({"repositories": None}, {}):

        async def responder(request: httpx.Request, body: Any = body) -> httpx.Response | None:
            if request.url.path == "/v2/_catalog":
                return httpx.Response(200, json=body)
            return None

        with gateway(FakeRegistry(responder)) as client:
            response = client.get("/api/repositories")
        assert response.status_code == 200, response.text
        assert response.json() == {"repositories": [], "total": 0, "next": None}


# -- digests are verified ----------------------------------------------------------------


def test_manifest_by_digest_that_does_not_match_is_upstream_invalid() -> None:
    fake = FakeRegistry()
    fake.manifests[DIGEST] = (TAMPERED, OCI_MANIFEST)
    with gateway(fake) as client:
        for url in (ENDPOINTS["manifest_digest"], ENDPOINTS["image_digest"]):
            error = assert_envelope(client.get(url), 502, "UPSTREAM_INVALID")
            assert error["detail"] == {"expected": DIGEST, "actual": sha256(TAMPERED)}


def test_manifest_by_digest_is_checked_even_when_the_header_agrees() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith(f"/manifests/{DIGEST}"):
            return manifest_response(TAMPERED, digest=DIGEST)
        return None

    with gateway(FakeRegistry(responder)) as client:
        assert_envelope(client.get(ENDPOINTS["manifest_digest"]), 502, "UPSTREAM_INVALID")


def test_manifest_by_tag_that_contradicts_docker_content_digest_is_upstream_invalid() -> None:
    async def responder(request: httpx.Request) -> httpx.Response | None:
        if request.url.path.endswith("/manifests/1.0"):
            return manifest_response(MANIFEST, digest=OTHER_DIGEST)
        return None

    with gateway(FakeRegistry(responder)) as client:
        for endpoint in ("manifest", "image", "config"):
            error = assert_envelope(client.get(ENDPOINTS[endpoint]), 502, "UPSTREAM_INVALID")
            assert error["detail"] == {"header": OTHER_DIGEST, "actual": DIGEST}


def test_config_blob_that_does_not_match_is_upstream_invalid() -> None:
    fake = FakeRegistry()
    fake.blobs[CONFIG_DIGEST] = config_doc(created="1999-01-01T00:00:00Z")
    with gateway(fake) as client:
        assert_envelope(client.get(ENDPOINTS["config"]), 502, "UPSTREAM_INVALID")
        assert_envelope(client.get(ENDPOINTS["image"]), 502, "UPSTREAM_INVALID")
