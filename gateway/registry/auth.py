"""Registry authentication as an ``httpx.Auth`` flow: Basic, and Bearer tokens.

The flow (httpx's documented pattern): send the request (with a cached token when one
fits), read a 401's challenge, fetch a token from the realm for exactly the scopes
needed, resend. Tokens are cached per (caller credentials, realm, service, scopes) and
renewed a little before they expire; they are never shared between callers. With
``LR_REDIS_URL`` a second level (``SharedTokenLevel``, in Redis, sealed) lets every
replica use a token any of them fetched for the same caller, realm, service and scopes;
the in-process LRU stays in front of it. Realms are
checked against ``RealmPolicy`` before any request goes there. An ``insufficient_scope``
answer is retried once with the scope the registry asked for.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import httpx
from cachetools import LRUCache

from gateway.errors import Unauthorized, UpstreamInvalid, UpstreamUnavailable
from gateway.registry.challenge import find, parse_challenges
from gateway.registry.credentials import Caller
from gateway.registry.realm_policy import RealmPolicy

RENEW_MARGIN = 10.0  # seconds before expiry at which a token is renewed
MIN_EXPIRES_IN = 60  # the spec's default; shorter answers are treated as 60 s
MAX_TOKEN_BYTES = 64 * 1024


@dataclass
class _Token:
    value: str
    expires_at: float


TokenKey = tuple[str, str, str, tuple[str, ...]]


class SharedTokenLevel(Protocol):
    """Tokens kept for other replicas too (``gateway.shared_state.tokens``): keyed by
    the caller's credentials, never by this process' caller key. Failures are misses."""

    async def get(self, caller: Caller, key: TokenKey) -> tuple[str, float] | None:
        """(token, seconds it is still valid) or None."""
        ...

    async def put(self, caller: Caller, key: TokenKey, value: str, lifetime: float) -> None: ...


class TokenCache:
    """Bearer tokens by (caller key, realm, service, scopes). Bounded, never shared
    between callers; ``shared`` (Redis) is a second level, shared between replicas."""

    def __init__(self, maxsize: int = 20000, shared: SharedTokenLevel | None = None) -> None:
        self._tokens: LRUCache[tuple[str, str, str, tuple[str, ...]], _Token] = LRUCache(maxsize)
        self.shared = shared
        # Plain integers, read by the metrics collector at scrape time: token fetches by
        # outcome (ok, denied, error), and cached tokens dropped to be renewed.
        self.fetches: dict[str, int] = {}
        self.renewals = 0

    def note_fetch(self, outcome: str) -> None:
        self.fetches[outcome] = self.fetches.get(outcome, 0) + 1

    @staticmethod
    def key(
        caller: Caller, realm: str, service: str, scopes: list[str]
    ) -> tuple[str, str, str, tuple[str, ...]]:
        return (caller.key, realm, service, tuple(sorted(set(scopes))))

    def get(self, key: tuple[str, str, str, tuple[str, ...]]) -> str | None:
        token = self._tokens.get(key)
        if token is None:
            return None
        if token.expires_at - time.monotonic() <= RENEW_MARGIN:
            self._tokens.pop(key, None)  # renewed a little before it expires
            self.renewals += 1
            return None
        return token.value

    def put(self, key: tuple[str, str, str, tuple[str, ...]], value: str, expires_in: int) -> None:
        self._tokens[key] = _Token(value, time.monotonic() + max(expires_in, MIN_EXPIRES_IN))

    async def aget(self, caller: Caller, key: TokenKey) -> str | None:
        """``get``, then the shared level on a miss (kept here for what is left of it)."""
        token = self.get(key)
        if token is not None or self.shared is None:
            return token
        found = await self.shared.get(caller, key)
        if found is None or found[1] <= RENEW_MARGIN:
            return None
        self._tokens[key] = _Token(found[0], time.monotonic() + found[1])
        return found[0]

    async def aput(self, caller: Caller, key: TokenKey, value: str, expires_in: int) -> None:
        """``put``, and to the shared level until it is due for renewal."""
        self.put(key, value, expires_in)
        if self.shared is not None:
            await self.shared.put(caller, key, value, max(expires_in, MIN_EXPIRES_IN))

    def drop(self, key: tuple[str, str, str, tuple[str, ...]]) -> None:
        self._tokens.pop(key, None)

    def drop_caller(self, caller_key: str) -> None:
        for key in [k for k in list(self._tokens.keys()) if k[0] == caller_key]:
            self._tokens.pop(key, None)

    def __len__(self) -> int:
        return len(self._tokens)


class _CappedStream(httpx.AsyncByteStream):
    """A response body that fails once it passes ``limit`` bytes."""

    def __init__(self, stream: httpx.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._stream:
            total += len(chunk)
            if total > self._limit:
                raise UpstreamInvalid("the token server's answer is too large")
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


@dataclass
class AuthHints:
    """What the registry told us about its auth, so the next request can go first time right."""

    scheme: str | None = None  # "basic" / "bearer" / None (unknown or none)
    realm: str | None = None
    service: str = ""


class RegistryAuth(httpx.Auth):
    """One request's auth: the caller's credentials and the scope the request needs."""

    def __init__(
        self,
        caller: Caller,
        scope: str | None,
        tokens: TokenCache,
        policy: RealmPolicy,
        hints: AuthHints,
    ) -> None:
        self.caller = caller
        self.scope = scope
        self.tokens = tokens
        self.policy = policy
        self.hints = hints
        self.denied_scope = False  # set when the registry kept answering insufficient_scope
        self._last: httpx.Request | None = None

    @property
    def authenticated(self) -> bool:
        """Whether the last request sent carried credentials or a token."""
        return self._last is not None and "Authorization" in self._last.headers

    def _scopes(self, asked: list[str]) -> list[str]:
        scopes = list(asked)
        if self.scope and self.scope not in scopes:
            scopes.append(self.scope)
        return scopes

    def _bearer_known(self) -> bool:
        return self.hints.scheme == "bearer" and bool(self.hints.realm) and bool(self.scope)

    async def cached_authorization(self) -> str | None:
        """The ``Authorization`` this request carries without asking anyone: a cached
        token for the scope, or Basic credentials; None if none fits."""
        creds = self.caller.credentials
        if self._bearer_known():
            key = self.tokens.key(
                self.caller, self.hints.realm or "", self.hints.service, [self.scope or ""]
            )
            token = await self.tokens.aget(self.caller, key)
            if token:
                return f"Bearer {token}"
        elif self.hints.scheme == "basic" and creds is not None:
            return creds.basic_header()
        return None

    async def apply_cached(self, request: httpx.Request) -> bool:
        """Put a cached token (or Basic credentials) on the request; False if none fits."""
        value = await self.cached_authorization()
        if value is None:
            return False
        request.headers["Authorization"] = value
        return True

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self._last = request
        bearer_tries = 0
        proactive: tuple[str, str] | None = None  # the realm and service of a token fetched first
        if not await self.apply_cached(request) and self._bearer_known():
            # A token registry, and no token cached for this scope (new, or renewed before
            # expiry): fetch one first instead of learning the challenge again from a 401.
            realm = self.policy.check(self.hints.realm)
            service, scopes = self.hints.service, [self.scope or ""]
            try:
                token_response = yield self._token_request(realm, service, scopes)
                fresh, lifetime = await self._read_token(token_response)
            except BaseException:
                # The realm learned earlier may be stale (the registry moved its token
                # service): the next request learns the current one from a challenge.
                self._drop_hints(realm, service)
                raise
            fresh_key = self.tokens.key(self.caller, realm, service, scopes)
            await self.tokens.aput(self.caller, fresh_key, fresh, lifetime)
            request.headers["Authorization"] = f"Bearer {fresh}"
            bearer_tries = 1  # counts as the first try: one retry remains
            proactive = (realm, service)
        response = yield request
        basic_tried = request.headers.get("Authorization", "").startswith("Basic ")
        while response.status_code == 401:
            challenges = parse_challenges(", ".join(response.headers.get_list("www-authenticate")))
            bearer = find(challenges, "bearer")
            if bearer is not None:
                if proactive is not None and (bearer.realm, bearer.service or "") != proactive:
                    bearer_tries = 0  # the registry names another token service now
                proactive = None
                if bearer_tries >= 2:
                    self.denied_scope = bearer.error == "insufficient_scope"
                    return
                if bearer_tries == 1 and bearer.error not in ("insufficient_scope", None):
                    return
                bearer_tries += 1
                realm = self.policy.check(bearer.realm)
                service = bearer.service or ""
                scopes = self._scopes(bearer.scopes)
                key = self.tokens.key(self.caller, realm, service, scopes)
                token = None
                if bearer_tries == 1 and not bearer.error:
                    token = await self.tokens.aget(self.caller, key)
                if token is None:
                    token_response = yield self._token_request(realm, service, scopes)
                    token, expires_in = await self._read_token(token_response)
                    await self.tokens.aput(self.caller, key, token, expires_in)
                    if self.scope and scopes != [self.scope]:
                        # Also file it under the request's own scope for the proactive path.
                        own = self.tokens.key(self.caller, realm, service, [self.scope])
                        await self.tokens.aput(self.caller, own, token, expires_in)
                self.hints.scheme, self.hints.realm, self.hints.service = "bearer", realm, service
                request.headers["Authorization"] = f"Bearer {token}"
                response = yield request
                continue
            basic = find(challenges, "basic")
            creds = self.caller.credentials
            if basic is not None and creds is not None and not basic_tried:
                basic_tried = True
                self.hints.scheme = "basic"
                request.headers["Authorization"] = creds.basic_header()
                response = yield request
                continue
            if basic is not None:
                self.hints.scheme = "basic"
            return

    def _drop_hints(self, realm: str, service: str) -> None:
        if (self.hints.realm, self.hints.service) == (realm, service):
            self.hints.scheme, self.hints.realm, self.hints.service = None, None, ""

    def _token_request(self, realm: str, service: str, scopes: list[str]) -> httpx.Request:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if service:
            params.append(("service", service))
        params.extend(("scope", s) for s in scopes)
        headers = {"Accept": "application/json"}
        creds = self.caller.credentials
        if creds is not None:
            params.append(("account", creds.username))
            headers["Authorization"] = creds.basic_header()
        return httpx.Request("GET", realm, params=params, headers=headers)

    async def _read_token(self, response: httpx.Response) -> tuple[str, int]:
        try:
            token = await self._parse_token(response)
        except Unauthorized:
            self.tokens.note_fetch("denied")
            raise
        except BaseException:
            self.tokens.note_fetch("error")
            raise
        self.tokens.note_fetch("ok")
        return token

    async def _parse_token(self, response: httpx.Response) -> tuple[str, int]:
        # Read with ``aread``: httpx reads every response of an auth flow again once the
        # flow moves on, and a stream consumed by hand cannot be read a second time.
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _CappedStream(response.stream, MAX_TOKEN_BYTES)
        body = await response.aread()
        if len(body) > MAX_TOKEN_BYTES:
            raise UpstreamInvalid("the token server's answer is too large")
        if response.status_code in (401, 403):
            if self.caller.credentials is None:
                raise Unauthorized("the registry requires a login")
            raise Unauthorized("the registry's token server rejected the credentials")
        if response.status_code >= 500:
            raise UpstreamUnavailable(
                "the registry's token server failed", detail={"status": response.status_code}
            )
        if response.status_code != 200:
            raise UpstreamInvalid(
                "unexpected answer from the token server", detail={"status": response.status_code}
            )
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
            expires_in = int(doc.get("expires_in") or MIN_EXPIRES_IN)
        except (ValueError, TypeError, AttributeError, RecursionError, OverflowError):
            # OverflowError: json reads Infinity and 1e400 as floats int() cannot take
            raise UpstreamInvalid("the token server answered malformed JSON") from None
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
            raise UpstreamInvalid("the token server answered no usable token")
        return token, expires_in
