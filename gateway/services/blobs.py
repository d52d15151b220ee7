"""Blobs for the routers (the /api download and the /v2 pull): opened with the caller's
own credentials and streamed on, counted in the metrics, never cached."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.services.cached_registry import CachedRegistry
from gateway.telemetry import Metrics, counted_stream


class BlobService:
    def __init__(self, registry: CachedRegistry, metrics: Metrics) -> None:
        self.registry = registry
        self.client: RegistryClient = registry.client
        self.metrics = metrics

    async def ensure_readable(self, caller: Caller, name: str, digest: str) -> None:
        """Raise unless this caller may read this blob here (a HEAD proves it for a
        repository that has no tags)."""
        await self.registry.ensure_access(
            caller, name, proof=lambda: self.client.head_blob(caller, name, digest)
        )

    async def open(
        self, caller: Caller, name: str, digest: str, byte_range: str | None = None
    ) -> httpx.Response:
        """The open upstream answer (200, or 206/416 for a ``Range``); the caller
        streams it with ``chunks`` or closes it."""
        return await self.client.open_blob(caller, name, digest, byte_range)

    def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The blob's bytes as they come, each counted; closing it closes the answer."""
        return counted_stream(self.client.stream(response), self.metrics)

    async def head(self, caller: Caller, name: str, digest: str) -> dict[str, str]:
        return await self.client.blob_head(caller, name, digest)
