"""Parsed documents by digest: parsing is the main CPU cost of a cold page, and a
document's digest fixes its content, so each is parsed once while the model budget
(``LR_MODEL_CACHE_BYTES``) keeps it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gateway.cache import ModelCache
from gateway.models import oci
from gateway.registry.protocol import Manifest

P = TypeVar("P", oci.Index, oci.ImageManifest, oci.ImageConfig)


class Documents:
    def __init__(self, models: ModelCache) -> None:
        # Parsed documents here; image rows and summaries (ImageService) share the budget.
        self.models = models

    def _parsed_as(self, digest: str, body: bytes, kind: type[P], parse: Callable[[bytes], P]) -> P:
        key = (kind, digest)
        parsed = self.models.get(key)
        if parsed is not None:
            return parsed  # type: ignore[no-any-return]
        fresh = parse(body)
        self.models.put(key, fresh)
        return fresh

    def index(self, manifest: Manifest) -> oci.Index:
        return self._parsed_as(manifest.digest, manifest.body, oci.Index, oci.parse_index)

    def image_manifest(self, manifest: Manifest) -> oci.ImageManifest:
        return self._parsed_as(
            manifest.digest, manifest.body, oci.ImageManifest, oci.parse_image_manifest
        )

    def image_config(self, digest: str, body: bytes) -> oci.ImageConfig:
        return self._parsed_as(digest, body, oci.ImageConfig, oci.parse_config)
