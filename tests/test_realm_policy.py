"""Token realms: challenge parsing, the realm policy, and the token flow against stand-ins.

A registry's 401 names the realm that issues tokens; a hostile registry can name any URL.
Credentials (and, for refused realms, any request at all) go only to the registry's own
host and the configured ``token_realm_allowlist``; never over http when the registry is
https; never to link-local or metadata addresses.

Stand-ins are ``httpx.MockTransport`` handlers (no socket is opened) and, for the
end-to-end case, a real token server on 127.0.0.2 next to a real registry on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from gateway.errors import (
    Forbidden,
    RealmNotAllowed,
    Unauthorized,
    UpstreamInvalid,
    UpstreamUnavailable,
)
from gateway.registry.auth import TokenCache
from gateway.registry.challenge import Challenge, find, parse_challenges
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import ANONYMOUS, Caller, Credentials
from gateway.registry.realm_policy import RealmPolicy
from harness.images import Pusher, push_image
from harness.registry import RegistryProcess
from harness.tokenserver import TokenServer, allow_all
from tests.support.callers import basic_value

REGISTRY = "https://registry.test"
PASSWORD = "pw-Realm-5e8c"
ALICE = Caller(Credentials("alice", PASSWORD), "basic")
BLOB = b"blob bytes in object storage"
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
STORAGE_URL = "https://storage.test/bucket/blob?X-Amz-Signature=abc"

# -- challenge parsing ---------------------------------------------------------------------

CHALLENGES: list[tuple[str | None, list[Challenge]]] = [
    (None, []),
    ("", []),
    (
        'Bearer realm="https://auth.test/token",service="registry.test",'
        'scope="repository:team/app:pull"',
        [
            Challenge(
                "bearer",
                {
                    "realm": "https://auth.test/token",
                    "service": "registry.test",
                    "scope": "repository:team/app:pull",
                },
            )
        ],
    ),
    ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
    # Case-insensitive scheme and parameter names; values keep their case.
    (
        'BEARER Realm="https://A.test/T",SERVICE="Svc"',
        [Challenge("bearer", {"realm": "https://A.test/T", "service": "Svc"})],
    ),
    # Two challenges in one header (or two headers joined with ", ").
    (
        'Basic realm="a", Bearer realm="b",service="s"',
        [Challenge("basic", {"realm": "a"}), Challenge("bearer", {"realm": "b", "service": "s"})],
    ),
    # A challenge without parameters before another one.
    (
        'Negotiate, Bearer realm="r",service="s"',
        [Challenge("negotiate", {}), Challenge("bearer", {"realm": "r", "service": "s"})],
    ),
    (
        'Basic realm="x", Negotiate',
        [Challenge("basic", {"realm": "x"}), Challenge("negotiate", {})],
    ),
    ("Bearer", [Challenge("bearer", {})]),
    # Commas inside quoted strings, escaped quotes, unquoted tokens, blanks around "=".
    (
        'Bearer realm="https://a.test/t?x=1,2",service="s"',
        [Challenge("bearer", {"realm": "https://a.test/t?x=1,2", "service": "s"})],
    ),
    ('Bearer realm="a\\"b\\\\c"', [Challenge("bearer", {"realm": 'a"b\\c'})]),
    (
        "Bearer realm=abc,service=svc.test",
        [Challenge("bearer", {"realm": "abc", "service": "svc.test"})],
    ),
    ('Bearer realm = "x" , service=y', [Challenge("bearer", {"realm": "x", "service": "y"})]),
    ('Bearer realm=""', [Challenge("bearer", {"realm": ""})]),
    # Empty list elements are allowed (RFC 9110 #rule).
    ('Bearer realm="r",,service="s"', [Challenge("bearer", {"realm": "r", "service": "s"})]),
    ('Bearer realm="r", service="s",', [Challenge("bearer", {"realm": "r", "service": "s"})]),
    # Several scopes, actions with commas, names with slashes; the error parameter.
    (
        'Bearer realm="r",service="s",scope="repository:a/b:pull,push registry:catalog:*",'
        'error="insufficient_scope"',
        [
            Challenge(
                "bearer",
                {
                    "realm": "r",
                    "service": "s",
                    "scope": "repository:a/b:pull,push registry:catalog:*",
                    "error": "insufficient_scope",
                },
            )
        ],
    ),
]


@pytest.mark.parametrize(("header", "expected"), CHALLENGES)
def test_parse_challenges(header: str | None, expected: list[Challenge]) -> None:
    assert parse_challenges(header) == expected


def test_challenge_properties_and_find() -> None:
    [bearer] = parse_challenges(
        'Bearer realm="https://auth.test/t",service="reg",'
        'scope="repository:a/b:pull repository:c:pull,push",error="insufficient_scope"'
    )
    assert bearer.realm == "https://auth.test/t"
    assert bearer.service == "reg"
    assert bearer.scopes == ["repository:a/b:pull", "repository:c:pull,push"]
    assert bearer.error == "insufficient_scope"
    empty = Challenge("bearer", {})
    assert (empty.realm, empty.service, empty.scopes, empty.error) == (None, None, [], None)

    both = parse_challenges('Basic realm="a", Bearer realm="b", Bearer realm="c"')
    assert find(both, "basic") == Challenge("basic", {"realm": "a"})
    assert find(both, "bearer") == Challenge("bearer", {"realm": "b"})
    assert find(both, "negotiate") is None


# -- the realm policy ----------------------------------------------------------------------

POLICY_CASES: list[tuple[str, list[str], str | None, bool]] = [
    # (registry url, allowlist, realm, allowed)
    (REGISTRY, [], "https://registry.test/token", True),
    (REGISTRY, [], "https://REGISTRY.test:8443/token", True),
    (REGISTRY, ["auth.test"], "https://auth.test/token", True),
    (REGISTRY, [" Auth.Test "], "https://auth.test/token", True),
    (REGISTRY, [], "https://auth.test/token", False),
    (REGISTRY, ["auth.test"], "https://evil.test/token", False),
    (REGISTRY, [], "https://registry.test.evil.test/token", False),
    (REGISTRY, [], "https://evil.test/registry.test/token", False),
    (REGISTRY, [], "https://registry.test@evil.test/token", False),
    (REGISTRY, [], "https://user:pw@registry.test/token", False),
    # Never downgrade https to http, not even to the registry's own host.
    (REGISTRY, [], "http://registry.test/token", False),
    (REGISTRY, ["auth.test"], "http://auth.test/token", False),
    # Link-local and metadata addresses, whatever the allowlist says.
    (REGISTRY, ["169.254.169.254"], "https://169.254.169.254/latest/meta-data/", False),
    ("http://registry.test", ["169.254.169.254"], "http://169.254.169.254/token", False),
    (REGISTRY, ["fe80::1"], "https://[fe80::1]/token", False),
    (REGISTRY, [], "https://[::ffff:169.254.169.254]/token", False),
    (REGISTRY, ["metadata.google.internal"], "https://metadata.google.internal/token", False),
    (REGISTRY, ["100.100.100.200"], "https://100.100.100.200/token", False),
    (REGISTRY, ["fd00:ec2::254"], "https://[fd00:ec2::254]/token", False),
    (REGISTRY, ["0.0.0.0"], "https://0.0.0.0/token", False),
    # Not an absolute http(s) URL.
    (REGISTRY, [], None, False),
    (REGISTRY, [], "", False),
    (REGISTRY, [], "/token", False),
    (REGISTRY, [], "ftp://registry.test/token", False),
    (REGISTRY, [], "file:///etc/passwd", False),
    # An http registry on loopback: its own host on another port is fine, others are not.
    ("http://127.0.0.1:5000", [], "http://127.0.0.1:5001/token", True),
    ("http://127.0.0.1:5000", [], "http://127.0.0.2:5001/token", False),
    ("http://127.0.0.1:5000", [], "http://localhost:5001/token", False),
    ("http://127.0.0.1:5000", ["127.0.0.2"], "http://127.0.0.2:5001/token", True),
]


@pytest.mark.parametrize(("registry", "allowlist", "realm", "allowed"), POLICY_CASES)
def test_realm_policy(
    registry: str, allowlist: list[str], realm: str | None, allowed: bool
) -> None:
    policy = RealmPolicy(registry, allowlist)
    if allowed:
        assert policy.check(realm) == realm
    else:
        with pytest.raises(RealmNotAllowed) as info:
            policy.check(realm)
        assert info.value.status == 502
        assert info.value.code == "REALM_NOT_ALLOWED"
        assert PASSWORD not in json.dumps(info.value.envelope())


# -- the token flow against stand-ins ------------------------------------------------------


async def as_stream(data: bytes) -> AsyncIterator[bytes]:
    """A body that arrives as a stream, the way a socket delivers it."""
    yield data


@dataclass(frozen=True)
class Seen:
    method: str
    url: httpx.URL
    headers: httpx.Headers


class StandIn:
    """A registry at ``registry.test`` and a token server at ``realm``, as one handler.

    The registry accepts ``Bearer good-<n>`` tokens whose grant covers the request; it
    answers everything else with a Bearer challenge naming ``realm``.
    """

    def __init__(
        self,
        realm: str,
        *,
        service: str = "registry.test",
        grant: Callable[[str | None, str], bool] = lambda user, scope: True,
        token_answer: Callable[[httpx.Request], httpx.Response] | None = None,
        registry_host: str = "registry.test",
        other_challenge: str | None = None,
    ) -> None:
        self.other_challenge = other_challenge
        self.realm = realm
        self.realm_host = httpx.URL(realm).host
        self.service = service
        self.grant = grant
        self.token_answer = token_answer
        self.registry_host = registry_host
        self.requests: list[Seen] = []
        self.issued: dict[str, set[str]] = {}

    def to(self, host: str) -> list[Seen]:
        return [r for r in self.requests if r.url.host == host]

    @property
    def registry_requests(self) -> list[Seen]:
        return [r for r in self.to(self.registry_host) if r.url.path.startswith("/v2/")]

    @property
    def token_requests(self) -> list[Seen]:
        return [
            r
            for r in self.requests
            if r.url.host == self.realm_host and r.url.path == httpx.URL(self.realm).path
        ]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.test":
            self.requests.append(Seen(request.method, request.url, httpx.Headers(request.headers)))
            return httpx.Response(200, content=as_stream(BLOB))
        # httpx reuses request objects in an auth flow: keep what was sent at this moment.
        self.requests.append(Seen(request.method, request.url, httpx.Headers(request.headers)))
        if request.url.host == self.registry_host and request.url.path.startswith("/v2/"):
            return self._registry(request)
        if request.url.host == self.realm_host:
            return self._token(request)
        return httpx.Response(599, text="a request left for an unexpected host")

    def _needed(self, request: httpx.Request) -> str | None:
        path = request.url.path
        if path == "/v2/":
            return None
        if path == "/v2/_catalog":
            return "registry:catalog:*"
        name = path.removeprefix("/v2/").split("/tags/")[0].split("/manifests/")[0]
        name = name.split("/blobs/")[0]
        return f"repository:{name}:{'delete' if request.method == 'DELETE' else 'pull'}"

    def _registry(self, request: httpx.Request) -> httpx.Response:
        needed = self._needed(request)
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        challenge = f'Bearer realm="{self.realm}",service="{self.service}"'
        if needed:
            challenge += f',scope="{needed}"'
        if token is None or token not in self.issued:
            headers = [("WWW-Authenticate", challenge)]
            if self.other_challenge:
                headers.insert(0, ("WWW-Authenticate", self.other_challenge))
            return httpx.Response(
                401, headers=headers, json={"errors": [{"code": "UNAUTHORIZED", "message": "auth"}]}
            )
        if needed and needed not in self.issued[token]:
            return httpx.Response(
                401,
                headers={"WWW-Authenticate": challenge + ',error="insufficient_scope"'},
                json={"errors": [{"code": "DENIED", "message": "insufficient scope"}]},
            )
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(200, json={"name": "team/app", "tags": ["1.0"]})
        if request.url.path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": ["team/app"]})
        if "/blobs/" in request.url.path:
            return httpx.Response(307, headers={"Location": STORAGE_URL})
        return httpx.Response(200, json={})

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_answer is not None:
            return self.token_answer(request)
        user = None
        header = request.headers.get("authorization")
        if header is not None:
            if header != basic_value("alice", PASSWORD):
                return httpx.Response(401, json={"errors": [{"code": "UNAUTHORIZED"}]})
            user = "alice"
        scopes = request.url.params.get_list("scope")
        token = f"good-{len(self.issued)}"
        self.issued[token] = {s for s in scopes if self.grant(user, s)}
        return httpx.Response(200, json={"token": token, "expires_in": 300})


def make_client(
    stand_in: StandIn, allowlist: list[str] | None = None, registry: str = REGISTRY
) -> RegistryClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(stand_in))
    return RegistryClient(
        http, registry, tokens=TokenCache(), policy=RealmPolicy(registry, allowlist or [])
    )


HOSTILE_REALMS = [
    "https://evil.test/token",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "https://169.254.169.254/token",
    "https://[fe80::1]/token",
    "https://metadata.google.internal/computeMetadata/v1/",
    "http://registry.test/token",  # https -> http downgrade
    "https://alice:pw@registry.test/token",
]


@pytest.mark.parametrize("realm", HOSTILE_REALMS)
@pytest.mark.parametrize("caller", [ALICE, ANONYMOUS], ids=["alice", "anonymous"])
async def test_hostile_realm_is_refused_and_never_contacted(realm: str, caller: Caller) -> None:
    stand_in = StandIn(realm)
    client = make_client(stand_in, allowlist=["169.254.169.254", "metadata.google.internal"])
    async with client.http:
        with pytest.raises(RealmNotAllowed) as info:
            await client.tags(caller, "team/app")
    assert info.value.code == "REALM_NOT_ALLOWED"
    assert info.value.status == 502
    # Only the registry was asked; nothing, let alone credentials, went to the realm.
    assert [r.url.host for r in stand_in.requests] == ["registry.test"]
    assert "authorization" not in stand_in.requests[0].headers
    body = json.dumps(info.value.envelope())
    assert PASSWORD not in body and basic_value("alice", PASSWORD) not in body


async def test_allowlisted_realm_gets_exact_scopes_and_the_callers_credentials() -> None:
    stand_in = StandIn("https://auth.test/token")
    client = make_client(stand_in, allowlist=["auth.test"])
    async with client.http:
        assert await client.tags(ALICE, "team/app") == ["1.0"]
        assert await client.catalog(ALICE) == ["team/app"]
    [tags_token, catalog_token] = stand_in.token_requests
    assert tags_token.url.params.get_list("scope") == ["repository:team/app:pull"]
    assert catalog_token.url.params.get_list("scope") == ["registry:catalog:*"]
    for request in (tags_token, catalog_token):
        assert request.url.scheme == "https"
        assert request.url.params["service"] == "registry.test"
        assert request.url.params["account"] == "alice"
        assert request.headers["authorization"] == basic_value("alice", PASSWORD)
    # The registry itself only ever saw tokens, never the password.
    for request in stand_in.registry_requests:
        assert not request.headers.get("authorization", "").startswith("Basic")


@pytest.mark.parametrize("other", ["Negotiate", 'Basic realm="registry"'])
async def test_bearer_challenge_found_next_to_another_scheme(other: str) -> None:
    """Two WWW-Authenticate headers (joined with ", " by the flow): Bearer still wins."""
    stand_in = StandIn("https://registry.test/token", other_challenge=other)
    client = make_client(stand_in)
    async with client.http:
        assert await client.tags(ALICE, "team/app") == ["1.0"]
    assert len(stand_in.token_requests) == 1
    for request in stand_in.registry_requests:
        assert not request.headers.get("authorization", "").startswith("Basic")


async def test_anonymous_token_request_carries_no_credentials() -> None:
    stand_in = StandIn("https://registry.test/token")
    client = make_client(stand_in)
    async with client.http:
        assert await client.tags(ANONYMOUS, "team/app") == ["1.0"]
    [token_request] = stand_in.token_requests
    assert "authorization" not in token_request.headers
    assert "account" not in token_request.url.params
    assert token_request.url.params.get_list("scope") == ["repository:team/app:pull"]


async def test_tokens_are_cached_per_caller_and_scope_even_when_short_lived() -> None:
    stand_in_plain = StandIn("https://registry.test/token")
    client = make_client(stand_in_plain)
    async with client.http:
        for _ in range(3):
            await client.tags(ALICE, "team/app")
        assert len(stand_in_plain.token_requests) == 1
        await client.tags(ANONYMOUS, "team/app")  # another caller: its own token
        assert len(stand_in_plain.token_requests) == 2
        await client.catalog(ALICE)  # another scope: its own token
        assert len(stand_in_plain.token_requests) == 3
        for _ in range(2):
            await client.tags(ANONYMOUS, "team/app")
            await client.catalog(ALICE)
        assert len(stand_in_plain.token_requests) == 3

    # expires_in below 60 s is treated as 60 s: still reused.
    issued: list[str] = []

    def brief(request: httpx.Request) -> httpx.Response:
        token = f"good-{len(stand_in.issued)}"
        stand_in.issued[token] = set(request.url.params.get_list("scope"))
        issued.append(token)
        return httpx.Response(200, json={"access_token": token, "expires_in": 1})

    stand_in = StandIn("https://registry.test/token", token_answer=brief)
    client = make_client(stand_in)
    async with client.http:
        await client.tags(ALICE, "team/app")
        await client.tags(ALICE, "team/app")
    assert len(issued) == 1


async def test_insufficient_scope_is_retried_once_then_denied() -> None:
    stand_in = StandIn("https://registry.test/token", grant=lambda user, scope: False)
    client = make_client(stand_in)
    async with client.http:
        with pytest.raises(Forbidden) as info:
            await client.catalog(ALICE)
        assert info.value.code == "DENIED" and info.value.status == 403
        assert len(stand_in.token_requests) == 2
        assert len(stand_in.registry_requests) == 3

        # The same answer for an anonymous caller is "log in", not "denied".
        with pytest.raises(Unauthorized) as anon:
            await client.catalog(ANONYMOUS)
        assert anon.value.status == 401 and anon.value.code == "UNAUTHORIZED"
        assert len(stand_in.token_requests) <= 4


async def test_wrong_credentials_at_the_token_server_are_unauthorized() -> None:
    stand_in = StandIn("https://registry.test/token")
    client = make_client(stand_in)
    wrong = Caller(Credentials("alice", "not-" + PASSWORD), "basic")
    async with client.http:
        with pytest.raises(Unauthorized) as info:
            await client.tags(wrong, "team/app")
    assert info.value.status == 401
    assert len(stand_in.token_requests) == 1
    assert "not-" + PASSWORD not in json.dumps(info.value.envelope())


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(500, text="boom"), UpstreamUnavailable),
        (httpx.Response(200, text="not json"), UpstreamInvalid),
        (httpx.Response(200, json={"expires_in": 300}), UpstreamInvalid),
        (httpx.Response(200, json={"token": "a b\r\nInjected: 1"}), UpstreamInvalid),
        (httpx.Response(200, json=["token"]), UpstreamInvalid),
        (httpx.Response(302, headers={"Location": "https://evil.test/"}), UpstreamInvalid),
    ],
    ids=["5xx", "not-json", "no-token", "token-with-spaces", "not-an-object", "redirect"],
)
async def test_bad_token_answers_are_clear_errors(
    answer: httpx.Response, error: type[Exception]
) -> None:
    stand_in = StandIn("https://registry.test/token", token_answer=lambda _r: answer)
    client = make_client(stand_in)
    async with client.http:
        with pytest.raises(error):
            await client.tags(ALICE, "team/app")
    assert not stand_in.to("evil.test")


@pytest.mark.parametrize("expires_in", [b"Infinity", b"-Infinity", b"1e400", b"NaN"])
async def test_token_lifetime_that_is_no_number_is_a_clear_error(expires_in: bytes) -> None:
    """Python's json reads these as floats; int() of one must not become a 500."""
    body = b'{"token": "good-0", "expires_in": ' + expires_in + b"}"
    stand_in = StandIn(
        "https://registry.test/token",
        token_answer=lambda _r: httpx.Response(200, content=body),
    )
    client = make_client(stand_in)
    async with client.http:
        with pytest.raises(UpstreamInvalid):
            await client.tags(ALICE, "team/app")


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "https://evil.test/token"],
)
async def test_token_server_redirects_are_not_followed(target: str) -> None:
    """Not even on blob reads, whose own redirects (to object storage) are followed."""

    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": target})

    stand_in = StandIn("https://registry.test/token", token_answer=redirect)
    client = make_client(stand_in)
    async with client.http:
        with pytest.raises(UpstreamInvalid):
            await client.tags(ALICE, "team/app")
        with pytest.raises(UpstreamInvalid):
            await client.blob(ALICE, "team/app", BLOB_DIGEST, 1024)
        with pytest.raises(UpstreamInvalid):
            response = await client.open_blob(ANONYMOUS, "team/app", BLOB_DIGEST)
            await response.aclose()
    hosts = {r.url.host for r in stand_in.requests}
    assert hosts == {"registry.test"}, hosts


async def test_blob_redirect_after_token_auth_reaches_storage_without_credentials() -> None:
    stand_in = StandIn("https://registry.test/token")
    client = make_client(stand_in)
    async with client.http:
        assert await client.blob(ALICE, "team/app", BLOB_DIGEST, 1024) == BLOB
        response = await client.open_blob(ALICE, "team/app", BLOB_DIGEST)
        body = b"".join([chunk async for chunk in client.stream(response)])
        assert body == BLOB
    storage = stand_in.to("storage.test")
    assert len(storage) == 2
    assert all("authorization" not in r.headers for r in storage)
    assert [r.url.params.get_list("scope") for r in stand_in.token_requests] == [
        ["repository:team/app:pull"]
    ]


async def test_streamed_token_answer_is_read_and_capped() -> None:
    """The token answer arrives as a real stream (as from a socket), not pre-read."""

    def streamed(body: bytes) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(body), 1000):
                    yield body[i : i + 1000]

            token = json.loads(body).get("token") if len(body) < 1000 else None
            if token:
                stand_in.issued[token] = set(request.url.params.get_list("scope"))
            return httpx.Response(200, content=chunks())

        return answer

    stand_in = StandIn(
        "https://registry.test/token", token_answer=streamed(b'{"token": "good-streamed"}')
    )
    client = make_client(stand_in)
    async with client.http:
        assert await client.tags(ALICE, "team/app") == ["1.0"]

    huge = json.dumps({"token": "x" * (200 * 1024)}).encode()
    stand_in = StandIn("https://registry.test/token", token_answer=streamed(huge))
    client = make_client(stand_in)
    async with client.http:
        with pytest.raises(UpstreamInvalid):
            await client.tags(ALICE, "team/app")


# -- through the gateway -------------------------------------------------------------------


@pytest.mark.parametrize(
    "realm",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.test/token",
        "http://registry.test/token",
    ],
)
def test_gateway_answers_realm_not_allowed(
    realm: str,
    make_gateway: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stand_in = StandIn(realm)
    with make_gateway(REGISTRY, transport=httpx.MockTransport(stand_in)) as client:
        for headers in ({}, {"Authorization": basic_value("alice", PASSWORD)}):
            r = client.get("/api/repositories/team/app/tags", headers=headers)
            assert r.status_code == 502, r.text
            error = r.json()["error"]
            assert error["code"] == "REALM_NOT_ALLOWED"
            assert error["message"]
            assert PASSWORD not in r.text
            assert "www-authenticate" not in r.headers
        login = client.post(
            "/api/session",
            json={"username": "alice", "password": PASSWORD},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )
        assert login.status_code == 502
        assert login.json()["error"]["code"] == "REALM_NOT_ALLOWED"
        assert "set-cookie" not in login.headers
    assert {r.url.host for r in stand_in.requests} == {"registry.test"}
    assert all("authorization" not in r.headers for r in stand_in.requests)
    assert caplog.records
    basic_b64 = basic_value("alice", PASSWORD).removeprefix("Basic ")
    for record in caplog.records:
        assert PASSWORD not in record.getMessage() and basic_b64 not in record.getMessage()
    assert PASSWORD not in caplog.text and basic_b64 not in caplog.text


def test_gateway_uses_the_configured_allowlist(make_gateway: Any) -> None:
    stand_in = StandIn("https://auth.test/token")
    transport = httpx.MockTransport(stand_in)
    with make_gateway(REGISTRY, transport=transport, token_realm_allowlist=["auth.test"]) as client:
        r = client.get(
            "/api/repositories/team/app/tags",
            headers={"Authorization": basic_value("alice", PASSWORD)},
        )
        assert r.status_code == 200, r.text
    assert [t.url.params.get_list("scope") for t in stand_in.token_requests] == [
        ["repository:team/app:pull"]
    ]


# -- a real registry whose token server is on a host the gateway does not trust ------------


@pytest.fixture(scope="module")
def foreign_realm(
    registry_factory: Any, token_server_factory: Any
) -> Iterator[tuple[RegistryProcess, TokenServer]]:
    tokens: TokenServer = token_server_factory({"alice": PASSWORD}, allow_all, host="127.0.0.2")
    reg: RegistryProcess = registry_factory(auth="token", token=tokens)
    with Pusher(reg.url, "alice", PASSWORD) as p:
        push_image(p, "team/app", "1.0")
    yield reg, tokens


def test_real_registry_with_a_foreign_realm(
    foreign_realm: tuple[RegistryProcess, TokenServer], make_gateway: Any
) -> None:
    reg, tokens = foreign_realm
    assert tokens.realm.startswith("http://127.0.0.2:")
    before = len(tokens.requests)
    with make_gateway(reg.url) as client:
        for headers in ({}, {"Authorization": basic_value("alice", PASSWORD)}):
            for path in (
                "/api/repositories",
                "/api/repositories/team/app/tags",
                "/api/repositories/team/app/images/1.0",
            ):
                r = client.get(path, headers=headers)
                assert r.status_code == 502, (path, r.text)
                assert r.json()["error"]["code"] == "REALM_NOT_ALLOWED"
                assert PASSWORD not in r.text
    assert len(tokens.requests) == before, "a request reached the refused realm"

    with make_gateway(reg.url, token_realm_allowlist=["127.0.0.2"]) as client:
        r = client.get(
            "/api/repositories/team/app/tags",
            headers={"Authorization": basic_value("alice", PASSWORD)},
        )
        assert r.status_code == 200, r.text
        assert [t["name"] for t in r.json()["tags"]] == ["1.0"]
    assert [req["user"] for req in tokens.requests[before:]] == ["alice"]
