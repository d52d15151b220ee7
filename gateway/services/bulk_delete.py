"""Deletes of many tags and manifests at once, answered per item.

The registry protocol is not repeated here: a manifest goes through the client's
``delete_manifest``, a tag through ``services.tag_delete`` (its siblings on the same
digest survive), exactly as the single deletes of ``services.deletes`` do.

Rules:

- nothing is sent when deletes are disabled (403 ``DELETE_DISABLED`` for the whole
  request), nor for an invalid tag or digest (400 for the whole request);
- each item answers ``deleted``, ``already_gone`` (the tag or manifest was not there
  any more) or ``failed`` with its error — a caller without delete rights gets its
  403 per item, and nothing is deleted;
- tags go first, then manifests (a manifest delete removes every tag on it, so a tag
  listed too is answered by its own delete);
- the repository's caches (tag lists, pointers, usage figures) are dropped before
  (the items are read fresh) and after.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from gateway.errors import GatewayError, NotFound
from gateway.models.api import ErrorBody
from gateway.models.usage import ItemResult
from gateway.registry.credentials import Caller
from gateway.registry.names import check_digest, check_tag
from gateway.services.cached_registry import CachedRegistry
from gateway.services.deletes import DeleteService
from gateway.services.tag_delete import delete_tag


@dataclass(frozen=True)
class TagItem:
    tag: str
    digest: str | None  # what it points at now; None: not there any more


def failed(tag: str | None, digest: str | None, exc: GatewayError) -> ItemResult:
    error = ErrorBody(code=exc.code, message=exc.message, detail=exc.detail)
    return ItemResult(tag=tag, digest=digest, status="failed", error=error)


def done(
    tag: str | None, digest: str | None, status: Literal["deleted", "already_gone"]
) -> ItemResult:
    return ItemResult(tag=tag, digest=digest, status=status, error=None)


class BulkDeleteService:
    def __init__(self, registry: CachedRegistry, deletes: DeleteService) -> None:
        self.registry = registry
        self.deletes = deletes

    async def delete(
        self, caller: Caller, repo: str, tags: Iterable[str], digests: Iterable[str]
    ) -> list[ItemResult]:
        """``POST …/delete``: the tags (siblings kept), then the manifests."""
        self.deletes.check_enabled()
        tags = [check_tag(t) for t in dict.fromkeys(tags)]
        digests = [check_digest(d) for d in dict.fromkeys(digests)]
        self.registry.forget_repository(repo, new_repo_possible=False)
        try:
            items = [TagItem(tag, await self._current(caller, repo, tag)) for tag in tags]
            results = await self.delete_tags(caller, repo, items)
            results += await self.delete_manifests(caller, repo, digests)
        finally:
            self.registry.forget_repository(repo, new_repo_possible=False)
        return results

    async def _current(self, caller: Caller, repo: str, tag: str) -> str | None:
        try:
            return await self.registry.resolve(caller, repo, tag)
        except NotFound:
            return None

    async def delete_tags(
        self, caller: Caller, repo: str, items: Iterable[TagItem]
    ) -> list[ItemResult]:
        """Remove each tag (its siblings stay), one after the other."""
        results: list[ItemResult] = []
        for item in items:
            if item.digest is None:
                results.append(done(item.tag, None, "already_gone"))
                continue
            try:
                await delete_tag(self.registry.client, caller, repo, item.tag, item.digest)
            except NotFound:
                results.append(done(item.tag, item.digest, "already_gone"))
            except GatewayError as exc:
                results.append(failed(item.tag, item.digest, exc))
            else:
                results.append(done(item.tag, item.digest, "deleted"))
        return results

    async def delete_manifests(
        self, caller: Caller, repo: str, digests: Iterable[str]
    ) -> list[ItemResult]:
        """Delete each manifest by digest (every tag on it goes), one after the other."""
        results: list[ItemResult] = []
        for digest in digests:
            try:
                await self.registry.client.delete_manifest(caller, repo, digest)
            except NotFound:
                results.append(done(None, digest, "already_gone"))
            except GatewayError as exc:
                results.append(failed(None, digest, exc))
            else:
                results.append(done(None, digest, "deleted"))
        return results
