"""Error answers found wanting when the API was probed: unparsable bodies, names with
control characters, unbounded echoes of the input, 405 without every method, HEAD.

All against the real registry (the session ``api`` gateway or a fresh one).
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import gateway_for
from tests.support.assertions import assert_envelope
from tests.support.callers import XHR_JSON
from tests.support.fixtures import FilledRegistry

LOGIN = XHR_JSON
DIGEST = "sha256:" + "0" * 64


# -- 1. bodies json.loads cannot read --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 30_000, "nested too deeply"),
        (b"1" * 5_000, "too many digits"),
        (b'{"username": ' + b"7" * 5_000 + b', "password": "p"}', "too many digits"),
        (b'{"username": "\xff\xfe", "password": "secret-pw"}', "not valid UTF-8"),
        (b'{"username": "alice", "password": "secret-pw', "JSON decode error"),
        (b"\x00\x01\x02", "JSON decode error"),
    ],
    ids=["deep", "long-number", "long-number-field", "not-utf8", "truncated", "binary"],
)
def test_unparsable_login_bodies_are_validation_errors(
    api: TestClient, body: bytes, reason: str
) -> None:
    r = api.post("/api/session", content=body, headers=LOGIN)
    error = assert_envelope(r, 400, "VALIDATION_ERROR")
    assert error["message"] == "invalid request body"
    assert reason in json.dumps(error["detail"]), error
    # Never the input back: no password, no run of the body.
    assert "secret-pw" not in r.text
    assert "[[[[" not in r.text and "7777" not in r.text and "1111" not in r.text
    assert len(r.content) < 400


def test_an_unknown_body_field_is_echoed_clipped(api: TestClient) -> None:
    key = "k" * 10_000
    r = api.post(
        "/api/session",
        content=json.dumps({"username": "u", "password": "p", key: 1}),
        headers=LOGIN,
    )
    error = assert_envelope(r, 400, "VALIDATION_ERROR")
    loc = error["detail"][0]["loc"]
    assert loc[0] == "body"
    assert loc[1] == "k" * 100 + "…"


# -- 2. every invalid name, tag and digest reaches the grammar check -------------------

BAD_NAMES = {
    "crlf": "demo%0d%0aX",
    "lf": "demo%0aX",
    "cr": "demo%0dX",
    "nul": "demo%00",
    "tab": "demo%09x",
    "del": "demo%7f",
    "lf-first": "%0ademo",
    "lf-between-components": "team%0a/app",
    "uppercase": "Demo",
    "dot-dot": "a/%2e%2e/b",
    "leading-slash": "/a",
    "trailing-slash": "a/",
    "double-slash": "a//b",
    "space": "a%20b",
    "unicode": "caf%C3%A9",
    "leading-separator": "-a",
    "300-chars": "a" * 300,
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", "/tags"),
        ("GET", "/images/latest"),
        ("GET", "/images/latest/config"),
        ("GET", "/manifests/latest"),
        ("GET", f"/blobs/{DIGEST}"),
        ("DELETE", "/tags/latest"),
        ("DELETE", f"/images/{DIGEST}"),
    ],
)
def test_bad_names_are_name_invalid(api: TestClient, name: str, method: str, suffix: str) -> None:
    r = api.request(method, f"/api/repositories/{name}{suffix}")
    error = assert_envelope(r, 400, "NAME_INVALID")
    assert len(error["detail"]["name"]) <= 101


BAD_TAGS = {
    "129-chars": "t" * 129,
    "lead-dash": "-lead",
    "lead-dot": ".lead",
    "lf": "a%0ab",
    "crlf-end": "latest%0d%0a",
    "lf-end": "latest%0a",
    "space": "a%20b",
    "unicode": "v%C3%A9",
}


@pytest.mark.parametrize("tag", BAD_TAGS.values(), ids=BAD_TAGS.keys())
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/api/repositories/oci/app/images/{}"),
        ("GET", "/api/repositories/oci/app/images/{}/config"),
        ("GET", "/api/repositories/oci/app/manifests/{}"),
        ("DELETE", "/api/repositories/oci/app/tags/{}"),
    ],
)
def test_bad_tags_are_tag_invalid(api: TestClient, tag: str, method: str, template: str) -> None:
    assert_envelope(api.request(method, template.format(tag)), 400, "TAG_INVALID")


BAD_DIGESTS = {
    "bad-algorithm": "md5:" + "0" * 32,
    "sha512": "sha512:" + "0" * 128,
    "short-hex": "sha256:abc",
    "long-hex": "sha256:" + "0" * 65,
    "uppercase-hex": "sha256:" + "A" * 64,
    "uppercase-algorithm": "SHA256:" + "0" * 64,
    "no-hex": "sha256:",
    "lf": "sha256:" + "0" * 63 + "%0a",
    "not-a-digest": "latest",
}


@pytest.mark.parametrize("digest", BAD_DIGESTS.values(), ids=BAD_DIGESTS.keys())
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/api/repositories/oci/app/blobs/{}"),
        ("DELETE", "/api/repositories/oci/app/images/{}"),
        ("GET", "/api/repositories/oci/app/images/{}"),
        ("GET", "/api/repositories/oci/app/manifests/{}"),
    ],
)
def test_bad_digests_are_digest_invalid(
    api: TestClient, digest: str, method: str, template: str
) -> None:
    takes_reference = method == "GET" and "/blobs/" not in template
    if takes_reference and ":" not in digest:
        pytest.skip("a reference without ':' is a tag")
    assert_envelope(api.request(method, template.format(digest)), 400, "DIGEST_INVALID")


@pytest.mark.parametrize(
    "path",
    [
        "/api/repositories/oci/app/images/1.0/config%0a",
        "/api/repositories/oci/app/tags%0a",
        "/api/repositories%0a",
        "/api/session%0a",
    ],
)
def test_a_newline_after_the_route_is_no_route(api: TestClient, path: str) -> None:
    # Not answered as the route it ends like (a route pattern's `$` matches before it).
    assert_envelope(api.get(path), 404, "NOT_FOUND")


# -- 3. echoes of the input are bounded -------------------------------------------------

LONG = 10_000


@pytest.mark.parametrize(
    ("url", "code", "field"),
    [
        (f"/api/repositories/{'a' * LONG}/tags", "NAME_INVALID", "name"),
        (f"/api/repositories/{'A' * LONG}/tags", "NAME_INVALID", "name"),
        (f"/api/repositories/oci/app/images/{'t' * LONG}", "TAG_INVALID", "tag"),
        (f"/api/repositories/oci/app/images/sha256:{'a' * LONG}", "DIGEST_INVALID", "digest"),
        (f"/api/repositories/oci/app/images/foo:{'a' * LONG}", "DIGEST_INVALID", "digest"),
        (f"/api/repositories/oci/app/blobs/md5:{'a' * LONG}", "DIGEST_INVALID", "digest"),
    ],
    ids=["name", "uppercase-name", "tag", "sha256", "other-algorithm", "blob-digest"],
)
def test_long_inputs_are_echoed_clipped(api: TestClient, url: str, code: str, field: str) -> None:
    r = api.get(url)
    error = assert_envelope(r, 400, code)
    echoed = error["detail"][field]
    assert len(echoed) == 101 and echoed.endswith("…"), echoed
    assert len(error["message"]) < 100
    assert len(r.content) < 400


def test_short_inputs_are_echoed_whole(api: TestClient) -> None:
    error = assert_envelope(api.get("/api/repositories/Demo/tags"), 400, "NAME_INVALID")
    assert error["detail"] == {"name": "Demo"}


# -- 4. 405 lists every method of the path; HEAD answers like GET ----------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/session", "GET, HEAD, POST, DELETE"),
        ("PUT", "/api/session", "GET, HEAD, POST, DELETE"),
        ("OPTIONS", f"/api/repositories/oci/app/images/{DIGEST}", "GET, HEAD, DELETE"),
        ("POST", "/api/repositories/oci/app/tags", "GET, HEAD"),
        ("GET", "/api/events", "POST"),
    ],
)
def test_405_allow_lists_every_method_of_the_path(
    api: TestClient, method: str, path: str, allow: str
) -> None:
    r = api.request(method, path, headers={"X-Requested-With": "XMLHttpRequest"})
    assert_envelope(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == allow


@pytest.mark.parametrize(
    "path",
    [
        "/api/repositories",
        "/api/repositories?n=2&q=oci",
        "/api/repositories/oci/app/tags",
        "/api/repositories/oci/app/tags?details=true",
        "/api/repositories/oci/app/images/1.0",
        "/api/repositories/oci/app/images/1.0/config",
        "/api/repositories/nope/tags",
        "/api/repositories/Bad/tags",
        "/api/config",
        "/api/session",
        "/api/health/live",
        "/api/health",
        "/api/health/ready",
    ],
)
def test_head_answers_like_get_without_a_body(api: TestClient, path: str) -> None:
    get = api.get(path)
    head = api.head(path)
    assert head.status_code == get.status_code, path
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["cache-control"] == get.headers["cache-control"]
    if get.status_code == 200 and not path.startswith("/api/health"):  # latency_ms varies
        assert head.headers["content-length"] == str(len(get.content))


def test_head_twins_stay_out_of_the_openapi_document(registry: FilledRegistry) -> None:
    with gateway_for(registry.url) as client:
        doc = client.get("/openapi.json").json()
    methods = {m for item in doc["paths"].values() for m in item}
    assert "head" not in methods
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert not any(i.endswith("_head") for i in ids)


def test_405_outside_the_routes_keeps_its_own_allow(api: TestClient) -> None:
    r = api.post("/index.html")
    assert_envelope(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "GET, HEAD"
