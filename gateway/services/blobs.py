"""Blobs for the routers (the /api download and the /v2 pull): through the view
(``gateway.view.blobs``: the caller's own credentials, never cached), counted in the
metrics as they are streamed on; except the small ones the view keeps by digest
anyway (configs: ``held``), which an SPA on /v2 asks for once per image; and, behind
an nginx that takes them (``offload``: gateway/services/blob_offload.py), the pulls
nginx moves itself once the gateway has confirmed them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from pydantic import SecretStr

from gateway.registry.credentials import Caller
from gateway.services.blob_offload import BlobOffload
from gateway.telemetry import Metrics, counted_stream
from gateway.view import CachedRegistry


class BlobService:
    def __init__(
        self, registry: CachedRegistry, metrics: Metrics, offload_secret: SecretStr | None = None
    ) -> None:
        self.registry = registry
        self.blobs = registry.blobs
        self.metrics = metrics
        #: Pulls and upload steps handed to the nginx in front (LR_BLOB_OFFLOAD_SECRET;
        #: off without it).
        self.offload = BlobOffload(self.blobs, registry.writes, offload_secret, metrics)

    async def held(self, caller: Caller, name: str, digest: str) -> bytes | None:
        """A blob the view keeps by digest, read through it (verified, cached, gated:
        ``CachedRegistry.config``): one known to belong to the repository as an image's
        config, or a manifest's bytes. None for anything else (a layer: streamed)."""
        if not await self.registry.gate.member(name, digest):
            return None
        return await self.registry.config(caller, name, digest)

    async def ensure_readable(self, caller: Caller, name: str, digest: str) -> None:
        """Raise unless this caller may read this blob here (a HEAD proves it for a
        repository that has no tags)."""
        await self.blobs.readable(caller, name, digest)

    async def open(
        self, caller: Caller, name: str, digest: str, byte_range: str | None = None
    ) -> httpx.Response:
        """The open upstream answer (200, or 206/416 for a ``Range``); the caller
        streams it with ``chunks`` or closes it."""
        return await self.blobs.open(caller, name, digest, byte_range)

    def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The blob's bytes as they come, each counted; closing it closes the answer."""
        return counted_stream(self.blobs.chunks(response), self.metrics)

    async def head(self, caller: Caller, name: str, digest: str) -> dict[str, str]:
        return await self.blobs.head(caller, name, digest)
