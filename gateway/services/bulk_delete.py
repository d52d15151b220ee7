"""Deletes of many tags and manifests at once, answered per item.

The registry protocol is not repeated here: the items are written through the view
(``gateway.view.writes``: a manifest by digest, a tag with its siblings kept), exactly
as the single deletes of ``services.deletes`` are.

Rules:

- nothing is sent when deletes are disabled (403 ``DELETE_DISABLED`` for the whole
  request), nor for an invalid tag or digest (400 for the whole request);
- each item answers ``deleted``, ``already_gone`` (the tag or manifest was not there
  any more) or ``failed`` with its error — a caller without delete rights gets its
  403 per item, and nothing is deleted;
- tags go first, then manifests (a manifest delete removes every tag on it, so a tag
  listed too is answered by its own delete);
- the repository's caches (tag lists, pointers, usage figures) are dropped before
  (the items are read fresh) and after (the view's write batch).
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
from gateway.services.deletes import DeleteService
from gateway.view import CachedRegistry
from gateway.view.writes import WriteBatch


@dataclass(frozen=True)
class TagItem:
    tag: str
    digest: str | None  # what it points at now; None: not there any more


def failed(tag: str | None, digest: str | None, exc: GatewayError) -> ItemResult:
    return ItemResult(tag=tag, digest=digest, status="failed", error=ErrorBody.of(exc))


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
        self.registry.refresh(caller, repo)
        async with self.registry.writing(caller, repo) as batch:
            items = [TagItem(tag, await self._current(caller, repo, tag)) for tag in tags]
            results = await self.delete_tags(batch, items)
            results += await self.delete_manifests(batch, digests)
        return results

    async def _current(self, caller: Caller, repo: str, tag: str) -> str | None:
        try:
            return await self.registry.resolve(caller, repo, tag)
        except NotFound:
            return None

    async def delete_tags(self, batch: WriteBatch, items: Iterable[TagItem]) -> list[ItemResult]:
        """Remove each tag (its siblings stay), one after the other."""
        results: list[ItemResult] = []
        for item in items:
            if item.digest is None:
                results.append(done(item.tag, None, "already_gone"))
                continue
            try:
                await batch.delete_tag(item.tag, item.digest)
            except NotFound:
                results.append(done(item.tag, item.digest, "already_gone"))
            except GatewayError as exc:
                results.append(failed(item.tag, item.digest, exc))
            else:
                results.append(done(item.tag, item.digest, "deleted"))
        return results

    async def delete_manifests(self, batch: WriteBatch, digests: Iterable[str]) -> list[ItemResult]:
        """Delete each manifest by digest (every tag on it goes), one after the other."""
        results: list[ItemResult] = []
        for digest in digests:
            try:
                await batch.delete_manifest(digest)
            except NotFound:
                results.append(done(None, digest, "already_gone"))
            except GatewayError as exc:
                results.append(failed(None, digest, exc))
            else:
                results.append(done(None, digest, "deleted"))
        return results
