"""Blobs through the view: never cached, gated like everything else.

``readable`` is the per-caller access rule of the ``/api`` blob download: the caller's
access to the repository, confirmed by the registry (its tag list; for a repository
that has no tags, a HEAD of this very blob with the caller's credentials). ``open``
streams a blob with the caller's own credentials, whole or a byte ``Range`` (206, or
416 with no body), redirects to storage followed by the gateway. ``reading`` does both,
for a feature that reads a blob itself (a layer's file list, then ranges of it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.view.access import Gate


class Blobs:
    def __init__(self, client: RegistryClient, gate: Gate) -> None:
        self.client = client
        self.gate = gate

    async def readable(self, caller: Caller, repo: str, digest: str) -> None:
        """Raise unless this caller may read this blob here."""
        await self.gate.admit(
            caller, repo, proof=lambda: self.client.head_blob(caller, repo, digest)
        )

    async def open(
        self, caller: Caller, repo: str, digest: str, byte_range: str | None = None
    ) -> httpx.Response:
        """The open upstream answer (200, or 206/416 for a ``Range``); stream it with
        ``chunks`` or close it."""
        return await self.client.open_blob(caller, repo, digest, byte_range)

    def chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        """The blob's bytes as they come; closing this closes the answer. A failure on
        the way is ``StreamBroken``."""
        return self.client.stream(response)

    async def head(self, caller: Caller, repo: str, digest: str) -> dict[str, str]:
        return await self.client.blob_head(caller, repo, digest)

    @asynccontextmanager
    async def reading(
        self, caller: Caller, repo: str, digest: str, byte_range: str | None = None
    ) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[bytes]]]:
        """A blob this caller may read (``readable``), opened (``open``): the answer
        (its status and headers) and its bytes, closed when the block ends."""
        await self.readable(caller, repo, digest)
        response = await self.open(caller, repo, digest, byte_range)
        chunks = self.client.stream(response)
        try:
            yield response, chunks
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            await response.aclose()  # also when the bytes were never asked for
