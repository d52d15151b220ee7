"""Deletes: a manifest by digest (every tag on it goes), or one tag (its siblings stay).

An image delete names the referrers it leaves behind (signatures, SBOMs…), or deletes
them first with ``with_referrers`` (and the fallback index that listed them). Deleting
a referrer takes it out of its subject's fallback index (gateway/services/referrers.py).
"""

from __future__ import annotations

from gateway.errors import DeleteDisabled
from gateway.models import api
from gateway.registry.credentials import Caller
from gateway.services.images import ImageService
from gateway.services.referrers import ReferrerService
from gateway.view import CachedRegistry


class DeleteService:
    def __init__(
        self,
        registry: CachedRegistry,
        images: ImageService,
        enabled: bool,
        referrers: ReferrerService | None = None,
    ) -> None:
        self.registry = registry
        self.images = images
        self.enabled = enabled
        self.referrers = referrers

    def check_enabled(self) -> None:
        """403 DELETE_DISABLED unless deletes are enabled (bulk deletes ask too)."""
        self._check_enabled()

    def _check_enabled(self) -> None:
        if not self.enabled:
            raise DeleteDisabled("deletes are disabled on this gateway (LR_DELETE_ENABLED)")

    async def delete_image(
        self, caller: Caller, repo: str, digest: str, *, with_referrers: bool = False
    ) -> api.ImageDeleted:
        self._check_enabled()
        # Fresh state: the answer must name the tags as they are now.
        self.registry.refresh(caller, repo)
        manifest = await self.registry.manifest(caller, repo, digest)  # 404 before a send
        untagged = await self.images.tags_on(caller, repo, digest)
        referrers: list[str] = []
        fallback = None
        if self.referrers is not None:
            referrers, fallback = await self.referrers.doomed(caller, repo, digest)
        deleted: list[str] = []
        async with self.registry.writing(caller, repo) as batch:
            if with_referrers:
                for doomed in [*referrers, *([fallback] if fallback else [])]:
                    await batch.delete_manifest(doomed)
                    deleted.append(doomed)
            await batch.delete_manifest(digest)
        if self.referrers is not None:
            await self.referrers.unlist(caller, repo, manifest)
        return api.ImageDeleted(
            deleted=digest,
            untagged=untagged,
            referrers_deleted=deleted,
            referrers_left=[] if with_referrers else referrers,
        )

    async def delete_tag(self, caller: Caller, repo: str, tag: str) -> api.TagDeleted:
        self._check_enabled()
        self.registry.refresh(caller, repo)
        digest = await self.registry.resolve(caller, repo, tag)  # 404 if no such tag
        method = await self.registry.delete_tag(caller, repo, tag, digest)
        return api.TagDeleted(
            untagged=[tag], method="native" if method == "native" else "placeholder"
        )
