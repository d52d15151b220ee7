"""RegistryClient: the v2 API calls the gateway needs, for one caller at a time.

Takes its ``httpx.AsyncClient`` in the constructor and knows nothing of FastAPI. Every
call names the caller whose credentials it uses; every document read is size-capped and
every digest-addressed document is verified against the digest that was asked for.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from gateway.errors import StreamBroken, Unauthorized, UpstreamInvalid
from gateway.models import media_types as mt
from gateway.models.oci import manifest_media_type
from gateway.registry.auth import AuthHints, RegistryAuth, TokenCache
from gateway.registry.credentials import ANONYMOUS, Caller
from gateway.registry.metrics import UpstreamTotals, note_bytes
from gateway.registry.names import is_digest, valid_names, valid_tags
from gateway.registry.protocol import (
    CATALOG_SCOPE,
    MAX_LIST_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_PAGES,
    MAX_REFERRER_PAGES,
    BlobProof,
    Head,
    Manifest,
    Passed,
    Ping,
    ReferrersAnswer,
    content_headers,
    next_link,
    pull_scope,
    push_scope,
    referrers_next,
)
from gateway.registry.realm_policy import RealmPolicy
from gateway.registry.transport import Upstream, digest_like, sha256_digest
from gateway.registry.upstream_errors import Subject
from gateway.registry.writes import RegistryWrites


class RegistryClient(RegistryWrites):
    """The registry protocol, for one caller at a time. It holds its transport
    (``Upstream``: auth, slots, deadlines, redirects, error mapping) and is the one
    place that knows the v2 paths, scopes and documents; its writes are
    ``RegistryWrites``'s (gateway/registry/writes.py), its data ``protocol``'s."""

    def __init__(self, http: httpx.AsyncClient, registry_url: str, **transport: Any) -> None:
        self.transport = Upstream(http, registry_url, **transport)
        # What blob reads have shown of this registry: it served one itself, it
        # redirected one (to storage). A pull handed to a proxy in front without asking
        # first (``pull_authorization``) needs the first and not the second.
        self.blobs_served = False
        self.blobs_redirected = False

    # What callers read of the transport (metrics, caches, tests).
    @property
    def http(self) -> httpx.AsyncClient:
        return self.transport.http

    @property
    def downloads(self) -> httpx.AsyncClient:
        return self.transport.downloads

    @property
    def tokens(self) -> TokenCache:
        return self.transport.tokens

    @property
    def hints(self) -> AuthHints:
        return self.transport.hints

    @property
    def policy(self) -> RealmPolicy:
        return self.transport.policy

    @property
    def totals(self) -> UpstreamTotals:
        return self.transport.totals

    # -- base -------------------------------------------------------------------------

    async def ping(self, caller: Caller = ANONYMOUS) -> Ping:
        """``GET /v2/``: 200, or 401 (which still proves the registry is alive)."""
        started = time.perf_counter()
        request = self.http.build_request("GET", self.base + "/v2/")
        try:
            async with asyncio.timeout(self.transport.overall_timeout):
                response = await self.http.send(request)
        except (httpx.HTTPError, TimeoutError) as exc:
            self.transport.failed(exc, request)
            return Ping(False, None, None, "none", (time.perf_counter() - started) * 1000)
        latency = (time.perf_counter() - started) * 1000
        scheme = "none"
        if response.status_code == 401:
            header = response.headers.get("www-authenticate", "").lower()
            scheme = "bearer" if header.startswith("bearer") else "basic"
            if scheme == "basic":
                self.hints.scheme = self.hints.scheme or "basic"
        reachable = response.status_code in (200, 401)
        return Ping(
            reachable,
            response.status_code,
            response.headers.get("docker-distribution-api-version"),
            scheme,
            round(latency, 2),
        )

    async def check_login(self, caller: Caller) -> None:
        """Raise Unauthorized unless the registry accepted these credentials.

        A registry that never asked for them (an open registry) did not accept them.
        """
        auth = RegistryAuth(caller, None, self.tokens, self.policy, self.hints)
        # Through send(): the overall deadline, the concurrency limit, bounded reads.
        response = await self.transport.send(
            "GET", "/v2/", caller, scope=None, subject="registry", auth=auth
        )
        await response.aclose()  # the status is the answer; the body is not read
        if not auth.authenticated:
            raise Unauthorized("this registry does not check credentials: no login is needed")

    # -- listing ----------------------------------------------------------------------

    async def _walk(
        self,
        caller: Caller,
        path: str,
        *,
        key: str,
        scope: str,
        subject: Subject,
        what: str,
        valid: Callable[[list[str]], list[str]],
    ) -> list[str]:
        """Every entry of a paged list (catalog or tags): ``n`` ≤ 1000, each next page
        rebuilt against the configured registry from the Link header's ``last`` only.
        Sorted and without duplicates: as the registry sends them, usually, which one
        pass checks (sorting 100,000 names again cost more than walking them)."""
        entries: list[str] = []
        params = {"n": str(self.transport.page_size)}
        for _ in range(MAX_PAGES):
            response, body = await self.transport.fetch(
                path, caller, scope=scope, subject=subject, limit=MAX_LIST_BYTES, params=params
            )
            page = self.transport.json_object(body, what).get(key)
            if page is None:
                page = []  # 2.8 answers "tags": null once every tag was deleted
            if not isinstance(page, list):
                raise UpstreamInvalid(f"the registry answered a malformed {what}")
            try:
                # An entry that is not a string fails the check's join (or len): TypeError.
                entries.extend(valid(page))
            except TypeError:
                raise UpstreamInvalid(f"the registry answered a malformed {what}") from None
            link = next_link(response.headers.get("link"))
            if not link or not page or (params.get("last") and link["last"] <= params["last"]):
                break  # the end, or a Link that does not move forward
            params = {"n": str(self.transport.page_size), "last": link["last"]}
        if all(map(operator.lt, entries, itertools.islice(entries, 1, None))):
            return entries  # strictly increasing: sorted, no duplicates
        return sorted(set(entries))

    async def catalog(self, caller: Caller) -> list[str]:
        """The whole catalog, walked page by page."""
        return await self._walk(
            caller,
            "/v2/_catalog",
            key="repositories",
            scope=CATALOG_SCOPE,
            subject="catalog",
            what="catalog",
            valid=valid_names,
        )

    async def tags(self, caller: Caller, name: str) -> list[str]:
        """Every tag of a repository (none for ``null``), following Link pages (3.x)."""
        return await self._walk(
            caller,
            f"/v2/{name}/tags/list",
            key="tags",
            scope=pull_scope(name),
            subject="repository",
            what="tag list",
            valid=valid_tags,
        )

    # -- manifests --------------------------------------------------------------------

    async def manifest(self, caller: Caller, name: str, reference: str) -> Manifest:
        """A manifest by tag or digest: bytes as stored, digest verified, ≤ 4 MiB."""
        response, body = await self.transport.fetch(
            f"/v2/{name}/manifests/{reference}",
            caller,
            scope=pull_scope(name),
            subject="manifest",
            limit=MAX_MANIFEST_BYTES,
            headers={"Accept": mt.MANIFEST_ACCEPT},
        )
        digest = sha256_digest(body)
        if is_digest(reference) and digest != reference:
            raise UpstreamInvalid(
                "the manifest does not match the digest asked for",
                detail={"expected": reference, "actual": digest},
            )
        header = response.headers.get("docker-content-digest", "")
        if header.startswith("sha256:") and header != digest:
            raise UpstreamInvalid(
                "the manifest does not match the registry's Docker-Content-Digest",
                detail={"header": header, "actual": digest},
            )
        media_type = manifest_media_type(body, response.headers.get("content-type"))
        return Manifest(digest, media_type, body)

    async def head_manifest(self, caller: Caller, name: str, reference: str) -> Head:
        response = await self.transport.send(
            "HEAD",
            f"/v2/{name}/manifests/{reference}",
            caller,
            scope=pull_scope(name),
            subject="manifest",
            headers={"Accept": mt.MANIFEST_ACCEPT},
        )
        await response.aclose()
        digest = response.headers.get("docker-content-digest", "")
        if not is_digest(digest) or (is_digest(reference) and digest != reference):
            raise UpstreamInvalid("the registry answered a HEAD without a usable digest")
        size = response.headers.get("content-length", "")
        media_type = mt.base(response.headers.get("content-type"))
        return Head(digest, media_type, int(size) if size.isdigit() else 0)

    # -- blobs ------------------------------------------------------------------------

    async def blob(self, caller: Caller, name: str, digest: str, limit: int) -> bytes:
        """A small blob (a config) read whole, verified against its digest."""
        response = await self.transport.send(
            "GET",
            f"/v2/{name}/blobs/{digest}",
            caller,
            scope=pull_scope(name),
            subject="blob",
            follow_redirects=True,
        )
        try:
            body = await self.transport.read(response, limit)
        finally:
            await response.aclose()
        if sha256_digest(body) != digest:
            raise UpstreamInvalid("the blob does not match its digest", detail={"digest": digest})
        return body

    async def _blob_head(
        self,
        caller: Caller,
        name: str,
        digest: str,
        *,
        ok: tuple[int, ...] = (200,),
        follow_redirects: bool = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A ``HEAD`` of the blob with this caller's credentials, its answer closed."""
        response = await self.transport.send(
            "HEAD",
            f"/v2/{name}/blobs/{digest}",
            caller,
            scope=pull_scope(name),
            subject="blob",
            follow_redirects=follow_redirects,
            headers=headers,
            ok=ok,
        )
        await response.aclose()
        return response

    async def head_blob(self, caller: Caller, name: str, digest: str) -> None:
        """Raise unless this caller may read this blob in this repository. A redirect to
        storage counts: the registry checked access and existence before sending it."""
        await self._blob_head(caller, name, digest, ok=(200, 302, 303, 307, 308))

    async def open_blob(
        self, caller: Caller, name: str, digest: str, byte_range: str | None = None
    ) -> httpx.Response:
        """An open, streaming blob response (the caller closes it). Redirects to storage
        are followed; httpx drops our Authorization header when the origin changes.
        ``byte_range`` (a ``Range`` header) may make it a 206, or a 416 with no body."""
        headers = {"Accept-Encoding": "identity"}
        if byte_range is not None:
            headers["Range"] = byte_range
        path = f"/v2/{name}/blobs/{digest}"
        response = await self.transport.send(
            "GET",
            path,
            caller,
            scope=pull_scope(name),
            subject="blob",
            follow_redirects=True,
            headers=headers,
            download=True,
            ok=(200, 206, 416) if byte_range is not None else (200,),
        )
        self._saw_blob(response.request.url != httpx.URL(self.transport.base + path))
        return response

    def _saw_blob(self, redirected: bool) -> None:
        if redirected:
            self.blobs_redirected = True
        else:
            self.blobs_served = True

    async def blob_head(self, caller: Caller, name: str, digest: str) -> dict[str, str]:
        """The headers of a blob (size, digest), a redirect to storage followed."""
        response = await self._blob_head(
            caller, name, digest, follow_redirects=True, headers={"Accept-Encoding": "identity"}
        )
        return content_headers(response)

    async def blob_proof(self, caller: Caller, name: str, digest: str) -> BlobProof:
        """A HEAD of the blob with this caller's credentials, redirects not followed:
        raises the registry's 401/403/404 as every read does; else whether it redirected
        (to storage) and the ``Authorization`` value the auth flow ended up sending
        (the caller's Basic, or the token fetched for this caller's pull scope), read
        from the request httpx last sent. What a proxy in front needs to fetch the blob
        itself as this caller (``services.blob_offload``)."""
        response = await self._blob_head(
            caller,
            name,
            digest,
            ok=(200, 301, 302, 303, 307, 308),
            headers={"Accept-Encoding": "identity"},
        )
        redirected = response.status_code != 200  # redirects are not followed here
        self._saw_blob(redirected)
        return BlobProof(
            redirected=redirected, authorization=response.request.headers.get("authorization")
        )

    async def pull_authorization(self, caller: Caller, name: str) -> str | None:
        """The ``Authorization`` a pull from ``name`` carries for this caller, when it is
        known without a request: the caller's Basic credentials on a registry that asks
        for Basic, a token cached for the caller's pull scope on a token registry, none
        on a registry that never asked for any. ``LookupError`` when only a request can
        tell (a token registry and no token cached, an anonymous caller on a registry
        that wants a login), or when blobs were never seen served by the registry itself
        or were seen redirected to storage."""
        if not self.blobs_served or self.blobs_redirected:
            raise LookupError("the registry's blobs are not known to be its own")
        return await self._known_authorization(caller, pull_scope(name))

    async def push_authorization(self, caller: Caller, name: str) -> str | None:
        """The ``Authorization`` an upload step to ``name`` carries for this caller, when
        it is known without a request (as ``pull_authorization``, for the push scope: the
        token the upload's start obtained, while it is cached); ``LookupError`` when only
        a request can tell."""
        return await self._known_authorization(caller, push_scope(name))

    async def _known_authorization(self, caller: Caller, scope: str) -> str | None:
        transport = self.transport
        auth = RegistryAuth(caller, scope, transport.tokens, transport.policy, transport.hints)
        value = await auth.cached_authorization()
        if value is not None:
            return value
        if transport.hints.scheme is None:
            return None  # the registry never asked for credentials
        raise LookupError("only the registry can tell")

    async def stream(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The body as it comes; a failure on the way is ``StreamBroken`` (the answer to
        the client has started by then: it can only be cut)."""
        sent = 0
        try:
            async for chunk in response.aiter_raw():
                sent += len(chunk)
                note_bytes(len(chunk))
                yield chunk
        except httpx.HTTPError as exc:
            raise StreamBroken(
                f"the registry's stream broke after {sent} bytes ({type(exc).__name__})"
            ) from None
        finally:
            await response.aclose()

    # -- as asked (the /v2 proxy) -------------------------------------------------------

    async def api_base(self, caller: Caller) -> bool:
        """``GET /v2/`` with this caller's credentials: raises unless the registry let
        them in (401 for an anonymous caller where a login is needed). True when the
        registry had to be authenticated to on the way (credentials, or a token it
        granted, even an anonymous one)."""
        transport = self.transport
        auth = RegistryAuth(caller, None, transport.tokens, transport.policy, transport.hints)
        response = await transport.send(
            "GET", "/v2/", caller, scope=None, subject="registry", auth=auth
        )
        await response.aclose()
        return auth.authenticated

    async def manifest_as_asked(
        self, caller: Caller, name: str, reference: str, accept: str | None, *, head: bool
    ) -> Passed:
        """A manifest with the client's own ``Accept`` (the registry's negotiation:
        conversions, a child for a client that takes no index, 404 for OCI content a
        Docker-only client cannot read). By digest, the bytes are verified when the
        gateway computes that algorithm (sha256, sha512); of another, handed on as the
        registry sent them (never cached)."""
        response = await self.transport.send(
            "HEAD" if head else "GET",
            f"/v2/{name}/manifests/{reference}",
            caller,
            scope=pull_scope(name),
            subject="manifest",
            headers={"Accept": accept} if accept else {"Accept": ""},
        )
        try:
            body = b"" if head else await self.transport.read(response, MAX_MANIFEST_BYTES)
        finally:
            await response.aclose()
        headers = content_headers(response)
        if ":" in reference:  # by digest: of any algorithm the OCI grammar allows
            actual = None if head else digest_like(body, reference)
            if actual is not None and actual != reference:
                raise UpstreamInvalid(
                    "the manifest does not match the digest asked for",
                    detail={"expected": reference, "actual": actual},
                )
            if actual is not None or head:
                # what it was found by (distribution answers sha256 whatever was asked)
                headers["docker-content-digest"] = reference
        elif not head:
            headers["docker-content-digest"] = sha256_digest(body)
        if not head:
            headers["content-length"] = str(len(body))
        return Passed(response.status_code, headers, body)

    async def referrers(
        self, caller: Caller, name: str, digest: str, artifact_type: str | None
    ) -> Passed:
        """``GET /v2/<name>/referrers/<digest>`` as the registry answers it."""
        params = {"artifactType": artifact_type} if artifact_type else None
        response, body = await self.transport.fetch(
            f"/v2/{name}/referrers/{digest}",
            caller,
            scope=pull_scope(name),
            subject="manifest",
            limit=MAX_MANIFEST_BYTES,
            params=params,
        )
        return Passed(response.status_code, content_headers(response), body)

    async def referrers_index(
        self, caller: Caller, name: str, digest: str, artifact_type: str | None
    ) -> ReferrersAnswer:
        """Every descriptor of ``GET /v2/<name>/referrers/<digest>``, its ``Link`` pages
        followed (on this registry, that path only: a Link elsewhere is refused), and
        the filters the registry says it applied (``OCI-Filters-Applied``) — on every
        page, or the filter counts as not applied. A 404 (a registry without the API)
        is raised as ``NotFound``; anything but an index is ``UpstreamInvalid``."""
        path = f"/v2/{name}/referrers/{digest}"
        params: dict[str, str] | None = {"artifactType": artifact_type} if artifact_type else None
        descriptors: list[dict[str, object]] = []
        applied: frozenset[str] | None = None
        for _ in range(MAX_REFERRER_PAGES):
            response, body = await self.transport.fetch(
                path,
                caller,
                scope=pull_scope(name),
                subject="manifest",
                limit=MAX_MANIFEST_BYTES,
                params=params,
            )
            doc = self.transport.json_object(body, "referrers index")
            manifests = doc.get("manifests")
            if manifests is None:
                manifests = []
            if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
                raise UpstreamInvalid("the registry answered a malformed referrers index")
            descriptors.extend(manifests)
            header = response.headers.get("oci-filters-applied", "")
            page_applied = frozenset(f.strip() for f in header.split(",") if f.strip())
            applied = page_applied if applied is None else applied & page_applied
            params = referrers_next(response.headers.get("link"), path)
            if params is None:
                return ReferrersAnswer(descriptors, applied)
        raise UpstreamInvalid("the registry's referrers pages do not end")
