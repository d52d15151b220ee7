"""The plumbing under RegistryClient: one request with auth, bounded reads, error mapping.

Every request goes through ``Upstream.send``: the caller's auth flow, the concurrency
limit, an overall bound (httpx's read timeout is per read; within a request, what is left
of the request's deadline: gateway.deadline), redirects followed only
after the auth flow and only where the policy allows, and every non-2xx answer mapped
to the gateway's error tree. Every request sent on the clients — API calls, the auth
flow's token fetches, redirects followed, blob downloads — carries the gateway's
request id as ``X-Request-ID`` (a request hook), so registry logs can be matched.

The same hooks feed the Prometheus metrics: each request is counted and timed once, by
operation (``kind_of``) and status, when its answer's headers arrive (a response hook);
a request that got no answer is counted as ``error`` where its exception surfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterable, Callable

import httpx

from gateway import deadline
from gateway.errors import GatewayError, UpstreamInvalid
from gateway.registry.auth import AuthHints, RegistryAuth, TokenCache
from gateway.registry.credentials import Caller
from gateway.registry.metrics import UpstreamTotals, kind_of, note_bytes
from gateway.registry.realm_policy import RealmPolicy
from gateway.registry.slots import DeadlineSlots
from gateway.registry.upstream_errors import Subject, error_for_status, error_for_transport
from gateway.request_id import HEADER as REQUEST_ID_HEADER
from gateway.request_id import NONE as NO_REQUEST_ID
from gateway.request_id import current_request_id
from gateway.telemetry import STARTED, Metrics

MAX_ERROR_BYTES = 64 * 1024
MAX_REDIRECTS = 5


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# The algorithms whose digests the gateway computes (checks), of all the OCI grammar
# allows; a digest of another algorithm is handed on to the registry unchecked.
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


def digest_like(data: bytes, digest: str) -> str | None:
    """``data``'s digest in the algorithm of ``digest``; None for an algorithm the
    gateway does not compute."""
    algorithm = digest.partition(":")[0]
    make = _HASHES.get(algorithm)
    return None if make is None else f"{algorithm}:{make(data).hexdigest()}"


def _timed_out(by_deadline: bool) -> GatewayError:
    if by_deadline:
        return deadline.passed()
    return error_for_transport(httpx.ReadTimeout("overall timeout"))


class Upstream:
    def __init__(
        self,
        http: httpx.AsyncClient,
        registry_url: str,
        *,
        concurrency: int = 16,
        page_size: int = 1000,
        tokens: TokenCache | None = None,
        policy: RealmPolicy | None = None,
        overall_timeout: float = 60.0,
        downloads: httpx.AsyncClient | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.http = http
        # Blob downloads hold a connection for as long as the browser reads: a pool of
        # their own keeps many slow downloads from starving every other request.
        self.downloads = downloads or http
        self.base = registry_url.rstrip("/")
        self.page_size = max(1, min(page_size, 1000))
        self.tokens = tokens if tokens is not None else TokenCache()  # empty is falsy
        self.policy = policy or RealmPolicy(registry_url)
        self.hints = AuthHints()
        self.totals = UpstreamTotals()
        self.metrics = metrics or Metrics()
        self.overall_timeout = overall_timeout
        #: The ``User-Agent`` of every upstream request, given the request id being
        #: handled (None outside a request): set by the app once its activity store is
        #: open (``gateway.activity.agent``: the origin, so the registry's events for
        #: the gateway's own reads and writes are told apart). None: the client's default.
        self.user_agent: Callable[[str | None], str] | None = None
        self._slots = DeadlineSlots(concurrency)
        # Downloads wait for their own slots: a download queued behind a full download
        # pool must not hold one of the slots every API call needs meanwhile.
        self._download_slots = DeadlineSlots(concurrency)
        for client in {id(http): http, id(self.downloads): self.downloads}.values():
            client.event_hooks.setdefault("request", []).extend((self._count, self._tag))
            client.event_hooks.setdefault("response", []).append(self._answered)

    async def _count(self, request: httpx.Request) -> None:
        self.totals.count(kind_of(request.url.path))
        request.extensions[STARTED] = time.perf_counter()

    async def _answered(self, response: httpx.Response) -> None:
        request = response.request
        self.metrics.upstream_done(
            kind_of(request.url.path), str(response.status_code), request.extensions.get(STARTED)
        )

    def failed(self, exc: BaseException, fallback: httpx.Request) -> None:
        """Count the request that got no answer: the one an httpx error names (a token
        fetch fails inside the auth flow), else ``fallback`` (an overall timeout)."""
        request = fallback
        if isinstance(exc, httpx.RequestError):
            with contextlib.suppress(RuntimeError):  # RuntimeError: no request attached
                request = exc.request
        if STARTED not in request.extensions:
            return  # never sent: the deadline passed while it waited for a slot
        self.metrics.upstream_done(
            kind_of(request.url.path), "error", request.extensions.get(STARTED)
        )

    async def _tag(self, request: httpx.Request) -> None:
        request_id = current_request_id.get()
        if request_id != NO_REQUEST_ID:
            request.headers[REQUEST_ID_HEADER] = request_id
        if self.user_agent is not None:
            marker = None if request_id == NO_REQUEST_ID else request_id
            request.headers["User-Agent"] = self.user_agent(marker)

    async def send(
        self,
        method: str,
        path: str,
        caller: Caller,
        *,
        scope: str | None,
        subject: Subject,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        follow_redirects: bool = False,
        ok: tuple[int, ...] = (200,),
        auth: RegistryAuth | None = None,
        download: bool = False,
    ) -> httpx.Response:
        """Send one request (with auth); return the open response if its status is ``ok``.

        Raises the mapped GatewayError otherwise. The caller must close the response.
        ``auth`` may be passed in to look at the flow afterwards (did it authenticate?).
        ``download`` sends it on the transfer pool and slots (downloads and uploads).
        A streamed ``content`` (an upload of any size) has no overall bound: httpx's
        per-write and per-read timeouts apply while it is sent.
        """
        auth = auth or RegistryAuth(caller, scope, self.tokens, self.policy, self.hints)
        http = self.downloads if download else self.http
        request = http.build_request(
            method, self.base + path, params=params, headers=headers, content=content
        )
        streamed = content is not None and not isinstance(content, bytes)
        budget = deadline.remaining(self.overall_timeout)
        binding = deadline.is_binding(self.overall_timeout)
        try:
            if budget <= 0:
                raise TimeoutError
            # httpx's read timeout is per read: headers trickling in a byte at a time
            # would never trip it. The overall bound covers the wait for a slot and the
            # whole exchange; within a request it is what is left of its deadline.
            slots = self._download_slots if download else self._slots
            priority = asyncio.get_running_loop().time() + budget  # the deadline, or as if
            async with asyncio.timeout(None if streamed else budget), slots.held(priority):
                response = await http.send(request, auth=auth, stream=True, follow_redirects=False)
                hops = 0
                while follow_redirects and response.next_request is not None:
                    # Followed here, after the auth flow: inside it httpx would also
                    # follow a token server's redirects, past the realm policy. httpx
                    # drops Authorization when the redirect leaves the registry.
                    target = response.next_request
                    await response.aclose()
                    hops += 1
                    if hops > MAX_REDIRECTS:
                        raise UpstreamInvalid("the registry redirected too many times")
                    self.policy.check_redirect(str(target.url))
                    response = await http.send(target, stream=True)
        except TimeoutError as exc:
            self.failed(exc, request)
            raise _timed_out(binding) from None
        except httpx.HTTPError as exc:
            self.failed(exc, request)
            raise error_for_transport(exc) from None
        if response.status_code in ok:
            return response
        try:
            body = await self.read(response, MAX_ERROR_BYTES, truncate=True)
        finally:
            await response.aclose()
        raise error_for_status(
            response,
            body,
            subject,
            anonymous=caller.credentials is None,
            denied_scope=auth.denied_scope,
        )

    async def read(self, response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
        declared = response.headers.get("content-length")
        if not truncate and declared and declared.isdigit() and int(declared) > limit:
            raise UpstreamInvalid("the registry's answer is too large", detail={"limit": limit})
        chunks: list[bytes] = []
        total = 0
        budget = deadline.remaining(self.overall_timeout)
        binding = deadline.is_binding(self.overall_timeout)
        try:
            async with asyncio.timeout(max(budget, 0)):
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > limit:
                        if truncate:
                            chunks.append(chunk[: limit - (total - len(chunk))])
                            break
                        raise UpstreamInvalid(
                            "the registry's answer is too large", detail={"limit": limit}
                        )
                    chunks.append(chunk)
        except TimeoutError:
            raise _timed_out(binding) from None
        except httpx.HTTPError as exc:
            raise error_for_transport(exc) from None
        finally:
            note_bytes(total)
        return b"".join(chunks)

    async def fetch(
        self,
        path: str,
        caller: Caller,
        *,
        scope: str | None,
        subject: Subject,
        limit: int,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, bytes]:
        response = await self.send(
            "GET", path, caller, scope=scope, subject=subject, params=params, headers=headers
        )
        try:
            return response, await self.read(response, limit)
        finally:
            await response.aclose()

    @staticmethod
    def json_object(body: bytes, what: str) -> dict[str, object]:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
            raise UpstreamInvalid(f"the registry answered a {what} that is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamInvalid(f"the registry answered a malformed {what}")
        return doc
