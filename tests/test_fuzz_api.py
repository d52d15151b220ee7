"""Property-based fuzzing of the gateway's own OpenAPI document (schemathesis).

Every operation of ``openapi/openapi.json`` gets generated requests — valid ones
(positive), ones that break the schema (negative) and, as often as both together, ones
aimed at what the registry really holds (repositories, tags, digests, blobs, platforms,
logins, notification envelopes; the rest of such a case is still generated) — sent to a
gateway served on 127.0.0.1 in front of a real registry, with headers a real client
adds (request ids, right, wrong and junk credentials, session cookies, conditional
requests, origins). Every answer must be:

- no server error: no 5xx but the documented 502/503/504 upstream answers;
- a documented status code, content type and body schema;
- for every 4xx/5xx, the error envelope, with a code the document lists for that
  operation and status; a 401 never asks for Basic;
- after a login, a session for a user the registry has, under that user's name.

Five gateways: the shared standard registry (deletes off: the delete operations answer
403 and nothing is destroyed), a registry of its own with deletes on (the fuzzer deletes
what it finds there), an htpasswd registry and a Bearer-token registry for the login
operations (the session cookie a real login sets is kept and sent on the following
cases), and one whose registry does not answer (the documented 503s). About 1,400 cases
in all, every operation of the document on the first gateway; each test asserts its
count. Methods the document does not list are probed too (405 with the envelope).

Generation is derandomized: the same cases on every run. ``LR_FUZZ_SCALE`` multiplies
the number of cases (``LR_FUZZ_SCALE=10`` for a long run).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from harness.images import Pusher, push_image, push_index, tag_existing
from harness.registry import RegistryProcess, free_port
from tests.support.fixtures import FilledRegistry
from tests.support.fuzzing import (
    XHR,
    Images,
    Known,
    Target,
    assert_clean,
    document,
    fuzz,
    labels,
    scaled,
    serve_gateway,
)

# bob's password has a colon: Basic allows one there, never in the user-id.
USERS = {"alice": "alice-Fz-91c2", "bob": "bob:Fz-3d7a"}


@pytest.fixture(scope="module")
def open_target(registry: FilledRegistry) -> Iterator[Target]:
    """The shared standard registry, deletes off: read, never changed."""
    with serve_gateway(registry.url) as url:
        yield Target(url, Known.of(registry.content.images))


def _push_deletable(p: Pusher) -> Images:
    images: Images = {}
    for repo in ("doomed/app", "doomed/lib", "doomed/deep/name"):
        for i, tag in enumerate(("1.0", "1.1", "2.0")):
            image = push_image(p, repo, tag, n_layers=1, created=f"2024-02-0{i + 1}T00:00:00Z")
            images[f"{repo}:{tag}"] = image
            for alias in (f"v{tag}", f"{tag}-keep"):
                tag_existing(p, repo, alias, image)
                images[f"{repo}:{alias}"] = image
    repo = "doomed/multi"
    children = [
        push_image(p, repo, None, architecture="amd64", n_layers=1),
        push_image(p, repo, None, architecture="arm64", variant="v8", n_layers=1),
    ]
    index = push_index(p, repo, "1.0", children, attest=True)
    images[f"{repo}:1.0"] = index
    tag_existing(p, repo, "stable", index)
    images[f"{repo}:stable"] = index
    return images


@pytest.fixture(scope="module")
def delete_target(registry_factory: Any) -> Iterator[Target]:
    """A registry of its own, deletes on: the fuzzer deletes what it finds there."""
    reg: RegistryProcess = registry_factory()
    with Pusher(reg.url) as p:
        images = _push_deletable(p)
    with serve_gateway(reg.url, delete_enabled=True) as url:
        yield Target(url, Known.of(images))


@pytest.fixture(scope="module")
def login_target(registry_factory: Any) -> Iterator[Target]:
    """An htpasswd registry: logins succeed or fail for real."""
    reg: RegistryProcess = registry_factory(auth="htpasswd", htpasswd_users=USERS)
    images: Images = {}
    with Pusher(reg.url, "alice", USERS["alice"]) as p:
        for repo, tag in (("team/app", "1.0"), ("team/app", "2.0"), ("other/thing", "0.1")):
            images[f"{repo}:{tag}"] = push_image(p, repo, tag, n_layers=1)
        images["team/multi:1.0"] = push_index(
            p, "team/multi", "1.0", [push_image(p, "team/multi", None, n_layers=1)]
        )
    with serve_gateway(reg.url) as url:
        yield Target(url, Known.of(images), logins=dict(USERS))


# The token registry: admin may do anything, reader pull team/*, anyone pull public/*.
TOKEN_USERS = {"admin": "admin-Fz:5e1b", "reader": "reader-Fz-77b0"}


def _grant(user: str | None, rtype: str, name: str, actions: list[str]) -> list[str]:
    if user == "admin":
        return list(actions)
    if (user == "reader" and name.startswith("team/")) or name.startswith("public/"):
        return [a for a in actions if a == "pull"]
    return []


@pytest.fixture(scope="module")
def token_target(registry_factory: Any, token_server_factory: Any) -> Iterator[Target]:
    """A Bearer-token registry: tokens fetched per user, scopes granted or refused."""
    tokens = token_server_factory(TOKEN_USERS, _grant)
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    images: Images = {}
    with Pusher(reg.url, "admin", TOKEN_USERS["admin"]) as p:
        for repo in ("team/app", "public/base", "secret/vault"):
            images[f"{repo}:1.0"] = push_image(p, repo, "1.0", n_layers=1)
    with serve_gateway(reg.url) as url:
        yield Target(url, Known.of(images), logins=dict(TOKEN_USERS))


@pytest.fixture(scope="module")
def unreachable_target() -> Iterator[Target]:
    """A gateway whose registry does not answer (nothing listens on its port)."""
    with serve_gateway(f"http://127.0.0.1:{free_port()}", reachable=False) as url:
        yield Target(url, Known.of({}))


# -- the tests --------------------------------------------------------------------------

PLAIN = {
    "GET /api/config": 20,
    "GET /api/health": 20,
    "GET /api/health/live": 20,
    "GET /api/health/ready": 20,
}
READS = {
    "GET /api/repositories": 60,
    "GET /api/repositories/{name}/tags": 70,
    "GET /api/repositories/{name}/images/{reference}": 70,
    "GET /api/repositories/{name}/images/{reference}/config": 70,
    "GET /api/repositories/{name}/images/{reference}/referrers": 70,
    "GET /api/repositories/{name}/manifests/{reference}": 70,
    "GET /api/repositories/{name}/blobs/{digest}": 70,
    "GET /api/repositories/{name}/usage": 40,
    "GET /api/usage": 20,
}
DELETES = {
    "DELETE /api/repositories/{name}/tags/{tag}": 40,
    "DELETE /api/repositories/{name}/images/{digest}": 40,
}
# Retention and bulk deletes: 200 with a result per item.
BULK = {
    "POST /api/repositories/{name}/retention/preview": 40,
    "POST /api/repositories/{name}/retention/apply": 30,
    "POST /api/repositories/{name}/delete": 40,
}
# Files inside images (a layer read once per digest, then the index).
FILES = {
    "GET /api/repositories/{name}/layers/{digest}/files": 20,
    "GET /api/repositories/{name}/layers/{digest}/file": 15,
    "GET /api/repositories/{name}/layers/{digest}/file/preview": 15,
    "GET /api/repositories/{name}/images/{reference}/files": 20,
    "GET /api/repositories/{name}/images/{reference}/file": 15,
    "GET /api/repositories/{name}/images/{reference}/file/preview": 15,
    "GET /api/repositories/{name}/images/{reference}/layers/{digest}/changes": 15,
    "GET /api/repositories/{name}/diff": 20,
}
# Activity (feed, stale report) and the registry-wide search.
RECORDS = {"GET /api/activity": 20, "GET /api/stale": 15, "GET /api/search": 30}
SESSION = {"POST /api/session": 20, "GET /api/session": 15, "DELETE /api/session": 15}
EVENTS = {"POST /api/events": 60}
EVERYTHING = {**PLAIN, **READS, **FILES, **RECORDS, **DELETES, **BULK, **SESSION, **EVENTS}
# Logins first: the session a real one makes is sent on the reads; logouts last.
LOGGED_IN = {
    "POST /api/session": 60,
    "GET /api/session": 30,
    **{label: 25 for label in READS},
    "GET /api/config": 10,
    "DELETE /api/session": 30,
}
DELETING = {
    **{label: 70 for label in DELETES},
    **BULK,
    "GET /api/repositories/{name}/tags": 20,
}
TOKENS = {
    "POST /api/session": 30,
    "GET /api/session": 15,
    **{label: 20 for label in READS},
    "DELETE /api/session": 15,
}
UNREACHABLE = {label: 8 for label in EVERYTHING}


def test_the_budgets_cover_every_operation_with_1000_cases() -> None:
    assert set(EVERYTHING) == labels()
    # assert_clean holds each test to 90% of its budget at least.
    budgets = (EVERYTHING, LOGGED_IN, DELETING, TOKENS, UNREACHABLE)
    assert sum(0.9 * scaled(n) for budget in budgets for n in budget.values()) >= 1000


def test_fuzz_every_operation_over_the_standard_registry(open_target: Target) -> None:
    outcome = fuzz(open_target, EVERYTHING)
    assert_clean(outcome, EVERYTHING)
    assert set(outcome.cases) == labels()
    # A good share of the reads that were not refused as invalid (400: the schema's
    # negative cases, more of them for operations with more constrained parameters)
    # reached real content (and answered it).
    for label in READS:
        valid = outcome.cases[label] - outcome.statuses[label][400]
        assert outcome.answered(label, 200, 400) >= 0.3 * valid, (label, outcome.statuses[label])
    assert outcome.answered("POST /api/events", 200, 300) > 0
    assert outcome.statuses["DELETE /api/repositories/{name}/tags/{tag}"][403] > 0


def test_fuzz_logins_and_reads_over_an_htpasswd_registry(login_target: Target) -> None:
    outcome = fuzz(login_target, LOGGED_IN)
    assert_clean(outcome, LOGGED_IN)
    assert outcome.answered("POST /api/session", 200, 300) > 0  # real logins
    assert outcome.statuses["POST /api/session"][401] > 0  # real refusals
    for label in READS:  # reads as a logged-in user, and refused
        assert outcome.answered(label, 200, 400) > 0, outcome.statuses
        assert outcome.statuses[label][401] > 0, outcome.statuses


def test_fuzz_logins_and_reads_over_a_token_registry(token_target: Target) -> None:
    outcome = fuzz(token_target, TOKENS)
    assert_clean(outcome, TOKENS)
    assert outcome.answered("POST /api/session", 200, 300) > 0
    for label in READS:
        assert outcome.answered(label, 200, 400) > 0, outcome.statuses


def test_fuzz_deletes_enabled_over_a_registry_of_its_own(delete_target: Target) -> None:
    outcome = fuzz(delete_target, DELETING)
    assert_clean(outcome, DELETING)
    for label in DELETES:
        assert outcome.statuses[label][202] > 0, outcome.statuses  # real deletes
    for label in (
        "POST /api/repositories/{name}/retention/preview",
        "POST /api/repositories/{name}/delete",
    ):
        assert outcome.statuses[label][200] > 0, outcome.statuses  # real plans and deletes


def test_fuzz_every_operation_with_the_registry_unreachable(unreachable_target: Target) -> None:
    """Every operation that needs the registry answers the documented 503 envelope."""
    outcome = fuzz(unreachable_target, UNREACHABLE)
    assert_clean(outcome, UNREACHABLE, healthy=False)
    for label in READS:
        assert outcome.statuses[label][503] > 0, outcome.statuses
    assert outcome.statuses["GET /api/health"][503] > 0


# -- methods the document does not list ---------------------------------------------------

DIGEST = "sha256:" + "0" * 64
PROBED = [
    "/api/config",
    "/api/health",
    "/api/health/live",
    "/api/health/ready",
    "/api/repositories",
    "/api/repositories/oci/app/tags",
    "/api/repositories/oci/app/tags/1.0",
    "/api/repositories/oci/app/images/1.0",
    f"/api/repositories/oci/app/images/{DIGEST}",
    "/api/repositories/oci/app/images/1.0/config",
    "/api/repositories/oci/app/manifests/1.0",
    f"/api/repositories/oci/app/blobs/{DIGEST}",
    "/api/session",
    "/api/events",
]


def documented_methods(url: str) -> set[str]:
    """The methods of every path template that matches ``url``: ``.../images/{digest}``
    (DELETE) and ``.../images/{reference}`` (GET) are the same URLs."""
    methods: set[str] = set()
    for path, item in document()["paths"].items():
        pattern = "".join(
            ".+" if part == "{name}" else "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", path)
        )
        if re.fullmatch(pattern, url):
            methods |= {method.upper() for method in item}
    return methods


@pytest.mark.parametrize("url", PROBED)
def test_a_method_the_document_does_not_list_is_405_with_the_envelope(api: Any, url: str) -> None:
    """What schemathesis' unsupported-method check asks, with the overlap above allowed.
    ``Allow`` may add HEAD to a GET (not in the document)."""
    documented = documented_methods(url)
    assert documented, url
    for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - documented):
        r = api.request(method, url, headers=XHR)
        assert r.status_code == 405, (method, url, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED", r.text
        assert set(r.json()["error"]) == {"code", "message", "detail"}
        allowed = set(r.headers["allow"].split(", "))
        assert documented <= allowed <= documented | {"HEAD"}, (method, url, allowed)
