"""Deletes: a manifest by digest (every tag on it goes), or one tag (its siblings stay)."""

from __future__ import annotations

from gateway.errors import Forbidden
from gateway.models import api
from gateway.registry.credentials import Caller
from gateway.services.cached_registry import CachedRegistry
from gateway.services.images import ImageService
from gateway.services.tag_delete import delete_tag


class DeleteService:
    def __init__(self, registry: CachedRegistry, images: ImageService, enabled: bool) -> None:
        self.registry = registry
        self.images = images
        self.enabled = enabled

    def check_enabled(self) -> None:
        """403 DELETE_DISABLED unless deletes are enabled (bulk deletes ask too)."""
        self._check_enabled()

    def _check_enabled(self) -> None:
        if not self.enabled:
            raise Forbidden(
                "deletes are disabled on this gateway (LR_DELETE_ENABLED)", code="DELETE_DISABLED"
            )

    async def delete_image(self, caller: Caller, repo: str, digest: str) -> api.ImageDeleted:
        self._check_enabled()
        # Fresh state: the answer must name the tags as they are now.
        self.registry.forget_repository(repo, new_repo_possible=False)
        await self.registry.manifest(caller, repo, digest)  # 404 before anything is sent
        untagged = await self.images.tags_on(caller, repo, digest)
        try:
            await self.registry.client.delete_manifest(caller, repo, digest)
        finally:
            self.registry.forget_repository(repo, new_repo_possible=False)
        return api.ImageDeleted(deleted=digest, untagged=untagged)

    async def delete_tag(self, caller: Caller, repo: str, tag: str) -> api.TagDeleted:
        self._check_enabled()
        self.registry.forget_repository(repo, new_repo_possible=False)
        digest = await self.registry.resolve(caller, repo, tag)  # 404 if no such tag
        try:
            method = await delete_tag(self.registry.client, caller, repo, tag, digest)
        finally:
            self.registry.forget_repository(repo, new_repo_possible=False)
        return api.TagDeleted(
            untagged=[tag], method="native" if method == "native" else "placeholder"
        )
