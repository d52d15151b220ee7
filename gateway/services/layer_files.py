"""Files inside images for the SPA: the layer engine (``gateway.layers``) plugged into
the registry view.

Every answer starts with the caller's own rights, confirmed by the registry before any
index is used or any byte read (an index is shared by digest between every caller,
tag and repository holding that layer):

- an image's files: the manifest read through the view with the caller's credentials
  (the view's gate), then each layer handed to the engine as a ``LayerBlob`` of that
  repository (the registry accepts a manifest only when its layers are there);
- a layer's files: the caller's access to the repository and a HEAD of the blob with
  their credentials — or, with ``image=``, the layer must be one of that image's
  layers (its media type then comes from the manifest: a foreign layer is refused
  unread, a config is no file system).

A read not done within the request's time answers ``IndexingProgress`` (the route's
202); the engine goes on reading in the background, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gateway import deadline
from gateway.datastore import StoreUnavailable
from gateway.errors import BlobUnknown, LayerIndexUnavailable, ManifestUnknown, UpstreamInvalid
from gateway.layers.diff import ConfigFields, ImageSide
from gateway.layers.engine import FileRead, LayerEngine
from gateway.models import media_types as mt
from gateway.models import oci
from gateway.models.files import (
    FileListing,
    FilePreview,
    ImageDiff,
    IndexingProgress,
    LayerChanges,
)
from gateway.registry.credentials import Caller
from gateway.registry.names import check_name
from gateway.services.platforms import choose_platform
from gateway.view import CachedRegistry
from gateway.view.blobs import LayerBlob

#: Unknown media type: the layer's first bytes decide (gzip, zstd, else tar).
UNKNOWN_TYPE = "application/octet-stream"
#: Seconds kept back from the request's deadline to answer 202 in time.
MARGIN = 1.0


@dataclass(frozen=True)
class PlatformImage:
    """One platform image of a repository as the caller may read it."""

    repository: str
    reference: str
    digest: str
    platform: str | None
    size: int
    manifest: oci.ImageManifest
    config: ConfigFields
    sources: list[LayerBlob]

    def side(self) -> ImageSide:
        return ImageSide(
            self.repository, self.reference, self.digest, self.platform, self.size, self.config
        )


class LayerFiles:
    def __init__(self, registry: CachedRegistry, engine: LayerEngine) -> None:
        self.registry = registry
        self.engine = engine

    # -- what the caller may read -------------------------------------------------------

    async def image(
        self, caller: Caller, repo: str, reference: str, platform: str | None
    ) -> PlatformImage:
        """The platform image ``reference`` names (an index: the child ``platform``
        picks), read with the caller's credentials, its layers ready for the engine."""
        manifest = await self.registry.manifest(caller, repo, reference)
        label = None
        if manifest.media_type in mt.INDEX_TYPES:
            child = choose_platform(self.registry.index(manifest), platform)
            label = child.platform.label() if child.platform is not None else None
            manifest = await self.registry.manifest(caller, repo, child.digest)
        if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
            raise ManifestUnknown(
                "not an image manifest", detail={"media_type": manifest.media_type}
            )
        image = self.registry.image_manifest(manifest)
        config = ConfigFields()
        if image.config.media_type in mt.IMAGE_CONFIG_TYPES or not image.config.media_type:
            body = await self.registry.config(caller, repo, image.config.digest)
            config = ConfigFields.from_config(_json_object(body))
            if label is None and config.os and config.architecture:
                parts = [config.os, config.architecture] + (
                    [config.variant] if config.variant else []
                )
                label = "/".join(parts)
        blobs = self.registry.blobs  # the manifest read admitted the caller to repo
        sources = [
            LayerBlob(blobs, caller, repo, d.digest, d.media_type or UNKNOWN_TYPE, d.size)
            for d in image.layers
        ]
        size = len(manifest.body) + image.config.size + sum(d.size for d in image.layers)
        return PlatformImage(repo, reference, manifest.digest, label, size, image, config, sources)

    async def layer(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        image: str | None = None,
        platform: str | None = None,
    ) -> LayerBlob:
        """A layer this caller may read in ``repo``: one of ``image``'s layers when it is
        given (404 ``BLOB_UNKNOWN`` otherwise), else any blob the registry serves them."""
        blobs = self.registry.blobs
        if image is None:
            return await blobs.layer(caller, repo, digest, UNKNOWN_TYPE, None, listed=False)
        found = await self.image(caller, repo, image, platform)
        if digest == found.manifest.config.digest:
            config = found.manifest.config
            return LayerBlob(
                blobs, caller, repo, digest, config.media_type or mt.OCI_CONFIG, config.size
            )
        for source in found.sources:
            if source.digest == digest:
                return source
        raise BlobUnknown("no such layer in this image", detail={"digest": digest})

    async def available(self) -> bool:
        """Whether the index store answers (``/api/health``)."""
        try:
            await self.engine.store.indexed_bytes()
        except StoreUnavailable:
            return False
        return True

    # -- answers ----------------------------------------------------------------------

    async def layer_files(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        *,
        image: str | None,
        platform: str | None,
        wait: float | None,
        **listing: Any,
    ) -> FileListing | IndexingProgress:
        source = await self.layer(caller, repo, digest, image, platform)
        with store_errors():
            return await self.engine.layer_files(source, wait=budget(wait), **listing)

    async def image_files(
        self,
        caller: Caller,
        repo: str,
        reference: str,
        *,
        platform: str | None,
        wait: float | None,
        **listing: Any,
    ) -> FileListing | IndexingProgress:
        found = await self.image(caller, repo, reference, platform)
        with store_errors():
            return await self.engine.image_files(
                found.digest, found.sources, wait=budget(wait), **listing
            )

    async def layer_file(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        path: str,
        *,
        image: str | None,
        platform: str | None,
        wait: float | None,
    ) -> FileRead | IndexingProgress:
        source = await self.layer(caller, repo, digest, image, platform)
        with store_errors():
            return await self.engine.layer_file(source, path, wait=budget(wait))

    async def image_file(
        self,
        caller: Caller,
        repo: str,
        reference: str,
        path: str,
        *,
        platform: str | None,
        wait: float | None,
    ) -> FileRead | IndexingProgress:
        found = await self.image(caller, repo, reference, platform)
        with store_errors():
            return await self.engine.image_file(
                found.digest, found.sources, path, wait=budget(wait)
            )

    async def layer_preview(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        path: str,
        *,
        image: str | None,
        platform: str | None,
        wait: float | None,
    ) -> FilePreview | IndexingProgress:
        source = await self.layer(caller, repo, digest, image, platform)
        with store_errors():
            return await self.engine.layer_preview(source, path, wait=budget(wait))

    async def image_preview(
        self,
        caller: Caller,
        repo: str,
        reference: str,
        path: str,
        *,
        platform: str | None,
        wait: float | None,
    ) -> FilePreview | IndexingProgress:
        found = await self.image(caller, repo, reference, platform)
        with store_errors():
            return await self.engine.image_preview(
                found.digest, found.sources, path, wait=budget(wait)
            )

    async def layer_changes(
        self,
        caller: Caller,
        repo: str,
        reference: str,
        digest: str,
        *,
        platform: str | None,
        wait: float | None,
        **listing: Any,
    ) -> LayerChanges | IndexingProgress:
        found = await self.image(caller, repo, reference, platform)
        with store_errors():
            return await self.engine.layer_changes(
                found.digest, found.sources, digest, wait=budget(wait), **listing
            )

    async def diff(
        self,
        caller: Caller,
        repo: str,
        from_reference: str,
        to_reference: str,
        *,
        from_repository: str | None,
        platform: str | None,
        change: str | None,
        path: str | None,
        last: str | None,
        n: int,
        wait: float | None,
    ) -> ImageDiff | IndexingProgress:
        other = repo if from_repository is None else check_name(from_repository)
        a = await self.image(caller, other, from_reference, platform)
        b = await self.image(caller, repo, to_reference, platform)
        with store_errors():
            return await self.engine.diff(
                a.side(),
                a.sources,
                b.side(),
                b.sources,
                change=change,
                path=path,
                last=last,
                n=n,
                wait=budget(wait),
            )


@contextmanager
def store_errors() -> Iterator[None]:
    """The index store failing (its SQLite file) is a 503 of its own, not a 500."""
    try:
        yield
    except StoreUnavailable as exc:
        raise LayerIndexUnavailable(
            "the layer indexes cannot be read or written now", detail={"reason": str(exc)}
        ) from None


def budget(asked: float | None) -> float | None:
    """Seconds this request may wait on layer reads: what is left of its deadline less
    a margin to answer 202 in time, and at most ``asked`` (the client's ``wait``)."""
    left = deadline.remaining(float("inf"))
    if left == float("inf"):  # outside a request (scripts, tests): no deadline
        return asked
    left = max(0.0, left - MARGIN)
    return left if asked is None else min(asked, left)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise UpstreamInvalid("the image config is not JSON") from None
    return document if isinstance(document, dict) else {}


__all__: Sequence[str] = ("LayerFiles", "PlatformImage", "budget", "store_errors")
