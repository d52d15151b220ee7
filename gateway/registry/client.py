"""RegistryClient: the v2 API calls the gateway needs, for one caller at a time.

Takes its ``httpx.AsyncClient`` in the constructor and knows nothing of FastAPI. Every
call names the caller whose credentials it uses; every document read is size-capped and
every digest-addressed document is verified against the digest that was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import httpx

from gateway.errors import GatewayError, InvalidRequest, Unauthorized, UpstreamInvalid
from gateway.models.oci import manifest_media_type
from gateway.registry import media_types as mt
from gateway.registry.auth import AuthHints, RegistryAuth, TokenCache
from gateway.registry.credentials import ANONYMOUS, Caller
from gateway.registry.metrics import UpstreamTotals, kind_of
from gateway.registry.names import is_digest, is_name, is_tag
from gateway.registry.realm_policy import RealmPolicy
from gateway.registry.upstream_errors import Subject, error_for_status, error_for_transport

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what the registry itself accepts on push
MAX_LIST_BYTES = 64 * 1024 * 1024  # one catalog or tag-list page
MAX_ERROR_BYTES = 64 * 1024
MAX_CATALOG_PAGES = 100_000
MAX_REDIRECTS = 5
_LINK_RE = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    body: bytes


@dataclass(frozen=True)
class Ping:
    reachable: bool
    status_code: int | None
    api_version: str | None
    auth: str
    latency_ms: float


@dataclass(frozen=True)
class Head:
    digest: str
    media_type: str
    size: int


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def pull_scope(name: str) -> str:
    return f"repository:{name}:pull"


CATALOG_SCOPE = "registry:catalog:*"


def next_link(header: str | None) -> dict[str, str] | None:
    """``n``/``last`` of a ``Link: <…>; rel="next"`` header, and nothing else of it.

    The URL is never followed as given: only its query is kept, and the next request is
    rebuilt against the configured registry, whatever host the Link names.
    """
    if not header:
        return None
    m = _LINK_RE.search(header)
    if not m:
        return None
    query = dict(parse_qsl(urlsplit(m.group(1)).query, keep_blank_values=True))
    out = {k: v for k, v in query.items() if k in ("n", "last") and v}
    return out if "last" in out else None


class RegistryClient:
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
    ) -> None:
        self.http = http
        self.base = registry_url.rstrip("/")
        self.page_size = max(1, min(page_size, 1000))
        self.tokens = tokens or TokenCache()
        self.policy = policy or RealmPolicy(registry_url)
        self.hints = AuthHints()
        self.totals = UpstreamTotals()
        self.overall_timeout = overall_timeout
        self._sem = asyncio.Semaphore(concurrency)
        hooks = http.event_hooks.setdefault("request", [])
        hooks.append(self._count)

    async def _count(self, request: httpx.Request) -> None:
        self.totals.count(kind_of(request.url.path))

    # -- plumbing ---------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        caller: Caller,
        *,
        scope: str | None,
        subject: Subject,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        follow_redirects: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one request (with auth); return the open response if its status is ``ok``.

        Raises the mapped GatewayError otherwise. The caller must close the response.
        """
        auth = RegistryAuth(caller, scope, self.tokens, self.policy, self.hints)
        request = self.http.build_request(
            method, self.base + path, params=params, headers=headers, content=content
        )
        async with self._sem:
            try:
                # httpx's read timeout is per read: headers trickling in a byte at a time
                # would never trip it. The overall deadline bounds the whole exchange.
                async with asyncio.timeout(self.overall_timeout):
                    response = await self.http.send(
                        request, auth=auth, stream=True, follow_redirects=False
                    )
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
                        response = await self.http.send(target, stream=True)
            except TimeoutError:
                raise error_for_transport(httpx.ReadTimeout("overall deadline")) from None
            except httpx.HTTPError as exc:
                raise error_for_transport(exc) from None
        if response.status_code in ok:
            return response
        try:
            body = await self._read(response, MAX_ERROR_BYTES, truncate=True)
        finally:
            await response.aclose()
        raise error_for_status(
            response,
            body,
            subject,
            anonymous=caller.credentials is None,
            denied_scope=auth.denied_scope,
        )

    async def _read(self, response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
        declared = response.headers.get("content-length")
        if not truncate and declared and declared.isdigit() and int(declared) > limit:
            raise UpstreamInvalid("the registry's answer is too large", detail={"limit": limit})
        chunks: list[bytes] = []
        total = 0
        try:
            async with asyncio.timeout(self.overall_timeout):
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
            raise error_for_transport(httpx.ReadTimeout("overall deadline")) from None
        except httpx.HTTPError as exc:
            raise error_for_transport(exc) from None
        return b"".join(chunks)

    async def _fetch(
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
        response = await self._send(
            "GET", path, caller, scope=scope, subject=subject, params=params, headers=headers
        )
        try:
            return response, await self._read(response, limit)
        finally:
            await response.aclose()

    @staticmethod
    def _json(body: bytes, what: str) -> dict[str, object]:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
            raise UpstreamInvalid(f"the registry answered a {what} that is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamInvalid(f"the registry answered a malformed {what}")
        return doc

    # -- base -------------------------------------------------------------------------

    async def ping(self, caller: Caller = ANONYMOUS) -> Ping:
        """``GET /v2/``: 200, or 401 (which still proves the registry is alive)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.overall_timeout):
                response = await self.http.get(self.base + "/v2/")
        except (httpx.HTTPError, TimeoutError):
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
        request = self.http.build_request("GET", self.base + "/v2/")
        try:
            response = await self.http.send(request, auth=auth)
        except httpx.HTTPError as exc:
            raise error_for_transport(exc) from None
        if response.status_code != 200:
            raise error_for_status(
                response,
                response.content[:MAX_ERROR_BYTES],
                "registry",
                anonymous=caller.credentials is None,
            )
        if not auth.authenticated:
            raise Unauthorized("this registry does not check credentials: no login is needed")

    # -- listing ----------------------------------------------------------------------

    async def catalog(self, caller: Caller) -> list[str]:
        """The whole catalog, walked page by page (``n`` ≤ 1000, Link rebuilt locally)."""
        names: list[str] = []
        params = {"n": str(self.page_size)}
        for _ in range(MAX_CATALOG_PAGES):
            response, body = await self._fetch(
                "/v2/_catalog",
                caller,
                scope=CATALOG_SCOPE,
                subject="catalog",
                limit=MAX_LIST_BYTES,
                params=params,
            )
            page = self._json(body, "catalog").get("repositories")
            if page is None:
                page = []
            if not isinstance(page, list) or not all(isinstance(n, str) for n in page):
                raise UpstreamInvalid("the registry answered a malformed catalog")
            names.extend(n for n in page if is_name(n))
            link = next_link(response.headers.get("link"))
            if not link or not page or (params.get("last") and link["last"] <= params["last"]):
                break
            params = {"n": str(self.page_size), "last": link["last"]}
        return sorted(set(names))

    async def tags(self, caller: Caller, name: str) -> list[str]:
        """Every tag of a repository (``null`` = none), following Link pages (3.x)."""
        tags: list[str] = []
        params = {"n": str(self.page_size)}
        path = f"/v2/{name}/tags/list"
        for _ in range(MAX_CATALOG_PAGES):
            response, body = await self._fetch(
                path,
                caller,
                scope=pull_scope(name),
                subject="repository",
                limit=MAX_LIST_BYTES,
                params=params,
            )
            page = self._json(body, "tag list").get("tags")
            if page is None:
                page = []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise UpstreamInvalid("the registry answered a malformed tag list")
            tags.extend(t for t in page if is_tag(t))
            link = next_link(response.headers.get("link"))
            if not link or not page or (params.get("last") and link["last"] <= params["last"]):
                break
            params = {"n": str(self.page_size), "last": link["last"]}
        return sorted(set(tags))

    # -- manifests --------------------------------------------------------------------

    async def manifest(self, caller: Caller, name: str, reference: str) -> Manifest:
        """A manifest by tag or digest: bytes as stored, digest verified, ≤ 4 MiB."""
        response, body = await self._fetch(
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
        response = await self._send(
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
        response = await self._send(
            "GET",
            f"/v2/{name}/blobs/{digest}",
            caller,
            scope=pull_scope(name),
            subject="blob",
            follow_redirects=True,
        )
        try:
            body = await self._read(response, limit)
        finally:
            await response.aclose()
        if sha256_digest(body) != digest:
            raise UpstreamInvalid("the blob does not match its digest", detail={"digest": digest})
        return body

    async def open_blob(self, caller: Caller, name: str, digest: str) -> httpx.Response:
        """An open, streaming blob response (the caller closes it). Redirects to storage
        are followed; httpx drops our Authorization header when the origin changes."""
        return await self._send(
            "GET",
            f"/v2/{name}/blobs/{digest}",
            caller,
            scope=pull_scope(name),
            subject="blob",
            follow_redirects=True,
            headers={"Accept-Encoding": "identity"},
        )

    async def stream(self, response: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise error_for_transport(exc) from None
        finally:
            await response.aclose()

    # -- deletes ----------------------------------------------------------------------

    async def delete_manifest(self, caller: Caller, name: str, digest: str) -> None:
        response = await self._send(
            "DELETE",
            f"/v2/{name}/manifests/{digest}",
            caller,
            scope=f"repository:{name}:delete",
            subject="manifest",
            ok=(200, 202),
        )
        await response.aclose()

    async def delete_tag(
        self, caller: Caller, name: str, tag: str, digest: str | None = None
    ) -> str:
        """Remove one tag, keeping other tags on the same digest. Returns the method used.

        Distribution 3.x deletes a tag natively; 2.8 answers 400 ``DIGEST_INVALID``, so
        the tag is moved to a unique placeholder manifest which is then deleted by digest.
        ``digest`` is what the tag points at now: if the placeholder cannot be deleted,
        the tag is put back on it rather than left on the placeholder.
        """
        scope = f"repository:{name}:delete,pull,push"
        try:
            response = await self._send(
                "DELETE",
                f"/v2/{name}/manifests/{tag}",
                caller,
                scope=scope,
                subject="manifest",
                ok=(200, 202),
            )
            await response.aclose()
            return "native"
        except InvalidRequest as exc:
            if exc.code not in ("DIGEST_INVALID", "UNSUPPORTED"):
                raise
        except GatewayError as exc:
            if exc.status != 405 or exc.code != "UNSUPPORTED":
                raise
            # 405 on a tag may just mean "tags can't be deleted"; deletes may still be on.
        placeholder = await self._push_placeholder(caller, name, tag, scope)
        try:
            await self.delete_manifest(caller, name, placeholder)
        except GatewayError:
            if digest is not None:
                with contextlib.suppress(GatewayError):
                    await self._retag(caller, name, tag, digest, scope)
            raise
        return "placeholder"

    async def _retag(self, caller: Caller, name: str, tag: str, digest: str, scope: str) -> None:
        """Point ``tag`` at the manifest ``digest`` again (its bytes, as stored)."""
        original = await self.manifest(caller, name, digest)
        put = await self._send(
            "PUT",
            f"/v2/{name}/manifests/{tag}",
            caller,
            scope=scope,
            subject="manifest",
            ok=(201,),
            content=original.body,
            headers={"Content-Type": original.media_type},
        )
        await put.aclose()

    async def _push_placeholder(self, caller: Caller, name: str, tag: str, scope: str) -> str:
        config = json.dumps(
            {"light-registry": "placeholder for a tag delete", "nonce": uuid.uuid4().hex}
        ).encode()
        config_digest = sha256_digest(config)
        started = await self._send(
            "POST",
            f"/v2/{name}/blobs/uploads/",
            caller,
            scope=scope,
            subject="blob",
            ok=(202,),
            content=b"",
        )
        await started.aclose()
        location = started.headers.get("location", "")
        parts = urlsplit(location)
        base_host = urlsplit(self.base).netloc
        if not parts.path or (parts.netloc and parts.netloc != base_host):
            raise UpstreamInvalid("the registry answered an unusable upload location")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query["digest"] = config_digest
        done = await self._send(
            "PUT",
            parts.path.removeprefix(urlsplit(self.base).path),
            caller,
            scope=scope,
            subject="blob",
            ok=(201,),
            params=query,
            content=config,
            headers={"Content-Type": "application/octet-stream"},
        )
        await done.aclose()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.light-registry.placeholder.v1+json",
                    "digest": config_digest,
                    "size": len(config),
                },
                "layers": [],
            }
        ).encode()
        put = await self._send(
            "PUT",
            f"/v2/{name}/manifests/{tag}",
            caller,
            scope=scope,
            subject="manifest",
            ok=(201,),
            content=manifest,
            headers={"Content-Type": mt.OCI_MANIFEST},
        )
        await put.aclose()
        return sha256_digest(manifest)
