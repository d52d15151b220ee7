"""Blobs through the view: never cached, gated like everything else.

``readable`` is the per-caller access rule of the ``/api`` blob download: the caller's
access to the repository, confirmed by the registry (its tag list; for a repository
that has no tags, a HEAD of this very blob with the caller's credentials). ``open``
streams a blob with the caller's own credentials, whole or a byte ``Range`` (206, or
416 with no body), redirects to storage followed by the gateway. ``reading`` does both,
for a feature that reads a blob itself. ``layer`` confirms a caller may read a layer
and hands the layer engine its ``BlobSource`` (``LayerBlob``: ranges of the blob, counted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from gateway import deadline
from gateway.errors import StreamBroken, UpstreamInvalid, UpstreamUnavailable
from gateway.registry.client import RegistryClient
from gateway.registry.credentials import Caller
from gateway.registry.protocol import BlobProof
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

    async def pull_authorization(self, caller: Caller, repo: str) -> str | None:
        """What a pull from ``repo`` carries for this caller, known without a request,
        for a caller the gate lets see ``repo`` (``RegistryClient.pull_authorization``;
        ``LookupError`` otherwise). Whoever fetches with it is still answered by the
        registry as this caller."""
        if not self.gate.sees(caller, repo):
            raise LookupError("the caller's access to this repository is not known")
        return await self.client.pull_authorization(caller, repo)

    async def proof(self, caller: Caller, repo: str, digest: str) -> BlobProof:
        """This caller may read this blob here (the registry's HEAD, never cached), and
        how (``RegistryClient.blob_proof``): for a pull handed to a proxy in front. The
        registry's yes is the caller's access to the repository (as ``admit``'s proof)."""
        proof = await self.client.blob_proof(caller, repo, digest)
        if not proof.redirected:
            self.gate.note(caller, repo)
        return proof

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

    async def layer(
        self,
        caller: Caller,
        repo: str,
        digest: str,
        media_type: str,
        size: int | None,
        *,
        listed: bool,
    ) -> LayerBlob:
        """A layer this caller may read here, to hand to the layer engine. Confirmed
        before any byte, and before any index is used (an index is shared by digest):
        the caller's access to ``repo`` (``readable``), and, unless the layer was
        ``listed`` in an image manifest the caller just read from ``repo`` (the registry
        accepts a manifest only when its layers are in the repository), a HEAD of the
        blob with the caller's credentials (the same 404/401/403 as a download)."""
        await self.readable(caller, repo, digest)
        if not listed:
            length = (await self.client.blob_head(caller, repo, digest)).get("content-length", "")
            if size is None and length.isdigit():
                size = int(length)
        return LayerBlob(self, caller, repo, digest, media_type, size)


class LayerBlob:
    """A layer of one repository as the layer engine reads it (``gateway.layers.source.
    BlobSource``): bound to the caller whose access was confirmed (``Blobs.layer``), read
    with their credentials, each ``open`` one ``Range`` request whose body bytes are
    counted on the request that caused them (``X-Upstream-Bytes``, by the client).

    The request's deadline is lifted while the blob is opened: a read that outlives the
    request (its 202 was sent, the read goes on once in the background) must not fail
    because that request's time is up; each call stays bounded by the upstream
    timeouts, and the request itself by the route's wait and the deadline's safety net.
    """

    def __init__(
        self,
        blobs: Blobs,
        caller: Caller,
        repo: str,
        digest: str,
        media_type: str,
        size: int | None,
    ) -> None:
        self._blobs = blobs
        self._caller = caller
        self.repo = repo
        self.digest = digest
        self.media_type = media_type
        self.size = size

    @asynccontextmanager
    async def open(
        self, start: int = 0, end: int | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        byte_range = None
        if start > 0 or end is not None:
            byte_range = f"bytes={start}-" + ("" if end is None else str(end - 1))
        token = deadline.current_deadline.set(None)
        try:
            response = await self._blobs.open(self._caller, self.repo, self.digest, byte_range)
        finally:
            deadline.current_deadline.reset(token)
        try:
            if response.status_code == 416:
                raise UpstreamInvalid(
                    "the layer is shorter than its index says (it changed since it was read?)",
                    detail={"reason": "range"},
                )
            chunks = _unbroken(self._blobs.chunks(response))
            if response.status_code == 200 and byte_range is not None:
                chunks = _cut(chunks, start, end)  # the registry ignored the Range
            yield chunks
        finally:
            await response.aclose()


async def _unbroken(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """A stream cut on the way is the registry failing (502): the layer engine's answer
    has not started, so it can still be an error answer."""
    try:
        async for chunk in chunks:
            yield chunk
    except StreamBroken as exc:
        raise UpstreamUnavailable(str(exc)) from None


async def _cut(chunks: AsyncIterator[bytes], start: int, end: int | None) -> AsyncIterator[bytes]:
    """``[start, end)`` of a whole blob streamed from its first byte."""
    at = 0
    async for chunk in chunks:
        low, high = at, at + len(chunk)
        at = high
        if high <= start:
            continue
        piece = chunk[max(0, start - low) : len(chunk) if end is None else max(0, end - low)]
        if piece:
            yield piece
        if end is not None and at >= end:
            return
