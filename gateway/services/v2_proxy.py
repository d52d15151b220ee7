"""The registry's own v2 API through the gateway (``LR_V2_MODE``), over the same client,
auth, realm policy and caches as /api.

- Lists (``_catalog``, ``tags/list``) come from the per-caller cached lists, paged here
  with ``n``/``last`` as the registry pages them (``n`` defaults to 100 for the catalog,
  every tag for tag lists, as distribution 2.8 answers), in the registry's order.
- A manifest comes from the verified content cache when the client accepts the type it
  is stored as (what the registry would answer for that ``Accept``); otherwise the
  registry is asked with the client's own ``Accept``, and its answer (a conversion, a
  child, a 404) is passed on, not cached.
- Blobs (gateway/services/blobs.py) are streamed, never cached: the registry checks
  the caller's access itself.
- Deletes only when enabled; afterwards the repository's cached lists and tag pointers
  are dropped at once, notifications or not. Likewise after a manifest ``PUT``. A
  manifest delete keeps the registry's semantics (its referrers stay), but a deleted
  referrer is taken out of its subject's fallback index (gateway/services/referrers.py).
- Push mode: blob uploads (monolithic, chunked, cross-repository mounts) streamed to the
  registry as they arrive, never held whole; manifests (at most 4 MiB) passed on. A
  push needs the caller's own credentials: the service account, the fallback that lets
  anonymous users browse, never pushes for them.
- Digests of any algorithm the OCI grammar allows are handed on to the registry, which
  judges them. Only sha256 content goes through the verified cache; a manifest asked
  for by another digest comes from the registry as asked, verified when the gateway
  can compute that digest (sha512), never cached.
- OCI 1.1 referrers (gateway/services/v2_referrers.py): the registry's API, or on a
  registry without one the subject's referrers tag schema index, listed and kept up to
  date by the gateway on a manifest push with a ``subject`` (``OCI-Subject``).
- ``GET /v2/`` for a caller without credentials of their own (anonymous, or served as
  the service account) answers 401 with the Basic challenge whenever the registry
  asked for authentication, even when it then let that caller in (a token registry
  grants anonymous tokens): docker, skopeo, crane and oras send credentials only after
  such a challenge, and a client without any carries on anonymously.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable

from gateway.errors import GatewayError, PaginationNumberInvalid, Unauthorized, Unsupported
from gateway.models import media_types as mt
from gateway.registry.credentials import Caller
from gateway.registry.names import is_sha256
from gateway.registry.protocol import Manifest, Passed
from gateway.services.paging import page_of
from gateway.services.referrers import ReferrerService
from gateway.services.referrers_index import ReferrersIndex
from gateway.services.v2_referrers import V2Referrers
from gateway.view import CachedRegistry

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # what distribution takes on push
CATALOG_DEFAULT_PAGE = 100  # distribution's default page of _catalog
MAX_PAGE = 1000  # distribution's catalog.maxentries: a larger n is 400


def page_size(n: str | None, default: int | None) -> int | None:
    """``n`` as the registry reads it: absent → ``default`` (None: everything),
    a number 0…1000, else 400 PAGINATION_NUMBER_INVALID."""
    if n is None or n == "":
        return default
    if not n.isdigit() or int(n) > MAX_PAGE:
        raise PaginationNumberInvalid(f"n must be a number from 0 to {MAX_PAGE}")
    return int(n)


def accepted_types(accept: str | None) -> frozenset[str]:
    """The media types an ``Accept`` header lists (parameters dropped, ``q=0`` out)."""
    if not accept:
        return frozenset()
    types = set()
    for part in accept.split(","):
        media_type, *params = (p.strip() for p in part.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        if media_type:
            types.add(media_type.lower())
    return frozenset(types)


class V2Proxy:
    def __init__(
        self,
        registry: CachedRegistry,
        *,
        deletes_enabled: bool,
        push_enabled: bool = False,
        referrers: ReferrerService | None = None,
    ) -> None:
        self.registry = registry
        self.client = registry.client
        self.deletes_enabled = deletes_enabled
        self.push_enabled = push_enabled
        self.referrer_service = referrers
        index = referrers.index if referrers is not None else ReferrersIndex(registry)
        self.v2_referrers = V2Referrers(registry, index)

    async def base(self, caller: Caller) -> None:
        """Raise unless the registry lets this caller in; for a caller without
        credentials of their own, also when the registry had to be authenticated to
        (the token it granted them, or the service account's login)."""
        authenticated = await self.client.api_base(caller)
        own_credentials = caller.credentials is not None and caller.source != "service"
        if authenticated and not own_credentials:
            raise Unauthorized("the registry requires a login")

    async def catalog(
        self, caller: Caller, n: str | None, last: str | None
    ) -> tuple[list[str], bool, int | None]:
        size = page_size(n, CATALOG_DEFAULT_PAGE)
        names = await self.registry.catalog(caller)
        page, more = page_of(names, size, last)
        return page, more, size

    async def tags(
        self, caller: Caller, name: str, n: str | None, last: str | None
    ) -> tuple[list[str], bool, int | None]:
        size = page_size(n, None)
        tags = await self.registry.tags(caller, name)
        page, more = page_of(tags, size, last)
        return page, more, size

    async def manifest(
        self, caller: Caller, name: str, reference: str, accept: str | None, *, head: bool
    ) -> Passed:
        accepted = accepted_types(accept)
        cacheable = ":" not in reference or is_sha256(reference)
        if cacheable and accepted & mt.MANIFEST_TYPES:
            manifest = await self.registry.manifest(caller, name, reference)
            if manifest.media_type in accepted:
                headers = {
                    "content-type": manifest.media_type,
                    "content-length": str(len(manifest.body)),
                    "docker-content-digest": manifest.digest,
                    "etag": f'"{manifest.digest}"',
                }
                return Passed(200, headers, b"" if head else manifest.body)
        # Not what the cache holds for this Accept: the registry's own negotiation.
        return await self.client.manifest_as_asked(caller, name, reference, accept, head=head)

    async def referrers(
        self, caller: Caller, name: str, digest: str, artifact_type: str | None
    ) -> Passed:
        return await self.v2_referrers.listing(caller, name, digest, artifact_type)

    def _check_deletes(self) -> None:
        if not self.deletes_enabled:
            raise Unsupported("deletes are disabled on this gateway")

    async def delete_manifest(self, caller: Caller, name: str, reference: str) -> None:
        self._check_deletes()
        manifest: Manifest | None = None
        if self.referrer_service is not None and is_sha256(reference):
            # What it refers to, read before it is gone. Whatever stops that read (a 404,
            # a caller who may delete but not pull), the registry answers the delete.
            with contextlib.suppress(GatewayError):
                manifest = await self.registry.manifest(caller, name, reference)
        # Whatever the answer, the view drops what it remembers of this repository (a
        # tag delete answered late, a 202 lost).
        await self.registry.delete_manifest(caller, name, reference)
        if self.referrer_service is not None and manifest is not None:
            await self.referrer_service.unlist(caller, name, manifest)

    async def delete_blob(self, caller: Caller, name: str, digest: str) -> None:
        self._check_deletes()
        await self.registry.delete_blob(caller, name, digest)

    # -- push mode ----------------------------------------------------------------------

    def check_push(self, caller: Caller) -> None:
        if not self.push_enabled:
            raise Unsupported("this gateway serves the v2 API read-only (LR_V2_MODE=pull)")
        if caller.source == "service":
            raise Unauthorized("pushing needs your own credentials")

    async def upload(
        self,
        caller: Caller,
        name: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | AsyncIterable[bytes] | None,
    ) -> Passed:
        """One upload step, passed to the registry; the answer's ``Location`` as a path
        on the registry (the router puts it on the gateway)."""
        self.check_push(caller)
        return await self.registry.upload(caller, name, method, path, headers, body)

    async def put_manifest(
        self, caller: Caller, name: str, reference: str, body: bytes, media_type: str
    ) -> Passed:
        self.check_push(caller)
        # The tag may point elsewhere now, and the repository may be new: the view drops
        # what it knew, whatever the answer.
        passed = await self.registry.put_manifest(caller, name, reference, body, media_type)
        passed = await self.v2_referrers.pushed(caller, name, reference, body, media_type, passed)
        location = passed.headers.get("location")
        if location is not None:
            passed.headers["location"] = self.client.registry_path(
                location, f"/v2/{name}/manifests/"
            )
        return passed
